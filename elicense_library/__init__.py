"""A local emulator of the province's e-license library (省电子证照库), so that development
and tests push e-licenses to a real HTTP server and never to the province's. Its interface:
``elicense_library/README.md``."""

from elicense_library.app import create_app
from elicense_library.server import serve_in_thread

__all__ = ["create_app", "serve_in_thread"]
