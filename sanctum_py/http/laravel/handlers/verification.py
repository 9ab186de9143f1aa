"""Fortify's email verification routes: send the signed link, and follow it (Bearer-authenticated).

Answers as Fortify's JSON responses: 202 with the JSON string `""` when a link was sent, 204 when the
email is (or already was) verified; a bad or expired signature is 403 `Invalid signature.`, a link
made for another account 403 `This action is unauthorized.`.
"""

from __future__ import annotations

from aiohttp import web

from sanctum_py.core.signed_urls import SignatureStatus
from sanctum_py.http.kernel.keys import SERVICES, current
from sanctum_py.http.laravel.responses import Forbidden, json_response


async def send_notification(request: web.Request) -> web.Response:
    """EmailVerificationNotificationController: JsonResponse('', 202), or 204 when already verified."""
    verification = request.app[SERVICES].verification
    if not verification.send_link(current(request).user):
        return web.Response(status=204)
    return json_response("", status=202)


async def verify(request: web.Request) -> web.Response:
    """The `signed` middleware, then VerifyEmailRequest::authorize, then VerifyEmailController."""
    verification = request.app[SERVICES].verification
    path, _, raw_query = request.raw_path.partition("?")
    if verification.check_link(path, raw_query) is not SignatureStatus.VALID:
        raise Forbidden("Invalid signature.")
    user = current(request).user
    if not verification.link_belongs_to(user, request.match_info["id"], request.match_info["hash"]):
        raise Forbidden("This action is unauthorized.")
    await verification.mark_verified(user)
    return web.Response(status=204)
