"""Collective identifiers (identyfikatory zbiorcze, API 2.7+).

POST /collective-identifiers, POST /collective-identifiers/query,
POST /collective-identifiers/invoices, GET /collective-identifiers/ksef/{ksefNumber}.

Behaviour, from the ministry's open-api.json (CIRFMF/ksef-api, newest stored copy) and
limity/limity.md; where they are silent, our choice is marked CHOICE:

* any one of InvoiceRead, InvoiceWrite, CollectiveIdentifierManage is required (403 otherwise);
* 2..maxInvoices invoices per identifier (context limit, default 500, settable 2..5000 with
  POST /testdata/limits/context/session ``collectiveIdentifier``); a description <= 512;
  ``payment`` {amount, currency} optional;
* all invoices of one seller (71004); no KSeF number twice (71005); an invoice may be in at most
  132 identifiers created in one context (71002, ``emu.collective_max_identifiers_per_invoice``);
* CHOICE: an invoice may be grouped by any context that can see it in KSeF - its seller (Podmiot1),
  its buyer (Podmiot2, typically the payer) or a third party named on it (Podmiot3, e.g. role
  6 "payer"); an unknown invoice, or one the context cannot see, gives 71001 (2.7 text: "cannot be
  assigned"; 2.9 SDKs: "does not exist" - either way nothing about other companies' invoices leaks);
* the identifier starts with the seller's NIP ("10-cyfrowy NIP sprzedawcy"), then IZ + year and
  month of creation (Polish time), 12 random hex characters and the CRC-8;
* query: identifiers created in the context and, for a NIP context, those of invoices it sold
  ("w roli Podmiotu 1"); creation dates required, range <= 100 days, pageSize 10-200, newest first
  (dateCreated desc, number desc); GET by KSeF number: the same visibility, pageSize 10-200;
* invoices of identifiers: up to 10 numbers, pageSize 10-500, sorted by KSeF number (desc).
  CHOICE: any context may list the invoices of an identifier whose number it knows (it is in a
  transfer title); payment and description are shown only to the context that created it or one
  named on that invoice, else ``detailsHidden`` is true (the ministry names amount and currency;
  we also hide the description, as the 2.9 SDK documents it). Unknown numbers give no rows.
"""
import math
import re
import time

from ...collective import new_collective_identifier
from ..common import bad_request, iso, now, parse_iso
from ..server import json_response, route
from .invoices import _visible
from .limits import collective_max_invoices
from .util import continuation

PERMISSIONS = ("InvoiceRead", "InvoiceWrite", "CollectiveIdentifierManage")
MAX_DESCRIPTION = 512
MAX_NUMBERS = 10
MAX_RANGE = 100 * 24 * 3600
_KSEF_NUMBER = re.compile(
    r"^([1-9](\d[1-9]|[1-9]\d)\d{7})-(20[2-9][0-9]|2[1-9]\d{2}|[3-9]\d{3})(0[1-9]|1[0-2])"
    r"(0[1-9]|[12]\d|3[01])-([0-9A-F]{6})-?([0-9A-F]{6})-([0-9A-F]{2})$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _context_nip(context):
    value = context.get("value") or ""
    return value[:10] if context.get("type") in ("Nip", "InternalId", "NipVatUe") else None


def _accepted_invoices(emu):
    return {inv["ksefNumber"]: inv for inv in emu.state.table("invoices").values()
            if inv.get("ksefNumber") and inv["status"]["code"] == 200}


def _listed(ident, context):
    """Identifiers the context sees in the query and by KSeF number."""
    return ident["creator"] == context or (
        context["type"] == "Nip" and ident["sellerNip"] == context["value"])


def _summary(ident, context, count=True):
    data = {"collectiveIdentifierNumber": ident["number"], "dateCreated": iso(ident["dateCreated"]),
            "createdInCurrentContext": ident["creator"] == context}
    if count:
        data["invoiceCount"] = len(ident["invoices"])
    return data


def _newest_first(items):
    return sorted(items, key=lambda i: (i["dateCreated"], i["number"]), reverse=True)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _checked_invoice(index, item):
    where = "invoices[%d]" % index
    if not isinstance(item, dict):
        raise bad_request(21405, "%s: oczekiwano obiektu." % where)
    number = item.get("ksefNumber")
    if not isinstance(number, str) or not _KSEF_NUMBER.match(number):
        raise bad_request(21405, "%s.ksefNumber: nieprawidłowy numer KSeF." % where)
    description = item.get("description")
    if description is not None and (not isinstance(description, str)
                                    or len(description) > MAX_DESCRIPTION):
        raise bad_request(21405, "%s.description: tekst o długości do %d znaków."
                          % (where, MAX_DESCRIPTION))
    payment = item.get("payment")
    if payment is not None:
        if not isinstance(payment, dict) or not _number(payment.get("amount")) \
                or not isinstance(payment.get("currency"), str) \
                or not _CURRENCY.match(payment["currency"]):
            raise bad_request(21405, "%s.payment: wymagane amount (liczba) i currency (kod ISO "
                                     "4217)." % where)
        payment = {"amount": payment["amount"], "currency": payment["currency"]}
    return {"ksefNumber": number, "description": description, "payment": payment}


@route("POST", "/collective-identifiers")
def generate(emu, req):
    _bearer, op = emu.authorize(req, permissions=PERMISSIONS)
    context = op["context"]
    body = req.json()
    items = body.get("invoices")
    if not isinstance(items, list):
        raise bad_request(21405, "invoices: lista faktur jest wymagana.")
    limit = collective_max_invoices(emu, context)
    if len(items) < 2:
        raise bad_request(21405, "invoices: identyfikator zbiorczy obejmuje co najmniej 2 faktury.")
    if len(items) > limit:
        raise bad_request(21405, "invoices: przekroczono maksymalną liczbę faktur w identyfikatorze "
                                 "zbiorczym (%d)." % limit)
    invoices = [_checked_invoice(index, item) for index, item in enumerate(items)]
    seen = set()
    for item in invoices:
        if item["ksefNumber"] in seen:
            raise bad_request(71005, "Faktura o numerze KSeF %s występuje w żądaniu więcej niż raz."
                              % item["ksefNumber"])
        seen.add(item["ksefNumber"])
    stored = _accepted_invoices(emu)
    nip = _context_nip(context)
    sellers = []
    for item in invoices:
        inv = stored.get(item["ksefNumber"])
        if inv is None or nip is None or not _visible(inv, nip):
            raise bad_request(71001, "Faktura o numerze KSeF %s nie może zostac przypisana do "
                                     "Identyfikatora Zbiorczego." % item["ksefNumber"])
        if inv["sellerNip"] not in sellers:
            sellers.append(inv["sellerNip"])
    if len(sellers) > 1:
        raise bad_request(71004, "Faktury pochodzą od różnych sprzedawców (NIP %s)."
                          % ", ".join(sellers))
    in_context = {}
    for ident in emu.state.table("collective").values():
        if ident["creator"] == context:
            for member in ident["invoices"]:
                in_context[member["ksefNumber"]] = in_context.get(member["ksefNumber"], 0) + 1
    cap = emu.collective_max_identifiers_per_invoice
    for item in invoices:
        if in_context.get(item["ksefNumber"], 0) >= cap:
            raise bad_request(71002, "Faktura o numerze KSeF %s jest już przypisana do maksymalnej "
                                     "liczby Identyfikatorów Zbiorczych." % item["ksefNumber"])
    number = new_collective_identifier(sellers[0], now())
    while emu.state.get("collective", number) is not None:  # pragma: no cover - 2**48 values
        number = new_collective_identifier(sellers[0], now())
    emu.state.put("collective", number, {
        "number": number, "sellerNip": sellers[0], "creator": dict(context),
        "dateCreated": time.time(), "invoices": invoices})
    return json_response({"collectiveIdentifierNumber": number}, status=201)


def _optional(body, name, kind, label):
    value = body.get(name)
    if value is None:
        return None
    ok = isinstance(value, bool) if kind is bool else \
        isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        raise bad_request(21405, "%s: %s." % (name, label))
    return value


@route("POST", "/collective-identifiers/query")
def query(emu, req):
    _bearer, op = emu.authorize(req, permissions=PERMISSIONS)
    context = op["context"]
    body = req.json()
    try:
        start = parse_iso(body["dateCreatedFrom"])
        end = parse_iso(body["dateCreatedTo"])
    except (KeyError, ValueError, TypeError):
        raise bad_request(21405, "dateCreatedFrom i dateCreatedTo (data i czas) są wymagane.") from None
    if start > end:
        raise bad_request(21405, "dateCreatedFrom jest późniejsza niż dateCreatedTo.")
    if end - start > MAX_RANGE:
        raise bad_request(21405, "Maksymalny przedział czasu to 100 dni.")
    number = _optional(body, "collectiveIdentifierNumber", str, "tekst")
    low = _optional(body, "invoiceCountFrom", int, "liczba całkowita")
    high = _optional(body, "invoiceCountTo", int, "liczba całkowita")
    mine = _optional(body, "createdInCurrentContext", bool, "wartość logiczna")
    items = []
    for ident in emu.state.table("collective").values():
        if not _listed(ident, context) or not start <= ident["dateCreated"] <= end:
            continue
        count = len(ident["invoices"])
        if number is not None and ident["number"] != number:
            continue
        if (low is not None and count < low) or (high is not None and count > high):
            continue
        if mine is not None and (ident["creator"] == context) != mine:
            continue
        items.append(ident)
    page, nxt = continuation(req, _newest_first(items), default_size=10, min_size=10, max_size=200)
    return json_response({"continuationToken": nxt,
                          "collectiveIdentifiers": [_summary(i, context) for i in page]})


@route("GET", "/collective-identifiers/ksef/{ksefNumber}")
def by_ksef_number(emu, req):
    _bearer, op = emu.authorize(req, permissions=PERMISSIONS)
    context = op["context"]
    number = req.params["ksefNumber"]
    if not _KSEF_NUMBER.match(number):
        raise bad_request(21405, "ksefNumber: nieprawidłowy numer KSeF.")
    items = [ident for ident in emu.state.table("collective").values()
             if _listed(ident, context) and any(m["ksefNumber"] == number for m in ident["invoices"])]
    page, nxt = continuation(req, _newest_first(items), default_size=10, min_size=10, max_size=200)
    return json_response({"continuationToken": nxt,
                          "collectiveIdentifiers": [_summary(i, context, count=False) for i in page]})


@route("POST", "/collective-identifiers/invoices")
def invoices_of(emu, req):
    _bearer, op = emu.authorize(req, permissions=PERMISSIONS)
    context = op["context"]
    numbers = req.json().get("collectiveIdentifierNumbers")
    if not isinstance(numbers, list) or not 1 <= len(numbers) <= MAX_NUMBERS \
            or not all(isinstance(n, str) for n in numbers):
        raise bad_request(21405, "collectiveIdentifierNumbers: od 1 do %d numerów identyfikatorów "
                                 "zbiorczych." % MAX_NUMBERS)
    stored = _accepted_invoices(emu)
    nip = _context_nip(context)
    rows = []
    for number in dict.fromkeys(numbers):
        ident = emu.state.get("collective", number)
        if ident is None:
            continue
        creator = ident["creator"] == context
        for member in ident["invoices"]:
            inv = stored.get(member["ksefNumber"])
            allowed = creator or (nip is not None and inv is not None and _visible(inv, nip))
            has_details = member.get("payment") is not None or member.get("description") is not None
            row = {"ksefNumber": member["ksefNumber"], "collectiveIdentifierNumber": number,
                   "detailsHidden": has_details and not allowed}
            if allowed:
                if member.get("payment") is not None:
                    row["payment"] = dict(member["payment"])
                if member.get("description") is not None:
                    row["description"] = member["description"]
            rows.append(row)
    rows.sort(key=lambda r: (r["ksefNumber"], r["collectiveIdentifierNumber"]), reverse=True)
    page, nxt = continuation(req, rows, default_size=10, min_size=10, max_size=500)
    return json_response({"continuationToken": nxt, "invoices": page})
