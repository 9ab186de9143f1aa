"""Laravel 8's signed URLs (URL::temporarySignedRoute / the `signed` middleware): pure functions, no I/O.

The key is the APP_KEY string itself, `base64:` prefix included and never decoded
(RoutingServiceProvider's key resolver returns `config('app.key')`); surrounding whitespace is trimmed,
as the .env loader does (and as Laravel 11+ trims each key explicitly).

Signing (UrlGenerator::signedRoute): the parameters plus `expires` are ksort-ed, the URL is built from
them, `signature = hash_hmac('sha256', url, key)` is appended last. Checking (hasCorrectSignature): from
the raw query string, `(^|&)signature=[^&]+` is cut out, `url?rest` (with a trailing `?` trimmed) is
HMAC-ed again and compared with the `signature` query value using hash_equals; then `expires`, if present,
must not be in the past.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, quote

VERIFICATION_PATH = "/api/email/verify/{id}/{hash}"
DEFAULT_EXPIRE_MINUTES = 60  # config('auth.verification.expire', 60)
_RESERVED = ("signature", "expires")
_SIGNATURE_PARAMETER = re.compile(r"(^|&)signature=[^&]+")
_PHP_INTEGER = re.compile(r"[ \t\n\r\v\f]*[+-]?[0-9]+[ \t\n\r\v\f]*")


class SignatureStatus(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"  # the signature is right, the link is too old
    INVALID = "invalid"  # no signature, a wrong one, or a tampered URL


def _hmac(url: str, key: str) -> str:
    return hmac.new(key.strip().encode("utf-8"), url.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def build_query(parameters: Mapping[str, str | int]) -> str:
    """PHP's http_build_query(..., PHP_QUERY_RFC3986) as Laravel's Arr::query writes it, for scalar values."""
    return "&".join(f"{quote(str(name), safe='')}={quote(str(value), safe='')}" for name, value in parameters.items())


def sign_url(url: str, parameters: Mapping[str, str | int], key: str, expires: int | None = None) -> str:
    """UrlGenerator::signedRoute for a URL whose path is already filled in; `parameters` become the query.

    Keys are sorted as ksort sorts non-numeric string keys (byte order); `signature` comes last.
    """
    for name in _RESERVED:
        if name in parameters:
            raise ValueError(f"'{name}' is a reserved parameter when generating signed routes")
    merged: dict[str, str | int] = dict(parameters)
    if expires is not None:
        merged["expires"] = expires
    ordered = {name: merged[name] for name in sorted(merged, key=lambda name: name.encode("utf-8"))}
    query = build_query(ordered)
    unsigned = f"{url}?{query}" if query else url
    return f"{unsigned}{'&' if query else '?'}signature={_hmac(unsigned, key)}"


def email_hash(email: str) -> str:
    """The `{hash}` route parameter: sha1 of getEmailForVerification()."""
    return hashlib.sha1(email.encode("utf-8"), usedforsecurity=False).hexdigest()


def verification_url(
    app_url: str, user_id: int, email: str, key: str, now: int, expire_minutes: int = DEFAULT_EXPIRE_MINUTES
) -> str:
    """VerifyEmail::verificationUrl(): `{app_url}/api/email/verify/{id}/{sha1(email)}?expires=..&signature=..`."""
    path = VERIFICATION_PATH.format(id=user_id, hash=email_hash(email))
    return sign_url(app_url.rstrip("/") + path, {}, key, expires=now + expire_minutes * 60)


def check_signature(url: str, query_string: str, keys: str | Sequence[str], now: int) -> SignatureStatus:
    """hasValidSignature for a request: `url` is scheme://host/path as the client asked for it, without the
    query; `query_string` is the raw query (no `?`). `keys` is APP_KEY, or it then previous keys.
    """
    rest = _SIGNATURE_PARAMETER.sub("", query_string).lstrip("&")
    original = f"{url.rstrip('/')}?{rest}".rstrip("?")
    query = dict(parse_qsl(query_string, keep_blank_values=True))  # the last of a repeated name wins, as in PHP
    presented = query.get("signature", "").encode("utf-8", "surrogatepass")
    candidates = [keys] if isinstance(keys, str) else list(keys)
    if not any(hmac.compare_digest(_hmac(original, key).encode("ascii"), presented) for key in candidates):
        return SignatureStatus.INVALID
    return SignatureStatus.EXPIRED if _expired(query.get("expires"), now) else SignatureStatus.VALID


def check_signed_url(full_url: str, keys: str | Sequence[str], now: int) -> SignatureStatus:
    """check_signature for a whole URL string (a fragment, never sent by browsers, is ignored)."""
    without_fragment = full_url.split("#", 1)[0]
    url, _, query_string = without_fragment.partition("?")
    return check_signature(url, query_string, keys, now)


def _expired(expires: str | None, now: int) -> bool:
    """signatureHasNotExpired negated: `$expires && now > $expires`. A non-integer value counts as expired
    (fail closed; it can only occur with a valid signature if we signed it, which we never do).
    """
    if expires is None or expires in ("", "0"):
        return False
    if not _PHP_INTEGER.fullmatch(expires):
        return True
    return now > int(expires)
