"""Purchase sync (SPEC §9.4): one increment of invoices received in KSeF, the ministry's recipe.

    inc = fetch_increment(client, "Subject2", checkpoint)      # checkpoint: aware datetime or None
    for doc in inc.invoices:        # IncomingInvoice(ksef_number, metadata, xml | None, error | None)
        ...                         # store it; a doc with ``error`` must be recorded visibly
    save(inc.new_checkpoint)        # only after the documents are committed
    if not inc.is_complete: call again from inc.new_checkpoint

Rules followed:
* dateType = PermanentStorage, from = checkpoint (inclusive), no ``to``,
  restrictToPermanentStorageHwmDate = true; new checkpoint = lastPermanentStorageDate when the
  result was truncated, else permanentStorageHwmDate (contiguous windows, never a gap).
* No checkpoint: start ``DEFAULT_START_DAYS`` (90) days back. KSeF allows a window of at most
  3 months: an older checkpoint is served in windows of ``MAX_WINDOW`` (90 days) with
  ``is_complete = False`` until the present is reached.
* Windows touch (the end of one is the start of the next), so an invoice stored exactly at the
  boundary can come twice: the increment is de-duplicated by KSeF number, ``seen`` drops numbers
  the caller already received at the boundary (``Increment.boundary_numbers`` of the previous
  increment); the caller should also ignore KSeF numbers it already holds.
* Two paths. Export (default, ``use_export`` None/True): POST /invoices/exports with our own
  AES-256 key wrapped with the ministry's SymmetricKeyEncryption key, poll
  GET /invoices/exports/{ref}, download the parts (storage URLs: no access token, no API limit),
  decrypt, join, unzip safely, read ``_metadata.json`` and ``{ksefNumber}.xml``: about 3 API
  requests for up to 10 000 invoices. Query (``use_export=False``): POST /invoices/query/metadata
  pages (250 per page) + GET /invoices/ksef/{n} per invoice: for a handful of invoices only
  (PRD allows 64 downloads per hour).
* Every XML goes through ``ksef.xmlsafe``: a hostile, oversize or broken document becomes
  ``IncomingInvoice(xml=None, error=<readable reason>)``; it is never dropped and never stops the
  increment. A damaged package raises ``KSeFPackageError`` and nothing is advanced.
"""
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta, timezone

from . import archive, crypto, errors, xmlsafe
from .i18n import Text, _
from .public_keys import SYMMETRIC_KEY_ENCRYPTION
from .records import format_datetime, parse_datetime, utcnow

_logger = logging.getLogger(__name__)

DEFAULT_START_DAYS = 90
MAX_WINDOW = timedelta(days=90)
QUERY_PAGE_SIZE = 250
MAX_XML_BYTES = archive.MAX_INVOICE_BYTES         # KSeF: 1 MB, 3 MB with attachments
MAX_METADATA_BYTES = archive.MAX_METADATA_BYTES
MAX_PACKAGE_UNCOMPRESSED = archive.MAX_TOTAL
MAX_PACKAGE_ENTRIES = archive.MAX_ENTRIES
SUBJECT_TYPES = ("Subject1", "Subject2", "Subject3", "SubjectAuthorized")


@dataclass
class IncomingInvoice:
    """One invoice of an increment. ``xml`` is None and ``error`` says why when it was refused."""

    ksef_number: str
    metadata: dict = field(default_factory=dict)
    xml: bytes = None
    error: str = None

    @property
    def ok(self):
        return self.xml is not None and not self.error


@dataclass
class Increment:
    """Result of fetch_increment. Store ``new_checkpoint`` only after ``invoices`` are committed."""

    invoices: list
    new_checkpoint: object            # aware datetime
    is_complete: bool
    checkpoint: object = None         # the ``from`` actually used
    is_truncated: bool = False
    permanent_storage_hwm: object = None
    boundary_numbers: frozenset = frozenset()   # pass as ``seen`` to the next call
    used_export: bool = True
    reference_number: str = None      # export reference (export path)

    @property
    def errors(self):
        return [doc for doc in self.invoices if doc.error]


def _window(subject_type, checkpoint):
    """(start, end or None, filters) of the increment from ``checkpoint`` (None: 90 days back)."""
    if subject_type not in SUBJECT_TYPES:
        raise errors.KSeFConfigError(_("Unknown subject type %(type)s: use one of %(types)s."),
                                     params={"type": repr(subject_type), "types": ", ".join(SUBJECT_TYPES)})
    now = utcnow()
    start = parse_datetime(checkpoint) if checkpoint is not None else now - timedelta(days=DEFAULT_START_DAYS)
    start = min(start, now)
    end = None
    if now - start > MAX_WINDOW:
        end = start + MAX_WINDOW              # KSeF accepts windows of at most 3 months
    date_range = {"dateType": "PermanentStorage", "from": format_datetime(start),
                  "restrictToPermanentStorageHwmDate": True}
    if end is not None:
        date_range["to"] = format_datetime(end)
    return start, end, {"subjectType": subject_type, "dateRange": date_range}


def fetch_increment(client, subject_type="Subject2", checkpoint=None, use_export=None,
                    max_invoices=10000, seen=None, poll_interval=2.0, timeout=600.0):
    """One increment of invoices where our context is ``subject_type`` -> Increment.

    ``checkpoint``: aware datetime (the previous ``new_checkpoint``) or None (90 days back).
    ``use_export``: None/True = export package (default, few requests), False = metadata query +
    one download per invoice. ``max_invoices`` caps the query path (the export path is capped by
    KSeF at 10 000 per package). ``seen``: KSeF numbers to leave out (already received).

    The export path waits here for KSeF to prepare the package (scripts, benchmarks). A server
    worker must not: it uses the stepwise ``begin_export_increment`` / ``poll_export_increment``
    and comes back later while KSeF is still working.
    """
    if use_export is None or use_export:
        pending = begin_export_increment(client, subject_type, checkpoint)
        deadline = time.monotonic() + timeout
        interval = min(0.25, poll_interval)
        while True:
            increment = poll_export_increment(client, pending, seen=seen)
            if increment is not None:
                return increment
            if time.monotonic() + interval > deadline:
                raise errors.KSeFTimeoutError(_(
                    "KSeF has not finished the invoice export %(reference)s within %(seconds)s "
                    "seconds. Nothing was imported; the next run tries again."),
                    params={"reference": pending.reference_number, "seconds": "%d" % timeout},
                    reference_number=pending.reference_number)
            client.sleep(interval)
            interval = min(poll_interval, interval * 2)
    start, end, filters = _window(subject_type, checkpoint)
    result = _query_path(client, filters, max_invoices)
    return _make_increment(start, end, result, seen, used_export=False)


@dataclass
class PendingExport:
    """An export KSeF is preparing: everything needed to pick it up in a later process.

    ``to_dict()`` holds the package's AES key: whoever stores it must keep it as a secret
    (the Odoo layer encrypts it). ``from_dict`` restores it."""

    reference_number: str
    subject_type: str
    start: object                     # aware datetime: the ``from`` of the window
    end: object = None                # aware datetime or None (up to KSeF's HWM)
    key: bytes = b""
    iv: bytes = b""
    started_at: object = None         # aware datetime

    def to_dict(self):
        def text(moment):         # microseconds kept: ``start`` is compared with a checkpoint
            return moment.astimezone(timezone.utc).isoformat() if moment is not None else None
        return {"reference_number": self.reference_number, "subject_type": self.subject_type,
                "start": text(self.start), "end": text(self.end),
                "key": crypto.b64encode(self.key), "iv": crypto.b64encode(self.iv),
                "started_at": text(self.started_at)}

    @classmethod
    def from_dict(cls, data):
        try:
            return cls(reference_number=data["reference_number"], subject_type=data["subject_type"],
                       start=parse_datetime(data["start"]),
                       end=parse_datetime(data["end"]) if data.get("end") else None,
                       key=crypto.b64decode(data["key"]), iv=crypto.b64decode(data["iv"]),
                       started_at=parse_datetime(data["started_at"]) if data.get("started_at") else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.KSeFConfigError(_("The stored state of a KSeF invoice export is unreadable; "
                                           "the next run starts a new export.")) from exc

    def age(self, now=None):
        """Seconds since the export was started (0 when unknown)."""
        if self.started_at is None:
            return 0.0
        return ((now or utcnow()) - self.started_at).total_seconds()


def begin_export_increment(client, subject_type="Subject2", checkpoint=None):
    """Ask KSeF for the export package of the increment from ``checkpoint`` -> PendingExport.

    One request (POST /invoices/exports); nothing waits. Keep the result (``to_dict()``) and
    call ``poll_export_increment`` now or in a later run."""
    start, end, filters = _window(subject_type, checkpoint)
    reference, key, iv = start_export(client, filters)
    return PendingExport(reference_number=reference, subject_type=subject_type, start=start,
                         end=end, key=key, iv=iv, started_at=utcnow())


def poll_export_increment(client, pending, seen=None):
    """One look at the export ``pending`` -> Increment when the package is ready, None while
    KSeF is still preparing it (status 100: call again later). A refused export raises
    ``KSeFError``; a damaged package ``KSeFPackageError`` (start a new export then)."""
    data = export_status(client, pending.reference_number)
    code = int((data.get("status") or {}).get("code") or 0)
    if code == 100:
        return None
    if code == 420:                                  # from > HWM: nothing new yet
        result = ([], False, None, pending.start, pending.reference_number)
    else:
        _raise_for_export_status(data, pending.reference_number)
        result = _read_export(client, data, pending.key, pending.iv, pending.reference_number)
    return _make_increment(pending.start, pending.end, result, seen, used_export=True)


def _make_increment(start, end, result, seen, used_export):
    docs, truncated, last_date, hwm, reference = result
    if truncated:
        if last_date is None:
            raise errors.KSeFPackageError(_(
                "KSeF cut the result short but did not say where it stopped (no "
                "lastPermanentStorageDate). Nothing was imported; the next run tries again."))
        new_checkpoint = last_date
        if new_checkpoint <= start:
            raise errors.KSeFError(_(
                "More than one package of invoices was stored in KSeF at the same moment (%(moment)s); "
                "the import cannot move past it. Contact support."),
                params={"moment": format_datetime(start)})
    elif hwm is not None:
        new_checkpoint = max(hwm, start)
    else:
        new_checkpoint = end or start
    is_complete = not truncated and (end is None or new_checkpoint < _floor_ms(end))
    # de-duplicate by KSeF number (and drop what the caller already received at the boundary)
    skip = set(seen or ())
    unique = []
    for doc in docs:
        if doc.ksef_number in skip:
            continue
        skip.add(doc.ksef_number)
        unique.append(doc)
    boundary = frozenset(
        doc.ksef_number for doc in unique
        if _storage_date(doc) is not None and _storage_date(doc) >= _floor_ms(new_checkpoint))
    if new_checkpoint == start:
        boundary = boundary | frozenset(seen or ())
    return Increment(invoices=unique, new_checkpoint=new_checkpoint, is_complete=is_complete,
                     checkpoint=start, is_truncated=truncated, permanent_storage_hwm=hwm,
                     boundary_numbers=boundary, used_export=used_export,
                     reference_number=reference)


def _floor_ms(moment):
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _storage_date(doc):
    try:
        return parse_datetime((doc.metadata or {}).get("permanentStorageDate"))
    except ValueError:
        return None


# --- documents ------------------------------------------------------------------------------

def check_document(ksef_number, metadata, data):
    """IncomingInvoice for downloaded bytes: safely parsed, hash checked; refusals become errors."""
    if data is None:
        return IncomingInvoice(ksef_number, metadata, None,
                               "The invoice %s was listed by KSeF but its XML file was not in the "
                               "package. Download it again by its KSeF number." % ksef_number)
    expected = (metadata or {}).get("invoiceHash")
    if expected and crypto.sha256_b64(data) != expected:
        return IncomingInvoice(ksef_number, metadata, None,
                               "The XML of invoice %s does not match the hash KSeF recorded for it "
                               "(damaged download). Download it again by its KSeF number." % ksef_number)
    try:
        xmlsafe.parse(data, max_bytes=MAX_XML_BYTES, what="invoice %s" % ksef_number)
    except errors.XMLSecurityError as exc:
        return IncomingInvoice(ksef_number, metadata, None,
                               "%s It was not imported; check it in the KSeF application and enter "
                               "it by hand if it is genuine." % exc.message)
    return IncomingInvoice(ksef_number, metadata, bytes(data), None)


# --- export path ----------------------------------------------------------------------------

def start_export(client, filters, only_metadata=False):
    """POST /invoices/exports with a new AES key -> (reference number, key, iv)."""
    key = crypto.new_aes_key()
    iv = crypto.new_iv()

    def attempt(key_cert):
        body = {"encryption": {
                    "encryptedSymmetricKey": crypto.b64encode(
                        crypto.rsa_oaep_encrypt(key_cert.public_key, key)),
                    "initializationVector": crypto.b64encode(iv),
                    "publicKeyId": key_cert.public_key_id},
                "filters": filters}
        if only_metadata:
            body["onlyMetadata"] = True
        # retried by the transport (RETRYABLE_WRITES): a package whose answer was lost is never read
        return client.call("POST", "/invoices/exports", json=body,
                           operation=_("start KSeF invoice export")).json()
    data = client.key_store.call_with_key(SYMMETRIC_KEY_ENCRYPTION, attempt)
    return data["referenceNumber"], key, iv


def export_status(client, reference_number):
    """GET /invoices/exports/{ref} once -> the status JSON."""
    return client.call("GET", "/invoices/exports/{referenceNumber}",
                       path_params={"referenceNumber": reference_number},
                       operation=_("KSeF invoice export status")).json()


def _raise_for_export_status(data, reference_number):
    status = data.get("status") or {}
    code = int(status.get("code") or 0)
    if code == 200:
        return
    details = "; ".join(status.get("details") or [])
    raise errors.KSeFError(_(
        "KSeF could not prepare the invoice export %(reference)s (status %(code)s: "
        "%(description)s%(details)s). Nothing was imported; the next run starts it again."),
        params={"reference": reference_number, "code": code,
                "description": status.get("description") or "",
                "details": " - " + details if details else ""},
        status_code=code, reference_number=reference_number)


def wait_for_export(client, reference_number, poll_interval=2.0, timeout=600.0):
    """Poll GET /invoices/exports/{ref} until it is no longer 100 -> the status JSON (200 only).

    For scripts and tests; a server worker polls once per run (``poll_export_increment``)."""
    deadline = time.monotonic() + timeout
    interval = min(0.25, poll_interval)
    while True:
        data = export_status(client, reference_number)
        if int((data.get("status") or {}).get("code") or 0) != 100:
            _raise_for_export_status(data, reference_number)
            return data
        if time.monotonic() + interval > deadline:
            raise errors.KSeFTimeoutError(_(
                "KSeF has not finished the invoice export %(reference)s within %(seconds)s seconds. "
                "Nothing was imported; the next run tries again."),
                params={"reference": reference_number, "seconds": "%d" % timeout},
                reference_number=reference_number)
        client.sleep(interval)
        interval = min(poll_interval, interval * 2)


def download_package(client, package, key, iv, timeout=300.0):  # numeric: Odoo test harness
    """Download (no access token), check, decrypt and join the parts -> ZIP bytes.

    Each part is a GET of its storage URL through the client's transport (its timeouts and
    retries); a part whose hash does not match is downloaded once more."""
    chunks = []
    for part in sorted(package.get("parts") or [], key=lambda p: p.get("ordinalNumber") or 0):
        encrypted = None
        for _attempt in range(2):
            try:
                response = client.transport.request_url(
                    part.get("method") or "GET", part["url"], timeout=timeout,
                    operation=Text(_("download of part %(part)s of the KSeF invoice package"),
                                   {"part": part.get("ordinalNumber")}))
            except errors.KSeFAPIError as exc:
                problem = "HTTP %s" % exc.http_status
                break
            except errors.KSeFTransportError as exc:
                problem = type(exc.__cause__ or exc).__name__
                break
            body = response.content
            expected = part.get("encryptedPartHash") or response.headers.get("x-ms-meta-hash")
            if response.status_code == 200 and (not expected or crypto.sha256_b64(body) == expected):
                encrypted = body
                break
            problem = "hash mismatch" if response.status_code == 200 else "HTTP %s" % response.status_code
        if encrypted is None:
            raise errors.KSeFPackageError(_(
                "Part %(part)s of the KSeF invoice package could not be downloaded (%(problem)s). "
                "Nothing was imported; the next run downloads it again."),
                params={"part": part.get("ordinalNumber"), "problem": problem})
        try:
            plain = crypto.aes_decrypt(encrypted, key, iv)
        except (ValueError, TypeError) as exc:
            raise errors.KSeFPackageError(_(
                "Part %(part)s of the KSeF invoice package cannot be decrypted. Nothing was imported; "
                "the next run downloads it again."), params={"part": part.get("ordinalNumber")}) from exc
        if part.get("partHash") and crypto.sha256_b64(plain) != part["partHash"]:
            raise errors.KSeFPackageError(_(
                "Part %(part)s of the KSeF invoice package is damaged (hash mismatch after "
                "decryption). Nothing was imported; the next run downloads it again."),
                params={"part": part.get("ordinalNumber")})
        chunks.append(plain)
    return b"".join(chunks)


def read_package(data, max_xml_bytes=MAX_XML_BYTES, max_total=MAX_PACKAGE_UNCOMPRESSED):
    """Unzip a package safely -> (metadata list or None, {file name: bytes or None if oversize}).

    ``ksef.archive.read_zip`` with KSeF's limits: at most 10,000 invoices + _metadata.json, the
    total checked on the declared and the read sizes, zip bombs refused by their compression
    ratio, headers that lie refused: any of these raises ``ArchiveTooLarge`` / ``ArchiveInvalid``
    (``KSeFPackageError``) before the archive is unpacked. A file above one invoice's maximum
    (3,000,000 bytes) is never inflated: it is returned as None and becomes a refused document
    (one strange invoice must not block every other one at each run).
    """
    entries = archive.read_zip(
        data, _("KSeF invoice package"), max_total=max_total, oversize="skip",
        limit_of=lambda name: (archive.MAX_METADATA_BYTES if name.rsplit("/", 1)[-1] ==
                               archive.METADATA_NAME else max_xml_bytes))
    metadata = None
    files = {}
    for full_name, content in entries:
        name = full_name.rsplit("/", 1)[-1]
        if name == archive.METADATA_NAME:
            try:
                parsed = json.loads(content.decode("utf-8"))
                metadata = list(parsed["invoices"])
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                raise errors.KSeFPackageError(_(
                    "The metadata file (_metadata.json) of the KSeF package is unreadable. Nothing was "
                    "imported; the next run downloads it again.")) from exc
        elif name.lower().endswith(".xml"):
            files[name[:-4]] = content
    return metadata, files


def _read_export(client, status, key, iv, reference):
    """The ready export ``status`` (200) -> (docs, truncated, last date, HWM, reference)."""
    package = status.get("package") or {}
    hwm = parse_datetime(package.get("permanentStorageHwmDate"))
    truncated = bool(package.get("isTruncated"))
    last = parse_datetime(package.get("lastPermanentStorageDate"))
    if not package.get("parts"):
        if package.get("invoiceCount"):
            raise errors.KSeFPackageError(_("KSeF reported %(count)s invoices in the export but no "
                                            "parts to download."),
                                          params={"count": package.get("invoiceCount")})
        return [], truncated, last, hwm, reference
    metadata, files = read_package(download_package(client, package, key, iv))
    if metadata is None:
        raise errors.KSeFPackageError(_(
            "The KSeF invoice package has no _metadata.json. Nothing was imported; the next run "
            "downloads it again."))
    docs = []
    listed = set()
    for item in metadata:
        number = (item or {}).get("ksefNumber")
        if not number or number in listed:
            continue
        listed.add(number)
        if number in files and files[number] is None:
            docs.append(IncomingInvoice(number, item, None,
                                        "The XML of invoice %s is larger than %d bytes and was not "
                                        "read. Check it in the KSeF application." % (number, MAX_XML_BYTES)))
            continue
        docs.append(check_document(number, item, files.get(number)))
    for number, content in sorted(files.items()):      # a file without metadata: never dropped
        if number not in listed:
            docs.append(check_document(number, {"ksefNumber": number}, content) if content is not None
                        else IncomingInvoice(number, {"ksefNumber": number}, None,
                                             "The XML of invoice %s is too large and was not read."
                                             % number))
    return docs, truncated, last, hwm, reference


# --- query path ------------------------------------------------------------------------------

def query_metadata(client, filters, page_offset=0, page_size=QUERY_PAGE_SIZE):
    """One page of POST /invoices/query/metadata (ascending) -> response JSON."""
    return client.call("POST", "/invoices/query/metadata", json=filters,
                       params={"pageOffset": page_offset, "pageSize": page_size, "sortOrder": "Asc"},
                       operation=_("query KSeF invoice metadata")).json()


def download_xml(client, ksef_number):
    """GET /invoices/ksef/{n} -> raw bytes (not parsed here: check_document does it)."""
    response = client.call("GET", "/invoices/ksef/{ksefNumber}", path_params={"ksefNumber": ksef_number},
                           accept="application/xml",
                           operation=Text(_("download invoice %(number)s"), {"number": ksef_number}))
    return response.content


def _query_path(client, filters, max_invoices):
    items = []
    offset = 0
    hwm = None
    truncated = False
    while True:
        data = query_metadata(client, filters, offset)
        if hwm is None:
            hwm = parse_datetime(data.get("permanentStorageHwmDate"))
        items.extend(data.get("invoices") or [])
        if data.get("isTruncated") or (data.get("hasMore") and len(items) >= max_invoices):
            truncated = True
            break
        if not data.get("hasMore"):
            break
        offset += 1
    if len(items) > max_invoices:
        items = items[:max_invoices]
        truncated = True
    last = parse_datetime(items[-1].get("permanentStorageDate")) if truncated and items else None
    docs = []
    for item in items:
        number = item.get("ksefNumber")
        try:
            data = download_xml(client, number)
        except errors.KSeFRateLimited:
            raise                   # nothing advanced: the run is rescheduled
        except (errors.KSeFBadRequest, errors.KSeFNotFound) as exc:
            docs.append(IncomingInvoice(number, item, None,
                                        "KSeF did not return invoice %s (%s). Download it again by "
                                        "its KSeF number later." % (number, exc.message)))
            continue
        docs.append(check_document(number, item, data))
    return docs, truncated, last, hwm, None


__all__ = ["IncomingInvoice", "Increment", "PendingExport", "fetch_increment",
           "begin_export_increment", "poll_export_increment", "check_document", "start_export",
           "export_status", "wait_for_export", "download_package", "read_package",
           "query_metadata", "download_xml", "DEFAULT_START_DAYS", "MAX_WINDOW"]
