"""Lettermint's SDK calls that belong to a sending provider, not to a tracker: each answers a
404 with the code ``not_supported`` and says why, so an SDK user reads a reason, not a typo.

Only the paths listed here answer so, each with the methods Lettermint's SDK uses on it
(``lettermint/_generated/operations.py``); any other unknown path stays a plain 404
``not_found`` ("No such endpoint."), so a mistyped URL is not passed off as a missing feature.
README.md's table lists which SDK calls work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import APIRouter

from ...core.errors import ApiError

__all__ = ["OUT_OF_SCOPE", "router"]

_DOMAINS = "Sending domains are the upstream mail server's business, not mailbeacon's."
_TEAM = "Team members, invites, roles, plans and usage are not kept by mailbeacon."
_INBOUND = "mailbeacon does not receive inbound mail."
_REPORTS = "DMARC report forwarding belongs to a sending domain, which mailbeacon does not keep."
_SCHEDULE = "mailbeacon sends at once: there is no schedule to change or cancel."
_RESEND = "mailbeacon does not resend a message: send it again (POST /v1/send)."
_FILES = "mailbeacon refuses no attachment type: the upstream server decides."

#: path (as mounted under /v1) -> (the SDK's methods on it, why it is out of scope)
OUT_OF_SCOPE: Mapping[str, tuple[tuple[str, ...], str]] = {
    "/domains": (("GET", "POST"), _DOMAINS),
    "/domains/{domain_id}": (("GET", "DELETE"), _DOMAINS),
    "/domains/{domain_id}/dns-records/verify": (("POST",), _DOMAINS),
    "/domains/{domain_id}/dns-records/{record_id}/verify": (("POST",), _DOMAINS),
    "/domains/{domain_id}/projects": (("PUT",), _DOMAINS),
    "/projects/{project_id}/report-forwarding": (("GET", "PUT", "DELETE"), _REPORTS),
    "/projects/{project_id}/report-forwarding/verify": (("POST",), _REPORTS),
    "/projects/{project_id}/report-forwarding/resend-code": (("POST",), _REPORTS),
    "/team": (("GET", "PUT"), _TEAM),
    "/team/usage": (("GET",), _TEAM),
    "/team/members": (("GET",), _TEAM),
    "/team/members/{user_id}": (("GET", "DELETE"), _TEAM),
    "/team/members/{user_id}/assignment": (("PUT",), _TEAM),
    "/team/invites": (("GET", "POST"), _TEAM),
    "/team/invites/{invite_id}": (("GET", "PUT", "DELETE"), _TEAM),
    "/team/roles": (("GET", "POST"), _TEAM),
    "/team/roles/{role_id}": (("GET", "PUT", "DELETE"), _TEAM),
    "/team/roles/{role_id}/duplicate": (("POST",), _TEAM),
    "/routes/{route_id}/verify-inbound-domain": (("POST",), _INBOUND),
    "/messages/{message_id}/process": (("POST",), _INBOUND),
    "/messages/{message_id}": (("PATCH",), _SCHEDULE),
    "/messages/{message_id}/cancel": (("POST",), _SCHEDULE),
    "/messages/{message_id}/resend": (("POST",), _RESEND),
    "/blocked-file-types": (("GET",), _FILES),
}

router = APIRouter(tags=["Lettermint calls mailbeacon does not support"])


def _refusal(reason: str) -> Callable[[], None]:
    def not_supported() -> None:
        raise ApiError(404, reason, code="not_supported")

    return not_supported


for _path, (_methods, _reason) in OUT_OF_SCOPE.items():
    router.add_api_route(
        _path,
        _refusal(_reason),
        methods=list(_methods),
        include_in_schema=False,
        name=f"not_supported:{_path}",
    )
