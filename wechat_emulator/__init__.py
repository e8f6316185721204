"""A local WeChat API emulator, so that development and tests never call api.weixin.qq.com."""

from wechat_emulator.app import create_app
from wechat_emulator.server import EmulatorServer, serve_in_thread

__all__ = ["EmulatorServer", "create_app", "serve_in_thread"]
