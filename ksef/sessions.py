"""Online (interactive) KSeF sessions: open, send, status, close; resumable across cron runs."""
import time

from . import crypto, errors
from .i18n import _
from .public_keys import SYMMETRIC_KEY_ENCRYPTION
from .records import InvoiceStatus, SentInvoice, format_datetime, parse_datetime, utcnow

#: KSeF limit for an invoice without attachments (bytes)
MAX_INVOICE_SIZE = 1000000
FA3_FORM_CODE = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}


def build_send_request(xml_bytes, key, iv, offline_mode=False, hash_of_corrected_invoice=None):
    """Hash, encrypt and describe one invoice (the body of POST .../invoices).

    A technical correction (``hash_of_corrected_invoice`` = SHA-256 Base64 of the rejected
    offline invoice) is always sent with ``offlineMode: true``, as the ministry requires
    (ksef-docs ``offline/korekta-techniczna.md``, "Wysłanie korekty").
    """
    if isinstance(xml_bytes, str):
        xml_bytes = xml_bytes.encode("utf-8")
    size = len(xml_bytes)
    if size > MAX_INVOICE_SIZE:
        raise errors.InvoiceTooLargeError(_(
            "The invoice file is %(size)s bytes; KSeF accepts at most %(limit)s bytes for an invoice "
            "without attachments. Shorten the invoice (fewer lines or shorter descriptions) or split "
            "it, then send it again. Nothing was sent."),
            params={"size": size, "limit": MAX_INVOICE_SIZE},
            problems=["invoice size %d bytes > %d" % (size, MAX_INVOICE_SIZE)], size=size)
    if size == 0:
        raise errors.InvoiceValidationError(problems=[_("the invoice file is empty")])
    encrypted = crypto.aes_encrypt(xml_bytes, key, iv)
    body = {
        "invoiceHash": crypto.sha256_b64(xml_bytes),
        "invoiceSize": size,
        "encryptedInvoiceHash": crypto.sha256_b64(encrypted),
        "encryptedInvoiceSize": len(encrypted),
        "encryptedInvoiceContent": crypto.b64encode(encrypted),
        "offlineMode": bool(offline_mode or hash_of_corrected_invoice),
    }
    if hash_of_corrected_invoice:
        body["hashOfCorrectedInvoice"] = hash_of_corrected_invoice
    return body


class OnlineSession:
    """An open online session of a KSeFClient (AES key + IV kept locally)."""

    def __init__(self, client, reference_number, key, iv, valid_until=None, form_code=None):
        self.client = client
        self.reference_number = reference_number
        self.key = key
        self.iv = iv
        self.valid_until = valid_until
        self.form_code = dict(form_code or FA3_FORM_CODE)

    def __repr__(self):
        return "OnlineSession(%r, valid_until=%s)" % (self.reference_number, self.valid_until)

    # --- opening / persistence ---------------------------------------------------------
    @classmethod
    def open(cls, client, form_code=None):
        key = crypto.new_aes_key()
        iv = crypto.new_iv()

        def attempt(key_cert):
            body = {
                "formCode": dict(form_code or FA3_FORM_CODE),
                "encryption": {
                    "encryptedSymmetricKey": crypto.b64encode(
                        crypto.rsa_oaep_encrypt(key_cert.public_key, key)),
                    "initializationVector": crypto.b64encode(iv),
                    "publicKeyId": key_cert.public_key_id,
                },
            }
            # never repeated by the transport (a POST that creates a session): a timeout raises
            # KSeFTimeoutError and the caller opens a new session later; a lost one expires empty
            return client.call("POST", "/sessions/online", json=body,
                               operation=_("open KSeF online session")).json()
        data = client.key_store.call_with_key(SYMMETRIC_KEY_ENCRYPTION, attempt)
        return cls(client, data["referenceNumber"], key, iv, parse_datetime(data.get("validUntil")),
                   form_code)

    def to_dict(self):
        """JSON-safe state (contains the AES key: store it encrypted)."""
        return {
            "reference_number": self.reference_number,
            "key": crypto.b64encode(self.key),
            "iv": crypto.b64encode(self.iv),
            "valid_until": format_datetime(self.valid_until),
            "form_code": dict(self.form_code),
        }

    @classmethod
    def from_dict(cls, client, data):
        return cls(client, data["reference_number"], crypto.b64decode(data["key"]),
                   crypto.b64decode(data["iv"]), parse_datetime(data.get("valid_until")),
                   data.get("form_code"))

    def is_usable(self, margin=300):
        """True while the session is valid for at least ``margin`` more seconds (locally known)."""
        if self.valid_until is None:
            return True
        return (self.valid_until - utcnow()).total_seconds() > margin

    # --- invoices ---------------------------------------------------------------------
    def send_invoice(self, xml_bytes, offline_mode=False, hash_of_corrected_invoice=None):
        """Encrypt and send one invoice -> SentInvoice (KSeF reference, not yet the KSeF number).

        Never repeated automatically. On KSeFTimeoutError the outcome is unknown: the
        exception carries ``invoice_hash`` and ``session_reference_number``; settle it with
        ``client.find_invoice(invoice_hash, [session_reference_number])`` before resending.
        """
        body = build_send_request(xml_bytes, self.key, self.iv, offline_mode, hash_of_corrected_invoice)
        try:
            response = self.client.call(
                "POST", "/sessions/online/{referenceNumber}/invoices",
                path_params={"referenceNumber": self.reference_number}, json=body,
                operation=_("send invoice to KSeF"))
        except errors.KSeFError as exc:
            exc.invoice_hash = body["invoiceHash"]
            exc.session_reference_number = self.reference_number
            raise
        return SentInvoice(reference_number=response.json()["referenceNumber"],
                           session_reference_number=self.reference_number,
                           invoice_hash=body["invoiceHash"], invoice_size=body["invoiceSize"],
                           encrypted_invoice_hash=body["encryptedInvoiceHash"],
                           encrypted_invoice_size=body["encryptedInvoiceSize"])

    def invoice_status(self, invoice_reference_number):
        return self.client.invoice_status(self.reference_number, invoice_reference_number)

    def wait_for_invoice(self, invoice_reference_number, timeout=60.0, poll_interval=1.0):
        """Poll the invoice status until final or ``timeout``; returns the last InvoiceStatus."""
        return self.client.wait_for_invoice(self.reference_number, invoice_reference_number,
                                            timeout=timeout, poll_interval=poll_interval)

    def get_invoice_upo(self, invoice_ref=None, ksef_number=None):
        return self.client.get_invoice_upo(self.reference_number, invoice_ref, ksef_number)

    # --- closing ------------------------------------------------------------------------
    def close(self):
        """POST .../close (204): KSeF then generates the session UPO."""
        self.client.call("POST", "/sessions/online/{referenceNumber}/close",
                         path_params={"referenceNumber": self.reference_number},
                         operation=_("close KSeF online session"))

    def status(self):
        return self.client.session_status(self.reference_number)

    def wait_until_processed(self, timeout=60.0, poll_interval=1.0):
        """After close(): poll the session status until final (200/4xx) or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status.is_final or time.monotonic() + poll_interval > deadline:
                return status
            self.client.sleep(poll_interval)


def pick_best(statuses):
    """Among statuses of the same invoice hash, the most telling one (accepted > duplicate > pending
    > rejected)."""
    def rank(status):
        if status.is_success:
            return 0
        if status.is_duplicate:
            return 1
        if not status.is_final:
            return 2
        return 3
    return min(statuses, key=rank) if statuses else None


__all__ = ["OnlineSession", "build_send_request", "pick_best", "MAX_INVOICE_SIZE", "FA3_FORM_CODE",
           "InvoiceStatus"]
