"""``python -m wechat_emulator``: the WeChat emulator for local development."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import threading

from wechat_emulator.server import is_loopback, serve_in_thread


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wechat_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address only")
    port = int(os.environ.get("WECHAT_EMULATOR_PORT", "8081"))
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--appid", default=os.environ.get("WECHAT_APPID", "wx-dev-appid"))
    parser.add_argument("--secret", default=os.environ.get("WECHAT_SECRET", "dev-secret"))
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"refusing to listen on {args.host}: the emulator is for loopback only")
    # werkzeug's access lines would print the token URL, secret included
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with serve_in_thread(args.appid, args.secret, args.host, args.port) as server:
        print(f"WeChat emulator for {args.appid} listening on {server.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
