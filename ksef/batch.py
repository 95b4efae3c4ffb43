"""Batch sessions (SPEC §8): many invoices in one encrypted ZIP, few API requests.

    result = send_batch(client, {"FV-1.xml": xml1, "FV-2.xml": xml2})
    status = wait_for_batch(client, result.reference_number)          # 200 when processed
    for item in client.list_session_invoices(result.reference_number):  # invoice_file_name, ...
        ...

Steps: ZIP the XMLs (deterministic), hash + size of the whole archive, cut it into parts
(≤ 100 MB before encryption, ≤ 50 parts), AES-256-CBC each part with the session key/IV,
POST /sessions/batch, upload every part with exactly the method/URL/headers KSeF returned and
WITHOUT the access token (these are storage URLs, not KSeF API calls), then close.
POST /sessions/batch is never repeated automatically: on a timeout the outcome is unknown.
"""
import io
import logging
import time
import zipfile
from dataclasses import dataclass, field

import requests

from . import crypto, errors
from .i18n import _
from .public_keys import SYMMETRIC_KEY_ENCRYPTION
from .sessions import FA3_FORM_CODE, MAX_INVOICE_SIZE

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


def send_batch(client, invoices, offline_mode=False, part_size=MAX_PART_SIZE, form_code=None,
               close=True, upload_timeout=300):
    """Send ``invoices`` ({file name: XML bytes}) in one batch session -> BatchResult.

    Opens the session, uploads every part (no Authorization header), and closes it (unless
    ``close=False``). Check the outcome with ``client.session_status`` / ``wait_for_batch`` and
    ``client.list_session_invoices`` (each item has ``invoice_file_name`` and ``invoice_hash``).
    """
    archive, hashes = build_archive(invoices)
    result = send_archive(client, archive, offline_mode=offline_mode, part_size=part_size,
                          form_code=form_code, close=close, upload_timeout=upload_timeout)
    result.files = hashes
    return result


def send_archive(client, archive, offline_mode=False, part_size=MAX_PART_SIZE, form_code=None,
                 close=True, upload_timeout=300):
    """Send an already built ZIP archive (bytes) in one batch session -> BatchResult (no files)."""
    if len(archive) > MAX_ARCHIVE_SIZE:
        raise errors.KSeFConfigError(_("The batch archive is over 5 GB; send fewer invoices per batch."))
    key = crypto.new_aes_key()
    iv = crypto.new_iv()
    encrypted = [crypto.aes_encrypt(part, key, iv) for part in split_parts(archive, part_size)]
    reference, uploads = open_batch(client, describe_archive(archive, encrypted), key, iv,
                                    offline_mode=offline_mode, form_code=form_code)
    for number, part in enumerate(encrypted, 1):
        upload_part(client, uploads[number], part, reference, timeout=upload_timeout)
    if close:
        close_batch(client, reference)
    return BatchResult(reference_number=reference, archive_size=len(archive),
                       archive_hash=crypto.sha256_b64(archive), part_count=len(encrypted))


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
        # not idempotent: a repeated open would be a second session (never re-POSTed blindly)
        return client.call("POST", "/sessions/batch", json=body, idempotent=False,
                           operation="open KSeF batch session").json()

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


def upload_part(client, upload, data, reference_number="", timeout=(5, 300), attempts=3):
    """PUT one encrypted part to its storage URL with exactly the given method and headers and
    no KSeF access token. A part upload overwrites the same blob, so retrying it is safe."""
    http = getattr(client, "session", None) or requests
    headers = {str(k): str(v) for k, v in (upload.get("headers") or {}).items() if v is not None}
    method = (upload.get("method") or "PUT").upper()
    last = None
    for attempt in range(attempts):
        try:
            response = http.request(method, upload["url"], data=data, headers=headers,
                                    timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            last = exc
        else:
            if response.status_code < 300:
                return
            if response.status_code < 500 and response.status_code != 429:
                raise errors.KSeFAPIError(_(
                    "The upload of batch part %(part)s of session %(session)s was refused (HTTP "
                    "%(status)s). Send the batch again in a new session."),
                    params={"part": upload.get("ordinalNumber"), "session": reference_number,
                            "status": response.status_code},
                    http_status=response.status_code, reference_number=reference_number,
                    body=response.text[:500])
            last = response.status_code
        time.sleep(min(8.0, 0.5 * 2 ** attempt))
    raise errors.KSeFTransportError(_(
        "Batch part %(part)s of session %(session)s could not be uploaded (%(error)s). Send the "
        "batch again later; the unfinished session is cancelled by KSeF."),
        params={"part": upload.get("ordinalNumber"), "session": reference_number,
                "error": last if isinstance(last, int) else type(last).__name__},
        reference_number=reference_number)


def close_batch(client, reference_number):
    """POST /sessions/batch/{ref}/close (204): KSeF starts processing the package."""
    client.call("POST", "/sessions/batch/{referenceNumber}/close",
                path_params={"referenceNumber": reference_number},
                operation="close KSeF batch session")


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


__all__ = ["BatchResult", "build_archive", "split_parts", "send_batch", "send_archive", "open_batch",
           "describe_archive", "upload_part", "close_batch",
           "wait_for_batch", "MAX_PART_SIZE", "MAX_PARTS", "MAX_INVOICE_SIZE"]
