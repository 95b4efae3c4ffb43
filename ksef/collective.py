"""KSeF collective identifiers (identyfikator zbiorczy, KSeF API 2.7+).

A collective identifier is a number KSeF gives to a set of KSeF invoices of **one seller**, so
that one bank transfer can pay them all: an active VAT payer paying KSeF invoices of another
active VAT payer by transfer puts the invoice's KSeF number, or the collective identifier of the
invoices paid together, in the transfer title (VAT act art. 108g). The seller can then ask KSeF
which invoices (and amounts) the transfer covers.

Format (35 characters): ``NNNNNNNNNN-IZYYYYMM-XXXXXXXXXXXX-CC`` - the **seller's** NIP
(official OpenAPI: "10-cyfrowy NIP sprzedawcy"), ``IZ`` + year + month of creation, 12
uppercase hex characters, and the CRC-8 (polynomial 0x07, initial 0x00) of the first 32
characters as 2 uppercase hex digits, computed like the KSeF number's (``ksef_number.py``).
Official example: ``1111111111-IZ202607-65ED02180000-E7``.

Operations (``KSeFClient`` methods delegate to the functions at the end of this module):

* ``POST /collective-identifiers`` - generate one for 2..maxInvoices invoices (default context
  limit 500, ``limity/limity.md``; at most 5000 when KSeF raises the limit), each with an
  optional description (<= 512 characters) and payment (amount + currency). Not idempotent:
  never repeated blindly; a timeout is settled by looking the identifier up (see
  ``generate_collective_identifier``).
* ``POST /collective-identifiers/query`` - identifiers created in the context (and, for a NIP
  context, those of invoices it sold), by creation date (range <= 100 days), paged.
* ``GET /collective-identifiers/ksef/{ksefNumber}`` - identifiers that contain an invoice.
* ``POST /collective-identifiers/invoices`` - invoices of up to 10 identifiers per call, paged
  (pageSize <= 500). A longer list is split into several calls here.

Permissions: any one of ``InvoiceRead``, ``InvoiceWrite``, ``CollectiveIdentifierManage``.
Rate-limit group ``collectiveIdentifier``.

Errors: KSeF's 71001 / 71002 / 71004 / 71005 raise the ``errors.CollectiveIdentifierRejected``
subclasses; a malformed identifier raises ``errors.InvalidCollectiveIdentifierError`` and any
other request problem caught here ``errors.CollectiveIdentifierRequestError`` before anything is
sent.
"""
import datetime
import math
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from . import errors
from .i18n import Text, _
from .ksef_number import checksum, is_valid_ksef_number
from .records import format_datetime, parse_datetime, utcnow

try:
    from zoneinfo import ZoneInfo
    _WARSAW = ZoneInfo("Europe/Warsaw")
except Exception:  # pragma: no cover - no tz database
    _WARSAW = datetime.timezone.utc

IDENTIFIER_LENGTH = 35
_IDENTIFIER_RE = re.compile(r"^(\d{10})-IZ(\d{4})(0[1-9]|1[0-2])-([0-9A-F]{12})-([0-9A-F]{2})$")
#: KsefNumber of the official OpenAPI: 35 characters (KSeF 2.0) or 36 (KSeF 1.0, still accepted)
_KSEF_NUMBER_RE = re.compile(
    r"^([1-9](\d[1-9]|[1-9]\d)\d{7})-(20[2-9][0-9]|2[1-9]\d{2}|[3-9]\d{3})(0[1-9]|1[0-2])"
    r"(0[1-9]|[12]\d|3[01])-([0-9A-F]{6})-?([0-9A-F]{6})-([0-9A-F]{2})$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")

MIN_INVOICES = 2
#: default context limit of invoices per identifier (limity/limity.md, "Limity na kontekst")
DEFAULT_MAX_INVOICES = 500
#: the most KSeF lets a context limit be raised to (CollectiveIdentifierContextLimitsOverride, 2.9)
MAX_INVOICES_CEILING = 5000
#: one invoice may belong to at most this many identifiers created in one context
MAX_IDENTIFIERS_PER_INVOICE = 132
MAX_DESCRIPTION_LENGTH = 512
MAX_QUERY_DAYS = 100
#: identifiers per POST /collective-identifiers/invoices
MAX_NUMBERS_PER_CALL = 10
PAGE_SIZE_QUERY = (10, 200)
PAGE_SIZE_BY_KSEF_NUMBER = (10, 200)
PAGE_SIZE_INVOICES = (10, 500)
#: any one of these lets a context use the collective identifier operations
PERMISSIONS = ("InvoiceRead", "InvoiceWrite", "CollectiveIdentifierManage")


# --- the identifier itself ---------------------------------------------------------------------

def make_collective_identifier(seller_nip, moment, technical_hex):
    """Build an identifier: ``moment`` a date/datetime (its year and month), ``technical_hex``
    12 hex characters."""
    base = "%s-IZ%04d%02d-%s" % (seller_nip, moment.year, moment.month, str(technical_hex).upper())
    if not re.match(r"^\d{10}-IZ\d{6}-[0-9A-F]{12}$", base):
        raise ValueError("malformed collective identifier parts: %r" % base)
    return base + "-" + checksum(base)


def new_collective_identifier(seller_nip, moment=None):
    """A fresh identifier with a random technical part (the emulator's generator). ``moment``
    defaults to now; its month is taken in Polish time."""
    moment = moment or utcnow()
    if isinstance(moment, datetime.datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(_WARSAW)
    return make_collective_identifier(seller_nip, moment, secrets.token_hex(6))


def collective_identifier_problem(value):
    """Why ``value`` is not a valid collective identifier: None when it is valid, else one of
    "empty", "length", "format", "checksum"."""
    text = value if isinstance(value, str) else ""
    if not text:
        return "empty"
    if len(text) != IDENTIFIER_LENGTH:
        return "length"
    match = _IDENTIFIER_RE.match(text)
    if not match:
        return "format"
    if checksum(text[:32]) != match.group(5):
        return "checksum"
    return None


def is_valid_collective_identifier(value):
    """Format ``NNNNNNNNNN-IZYYYYMM-XXXXXXXXXXXX-CC`` and CRC-8 check."""
    return collective_identifier_problem(value) is None


_PROBLEM_TEXTS = {
    "empty": _("The collective identifier is empty."),
    "length": _("The collective identifier %(value)s must have 35 characters "
                "(NNNNNNNNNN-IZYYYYMM-XXXXXXXXXXXX-CC)."),
    "format": _("The collective identifier %(value)s does not have the form "
                "NNNNNNNNNN-IZYYYYMM-XXXXXXXXXXXX-CC (seller NIP, IZ, year and month, 12 hex "
                "characters, checksum)."),
    "checksum": _("The collective identifier %(value)s has a wrong checksum (last 2 characters): "
                  "it was probably mistyped. Copy it again from KSeF or from the payment."),
}


def check_collective_identifier(value):
    """Return the identifier (surrounding spaces removed) or raise InvalidCollectiveIdentifierError
    - before anything is sent to KSeF."""
    text = value.strip() if isinstance(value, str) else value
    reason = collective_identifier_problem(text)
    if reason is not None:
        raise errors.InvalidCollectiveIdentifierError(
            _PROBLEM_TEXTS[reason], params={"value": repr(value)}, value=value, reason=reason)
    return text


def seller_nip_of(identifier):
    """The seller's NIP inside a (valid) collective identifier."""
    return check_collective_identifier(identifier)[:10]


def is_acceptable_ksef_number(value):
    """A KSeF number KSeF accepts here: 35 characters with a valid CRC-8, or a 36-character
    KSeF 1.0 number (the OpenAPI ``KsefNumber`` pattern; its checksum is not checked here)."""
    if not isinstance(value, str) or not _KSEF_NUMBER_RE.match(value):
        return False
    return len(value) == 36 or is_valid_ksef_number(value)


def _request_error(template, reason, **params):
    return errors.CollectiveIdentifierRequestError(template, params=params, reason=reason)


def _check_ksef_number(value):
    text = value.strip() if isinstance(value, str) else value
    if not is_acceptable_ksef_number(text):
        raise _request_error(_("%(value)s is not a valid KSeF number (35 characters, "
                               "NNNNNNNNNN-YYYYMMDD-XXXXXXXXXXXX-CC, with its checksum)."),
                             "ksef_number", value=repr(value))
    return text


# --- data ----------------------------------------------------------------------------------------

def _money(value):
    """A payment amount from the API (a JSON number) as a Decimal."""
    if value is None:
        return None
    return Decimal(str(value))


@dataclass
class CollectiveInvoice:
    """One invoice of a request for a collective identifier.

    ``amount`` + ``currency`` (both or neither) is what this transfer pays for the invoice;
    ``description`` (<= 512 characters) is free text KSeF keeps with it.
    """

    ksef_number: str
    description: str = None
    amount: Decimal = None
    currency: str = None

    @classmethod
    def coerce(cls, item):
        """From a CollectiveInvoice, a KSeF number (str), a dict (``ksef_number``/``ksefNumber``,
        ``description``, ``amount`` + ``currency`` or ``payment: {amount, currency}``) or any
        object with those attributes."""
        if isinstance(item, cls):
            return cls(item.ksef_number, item.description, item.amount, item.currency)
        if isinstance(item, str):
            return cls(item)
        if isinstance(item, dict):
            get = item.get
        else:
            def get(name, default=None):
                return getattr(item, name, default)
        payment = get("payment") or {}
        if not isinstance(payment, dict):
            payment = {"amount": getattr(payment, "amount", None),
                       "currency": getattr(payment, "currency", None)}
        amount = get("amount")
        return cls(ksef_number=get("ksef_number") or get("ksefNumber"),
                   description=get("description"),
                   amount=payment.get("amount") if amount is None else amount,
                   currency=get("currency") or payment.get("currency"))

    def checked(self):
        """A normalised copy, or CollectiveIdentifierRequestError (nothing is sent)."""
        number = _check_ksef_number(self.ksef_number)
        description = self.description
        if description is not None:
            if not isinstance(description, str):
                raise _request_error(_("The description of invoice %(number)s must be text."),
                                     "description", number=number)
            if len(description) > MAX_DESCRIPTION_LENGTH:
                raise _request_error(_(
                    "The description of invoice %(number)s has %(length)s characters; KSeF "
                    "accepts at most 512."), "description", number=number,
                    length=len(description))
            description = description or None
        amount, currency = self.amount, self.currency
        if (amount is None) != (currency in (None, "")):
            raise _request_error(_("Give both the amount and the currency paid for invoice "
                                   "%(number)s, or neither."), "payment", number=number)
        if amount is not None:
            try:
                amount = amount if isinstance(amount, Decimal) else Decimal(str(amount))
            except (InvalidOperation, ValueError, TypeError):
                amount = None
            if amount is None or not amount.is_finite() or abs(amount) >= Decimal("1e16"):
                raise _request_error(_("The amount paid for invoice %(number)s (%(amount)s) is "
                                       "not a valid amount."), "payment", number=number,
                                     amount=repr(self.amount))
            currency = str(currency).strip().upper()
            if not _CURRENCY_RE.match(currency):
                raise _request_error(_("The currency paid for invoice %(number)s (%(currency)s) "
                                       "is not a 3-letter ISO 4217 code."), "payment",
                                     number=number, currency=repr(self.currency))
        else:
            currency = None
        return CollectiveInvoice(number, description, amount, currency)

    def to_json(self):
        data = {"ksefNumber": self.ksef_number}
        if self.description is not None:
            data["description"] = self.description
        if self.amount is not None:
            value = float(self.amount)
            if not math.isfinite(value):  # pragma: no cover - checked() refuses it
                raise ValueError(self.amount)
            data["payment"] = {"amount": value, "currency": self.currency}
        return data


@dataclass
class CollectiveIdentifier:
    """An identifier as listed by KSeF (query / by KSeF number); ``invoice_count`` is given by
    the query only."""

    number: str
    date_created: datetime.datetime = None
    created_in_current_context: bool = None
    invoice_count: int = None

    @property
    def seller_nip(self):
        return self.number[:10]

    @classmethod
    def from_json(cls, data):
        count = data.get("invoiceCount")
        return cls(number=data["collectiveIdentifierNumber"],
                   date_created=parse_datetime(data.get("dateCreated")),
                   created_in_current_context=data.get("createdInCurrentContext"),
                   invoice_count=int(count) if count is not None else None)

    def to_dict(self):
        return {"number": self.number, "date_created": format_datetime(self.date_created),
                "created_in_current_context": self.created_in_current_context,
                "invoice_count": self.invoice_count}


@dataclass
class CollectiveIdentifierInvoice:
    """One invoice of an identifier (POST /collective-identifiers/invoices).

    ``amount``/``currency``/``description`` are None when none was given, or when KSeF hides
    them from this context (``details_hidden``: the context neither created the identifier nor
    is named on the invoice).
    """

    ksef_number: str
    collective_identifier_number: str
    amount: Decimal = None
    currency: str = None
    description: str = None
    details_hidden: bool = False

    @classmethod
    def from_json(cls, data, number=None):
        payment = data.get("payment") or {}
        return cls(ksef_number=data["ksefNumber"],
                   collective_identifier_number=data.get("collectiveIdentifierNumber") or number,
                   amount=_money(payment.get("amount")), currency=payment.get("currency"),
                   description=data.get("description"),
                   details_hidden=bool(data.get("detailsHidden")))

    def to_dict(self):
        return {"ksef_number": self.ksef_number,
                "collective_identifier_number": self.collective_identifier_number,
                "amount": str(self.amount) if self.amount is not None else None,
                "currency": self.currency, "description": self.description,
                "details_hidden": self.details_hidden}


# --- request checks ---------------------------------------------------------------------------------

def check_invoices(invoices, max_invoices=None):
    """Normalised [CollectiveInvoice] for a generate request, or CollectiveIdentifierRequestError
    / CollectiveDuplicateInvoice / CollectiveInvoicesOfDifferentSellers - nothing is sent.

    ``max_invoices``: the context's limit when known (``collective_identifier_max_invoices``);
    otherwise only the absolute ceiling (5000) is checked here and KSeF checks its limit.
    """
    if invoices is None or isinstance(invoices, (str, bytes, dict)):
        invoices = [invoices] if invoices else []
    items = [CollectiveInvoice.coerce(item).checked() for item in invoices]
    limit = MAX_INVOICES_CEILING if max_invoices is None else int(max_invoices)
    if len(items) < MIN_INVOICES:
        raise _request_error(_("A collective identifier needs at least 2 invoices (%(count)s "
                               "given); pay a single invoice with its own KSeF number."),
                             "count", count=len(items))
    if len(items) > limit:
        raise _request_error(_("A collective identifier can group at most %(limit)s invoices in "
                               "this company's context (%(count)s given); split them into "
                               "several identifiers."), "count", count=len(items), limit=limit)
    seen = set()
    for item in items:
        if item.ksef_number in seen:
            raise errors.CollectiveDuplicateInvoice(_(
                "The invoice %(number)s is listed twice; list each invoice once (nothing was "
                "sent to KSeF)."), params={"number": item.ksef_number}, exception_code=71005,
                ksef_numbers=[item.ksef_number], local=True, sent=False)
        seen.add(item.ksef_number)
    sellers = sorted({item.ksef_number[:10] for item in items})
    if len(sellers) > 1:
        raise errors.CollectiveInvoicesOfDifferentSellers(_(
            "The invoices were issued by different sellers (NIP %(sellers)s); a collective "
            "identifier groups invoices of one seller: make one per seller (nothing was sent to "
            "KSeF)."), params={"sellers": ", ".join(sellers)}, exception_code=71004,
            ksef_numbers=[i.ksef_number for i in items], local=True, sent=False)
    return items


def check_page_size(page_size, bounds):
    low, high = bounds
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not low <= page_size <= high:
        raise _request_error(_("The page size must be a whole number from %(low)s to %(high)s "
                               "(%(value)s given)."), "page_size", low=low, high=high,
                             value=repr(page_size))
    return page_size


def _instant(value, end_of_day):
    """A query bound: an aware datetime as it is, a naive one in Polish time (as KSeF reads a
    date-time without offset), a date as the start (or end) of that day in Polish time."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_WARSAW)
    if isinstance(value, datetime.date):
        start = datetime.datetime(value.year, value.month, value.day, tzinfo=_WARSAW)
        if end_of_day:
            return start + datetime.timedelta(days=1) - datetime.timedelta(milliseconds=1)
        return start
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            return _instant(datetime.date.fromisoformat(text), end_of_day)
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=_WARSAW)
    raise TypeError(value)


def query_body(date_from, date_to=None, number=None, created_in_current_context=None,
               invoice_count_from=None, invoice_count_to=None):
    """Body of POST /collective-identifiers/query, or CollectiveIdentifierRequestError."""
    try:
        start = _instant(date_from, end_of_day=False)
        end = _instant(date_to, end_of_day=True) if date_to is not None else utcnow()
    except (TypeError, ValueError):
        raise _request_error(_("The creation dates of the query must be dates or date-times "
                               "(%(date_from)s - %(date_to)s given)."), "range",
                             date_from=repr(date_from), date_to=repr(date_to)) from None
    if start > end:
        raise _request_error(_("The query starts (%(date_from)s) after it ends (%(date_to)s)."),
                             "range", date_from=format_datetime(start), date_to=format_datetime(end))
    if end - start > datetime.timedelta(days=MAX_QUERY_DAYS):
        raise _request_error(_(
            "KSeF lists collective identifiers created within at most 100 days per query "
            "(%(date_from)s - %(date_to)s asked); query several shorter periods."), "range",
            date_from=format_datetime(start), date_to=format_datetime(end))
    body = {"dateCreatedFrom": format_datetime(start), "dateCreatedTo": format_datetime(end)}
    if number:
        body["collectiveIdentifierNumber"] = check_collective_identifier(number)
    if created_in_current_context is not None:
        body["createdInCurrentContext"] = bool(created_in_current_context)
    for key, value in (("invoiceCountFrom", invoice_count_from), ("invoiceCountTo", invoice_count_to)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _request_error(_("The invoice counts of the query must be whole numbers "
                                   "(%(value)s given)."), "invoice_count", value=repr(value))
        body[key] = value
    if invoice_count_from is not None and invoice_count_to is not None \
            and invoice_count_from > invoice_count_to:
        raise _request_error(_("The smallest invoice count (%(low)s) is above the largest "
                               "(%(high)s)."), "invoice_count", low=invoice_count_from,
                             high=invoice_count_to)
    return body


def chunks(numbers, size=MAX_NUMBERS_PER_CALL):
    """Checked identifiers, duplicates removed (first occurrence kept), in lists of ``size``."""
    if isinstance(numbers, str):
        numbers = [numbers]
    unique = []
    for value in numbers or ():
        number = check_collective_identifier(value)
        if number not in unique:
            unique.append(number)
    if not unique:
        raise _request_error(_("Give at least one collective identifier."), "numbers")
    return [unique[i:i + size] for i in range(0, len(unique), size)]


# --- operations (KSeFClient methods call these) -------------------------------------------------------

OPERATION_GENERATE = _("generate KSeF collective identifier")


def generate_collective_identifier(client, invoices, max_invoices=None):
    """POST /collective-identifiers -> the new identifier (str).

    Checked first (``check_invoices``). The request is never repeated: on a timeout or a broken
    connection after sending (KSeFTimeoutError, outcome unknown) KSeF is asked whether an
    identifier with exactly these invoices was created in this context; if so it is returned,
    otherwise the KSeFTimeoutError is raised again with ``checked`` True (nothing was found:
    safe to ask again). A 429 raises KSeFRateLimited at once (nothing was created).
    """
    items = check_invoices(invoices, max_invoices)
    body = {"invoices": [item.to_json() for item in items]}
    started = utcnow()
    try:
        data = client.call("POST", "/collective-identifiers", json=body,
                           operation=OPERATION_GENERATE).json()
    except errors.KSeFTimeoutError as exc:
        try:
            found = find_collective_identifier(
                client, [i.ksef_number for i in items],
                created_after=started - datetime.timedelta(minutes=5))
        except errors.KSeFError:
            raise exc from None     # still unknown: KSeF could not be asked
        if found:
            return found
        exc.checked = True
        raise
    return check_collective_identifier(data.get("collectiveIdentifierNumber"))


def find_collective_identifier(client, ksef_numbers, created_after=None):
    """An identifier created in this context that groups exactly ``ksef_numbers`` (and was created
    at or after ``created_after``, when given), or None. The newest wins."""
    wanted = {_check_ksef_number(n) for n in ksef_numbers}
    if not wanted:
        return None
    candidates = [ident for ident in collective_identifiers_of_invoice(client, sorted(wanted)[0])
                  if ident.created_in_current_context
                  and (created_after is None or ident.date_created is None
                       or ident.date_created >= created_after)]
    if not candidates:
        return None
    members = {}
    for invoice in collective_identifier_invoices(client, [c.number for c in candidates]):
        members.setdefault(invoice.collective_identifier_number, set()).add(invoice.ksef_number)
    candidates.sort(key=lambda c: (c.date_created or datetime.datetime.min.replace(
        tzinfo=datetime.timezone.utc), c.number), reverse=True)
    for candidate in candidates:
        if members.get(candidate.number) == wanted:
            return candidate.number
    return None


def query_collective_identifiers(client, date_from, date_to=None, number=None,
                                 created_in_current_context=None, invoice_count_from=None,
                                 invoice_count_to=None, page_size=100):
    """POST /collective-identifiers/query, all pages -> [CollectiveIdentifier] (newest first)."""
    body = query_body(date_from, date_to, number, created_in_current_context, invoice_count_from,
                      invoice_count_to)
    check_page_size(page_size, PAGE_SIZE_QUERY)
    return [CollectiveIdentifier.from_json(item) for item in client._paged(
        "/collective-identifiers/query", "collectiveIdentifiers", method="POST", json=body,
        params={"pageSize": page_size}, operation=_("query KSeF collective identifiers"))]


def collective_identifiers_of_invoice(client, ksef_number, page_size=100):
    """GET /collective-identifiers/ksef/{ksefNumber}, all pages -> [CollectiveIdentifier]
    (``invoice_count`` None: KSeF does not give it here)."""
    number = _check_ksef_number(ksef_number)
    check_page_size(page_size, PAGE_SIZE_BY_KSEF_NUMBER)
    return [CollectiveIdentifier.from_json(item) for item in client._paged(
        "/collective-identifiers/ksef/{ksefNumber}", "collectiveIdentifiers",
        path_params={"ksefNumber": number}, params={"pageSize": page_size},
        operation=Text(_("collective identifiers of invoice %(number)s"), {"number": number}))]


def collective_identifier_invoices(client, numbers, page_size=500):
    """POST /collective-identifiers/invoices, all pages -> [CollectiveIdentifierInvoice].

    ``numbers``: one identifier or a list. KSeF takes at most 10 per call: a longer list is sent
    in calls of 10 (duplicates removed), the results concatenated in that order.
    """
    check_page_size(page_size, PAGE_SIZE_INVOICES)
    result = []
    for group in chunks(numbers):
        single = group[0] if len(group) == 1 else None
        result.extend(CollectiveIdentifierInvoice.from_json(item, single) for item in client._paged(
            "/collective-identifiers/invoices", "invoices", method="POST",
            json={"collectiveIdentifierNumbers": group}, params={"pageSize": page_size},
            operation=_("invoices of KSeF collective identifiers")))
    return result


def collective_identifier_max_invoices(client):
    """How many invoices one identifier may group in this context: ``collectiveIdentifier.
    maxInvoices`` of GET /limits/context (API 2.9), else the default 500 (API 2.7 does not
    report it)."""
    data = client.call("GET", "/limits/context", operation=_("KSeF context limits")).json() or {}
    value = (data.get("collectiveIdentifier") or {}).get("maxInvoices")
    try:
        return max(MIN_INVOICES, min(MAX_INVOICES_CEILING, int(value)))
    except (TypeError, ValueError):
        return DEFAULT_MAX_INVOICES


__all__ = [
    "CollectiveIdentifier", "CollectiveIdentifierInvoice", "CollectiveInvoice",
    "DEFAULT_MAX_INVOICES", "MAX_IDENTIFIERS_PER_INVOICE", "MAX_INVOICES_CEILING",
    "check_collective_identifier", "collective_identifier_invoices", "collective_identifier_max_invoices",
    "collective_identifier_problem", "collective_identifiers_of_invoice", "find_collective_identifier",
    "generate_collective_identifier", "is_valid_collective_identifier", "make_collective_identifier",
    "new_collective_identifier", "query_collective_identifiers",
]
