"""Limits in force: GET /limits/context, /limits/subject, /rate-limits."""
from ..server import json_response, route
from .certificates import CERTIFICATE_LIMIT, ENROLLMENT_LIMIT


@route("GET", "/limits/context")
def context_limits(emu, req):
    emu.authorize(req)
    values = {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 10000}
    return json_response({"onlineSession": dict(values), "batchSession": dict(values)})


@route("GET", "/limits/subject")
def subject_limits(emu, req):
    _bearer, op = emu.authorize(req)
    kind = (op.get("subject") or {}).get("type", "Nip")
    return json_response({"enrollment": {"maxEnrollments": ENROLLMENT_LIMIT.get(kind, 12)},
                          "certificate": {"maxCertificates": CERTIFICATE_LIMIT.get(kind, 6)}})


@route("GET", "/rate-limits")
def rate_limits(emu, req):
    _bearer, op = emu.authorize(req)
    return json_response(emu.rate_limiter.group_limits(op["context"]["value"]))


@route("GET", "/security/public-key-certificates")
def public_keys(emu, req):
    return json_response(emu.keys.public_key_certificates())
