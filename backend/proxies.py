"""The client's address behind the reverse proxy, for rate limits and logs.

Behind a proxy every request comes from the proxy's socket, so limits keyed on the peer
would make a whole province one client. werkzeug's ProxyFix takes the client from the
X-Forwarded-For entry the Nth trusted proxy appended (``PROXY_FIX_X_FOR`` hops; entries to
its left are the client's own say and never believed). ProxyFix itself trusts any peer, so it
only runs for a peer in ``FORWARDED_ALLOW_IPS`` — the same list gunicorn trusts for
X-Forwarded-Proto (config/gunicorn.conf.py); anyone else's header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(allow: str) -> list[Network] | None:
    """``FORWARDED_ALLOW_IPS`` (addresses or CIDR networks, comma-separated; ``*`` = any
    peer, None) as networks. Raises ValueError on an entry that is neither."""
    entries = [e.strip() for e in allow.split(",") if e.strip()]
    if "*" in entries:
        return None
    return [ipaddress.ip_network(e) for e in entries]


class TrustedProxyFix:
    """WSGI middleware: ProxyFix(x_for=hops) for requests from a trusted proxy only."""

    def __init__(self, app, *, hops: int, trusted: Iterable[Network] | None) -> None:
        self.app = app
        self.fixed = ProxyFix(app, x_for=hops)
        self.trusted = None if trusted is None else list(trusted)

    def __call__(self, environ, start_response):
        return (self.fixed if self._from_trusted(environ.get("REMOTE_ADDR")) else self.app)(
            environ, start_response)

    def _from_trusted(self, peer: str | None) -> bool:
        if self.trusted is None:
            return True
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:  # a UNIX socket has no address: only the proxy can reach it
            return not peer
        return any(address in network for network in self.trusted)
