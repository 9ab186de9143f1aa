"""The gateway routes: read the request, call one service (or the kernel's guard, for forward auth), render."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from sanctum_py.core.introspection import ActiveToken, Introspection
from sanctum_py.core.token_cache import VerifiedToken
from sanctum_py.http.gateway.input import basic_credentials, introspection_token
from sanctum_py.http.gateway.wire import gateway_response
from sanctum_py.http.kernel.client_ip import client_ip
from sanctum_py.http.kernel.keys import SERVICES, current

INTROSPECTION = web.AppKey("introspection", Introspection)
INACTIVE = {"active": False}
# Characters an ability may keep in a header as they are: visible ASCII but space, `%`, `"` and `\`
# (the separator, the escape, and what proxies quote). Everything else is percent-encoded (UTF-8), so a
# header can never carry a line break or a byte a proxy rejects, whatever abilities a client asked for.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '%"\\')


async def introspect(request: web.Request) -> web.Response:
    """RFC 7662 §2: `{"active": false}` and nothing else for any token that is not good right now."""
    introspection = request.app[INTROSPECTION]
    if not introspection.enabled:  # no client configured: the endpoint does not exist
        raise web.HTTPNotFound
    token = await introspection_token(request)
    address = client_ip(request, tuple(request.app[SERVICES].settings.trusted_proxies))
    active = await introspection.introspect(basic_credentials(request), address, token)
    return gateway_response(INACTIVE if active is None else introspection_view(active))


def introspection_view(token: ActiveToken) -> dict[str, Any]:
    """RFC 7662 §2.2's members we know, plus `abilities` (exact, where `scope` joins them with spaces)
    and `role`."""
    view: dict[str, Any] = {
        "active": True,
        "scope": " ".join(token.abilities),
        "abilities": list(token.abilities),
        "token_type": "Bearer",
        "sub": str(token.user_id),
        "username": token.username,
        "role": token.role,
        "jti": str(token.token_id),
    }
    if token.expires_at is not None:
        view["exp"] = token.expires_at
    if token.issued_at is not None:
        view["iat"] = token.issued_at
    return view


async def forward(request: web.Request) -> web.Response:
    """nginx auth_request / Traefik ForwardAuth: the guard (kernel) has let the token through; say whose
    it is in headers the proxy copies onto the request it sends upstream. No body."""
    return web.Response(status=200, headers=forward_headers(current(request)))


def forward_headers(verified: VerifiedToken) -> dict[str, str]:
    return {
        "X-Auth-User-Id": str(verified.user.id),
        "X-Auth-User-Role": quote(verified.user.role, safe=_HEADER_SAFE),
        "X-Auth-Token-Id": str(verified.token_id),
        "X-Auth-Abilities": " ".join(quote(ability, safe=_HEADER_SAFE) for ability in verified.abilities),
    }
