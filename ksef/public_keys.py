"""The ministry's public-key certificates (GET /security/public-key-certificates).

Downloaded once per environment (API base URL) per process and shared by every client of
it (thread-safe); downloaded again after ``max_age`` (6 hours), when no cached key for a usage is
valid any more, or after KSeF error 21470 (key unknown or withdrawn: the caller refreshes the
cache and retries once, see ``PublicKeyStore.call_with_key``). Chosen by usage and validity
(valid now; the latest validFrom wins).
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


class _Cache:
    """The certificates of one environment (API base URL), shared by the clients of a process."""

    def __init__(self):
        self.certificates = None
        self.loaded_at = 0.0
        self.lock = threading.Lock()           # guards the two fields above
        self.download_lock = threading.Lock()  # one download at a time per environment


_CACHES = {}
_CACHES_LOCK = threading.Lock()


def _cache_for(base_url):
    with _CACHES_LOCK:
        cache = _CACHES.get(base_url)
        if cache is None:
            cache = _CACHES[base_url] = _Cache()
        return cache


def clear_cache():
    """Forget every environment's keys (the next use downloads them again)."""
    with _CACHES_LOCK:
        _CACHES.clear()


class PublicKeyStore:
    """The ministry's public keys for one API base URL, downloaded once per environment per
    process (shared by every client of that URL, thread-safe), and again after ``max_age``
    seconds, when no cached key for a usage is valid any more (expired), or after KSeF
    refused a key id (21470)."""

    PATH = "/security/public-key-certificates"

    def __init__(self, transport, max_age=6 * 3600, shared=True):
        self.transport = transport
        self.max_age = max_age
        self._cache = _cache_for(transport.base_url) if shared else _Cache()

    def _fresh(self):
        cache = self._cache
        with cache.lock:
            if cache.certificates is not None and time.monotonic() - cache.loaded_at < self.max_age:
                return cache.certificates
        return None

    def refresh(self, stale=None):
        """Download the keys now -> [PublicKeyCertificate]. ``stale``: the list the caller found
        unusable; when another thread has replaced it meanwhile, that newer list is used."""
        cache = self._cache
        with cache.download_lock:
            if stale is not None:
                with cache.lock:
                    current = cache.certificates
                if current is not None and current is not stale:
                    return current
            return self._download()

    def _download(self):
        """GET the keys and store them in the shared cache (the caller holds download_lock)."""
        response = self.transport.request("GET", self.PATH, operation=_("download KSeF public keys"))
        certificates = parse_public_key_certificates(response.json())
        with self._cache.lock:
            self._cache.certificates = certificates
            self._cache.loaded_at = time.monotonic()
        return certificates

    def invalidate(self):
        with self._cache.lock:
            self._cache.certificates = None

    def certificates(self):
        cached = self._fresh()
        if cached is not None:
            return cached
        with self._cache.download_lock:     # the first thread downloads, the others wait for it
            cached = self._fresh()
            return cached if cached is not None else self._download()

    def get(self, usage):
        """The key certificate to use now for ``usage``; raises KSeFError when KSeF offers none."""
        cached = self.certificates()
        found = choose(cached, usage)
        if found is None:           # expired or withdrawn: download again (once per environment)
            found = choose(self.refresh(stale=cached), usage)
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
