"""Limits in force: GET /limits/context, /limits/subject, /rate-limits; the TEST helpers
POST/DELETE /testdata/limits/context/session."""
from ..common import bad_request
from ..server import empty, json_response, route
from .certificates import CERTIFICATE_LIMIT, ENROLLMENT_LIMIT

SESSION_DEFAULTS = {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 10000}
#: invoices per collective identifier: default 500 (limity/limity.md), settable 2..5000 (API 2.9)
COLLECTIVE_DEFAULT_MAX_INVOICES = 500
COLLECTIVE_MAX_INVOICES = (2, 5000)


def _key(context):
    return "%s:%s" % (context["type"], context["value"])


def context_limits(emu, context):
    """The context's limits (GET /limits/context), defaults overridden by /testdata."""
    stored = emu.state.get("context_limits", _key(context)) or {}
    return {
        "onlineSession": dict(SESSION_DEFAULTS, **(stored.get("onlineSession") or {})),
        "batchSession": dict(SESSION_DEFAULTS, **(stored.get("batchSession") or {})),
        # API 2.9 (EffectiveContextLimits.collectiveIdentifier); 2.7 does not report it yet
        "collectiveIdentifier": {"maxInvoices": (stored.get("collectiveIdentifier") or {}).get(
            "maxInvoices", COLLECTIVE_DEFAULT_MAX_INVOICES)},
    }


def collective_max_invoices(emu, context):
    return context_limits(emu, context)["collectiveIdentifier"]["maxInvoices"]


@route("GET", "/limits/context")
def get_context_limits(emu, req):
    _bearer, op = emu.authorize(req)
    return json_response(context_limits(emu, op["context"]))


def _session_limits(body, name):
    value = body.get(name)
    fields = ("maxInvoiceSizeInMB", "maxInvoiceWithAttachmentSizeInMB", "maxInvoices")
    if not isinstance(value, dict) or not all(
            isinstance(value.get(f), int) and not isinstance(value.get(f), bool) and value[f] >= 0
            for f in fields):
        raise bad_request(21405, "%s: wymagane %s (liczby całkowite)." % (name, ", ".join(fields)))
    return {f: value[f] for f in fields}


@route("POST", "/testdata/limits/context/session")
def set_context_limits(emu, req):
    """Only ``collectiveIdentifier.maxInvoices`` changes what the emulator enforces; the session
    values are stored and reported by GET /limits/context."""
    _bearer, op = emu.authorize(req)
    body = req.json()
    record = {"onlineSession": _session_limits(body, "onlineSession"),
              "batchSession": _session_limits(body, "batchSession")}
    collective = body.get("collectiveIdentifier")
    if collective is not None:
        value = collective.get("maxInvoices") if isinstance(collective, dict) else None
        low, high = COLLECTIVE_MAX_INVOICES
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise bad_request(21405, "collectiveIdentifier.maxInvoices: liczba od %d do %d."
                              % (low, high))
        record["collectiveIdentifier"] = {"maxInvoices": value}
    emu.state.put("context_limits", _key(op["context"]), record)
    return empty(200)


@route("DELETE", "/testdata/limits/context/session")
def reset_context_limits(emu, req):
    _bearer, op = emu.authorize(req)
    emu.state.delete("context_limits", _key(op["context"]))
    return empty(200)


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
