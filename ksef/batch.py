"""Batch sessions (SPEC §8): many invoices in one encrypted ZIP, few API requests.

Step by step, resumable after a crash between any two steps (what the Odoo layer uses):

    session = client.open_batch_session([("FV-1.xml", xml1), ("FV-2.xml", xml2)])
    store(session.to_dict())           # before any upload; holds the AES key: store it encrypted
    session.upload()                   # the parts not uploaded yet (repeatable until the close)
    session.close()                    # KSeF starts processing
    status = session.wait()            # or session.status() in a later run
    for item in session.invoices():    # invoice_file_name, invoice_hash, ksef_number, ...
        ...
    pages = session.upo_pages(status)  # the session UPO, XML bytes per page

    session = client.resume_batch_session(stored)   # after a crash (or just a reference number)
    session.upload(files)              # the same files: the ZIP is rebuilt and checked

In one call: ``client.send_batch({"FV-1.xml": xml1, ...})`` -> BatchResult.

Steps: ZIP the XMLs (deterministic), hash + size of the whole archive, cut it into parts
(≤ 100 MB before encryption, ≤ 50 parts), AES-256-CBC each part with the session key/IV,
POST /sessions/batch, upload every part with exactly the method/URL/headers KSeF returned and
WITHOUT the access token (these are storage URLs, not KSeF API calls), then close. Every request
goes through the client's transport (its retry table: part uploads are retried, POST
/sessions/batch and the close never are: on a timeout the outcome is unknown).
"""
import io
import logging
import time
import zipfile
from dataclasses import dataclass, field

from . import crypto, errors
from .i18n import Text, _
from .public_keys import SYMMETRIC_KEY_ENCRYPTION
from .sessions import FA3_FORM_CODE, MAX_INVOICE_SIZE
from .transport import connection_problem

_logger = logging.getLogger(__name__)

MAX_PART_SIZE = 100 * 1000 * 1000      # bytes before encryption (KSeF: 100 MB)
MAX_PARTS = 50
MAX_INVOICES = 10000
MAX_ARCHIVE_SIZE = 5 * 1000 * 1000 * 1000
MAX_INVOICE_SIZE_WITH_ATTACHMENT = 3 * 1000 * 1000
_ZIP_DATE = (2025, 1, 1, 0, 0, 0)


@dataclass
class BatchResult:
    """What was sent: the session reference and file name -> SHA-256 (Base64) of each XML."""

    reference_number: str
    files: dict = field(default_factory=dict)
    archive_size: int = 0
    archive_hash: str = ""
    part_count: int = 0

    def file_for_hash(self, invoice_hash):
        """The file name whose XML has this hash (invoice lists carry ``invoiceHash``), or None."""
        for name, value in self.files.items():
            if value == invoice_hash:
                return name
        return None


def build_archive(invoices):
    """Deterministic ZIP of ``{file name: xml bytes}`` -> (zip bytes, {name: sha256 b64})."""
    if not invoices:
        raise errors.KSeFConfigError(_("There are no invoices to send in the batch."))
    if len(invoices) > MAX_INVOICES:
        raise errors.KSeFConfigError(_(
            "A KSeF batch holds at most %(max)s invoices (%(count)s given); send them in several "
            "batches."), params={"max": MAX_INVOICES, "count": len(invoices)})
    hashes = {}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(invoices):
            data = invoices[name]
            if isinstance(data, str):
                data = data.encode("utf-8")
            if not name or "/" in name or "\\" in name or len(name) > 128:
                raise errors.KSeFConfigError(_(
                    "Invalid file name %(name)s in the batch: use a plain name of at most 128 "
                    "characters."), params={"name": repr(name)})
            if not data:
                raise errors.InvoiceValidationError(problems=["the invoice file %s is empty" % name])
            if len(data) > MAX_INVOICE_SIZE_WITH_ATTACHMENT:
                raise errors.InvoiceTooLargeError(_(
                    "The invoice file %(name)s is %(size)s bytes; KSeF accepts at most %(limit)s "
                    "bytes (with attachments). Shorten it, then send the batch again. Nothing was "
                    "sent."),
                    params={"name": name, "size": len(data), "limit": MAX_INVOICE_SIZE_WITH_ATTACHMENT},
                    problems=["%s: %d bytes" % (name, len(data))], size=len(data))
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
            hashes[name] = crypto.sha256_b64(data)
    return buffer.getvalue(), hashes


def split_parts(data, part_size=MAX_PART_SIZE):
    """Cut ``data`` into consecutive parts of at most ``part_size`` bytes (≤ 50 parts)."""
    if not 1 <= part_size <= MAX_PART_SIZE:
        raise errors.KSeFConfigError(_("The batch part size must be 1..%(max)s bytes."),
                                     params={"max": MAX_PART_SIZE})
    parts = [data[i:i + part_size] for i in range(0, len(data), part_size)] or [b""]
    if len(parts) > MAX_PARTS:
        raise errors.KSeFConfigError(_(
            "The batch archive (%(size)s bytes) needs %(parts)s parts; KSeF allows %(max)s. Send "
            "fewer invoices per batch."), params={"size": len(data), "parts": len(parts), "max": MAX_PARTS})
    return parts


def upload_timeout(timeout):
    """The timeout of one part upload from the client's: the read timeout, at least 60 s (a
    number stays a number: Odoo's test harness only understands numbers)."""
    if isinstance(timeout, (tuple, list)):
        return (timeout[0], max(60.0, float(timeout[-1] or 0)))
    return max(60.0, float(timeout or 0))


def _as_mapping(files):
    """``{file name: XML}`` or ``[(file name, XML), ...]`` -> dict (a name given twice is refused)."""
    if isinstance(files, dict):
        return dict(files)
    result = {}
    for name, data in files or ():
        if name in result:
            raise errors.KSeFConfigError(_(
                "The file name %(name)s is given twice in the batch; give each invoice its own "
                "name."), params={"name": repr(name)})
        result[name] = data
    return result


class BatchSession:
    """One KSeF batch session, step by step: open -> upload -> close -> status -> invoices, UPO.

    ``to_dict()`` is the resume state (JSON-safe; it holds the AES key and the upload links, so
    store it encrypted), complete from the moment ``open`` returns, before anything is uploaded;
    ``from_dict`` / ``client.resume_batch_session`` continue after a crash between any two
    steps. A state with only ``reference_number`` (a session known by its reference) can be
    closed, asked for its status, listed and its UPO downloaded, but not uploaded.
    """

    def __init__(self, client, reference_number, *, key=None, iv=None, batch_file=None, files=None,
                 uploads=None, uploaded=(), closed=False, offline_mode=False, form_code=None,
                 part_size=MAX_PART_SIZE):
        self.client = client
        self.reference_number = reference_number
        self.key = key
        self.iv = iv
        self.batch_file = batch_file            # {"fileSize", "fileHash", "fileParts": [...]}
        self.files = dict(files or {})          # file name -> SHA-256 (Base64) of its XML
        self.uploads = {int(n): dict(u) for n, u in (uploads or {}).items()}  # ordinal -> link
        self.uploaded = set(uploaded or ())     # ordinal numbers uploaded since the open
        self.closed = bool(closed)              # the close request was answered (204)
        self.offline_mode = bool(offline_mode)
        self.form_code = dict(form_code or FA3_FORM_CODE)
        self.part_size = part_size
        self._parts = None                      # the encrypted parts, while this process has them

    def __repr__(self):
        return "BatchSession(%r, parts=%s, uploaded=%s, closed=%s)" % (
            self.reference_number, self.part_count, sorted(self.uploaded), self.closed)

    # --- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, client, files, offline_mode=False, part_size=MAX_PART_SIZE, form_code=None):
        """ZIP ``files`` ({name: XML bytes} or [(name, XML bytes)]), encrypt, split and POST
        /sessions/batch -> BatchSession (nothing uploaded yet: store ``to_dict()`` first).

        Local problems (no file, bad name, empty or oversized file, too many parts) raise before
        any request. The open is never repeated automatically: on KSeFTimeoutError the outcome
        is unknown, but a session that is never closed is never processed (KSeF cancels it).
        """
        archive, hashes = build_archive(_as_mapping(files))
        return cls.open_archive(client, archive, offline_mode=offline_mode, part_size=part_size,
                                form_code=form_code, files=hashes)

    @classmethod
    def open_archive(cls, client, archive, offline_mode=False, part_size=MAX_PART_SIZE,
                     form_code=None, files=None):
        """Like ``open`` with an already built ZIP archive (bytes)."""
        if len(archive) > MAX_ARCHIVE_SIZE:
            raise errors.KSeFConfigError(_("The batch archive is over 5 GB; send fewer invoices per batch."))
        key = crypto.new_aes_key()
        iv = crypto.new_iv()
        encrypted = [crypto.aes_encrypt(part, key, iv) for part in split_parts(archive, part_size)]
        batch_file = describe_archive(archive, encrypted)
        reference, uploads = open_batch(client, batch_file, key, iv, offline_mode=offline_mode,
                                        form_code=form_code)
        session = cls(client, reference, key=key, iv=iv, batch_file=batch_file, files=files,
                      uploads=uploads, offline_mode=offline_mode, form_code=form_code,
                      part_size=part_size)
        session._parts = encrypted
        return session

    # --- resume state --------------------------------------------------------------------
    def to_dict(self):
        """JSON-safe resume state (secrets: the AES key and the upload links; store it encrypted)."""
        return {
            "reference_number": self.reference_number,
            "key": crypto.b64encode(self.key) if self.key else None,
            "iv": crypto.b64encode(self.iv) if self.iv else None,
            "batch_file": self.batch_file,
            "files": dict(self.files),
            "uploads": [dict(self.uploads[n]) for n in sorted(self.uploads)],
            "uploaded": sorted(self.uploaded),
            "closed": self.closed,
            "offline_mode": self.offline_mode,
            "form_code": dict(self.form_code),
            "part_size": self.part_size,
        }

    @classmethod
    def from_dict(cls, client, data):
        """The session of ``to_dict()`` (or of a plain reference number string)."""
        if isinstance(data, str):
            data = {"reference_number": data}
        uploads = {item["ordinalNumber"]: item for item in data.get("uploads") or []}
        return cls(client, data["reference_number"],
                   key=crypto.b64decode(data["key"]) if data.get("key") else None,
                   iv=crypto.b64decode(data["iv"]) if data.get("iv") else None,
                   batch_file=data.get("batch_file"), files=data.get("files"), uploads=uploads,
                   uploaded=data.get("uploaded") or (), closed=data.get("closed", False),
                   offline_mode=data.get("offline_mode", False), form_code=data.get("form_code"),
                   part_size=data.get("part_size") or MAX_PART_SIZE)

    # --- uploading -----------------------------------------------------------------------
    @property
    def part_count(self):
        return len((self.batch_file or {}).get("fileParts") or ())

    @property
    def pending_parts(self):
        """Ordinal numbers of the parts not uploaded yet."""
        return [n for n in range(1, self.part_count + 1) if n not in self.uploaded]

    def upload(self, files=None, archive=None, timeout=None, again=False, on_part=None):
        """PUT every part not uploaded yet (``again=True``: every part) to its storage link.

        A part may be uploaded again until the session is closed (it overwrites the same blob),
        so this is safe to repeat after a crash or a failure. After a resume the encrypted parts
        are rebuilt from the same ``files`` (or ``archive``) the session was opened with and
        checked against the declared hashes. ``on_part(session, ordinal)`` is called after each
        uploaded part (e.g. to store ``to_dict()``). Failures: KSeFAPIError (the storage refused
        the part: send again in a new session), KSeFTransportError (not reachable after retries).
        """
        if self.closed:
            raise errors.KSeFConfigError(_(
                "Batch session %(session)s is already closed; nothing more can be uploaded."),
                params={"session": self.reference_number})
        if not self.part_count:
            raise self._reference_only()
        todo = list(range(1, self.part_count + 1)) if again else self.pending_parts
        if not todo:
            return
        parts = self._encrypted_parts(files, archive)
        if timeout is None:
            timeout = upload_timeout(self.client.transport.timeout)
        for number in todo:
            upload_part(self.client, self.uploads[number], parts[number - 1], self.reference_number,
                        timeout=timeout)
            self.uploaded.add(number)
            if on_part is not None:
                on_part(self, number)

    def _encrypted_parts(self, files, archive):
        if self._parts is not None and files is None and archive is None:
            return self._parts
        if not (self.key and self.iv and self.batch_file and self.uploads):
            raise self._reference_only()
        if archive is None:
            if files is None:
                raise errors.KSeFConfigError(_(
                    "To upload the parts of batch session %(session)s after a restart, give the "
                    "same files it was opened with."), params={"session": self.reference_number})
            archive = build_archive(_as_mapping(files))[0]
        parts = [crypto.aes_encrypt(part, self.key, self.iv)
                 for part in split_parts(archive, self.part_size)]
        if describe_archive(archive, parts) != self.batch_file:
            raise errors.KSeFConfigError(_(
                "The files given differ from those batch session %(session)s was opened with (size "
                "or hash); nothing was uploaded. Send them in a new session."),
                params={"session": self.reference_number})
        self._parts = parts
        return parts

    def _reference_only(self):
        return errors.KSeFConfigError(_(
            "Batch session %(session)s is known by its reference only (no key and upload links): "
            "its parts cannot be uploaded. Send the invoices in a new session."),
            params={"session": self.reference_number})

    # --- closing, outcome ----------------------------------------------------------------
    def close(self):
        """POST /sessions/batch/{ref}/close (204): KSeF starts processing. Never repeated by the
        transport; when the answer is lost (timeout, 5xx), ``status()`` tells: still 100 = not
        closed (close again), 150/200/4xx = closed."""
        close_batch(self.client, self.reference_number)
        self.closed = True

    def status(self):
        """GET /sessions/{ref} -> SessionStatus (100 open, 150 processing, 200 done, 4xx failed)."""
        return self.client.session_status(self.reference_number)

    def wait(self, timeout=300.0, poll_interval=2.0):
        """Poll the status until the batch is final (or ``timeout``) -> SessionStatus."""
        return wait_for_batch(self.client, self.reference_number, timeout=timeout,
                              poll_interval=poll_interval)

    def invoices(self, failed_only=False):
        """The invoices KSeF made of the package -> [InvoiceStatus] (``invoice_file_name``,
        ``invoice_hash``, ``ksef_number``...), 1,000 per request."""
        return self.client.list_session_invoices(self.reference_number, failed_only=failed_only)

    def upo_page(self, upo_reference_number):
        """One page of the session UPO (XML bytes)."""
        return self.client.get_session_upo(self.reference_number, upo_reference_number)

    def upo_pages(self, status=None):
        """Every page of the session UPO (when the status is 200) -> [bytes]."""
        status = status or self.status()
        return [self.upo_page(page.reference_number) for page in status.upo_pages]

    def file_for_hash(self, invoice_hash):
        """The file name whose XML has this hash (invoice lists carry ``invoiceHash``), or None."""
        for name, value in self.files.items():
            if value == invoice_hash:
                return name
        return None

    def result(self):
        """What was sent, as a BatchResult."""
        batch_file = self.batch_file or {}
        return BatchResult(reference_number=self.reference_number, files=dict(self.files),
                           archive_size=batch_file.get("fileSize", 0),
                           archive_hash=batch_file.get("fileHash", ""), part_count=self.part_count)


def send_batch(client, invoices, offline_mode=False, part_size=MAX_PART_SIZE, form_code=None,
               close=True, upload_timeout=None):
    """Send ``invoices`` ({file name: XML bytes} or [(name, XML)]) in one batch session ->
    BatchResult: ``BatchSession.open``, ``upload``, ``close`` (unless ``close=False``). Check the
    outcome with ``client.session_status`` / ``wait_for_batch`` and
    ``client.list_session_invoices`` (each item has ``invoice_file_name`` and ``invoice_hash``).
    """
    session = BatchSession.open(client, invoices, offline_mode=offline_mode, part_size=part_size,
                                form_code=form_code)
    return _finish(session, close, upload_timeout)


def send_archive(client, archive, offline_mode=False, part_size=MAX_PART_SIZE, form_code=None,
                 close=True, upload_timeout=None):
    """Send an already built ZIP archive (bytes) in one batch session -> BatchResult (no files)."""
    session = BatchSession.open_archive(client, archive, offline_mode=offline_mode,
                                        part_size=part_size, form_code=form_code)
    return _finish(session, close, upload_timeout)


def _finish(session, close, timeout):
    session.upload(timeout=timeout)
    if close:
        session.close()
    return session.result()


def describe_archive(archive, encrypted_parts):
    """The ``batchFile`` object: size + hash of the archive, size + hash of each encrypted part."""
    return {
        "fileSize": len(archive),
        "fileHash": crypto.sha256_b64(archive),
        "fileParts": [{"ordinalNumber": number, "fileSize": len(part),
                       "fileHash": crypto.sha256_b64(part)}
                      for number, part in enumerate(encrypted_parts, 1)],
    }


def open_batch(client, batch_file, key, iv, offline_mode=False, form_code=None):
    """POST /sessions/batch -> (reference number, {ordinal number: part upload request})."""
    def attempt(key_cert):
        body = {
            "formCode": dict(form_code or FA3_FORM_CODE),
            "batchFile": batch_file,
            "encryption": {
                "encryptedSymmetricKey": crypto.b64encode(crypto.rsa_oaep_encrypt(key_cert.public_key, key)),
                "initializationVector": crypto.b64encode(iv),
                "publicKeyId": key_cert.public_key_id,
            },
            "offlineMode": bool(offline_mode),
        }
        # never repeated by the transport: a repeated open would be a second session
        return client.call("POST", "/sessions/batch", json=body,
                           operation=_("open KSeF batch session")).json()

    data = client.key_store.call_with_key(SYMMETRIC_KEY_ENCRYPTION, attempt)
    reference = data["referenceNumber"]
    uploads = {item["ordinalNumber"]: item for item in data.get("partUploadRequests") or []}
    if sorted(uploads) != list(range(1, len(batch_file["fileParts"]) + 1)):
        raise errors.KSeFServerError(_(
            "KSeF opened batch session %(session)s but did not return an upload address for every "
            "part. Send the batch again later (the empty session is cancelled by KSeF)."),
            params={"session": reference},
            reference_number=reference)
    return reference, uploads


def upload_part(client, upload, data, reference_number="", timeout=None):
    """PUT one encrypted part to its storage URL with exactly the given method and headers and
    no KSeF access token, through the client's transport (retried per its table: a part upload
    overwrites the same blob, so repeating it is safe)."""
    transport = client.transport
    number = upload.get("ordinalNumber")
    try:
        transport.request_url((upload.get("method") or "PUT").upper(), upload["url"], data=data,
                              headers=upload.get("headers") or {},
                              timeout=timeout if timeout is not None else upload_timeout(transport.timeout),
                              operation=Text(_("upload of batch part %(part)s of session %(session)s"),
                                             {"part": number, "session": reference_number}))
    except errors.KSeFAPIError as exc:
        if exc.http_status is not None and exc.http_status < 500 and exc.http_status != 429:
            raise errors.KSeFAPIError(_(
                "The upload of batch part %(part)s of session %(session)s was refused (HTTP "
                "%(status)s). Send the batch again in a new session."),
                params={"part": number, "session": reference_number, "status": exc.http_status},
                http_status=exc.http_status, reference_number=reference_number,
                body=exc.body) from exc
        problem = exc.http_status
    except errors.KSeFTransportError as exc:
        cause = exc.__cause__
        problem = connection_problem(cause) if cause is not None else exc
    else:
        return
    raise errors.KSeFTransportError(_(
        "Batch part %(part)s of session %(session)s could not be uploaded (%(error)s). Send the "
        "batch again later; the unfinished session is cancelled by KSeF."),
        params={"part": number, "session": reference_number, "error": problem},
        reference_number=reference_number)


def close_batch(client, reference_number):
    """POST /sessions/batch/{ref}/close (204): KSeF starts processing the package."""
    client.call("POST", "/sessions/batch/{referenceNumber}/close",
                path_params={"referenceNumber": reference_number},
                operation=_("close KSeF batch session"))


def wait_for_batch(client, reference_number, timeout=300.0, poll_interval=2.0):
    """Poll GET /sessions/{ref} until the batch is final (200 or an error code) -> SessionStatus."""
    deadline = time.monotonic() + timeout
    interval = min(0.2, poll_interval)
    while True:
        status = client.session_status(reference_number)
        if status.code not in (100, 150) or time.monotonic() + interval > deadline:
            return status
        client.sleep(interval)
        interval = min(poll_interval, interval * 2)


__all__ = ["BatchSession", "BatchResult", "build_archive", "split_parts", "send_batch", "send_archive",
           "open_batch", "describe_archive", "upload_part", "close_batch", "wait_for_batch",
           "upload_timeout", "MAX_PART_SIZE", "MAX_PARTS", "MAX_INVOICE_SIZE"]
