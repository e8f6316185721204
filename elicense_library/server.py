"""Run the library emulator on a real socket in a background thread, on the WeChat
emulator's server (loopback only; its connection reset is the ``reset_connection`` fault)."""

from __future__ import annotations

from elicense_library.app import create_app
from wechat_emulator.server import EmulatorServer, is_loopback


def serve_in_thread(host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
    """Start a library emulator; port 0 picks a free port."""
    if not is_loopback(host):
        raise ValueError(f"the e-license library emulator listens on loopback only, not {host!r}")
    return EmulatorServer(create_app(), host, port, state="elicense_library")
