"""KSeF tokens: POST/GET /tokens, GET/DELETE /tokens/{referenceNumber}."""
import hashlib
import hmac
import secrets
import time

from ..common import bad_request, iso
from ..server import empty, json_response, route
from .util import continuation

PERMISSIONS = ("InvoiceRead", "InvoiceWrite", "CredentialsRead", "CredentialsManage",
               "SubunitManage", "EnforcementOperations", "Introspection",
               "CollectiveIdentifierManage")      # TokenPermissionType, API 2.7
_CTX_PREFIX = {"Nip": "nip", "InternalId": "internalId", "NipVatUe": "nipVatUe", "PeppolId": "peppolId"}


def _hash(secret):
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(emu, context, author, permissions, description):
    ref = emu.new_reference("EC")
    secret = secrets.token_hex(32)
    token = "%s|%s-%s|%s" % (ref, _CTX_PREFIX[context["type"]], context["value"], secret)
    emu.state.put("ksef_tokens", ref, {
        "referenceNumber": ref, "secretHash": _hash(token), "authorIdentifier": dict(author),
        "contextIdentifier": dict(context), "description": description,
        "requestedPermissions": list(permissions), "dateCreated": time.time(),
        "lastUseDate": None, "status": "Active", "statusDetails": []})
    return ref, token


def find_token(emu, token):
    """The token record for a full token value, or None (constant-time secret check)."""
    ref = token.split("|", 1)[0]
    rec = emu.state.get("ksef_tokens", ref)
    if rec is None or not hmac.compare_digest(rec["secretHash"], _hash(token)):
        return None
    return rec


def revoke_token(emu, ref):
    rec = emu.state.get("ksef_tokens", ref)
    if rec is None:
        return False
    rec["status"] = "Revoked"
    emu.state.put("ksef_tokens", ref, rec)
    return True


def _view(rec):
    return {"referenceNumber": rec["referenceNumber"], "authorIdentifier": rec["authorIdentifier"],
            "contextIdentifier": rec["contextIdentifier"], "description": rec["description"],
            "requestedPermissions": rec["requestedPermissions"], "dateCreated": iso(rec["dateCreated"]),
            "lastUseDate": iso(rec["lastUseDate"]), "status": rec["status"],
            "statusDetails": rec.get("statusDetails") or []}


def _author_of(op):
    if op.get("author"):
        return op["author"]
    subject = op.get("subject") or {"type": "Nip", "value": op["context"]["value"]}
    return subject if subject["type"] in ("Nip", "Pesel", "Fingerprint") else {
        "type": "Nip", "value": op["context"]["value"]}


@route("POST", "/tokens")
def generate(emu, req):
    _bearer, op = emu.authorize(req)
    body = req.json()
    permissions = body.get("permissions")
    description = body.get("description")
    if not isinstance(permissions, list) or not permissions or any(p not in PERMISSIONS for p in permissions):
        raise bad_request(21405, "permissions: lista wartości spośród %s." % ", ".join(PERMISSIONS))
    if not isinstance(description, str) or not 5 <= len(description) <= 256:
        raise bad_request(21405, "description: od 5 do 256 znaków.")
    if op["context"]["type"] not in ("Nip", "InternalId"):
        raise bad_request(26002, "Kontekst %s; dozwolone typy kontekstu: Nip, InternalId."
                          % op["context"]["type"])
    missing = sorted(set(permissions) - set(op.get("permissions") or []))
    if missing:
        raise bad_request(26001, "Brakujące uprawnienia: %s." % ", ".join(missing))
    ref, token = create_token(emu, op["context"], _author_of(op), permissions, description)
    return json_response({"referenceNumber": ref, "token": token}, status=202)


@route("GET", "/tokens")
def list_tokens(emu, req):
    _bearer, op = emu.authorize(req)
    items = [t for t in emu.state.table("ksef_tokens").values()
             if t["contextIdentifier"] == op["context"]]
    perms = set(op.get("permissions") or [])
    if not perms & {"CredentialsManage", "CredentialsRead"}:
        if op.get("ksefTokenReference"):
            items = [t for t in items if t["referenceNumber"] == op["ksefTokenReference"]]
        else:
            items = [t for t in items if t["authorIdentifier"] == _author_of(op)]
    statuses = req.q_list("status")
    if statuses:
        items = [t for t in items if t["status"] in statuses]
    desc = req.q("description")
    if desc:
        items = [t for t in items if desc.lower() in t["description"].lower()]
    author = req.q("authorIdentifier")
    if author:
        items = [t for t in items if author in t["authorIdentifier"]["value"]]
    author_type = req.q("authorIdentifierType")
    if author_type:
        items = [t for t in items if t["authorIdentifier"]["type"] == author_type]
    items.sort(key=lambda t: t["dateCreated"], reverse=True)
    page, nxt = continuation(req, items, default_size=10, min_size=10, max_size=100)
    return json_response({"continuationToken": nxt, "tokens": [_view(t) for t in page]})


def _own_token(emu, req, op):
    rec = emu.state.get("ksef_tokens", req.params["referenceNumber"])
    if rec is None or rec["contextIdentifier"] != op["context"]:
        raise bad_request(21405, "Token o numerze referencyjnym %s nie istnieje."
                          % req.params["referenceNumber"])
    return rec


@route("GET", "/tokens/{referenceNumber}")
def get_token(emu, req):
    _bearer, op = emu.authorize(req)
    return json_response(_view(_own_token(emu, req, op)))


@route("DELETE", "/tokens/{referenceNumber}")
def delete_token(emu, req):
    _bearer, op = emu.authorize(req)
    rec = _own_token(emu, req, op)
    revoke_token(emu, rec["referenceNumber"])
    return empty(204)
