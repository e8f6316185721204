"""``python -m elicense_library``: the e-license library emulator for local development."""

from __future__ import annotations

import argparse
import contextlib
import os
import threading

from elicense_library.server import serve_in_thread
from wechat_emulator.server import is_loopback


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m elicense_library", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address only")
    port = int(os.environ.get("ELICENSE_LIBRARY_PORT", "8082"))
    parser.add_argument("--port", type=int, default=port)
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"refusing to listen on {args.host}: the emulator is for loopback only")
    with serve_in_thread(args.host, args.port) as server:
        print(f"e-license library emulator listening on {server.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
