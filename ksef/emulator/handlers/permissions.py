"""Entity permissions (KSeF 2.0 "uprawnienia podmiotowe"): POST /permissions/entities/grants and
GET /permissions/operations/{referenceNumber}.

A taxpayer logged in its own context (CredentialsManage) grants another entity (an accounting
office, by NIP) InvoiceWrite and/or InvoiceRead in its context; the grant is what lets the office
log in with its own certificate in the taxpayer's context (auth.py, ``permissions_of``).
"""
import re

from ..common import bad_request
from ..server import json_response, route

ENTITY_PERMISSIONS = ("InvoiceWrite", "InvoiceRead")


@route("POST", "/permissions/entities/grants")
def grant_entity(emu, req):
    _bearer, op = emu.authorize(req, permissions=["CredentialsManage"])
    body = req.json()
    subject = body.get("subjectIdentifier") if isinstance(body, dict) else None
    items = body.get("permissions") if isinstance(body, dict) else None
    description = body.get("description") if isinstance(body, dict) else None
    if (not isinstance(subject, dict) or subject.get("type") != "Nip"
            or not re.fullmatch(r"\d{10}", str(subject.get("value") or ""))):
        raise bad_request(21405, "subjectIdentifier: Nip (10 cyfr).")
    if (not isinstance(items, list) or not items
            or not all(isinstance(p, dict) and p.get("type") in ENTITY_PERMISSIONS for p in items)):
        raise bad_request(21405, "permissions: lista wartości spośród %s." % ", ".join(ENTITY_PERMISSIONS))
    types = [p["type"] for p in items]
    if len(set(types)) != len(types):
        raise bad_request(21405, "permissions: każda wartość może wystąpić tylko raz.")
    if not isinstance(description, str) or not 5 <= len(description) <= 256:
        raise bad_request(21405, "description: od 5 do 256 znaków.")
    ref = emu.new_reference("PO")
    if op["context"].get("type") != "Nip":
        status = {"code": 430, "description": "Kontekst identyfikatora nie odpowiada wymaganej roli "
                                               "lub uprawnieniom"}
    else:
        emu.grant_permissions(op["context"]["value"], "Nip", subject["value"], types)
        status = {"code": 200, "description": "Operacja zakończona sukcesem"}
    emu.state.put("permission_operations", ref, {"referenceNumber": ref, "context": op["context"],
                                                 "status": status})
    return json_response({"referenceNumber": ref}, status=202)


@route("GET", "/permissions/operations/{referenceNumber}")
def operation_status(emu, req):
    _bearer, op = emu.authorize(req)
    rec = emu.state.get("permission_operations", req.params["referenceNumber"])
    if rec is None or rec["context"] != op["context"]:
        raise bad_request(21405, "Operacja o numerze referencyjnym %s nie istnieje."
                          % req.params["referenceNumber"])
    return json_response({"status": rec["status"]})
