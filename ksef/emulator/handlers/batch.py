"""Batch sessions: POST /sessions/batch, part uploads (PUT to a storage URL), close and processing.

On close the parts are checked (size, SHA-256), decrypted, concatenated, checked against the
declared archive size/hash, and unzipped safely (``ksef.archive.read_zip``): at most ``MAX_INVOICES``
entries, each read with a bounded reader (``MAX_ENTRY_BYTES``), the total bounded by
``emu.batch_max_uncompressed``, a header that lies or an implausible compression ratio refused, so a
zip bomb is refused without being inflated. Each file is then processed exactly like an invoice
of an online session (same checks, duplicates, numbering), with invoicingDate = session opening.
Uploaded parts are kept in memory only (not in the SQLite file).
"""
import time

from ...archive import read_zip
from ...crypto import aes_decrypt, b64decode, b64encode, sha256_b64
from ...errors import ArchiveInvalid, ArchiveTooLarge
from ..common import ApiError, bad_request
from ..server import empty, json_response, route
from .sessions import (
    FORM_CODES,
    INVOICE_STATUS,
    WRITE,
    _finish_invoice,
    _finish_session,
    _status,
)
from .util import b64_field, read_encryption, require, unwrap_aes_key

MAX_INVOICES = 10000
MAX_PARTS = 50
MAX_PART_BYTES = 100 * 1000 * 1000        # before encryption
MAX_FILE_BYTES = 5 * 1000 * 1000 * 1000
MAX_ENTRY_BYTES = 3 * 1000 * 1000         # an invoice with attachments
DEFAULT_MAX_UNCOMPRESSED = 2 * 1024 ** 3
UPLOAD_SECONDS_PER_PART = 20 * 60

BATCH_STATUS = {
    100: "Sesja wsadowa rozpoczęta",
    150: "Trwa przetwarzanie",
    200: "Sesja wsadowa przetworzona pomyślnie",
    405: "Błąd weryfikacji poprawności dostarczonych elementów paczki",
    415: "Błąd odszyfrowania dostarczonego klucza",
    420: "Przekroczony limit faktur w sesji",
    430: "Błąd dekompresji pierwotnego archiwum",
    435: "Błąd odszyfrowania zaszyfrowanych części archiwum",
    440: "Sesja anulowana",
    445: "Błąd weryfikacji, brak poprawnych faktur",
}


class _SessionFailed(Exception):
    def __init__(self, code, *details):
        super().__init__(code)
        self.code = code
        self.details = [d for d in details if d]


def _blobs(emu):
    blobs = getattr(emu, "blobs", None)
    if blobs is None:
        blobs = emu.blobs = {}
    return blobs


def _int_field(obj, name, low=1, high=None):
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (
            high is not None and value > high):
        raise bad_request(21405, "Pole '%s' musi być liczbą całkowitą w zakresie %s-%s."
                          % (name, low, high or "..."))
    return value


def _hash(obj, name):
    value = obj.get(name)
    if not isinstance(value, str) or len(value) != 44:
        raise bad_request(21405, "Pole '%s' musi być skrótem SHA-256 w Base64 (44 znaki)." % name)
    b64_field(obj, name, 32)
    return value


@route("POST", "/sessions/batch")
def open_batch(emu, req):
    _bearer, op = emu.authorize(req, permissions=WRITE)
    body = req.json()
    require(body, "formCode", "batchFile", "encryption")
    form = body["formCode"] if isinstance(body["formCode"], dict) else {}
    key = (form.get("systemCode"), form.get("schemaVersion"), form.get("value"))
    if key not in FORM_CODES:
        raise bad_request(21405, "Nieobsługiwany kod formularza %s/%s/%s (obsługiwane: FA (3) 1-0E FA)."
                          % key)
    batch = body["batchFile"] if isinstance(body["batchFile"], dict) else {}
    require(batch, "fileSize", "fileHash", "fileParts")
    file_size = _int_field(batch, "fileSize", 1, MAX_FILE_BYTES)
    file_hash = _hash(batch, "fileHash")
    if (batch.get("compressionType") or "Zip") != "Zip":
        raise bad_request(21405, "Emulator obsługuje tylko compressionType = Zip.")
    declared = batch["fileParts"]
    if not isinstance(declared, list) or not declared:
        raise bad_request(21405, "Pole 'fileParts' musi być niepustą listą.")
    if len(declared) > MAX_PARTS:
        raise bad_request(21161, "Liczba części %d przekracza dozwolone %d." % (len(declared), MAX_PARTS))
    parts = []
    for item in declared:
        if not isinstance(item, dict):
            raise bad_request(21405, "Element 'fileParts' musi być obiektem.")
        number = _int_field(item, "ordinalNumber", 1, MAX_PARTS)
        size = _int_field(item, "fileSize", 1)
        if size > MAX_PART_BYTES + 16:
            raise bad_request(21157, "Część %d ma %d B; dozwolone jest 100 MB przed zaszyfrowaniem."
                              % (number, size))
        parts.append({"ordinalNumber": number, "fileSize": size, "fileHash": _hash(item, "fileHash")})
    numbers = sorted(p["ordinalNumber"] for p in parts)
    if numbers != list(range(1, len(parts) + 1)):
        raise bad_request(21405, "Numery części (ordinalNumber) muszą być kolejnymi liczbami od 1.")
    offline = body.get("offlineMode", False)
    if not isinstance(offline, bool):
        raise bad_request(21405, "Pole 'offlineMode' musi być wartością logiczną.")
    wrapped, iv = read_encryption(emu, body)
    aes_key = unwrap_aes_key(emu, wrapped)
    ref = emu.new_reference("SB")
    created = time.time()
    session = {"referenceNumber": ref, "type": "Batch", "context": op["context"],
               "formCode": {"systemCode": key[0], "schemaVersion": key[1], "value": key[2]},
               "status": _status(BATCH_STATUS, 100), "dateCreated": created, "dateUpdated": created,
               "validUntil": created + UPLOAD_SECONDS_PER_PART * len(parts), "closedAt": None,
               "aesKey": b64encode(aes_key) if aes_key else None, "iv": b64encode(iv),
               "keyError": aes_key is None, "invoiceRefs": [], "authRef": op["referenceNumber"],
               "ksefTokenReference": op.get("ksefTokenReference"),
               "authDocumentHash": op.get("authDocumentHash") or sha256_b64(op["referenceNumber"].encode()),
               "upoPages": [], "offlineMode": offline,
               "batchFile": {"fileSize": file_size, "fileHash": file_hash,
                             "parts": sorted(parts, key=lambda p: p["ordinalNumber"])}}
    emu.state.put("sessions", ref, session)
    uploads = [{"ordinalNumber": p["ordinalNumber"], "method": "PUT",
                "url": "%s/storage/batch/%s/%d" % (emu.root_url, ref, p["ordinalNumber"]),
                "headers": {"x-ms-blob-type": "BlockBlob"}}
               for p in session["batchFile"]["parts"]]
    return json_response({"referenceNumber": ref, "partUploadRequests": uploads}, status=201)


def serve_upload(emu, req):
    """PUT /storage/batch/{ref}/{n}: store one encrypted part (no Authorization, not rate limited)."""
    if req.method != "PUT":
        raise ApiError(405, detail="Only PUT is allowed on upload links.")
    if req.headers.get("Authorization"):
        raise ApiError(400, detail="Do not send the KSeF access token to the storage upload URL.")
    parts = req.path.strip("/").split("/")
    session = emu.state.get("sessions", parts[2]) if len(parts) == 4 else None
    if session is None or session.get("type") != "Batch" or not parts[3].isdigit():
        raise ApiError(404, detail="The upload link is unknown.")
    number = int(parts[3])
    if number not in [p["ordinalNumber"] for p in session["batchFile"]["parts"]]:
        raise ApiError(404, detail="The upload link is unknown.")
    if session["status"]["code"] != 100 or session["validUntil"] <= time.time():
        raise ApiError(403, detail="The upload time is over or the session no longer accepts parts.")
    _blobs(emu)["batch/%s/%d" % (session["referenceNumber"], number)] = bytes(req.body)
    return empty(201)


@route("POST", "/sessions/batch/{referenceNumber}/close")
def close_batch(emu, req):
    _bearer, op = emu.authorize(req, permissions=WRITE)
    ref = req.params["referenceNumber"]
    session = emu.state.get("sessions", ref)
    if session is None or session["context"] != op["context"] or session["type"] != "Batch":
        raise bad_request(21173, "Sesja o numerze referencyjnym %s nie została znaleziona." % ref)
    if session["status"]["code"] != 100:
        raise bad_request(21180, "Status sesji %s uniemożliwia jej zamknięcie." % session["status"]["code"])
    if session["validUntil"] <= time.time():
        _fail(emu, session, 440, "Przekroczono czas wysyłki")
        raise bad_request(21208, "Sesja anulowana, przekroczony czas wysyłki.")
    blobs = _blobs(emu)
    for part in session["batchFile"]["parts"]:
        data = blobs.get("batch/%s/%d" % (ref, part["ordinalNumber"]))
        if data is None:
            raise bad_request(21205, "Nie przesłano zadeklarowanej '%d' części pliku."
                              % part["ordinalNumber"])
        if len(data) != part["fileSize"]:
            raise bad_request(21157, "Zadeklarowany rozmiar części '%d' nie zgadza się z rzeczywistym."
                              % part["ordinalNumber"])
    session["closedAt"] = session["dateUpdated"] = time.time()
    session["status"] = _status(BATCH_STATUS, 150)
    try:
        entries = _open_package(emu, session)
        _process(emu, session, entries)
    except _SessionFailed as failed:
        _fail(emu, session, failed.code, *failed.details)
    finally:
        for part in session["batchFile"]["parts"]:
            blobs.pop("batch/%s/%d" % (ref, part["ordinalNumber"]), None)
    return empty(204)


def _fail(emu, session, code, *details):
    session["status"] = _status(BATCH_STATUS, code, [d for d in details if d])
    session["dateUpdated"] = time.time()
    emu.state.put("sessions", session["referenceNumber"], session)


def _open_package(emu, session):
    """Check, decrypt, join and unzip the parts -> [(file name, bytes or None, problem)]."""
    if session.get("keyError"):
        raise _SessionFailed(415)
    key, iv = b64decode(session["aesKey"]), b64decode(session["iv"])
    blobs = _blobs(emu)
    plain = []
    for part in session["batchFile"]["parts"]:
        data = blobs["batch/%s/%d" % (session["referenceNumber"], part["ordinalNumber"])]
        if sha256_b64(data) != part["fileHash"]:
            raise _SessionFailed(405, "Skrót części %d nie zgadza się z zadeklarowanym."
                                 % part["ordinalNumber"])
        try:
            plain.append(aes_decrypt(data, key, iv))
        except (ValueError, TypeError):
            raise _SessionFailed(435, "Nie można odszyfrować części %d." % part["ordinalNumber"]) from None
    archive = b"".join(plain)
    declared = session["batchFile"]
    if len(archive) != declared["fileSize"] or sha256_b64(archive) != declared["fileHash"]:
        raise _SessionFailed(405, "Rozmiar lub skrót paczki nie zgadza się z zadeklarowanym.")
    budget = int(getattr(emu, "batch_max_uncompressed", DEFAULT_MAX_UNCOMPRESSED))
    try:
        unpacked = read_zip(archive, max_entries=MAX_INVOICES, limit_of=lambda name: MAX_ENTRY_BYTES,
                            max_total=budget, oversize="skip")
    except ArchiveTooLarge as exc:
        if exc.reason == "entries":
            raise _SessionFailed(420, "Paczka zawiera zbyt wiele plików; dozwolone jest %d."
                                 % MAX_INVOICES) from None
        raise _SessionFailed(430, "Łączny rozmiar rozpakowanych plików przekracza limit "
                                  "(możliwa bomba ZIP): %s" % exc.message) from None
    except ArchiveInvalid as exc:
        raise _SessionFailed(430, "Archiwum ZIP jest uszkodzone: %s" % exc.message) from None
    if not unpacked:
        raise _SessionFailed(445, "Paczka nie zawiera faktur.")
    entries = []
    for name, data in unpacked:
        if data is None:
            entries.append((name, None, "Plik %s przekracza %d B po rozpakowaniu." % (name, MAX_ENTRY_BYTES)))
        else:
            entries.append((name, data, None))
    return entries


def _process(emu, session, entries):
    stamp = time.time()
    for ordinal, (name, data, problem) in enumerate(entries, 1):
        ref = emu.new_reference("EE")
        inv = {"referenceNumber": ref, "sessionRef": session["referenceNumber"],
               "ordinalNumber": ordinal, "invoiceFileName": name[:128],
               "invoiceHash": sha256_b64(data if data is not None else name.encode("utf-8")),
               "invoiceSize": len(data or b""), "invoicingTs": session["dateCreated"],
               "readyAt": stamp, "offlineMode": session["offlineMode"], "hashOfCorrectedInvoice": None,
               "content": b64encode(data) if data is not None else None,
               "status": _status(INVOICE_STATUS, 150), "ksefNumber": None, "acquisitionTs": None,
               "permanentStorageTs": None, "invoicingMode": None, "invoiceNumber": None,
               "formCode": session["formCode"], "context": session["context"]}
        if problem:
            inv["status"] = _status(INVOICE_STATUS, 430, [problem])
            inv["content"] = None
        else:
            _finish_invoice(emu, inv, session)
        session["invoiceRefs"].append(ref)
        emu.state.put("invoices", ref, inv)
    _finish_session(emu, session)   # UPO pages (<= 10 000 documents each) or 445
    code = session["status"]["code"]
    session["status"] = _status(BATCH_STATUS, code if code in BATCH_STATUS else 445,
                                session["status"].get("details"))
    emu.state.put("sessions", session["referenceNumber"], session)

