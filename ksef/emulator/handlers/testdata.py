"""TEST-environment helpers: /testdata/* (subjects, permissions, rate limits)."""
import re

from ..common import bad_request
from ..routes import GROUPS
from ..server import empty, route


def _ok():
    return empty(200)


@route("POST", "/testdata/subject")
def subject(emu, req):
    body = req.json()
    if not re.fullmatch(r"\d{10}", str(body.get("subjectNip") or "")):
        raise bad_request(21405, "subjectNip: 10 cyfr.")
    emu.state.put("meta", "subject:%s" % body["subjectNip"], body)
    return _ok()


@route("POST", "/testdata/subject/remove")
def subject_remove(emu, req):
    body = req.json()
    emu.state.delete("meta", "subject:%s" % body.get("subjectNip"))
    return _ok()


@route("POST", "/testdata/permissions")
def permissions(emu, req):
    body = req.json()
    ctx = body.get("contextIdentifier") or {}
    who = body.get("authorizedIdentifier") or {}
    items = body.get("permissions") or []
    perms = [p.get("permissionType") for p in items if isinstance(p, dict)] if isinstance(
        items, list) else []
    if (not isinstance(ctx, dict) or not isinstance(who, dict) or ctx.get("type") != "Nip"
            or who.get("type") not in ("Nip", "Pesel", "Fingerprint") or not perms
            or not all(isinstance(p, str) and p for p in perms)
            or not isinstance(ctx.get("value"), str) or not isinstance(who.get("value"), str)):
        raise bad_request(21405, "contextIdentifier (Nip), authorizedIdentifier i permissions są wymagane.")
    emu.grant_permissions(ctx["value"], who["type"], who["value"], perms)
    return _ok()


@route("POST", "/testdata/permissions/revoke")
def permissions_revoke(emu, req):
    body = req.json()
    ctx = body.get("contextIdentifier") or {}
    who = body.get("authorizedIdentifier") or {}
    emu.state.delete("grants", "%s|%s|%s" % (ctx.get("value"), who.get("type"), who.get("value")))
    return _ok()


for _path in ("/testdata/person", "/testdata/person/remove", "/testdata/attachment",
              "/testdata/attachment/revoke", "/testdata/context/block", "/testdata/context/unblock"):
    route("POST", _path)(lambda emu, req: (req.json(), _ok())[1])


@route("POST", "/testdata/rate-limits")
def set_rate_limits(emu, req):
    _bearer, op = emu.authorize(req)
    limits = (req.json().get("rateLimits") or {})
    missing = [g for g in GROUPS if not isinstance(limits.get(g), dict)]
    if missing:
        raise bad_request(21405, "rateLimits: brak grup %s." % ", ".join(missing))
    emu.rate_limiter.overrides[op["context"]["value"]] = {g: limits[g] for g in GROUPS}
    return _ok()


@route("DELETE", "/testdata/rate-limits")
def reset_rate_limits(emu, req):
    _bearer, op = emu.authorize(req)
    emu.rate_limiter.overrides.pop(op["context"]["value"], None)
    return _ok()


@route("POST", "/testdata/rate-limits/production")
def production_rate_limits(emu, req):
    _bearer, op = emu.authorize(req)
    emu.rate_limiter.overrides[op["context"]["value"]] = {g: v for g, v in GROUPS.items()}
    return _ok()
