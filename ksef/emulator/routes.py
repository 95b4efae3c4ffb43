"""Operation table of KSeF API 2.0 with the ministry's rate limits.

Generated from the ``x-rate-limits`` extension and the 429 response tables of
the official OpenAPI file (ksef-api-v2.openapi.json, API 2.6.0), plus the operations
API 2.7 added (collective identifiers, PUT /testdata/certificates/{serialNumber}) from the
ministry's newest open-api.json (CIRFMF/ksef-api; see ksef/tests/openapi/); embedded so
the emulator does not need the OpenAPI file at run time.
Each row: (method, path template, rate-limit group or None, (per s, per min, per h)).
A group of None means "per IP, per second only" (public and auth operations).
"""
import re
import urllib.parse

OPERATIONS = [
    ("GET", "/auth/sessions", 'other', (10, 30, 120)),
    ("DELETE", "/auth/sessions/current", 'other', (10, 30, 120)),
    ("DELETE", "/auth/sessions/{referenceNumber}", 'other', (10, 30, 120)),
    ("GET", "/certificates/limits", 'other', (10, 30, 120)),
    ("GET", "/certificates/enrollments/data", 'other', (10, 30, 120)),
    ("POST", "/certificates/enrollments", 'other', (10, 30, 120)),
    ("GET", "/certificates/enrollments/{referenceNumber}", 'other', (10, 30, 120)),
    ("POST", "/certificates/retrieve", 'other', (10, 30, 120)),
    ("POST", "/certificates/{certificateSerialNumber}/revoke", 'other', (10, 30, 120)),
    ("POST", "/certificates/query", 'other', (10, 30, 120)),
    ("GET", "/security/public-key-certificates", None, (60, None, None)),
    ("POST", "/testdata/subject", None, (60, None, None)),
    ("POST", "/testdata/subject/remove", None, (60, None, None)),
    ("POST", "/testdata/person", None, (60, None, None)),
    ("POST", "/testdata/person/remove", None, (60, None, None)),
    ("POST", "/testdata/permissions", None, (60, None, None)),
    ("POST", "/testdata/permissions/revoke", None, (60, None, None)),
    ("POST", "/testdata/attachment", None, (60, None, None)),
    ("POST", "/testdata/attachment/revoke", None, (60, None, None)),
    ("POST", "/testdata/context/block", 'other', (10, 30, 120)),
    ("POST", "/testdata/context/unblock", 'other', (10, 30, 120)),
    ("GET", "/limits/context", 'other', (10, 30, 120)),
    ("GET", "/limits/subject", 'other', (10, 30, 120)),
    ("GET", "/rate-limits", 'other', (10, 30, 120)),
    ("POST", "/testdata/limits/context/session", 'other', (10, 30, 120)),
    ("DELETE", "/testdata/limits/context/session", 'other', (10, 30, 120)),
    ("POST", "/testdata/limits/subject/certificate", 'other', (10, 30, 120)),
    ("DELETE", "/testdata/limits/subject/certificate", 'other', (10, 30, 120)),
    ("POST", "/testdata/rate-limits", 'other', (10, 30, 120)),
    ("DELETE", "/testdata/rate-limits", 'other', (10, 30, 120)),
    ("POST", "/testdata/rate-limits/production", 'other', (10, 30, 120)),
    ("POST", "/permissions/persons/grants", 'other', (10, 30, 120)),
    ("POST", "/permissions/entities/grants", 'other', (10, 30, 120)),
    ("POST", "/permissions/authorizations/grants", 'other', (10, 30, 120)),
    ("POST", "/permissions/indirect/grants", 'other', (10, 30, 120)),
    ("POST", "/permissions/subunits/grants", 'other', (10, 30, 120)),
    ("POST", "/permissions/eu-entities/administration/grants", 'other', (10, 30, 120)),
    ("POST", "/permissions/eu-entities/grants", 'other', (10, 30, 120)),
    ("DELETE", "/permissions/common/grants/{permissionId}", 'other', (10, 30, 120)),
    ("DELETE", "/permissions/authorizations/grants/{permissionId}", 'other', (10, 30, 120)),
    ("GET", "/permissions/operations/{referenceNumber}", 'other', (10, 30, 120)),
    ("GET", "/permissions/attachments/status", 'other', (10, 30, 120)),
    ("GET", "/invoices/ksef/{ksefNumber}", 'invoiceDownload', (8, 16, 64)),
    ("POST", "/invoices/query/metadata", 'invoiceMetadata', (8, 16, 20)),
    ("POST", "/invoices/exports", 'invoiceExport', (8, 16, 20)),
    ("GET", "/invoices/exports/{referenceNumber}", 'invoiceExportStatus', (10, 60, 600)),
    ("GET", "/sessions", 'sessionList', (5, 10, 60)),
    ("GET", "/sessions/{referenceNumber}", 'sessionMisc', (10, 120, 1200)),
    ("GET", "/sessions/{referenceNumber}/invoices", 'sessionInvoiceList', (10, 20, 200)),
    ("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}", 'invoiceStatus',
     (30, 120, 1200)),
    ("GET", "/sessions/{referenceNumber}/invoices/failed", 'sessionInvoiceList', (10, 20, 200)),
    ("GET", "/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo", 'sessionMisc', (10, 120, 1200)),
    ("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo", 'sessionMisc',
     (10, 120, 1200)),
    ("GET", "/sessions/{referenceNumber}/upo/{upoReferenceNumber}", 'sessionMisc', (10, 120, 1200)),
    ("POST", "/tokens", 'other', (10, 30, 120)),
    ("GET", "/tokens", 'other', (10, 30, 120)),
    ("GET", "/tokens/{referenceNumber}", 'other', (10, 30, 120)),
    ("DELETE", "/tokens/{referenceNumber}", 'other', (10, 30, 120)),
    ("GET", "/peppol/query", None, (60, None, None)),
    ("POST", "/auth/challenge", None, (60, None, None)),
    ("POST", "/auth/xades-signature", None, (60, None, None)),
    ("POST", "/auth/ksef-token", None, (60, None, None)),
    ("GET", "/auth/{referenceNumber}", None, (60, None, None)),
    ("POST", "/auth/token/redeem", None, (60, None, None)),
    ("POST", "/auth/token/refresh", None, (60, None, None)),
    ("POST", "/sessions/online", 'onlineSession', (10, 30, 120)),
    ("POST", "/sessions/online/{referenceNumber}/invoices", 'invoiceSend', (10, 30, 180)),
    ("POST", "/sessions/online/{referenceNumber}/close", 'onlineSession', (10, 30, 120)),
    ("POST", "/sessions/batch", 'batchSession', (10, 20, 60)),
    ("POST", "/sessions/batch/{referenceNumber}/close", 'batchSession', (10, 20, 60)),
    ("POST", "/permissions/query/personal/grants", 'other', (10, 30, 120)),
    ("POST", "/permissions/query/persons/grants", 'other', (10, 30, 120)),
    ("POST", "/permissions/query/subunits/grants", 'other', (10, 30, 120)),
    ("POST", "/permissions/query/entities/grants", 'other', (10, 30, 120)),
    ("GET", "/permissions/query/entities/roles", 'other', (10, 30, 120)),
    ("POST", "/permissions/query/subordinate-entities/roles", 'other', (10, 30, 120)),
    ("POST", "/permissions/query/authorizations/grants", 'other', (10, 30, 120)),
    ("POST", "/permissions/query/eu-entities/grants", 'other', (10, 30, 120)),
    # API 2.7
    ("PUT", "/testdata/certificates/{serialNumber}", 'other', (10, 30, 120)),
    ("POST", "/collective-identifiers", 'collectiveIdentifier', (20, 120, 240)),
    ("POST", "/collective-identifiers/query", 'collectiveIdentifier', (20, 120, 240)),
    ("POST", "/collective-identifiers/invoices", 'collectiveIdentifier', (20, 120, 240)),
    ("GET", "/collective-identifiers/ksef/{ksefNumber}", 'collectiveIdentifier', (20, 120, 240)),
]

#: rate-limit groups of GET /rate-limits (EffectiveApiRateLimits) with their PRD values
GROUPS = {
    "onlineSession": (10, 30, 120),
    "batchSession": (10, 20, 60),
    "invoiceSend": (10, 30, 180),
    "invoiceStatus": (30, 120, 1200),
    "sessionList": (5, 10, 60),
    "sessionInvoiceList": (10, 20, 200),
    "sessionMisc": (10, 120, 1200),
    "invoiceMetadata": (8, 16, 20),
    "invoiceExport": (8, 16, 20),
    "invoiceExportStatus": (10, 60, 600),
    "invoiceDownload": (8, 16, 64),
    "collectiveIdentifier": (20, 120, 240),
    "other": (10, 30, 120),
}


def _compile(template):
    parts = template.strip("/").split("/")
    regex = "".join(
        "/(?P<%s>[^/]+)" % p[1:-1] if p.startswith("{") else "/" + re.escape(p) for p in parts)
    # literal segments win over parameters: sort key puts literals first
    key = tuple(1 if p.startswith("{") else 0 for p in parts)
    return re.compile("^%s$" % regex), key


class Router:
    """Maps (method, path below /v2) to the operation template and path parameters."""

    def __init__(self, operations=OPERATIONS):
        rows = []
        for method, template, group, limits in operations:
            regex, key = _compile(template)
            rows.append((key, method, template, regex, group, limits))
        rows.sort(key=lambda r: r[0])
        self._rows = rows
        self.limits = {(m, t): (g, lim) for m, t, g, lim in operations}

    def methods(self, template):
        """The methods the API defines on ``template`` (sorted), e.g. for an ``Allow`` header."""
        return sorted({m for _key, m, t, _regex, _group, _limits in self._rows if t == template})

    def match(self, method, path):
        """Return (template, params) or (None, template-or-None).

        As OpenAPI says, a concrete path wins over a templated one: the path is the most
        specific template that matches (``/auth/challenge`` before ``/auth/{referenceNumber}``),
        and only the methods defined on that path are served; another method gets (None, that
        template), which the dispatcher answers with 405 and the path's ``Allow``."""
        best = None
        for key, _m, template, regex, _group, _limits in self._rows:
            found = regex.match(path)
            if found and (best is None or key < best[0]):
                best = (key, template, found.groupdict())
        if best is None:
            return None, None
        _key, template, params = best
        params = {name: urllib.parse.unquote(value) for name, value in params.items()}
        if method in self.methods(template):
            return template, params
        return None, template
