"""Stored invoices: GET /invoices/ksef/{ksefNumber}, POST /invoices/query/metadata."""
import time

from ...crypto import b64decode
from ..common import bad_request, iso, parse_iso
from ..server import json_response, route
from .sessions import xml_response
from .util import page_size

READ = ("InvoiceRead",)
RECORD_CAP = 10000
MAX_RANGE = 92 * 24 * 3600


def metadata(inv):
    """InvoiceMetadata of a successful invoice record."""
    data = {
        "ksefNumber": inv["ksefNumber"], "invoiceNumber": inv["invoiceNumber"],
        "issueDate": inv["issueDate"], "invoicingDate": iso(inv["invoicingTs"]),
        "acquisitionDate": iso(inv["acquisitionTs"]),
        "permanentStorageDate": iso(inv["permanentStorageTs"]),
        "seller": {"nip": inv["sellerNip"], "name": inv.get("sellerName")},
        "buyer": {"identifier": inv["buyerIdentifier"], "name": inv.get("buyerName")},
        "netAmount": inv["netAmount"], "grossAmount": inv["grossAmount"],
        "vatAmount": inv["vatAmount"], "currency": inv["currency"],
        "invoicingMode": inv["invoicingMode"], "invoiceType": inv["invoiceType"],
        "formCode": inv["formCode"], "isSelfInvoicing": inv["isSelfInvoicing"],
        "hasAttachment": inv["hasAttachment"], "invoiceHash": inv["invoiceHash"],
        "hashOfCorrectedInvoice": inv.get("hashOfCorrectedInvoice"),
        "thirdSubjects": inv.get("thirdSubjects") or [],
    }
    return {key: value for key, value in data.items() if value is not None}


def _visible(inv, nip):
    return (inv["sellerNip"] == nip or inv["buyerIdentifier"].get("value") == nip
            or any(t["identifier"].get("value") == nip for t in inv.get("thirdSubjects") or []))


@route("GET", "/invoices/ksef/{ksefNumber}")
def download(emu, req):
    _bearer, op = emu.authorize(req, permissions=READ)
    number = req.params["ksefNumber"]
    for inv in emu.state.table("invoices").values():
        if inv.get("ksefNumber") == number and _visible(inv, op["context"]["value"][:10]):
            if inv["permanentStorageTs"] > time.time():
                raise bad_request(21165, "Faktura o numerze KSeF %s została przetworzona, ale nie jest "
                                         "jeszcze dostępna do pobrania. Spróbuj ponownie później." % number)
            return xml_response(b64decode(inv["content"]))
    raise bad_request(21164, "Faktura o numerze KSeF %s nie została znaleziona." % number)


_DATE_FIELDS = {"Issue": "issueDate", "Invoicing": "invoicingTs", "PermanentStorage": "permanentStorageTs"}


def _date_of(inv, date_type):
    value = inv[_DATE_FIELDS[date_type]]
    return parse_iso(value + "T00:00:00") if date_type == "Issue" else value


SUBJECT_TYPES = ("Subject1", "Subject2", "Subject3", "SubjectAuthorized")


def current_hwm(emu):
    """PermanentStorageHwmDate of the emulator (epoch seconds): see Emulator.advance_hwm."""
    fixed = getattr(emu, "hwm_fixed", None)
    if fixed is not None:
        return fixed
    return time.time() - float(getattr(emu, "hwm_lag", 0.0) or 0.0)


def select_invoices(emu, nip, body):
    """Invoices matching InvoiceQueryFilters ``body`` for context ``nip``, sorted ascending by the
    filter's date (then KSeF number) -> (items, hwm or None). Shared by the metadata query and
    the exports. Raises ApiError 400 (21405, or 21183 when from > HWM with the restrict flag)."""
    subject = body.get("subjectType")
    rng = body.get("dateRange") if isinstance(body.get("dateRange"), dict) else {}
    if subject not in SUBJECT_TYPES:
        raise bad_request(21405, "subjectType jest wymagany (Subject1, Subject2, Subject3, "
                                 "SubjectAuthorized).")
    if rng.get("dateType") not in _DATE_FIELDS or not rng.get("from"):
        raise bad_request(21405, "dateRange (dateType, from) jest wymagany.")
    try:
        start = parse_iso(rng["from"])
        end = parse_iso(rng["to"]) if rng.get("to") else time.time()
    except (ValueError, TypeError):
        raise bad_request(21405, "dateRange: nieprawidłowa data.") from None
    if end - start > MAX_RANGE:
        raise bad_request(21405, "Zakres dat nie może przekraczać 3 miesięcy.")
    hwm = None
    if rng["dateType"] == "PermanentStorage":
        hwm = current_hwm(emu)
        if rng.get("restrictToPermanentStorageHwmDate"):
            if start > hwm:
                raise bad_request(21183, "Parametr dateRange.from jest późniejszy niż "
                                         "PermanentStorageHwmDate przy włączonym "
                                         "restrictToPermanentStorageHwmDate.")
            end = min(end, hwm)
            hwm = end
        elif rng.get("to"):
            hwm = min(hwm, end)
    stamp = time.time()
    items = []
    for inv in emu.state.table("invoices").values():
        if inv["status"]["code"] != 200 or inv["permanentStorageTs"] > stamp:
            continue
        if subject == "Subject1" and inv["sellerNip"] != nip:
            continue
        if subject == "Subject2" and inv["buyerIdentifier"].get("value") != nip:
            continue
        if subject == "Subject3" and not any(t["identifier"].get("value") == nip
                                             for t in inv.get("thirdSubjects") or []):
            continue
        if subject == "SubjectAuthorized":
            continue
        moment = _date_of(inv, rng["dateType"])
        if not start <= moment <= end:
            continue
        if not _matches(inv, body):
            continue
        items.append(inv)
    items.sort(key=lambda i: (_date_of(i, rng["dateType"]), i["ksefNumber"]))
    return items, hwm


@route("POST", "/invoices/query/metadata")
def query_metadata(emu, req):
    _bearer, op = emu.authorize(req, permissions=READ)
    body = req.json()
    size = page_size(req, 10, 10, 250)
    try:
        offset = int(req.q("pageOffset", 0))
    except ValueError:
        raise bad_request(21405, "pageOffset musi być liczbą.") from None
    order = req.q("sortOrder", "Asc")
    items, hwm = select_invoices(emu, op["context"]["value"][:10], body)
    if order == "Desc":
        items.reverse()
    cap = int(getattr(emu, "query_record_cap", RECORD_CAP))
    capped = items[:cap]
    page = capped[offset * size:(offset + 1) * size]
    truncated = len(items) > cap and (offset + 1) * size >= cap
    has_more = (offset + 1) * size < len(capped) or truncated
    result = {"hasMore": has_more, "isTruncated": truncated,
              "invoices": [metadata(i) for i in page]}
    if hwm is not None:
        result["permanentStorageHwmDate"] = iso(hwm)
    return json_response(result)


def _matches(inv, body):
    if body.get("ksefNumber") and inv["ksefNumber"] != body["ksefNumber"]:
        return False
    wanted = (body.get("invoiceNumber") or "").lower()
    if wanted and wanted not in (inv["invoiceNumber"] or "").lower():
        return False
    if body.get("sellerNip") and inv["sellerNip"] != body["sellerNip"]:
        return False
    buyer = body.get("buyerIdentifier")
    if buyer and (inv["buyerIdentifier"]["type"] != buyer.get("type") or (
            buyer.get("value") and inv["buyerIdentifier"].get("value") != buyer["value"])):
        return False
    amount = body.get("amount")
    if amount:
        value = {"Brutto": inv["grossAmount"], "Netto": inv["netAmount"], "Vat": inv["vatAmount"]}.get(
            amount.get("type"))
        if amount.get("from") is not None and value < amount["from"]:
            return False
        if amount.get("to") is not None and value > amount["to"]:
            return False
    if body.get("currencyCodes") and inv["currency"] not in body["currencyCodes"]:
        return False
    if body.get("invoicingMode") and inv["invoicingMode"] != body["invoicingMode"]:
        return False
    if body.get("isSelfInvoicing") is not None and inv["isSelfInvoicing"] != body["isSelfInvoicing"]:
        return False
    if body.get("formType") and inv["formCode"]["value"] != body["formType"]:
        return False
    if body.get("invoiceTypes") and inv["invoiceType"] not in body["invoiceTypes"]:
        return False
    if body.get("hasAttachment") is not None and inv["hasAttachment"] != body["hasAttachment"]:
        return False
    return True
