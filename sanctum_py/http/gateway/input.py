"""What the gateway wire reads from a request: HTTP Basic client credentials and the introspection form.

Both readers answer None for anything malformed rather than raising: the core decides what a missing
value means, and in which order (the client is authenticated before the form is judged).
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote_plus

from aiohttp import BasicAuth, web

from sanctum_py.core.gateway_clients import ClientCredentials

FORM = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 16  # token, token_type_hint and room for extensions; a flood of fields is refused


def basic_credentials(request: web.Request) -> ClientCredentials | None:
    """RFC 6749 §2.3.1: `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    try:
        basic = BasicAuth.decode(header.strip(), encoding="utf-8")
    except ValueError:  # not Basic, not base64, not UTF-8, no colon
        return None
    # The form-urlencoding RFC 6749 asks clients to apply; for secrets of [A-Za-z0-9_-] (README) it is a no-op.
    return ClientCredentials(unquote_plus(basic.login), unquote_plus(basic.password))


async def introspection_token(request: web.Request) -> str | None:
    """The one `token` parameter of a form-encoded body; None when the body is not such a form, or has no
    `token`, or has it twice (RFC 6749 §3.2: parameters must not repeat). `token_type_hint` is ignored, as
    RFC 7662 §2.1 allows: every access token is looked up the same way, and nothing else is ever active."""
    if request.content_type != FORM:
        return None
    body = await request.read()
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # not UTF-8 (UnicodeDecodeError is one), or too many fields
        return None
    tokens = fields.get("token", [])
    return tokens[0] if len(tokens) == 1 else None
