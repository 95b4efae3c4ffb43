"""The ministry's public-key certificates (GET /security/public-key-certificates).

Cached per store; chosen by usage and validity (valid now; the latest validFrom
wins). On KSeF error 21470 (key unknown or withdrawn) the caller refreshes the
cache and retries once: see ``PublicKeyStore.call_with_key``.
"""
import threading
import time

from cryptography import x509

from . import crypto, errors
from .i18n import _
from .records import PublicKeyCertificate, parse_datetime, utcnow

KSEF_TOKEN_ENCRYPTION = "KsefTokenEncryption"  # noqa: S105 (a key usage name, not a secret)
SYMMETRIC_KEY_ENCRYPTION = "SymmetricKeyEncryption"
KEY_WITHDRAWN_CODE = 21470


def parse_public_key_certificates(items):
    """JSON list -> [PublicKeyCertificate] with loaded public keys."""
    result = []
    for item in items or []:
        der = crypto.b64decode(item["certificate"])
        cert = x509.load_der_x509_certificate(der, crypto.backend())
        result.append(PublicKeyCertificate(
            certificate_der=der, certificate_id=item.get("certificateId"),
            public_key_id=item.get("publicKeyId"), valid_from=parse_datetime(item.get("validFrom")),
            valid_to=parse_datetime(item.get("validTo")), usage=tuple(item.get("usage") or ()),
            public_key=cert.public_key()))
    return result


def choose(certificates, usage, moment=None):
    """The certificate with ``usage`` valid at ``moment`` (latest validFrom), or None."""
    moment = moment or utcnow()
    candidates = [c for c in certificates if usage in c.usage and c.is_valid_at(moment)]
    if not candidates:
        return None
    return max(candidates, key=lambda c: c.valid_from)


class PublicKeyStore:
    """Downloads and caches the ministry's public keys for one API base URL."""

    PATH = "/security/public-key-certificates"

    def __init__(self, transport, max_age=6 * 3600):
        self.transport = transport
        self.max_age = max_age
        self._certificates = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def refresh(self):
        response = self.transport.request("GET", self.PATH, operation="download KSeF public keys")
        certificates = parse_public_key_certificates(response.json())
        with self._lock:
            self._certificates = certificates
            self._loaded_at = time.monotonic()
        return certificates

    def invalidate(self):
        with self._lock:
            self._certificates = None

    def certificates(self):
        with self._lock:
            cached = self._certificates
            fresh = cached is not None and time.monotonic() - self._loaded_at < self.max_age
        return cached if fresh else self.refresh()

    def get(self, usage):
        """The key certificate to use now for ``usage``; raises KSeFError when KSeF offers none."""
        found = choose(self.certificates(), usage)
        if found is None:
            found = choose(self.refresh(), usage)
        if found is None:
            raise errors.KSeFServerError(_(
                "KSeF publishes no valid public key for %(usage)s. Try again later; if it lasts, "
                "contact the KSeF helpdesk."), params={"usage": usage}, usage=usage)
        return found

    def call_with_key(self, usage, func):
        """Call ``func(key_certificate)``; on KSeF error 21470 refresh the keys and call it once more."""
        try:
            return func(self.get(usage))
        except errors.KSeFBadRequest as exc:
            if KEY_WITHDRAWN_CODE not in [code for code, _desc, _det in exc.errors]:
                raise
        self.invalidate()
        return func(self.get(usage))
