"""Run the emulator on a real socket in a background thread.

A real HTTP server (not Flask's test client) lets wechatpy and requests do their own
networking, timeouts included, exactly as they will against WeChat.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
from types import TracebackType

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from wechat_emulator.app import ResetConnection, create_app


def abort_connection(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashed peer or a middlebox does: the
    client has sent its request and gets no answer, only ECONNRESET."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Handler(WSGIRequestHandler):
    def connection_dropped(self, error: BaseException, environ: object = None) -> None:
        if isinstance(error, ResetConnection):  # the reset_connection fault
            self.close_connection = True
            abort_connection(self.connection)


def is_loopback(host: str) -> bool:
    """The control API has no authentication, so an emulator listens on loopback only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmulatorServer:
    """A running emulator; ``stop()`` it, or use it as a context manager.

    ``state``: the key of ``app.extensions`` holding the emulator's state (an object with
    ``lock`` and ``reset()``); the e-license library emulator runs on this server too."""

    def __init__(self, app: Flask, host: str, port: int, *,
                 state: str = "wechat_emulator") -> None:
        self.app = app
        self.state = state
        self._server = make_server(host, port, app, threaded=True, request_handler=_Handler)
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{self._server.server_port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=state.replace("_", "-"), daemon=True
        )
        self._thread.start()

    def reset(self) -> None:
        """Same as ``POST /_emulator/reset``, without the HTTP round trip."""
        emulator = self.app.extensions[self.state]
        with emulator.lock:
            emulator.reset()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(
    appid: str, secret: str, host: str = "127.0.0.1", port: int = 0
) -> EmulatorServer:
    """Start an emulator for ``appid``/``secret``; port 0 picks a free port."""
    if not is_loopback(host):
        raise ValueError(f"the WeChat emulator listens on loopback only, not {host!r}")
    return EmulatorServer(create_app(appid, secret), host, port)
