"""Where the service may send a request an administrator pointed it at (no SSRF).

A department's webhook URL is typed by an administrator, and the worker POSTs to it from
inside our network: pointed at 127.0.0.1, 169.254.169.254 (cloud metadata) or an intranet
host, it would reach what the internet cannot. So such a URL may name only public
addresses: every address its host resolves to is checked (a name resolving to one public and
one private address is refused), when it is configured and again at each send (DNS changes),
and the connection itself is checked once made (``guard``: a name re-resolved between our
check and the connect — DNS rebinding — is caught there).

``WEBHOOK_ALLOW_PRIVATE`` (tests, development: a receiver on 127.0.0.1) switches this off;
production refuses it (config/settings.py).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# the ipaddress properties that make an address unreachable from the internet, in the order
# they are named (an address is often several: ::1 is loopback and reserved)
_KINDS = (("loopback", "本机回环地址"), ("private", "内网地址"),
          ("link_local", "链路本地地址"), ("multicast", "组播地址"),
          ("reserved", "保留地址"), ("unspecified", "未指定地址"))


class ForbiddenAddress(Exception):
    """The host is, or resolves to, an address the service must not send to."""

    def __init__(self, address: str, kind: str) -> None:
        super().__init__(f"{address} is {kind}")
        self.address, self.kind = address, kind


class Unresolvable(Exception):
    """The host name does not resolve (now)."""


def kind_of(address: str) -> str | None:
    """Why ``address`` is not a public one (its Chinese name), or None if it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id names no address
    if isinstance(ip, ipaddress.IPv6Address):
        # an IPv4 address carried inside IPv6 is judged as itself: ::ffff:127.0.0.1 (mapped),
        # 2002:7f00:1:: (6to4), 2001:0:…(Teredo: its server and client both)
        carried = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
        for inner in filter(None, carried):
            if kind := kind_of(str(inner)):
                return kind
        if ip.ipv4_mapped is not None:
            return None
    for name, label in _KINDS:
        if getattr(ip, f"is_{name}"):
            return label
    return None if ip.is_global else "非公网地址"  # e.g. 100.64.0.0/10 (carrier NAT)


def check_url(url: str) -> None:
    """Raise ForbiddenAddress if any address of the URL's host is not public, Unresolvable
    if it has none."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as error:
        raise Unresolvable(host) from error
    for *_, sockaddr in found:
        if kind := kind_of(str(sockaddr[0])):
            raise ForbiddenAddress(str(sockaddr[0]), kind)


def _checked(sock: socket.socket) -> socket.socket:
    address = str(sock.getpeername()[0])
    if kind := kind_of(address):
        sock.close()
        raise ForbiddenAddress(address, kind)
    return sock


class _HTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked(super()._new_conn())


class _HTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _checked(super()._new_conn())


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def guard(http: requests.Session) -> requests.Session:
    """Make every connection ``http`` opens refuse a non-public peer (ForbiddenAddress)."""
    http.trust_env = False  # a proxy from the environment would be the peer checked
    for prefix in ("http://", "https://"):
        http.mount(prefix, _GuardedAdapter())
    return http
