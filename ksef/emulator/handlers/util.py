"""Helpers shared by the handlers: input checks, paging."""
import base64
import re

from ...crypto import b64decode, rsa_oaep_decrypt
from ...nip import is_valid_nip
from ..common import ApiError, bad_request

_CONTEXT_PATTERNS = {
    "Nip": re.compile(r"^\d{10}$"),
    "InternalId": re.compile(r"^\d{10}-\d{5}$"),
    "NipVatUe": re.compile(r"^\d{10}-[A-Z]{2}[0-9A-Z+*]{2,13}$"),
    "PeppolId": re.compile(r"^P[A-Z]{2}[0-9]{6}$"),
}


def require(body, *names):
    missing = [n for n in names if body.get(n) in (None, "")]
    if missing:
        raise bad_request(21405, *["Pole '%s' jest wymagane." % n for n in missing])


def validate_context(ctx):
    if not isinstance(ctx, dict) or ctx.get("type") not in _CONTEXT_PATTERNS:
        raise bad_request(21405, "Nieprawidłowy identyfikator kontekstu (type: Nip, InternalId, "
                                 "NipVatUe, PeppolId).")
    value = str(ctx.get("value") or "")
    if not _CONTEXT_PATTERNS[ctx["type"]].match(value):
        raise bad_request(21405, "Nieprawidłowa wartość identyfikatora kontekstu %s." % ctx["type"])
    if ctx["type"] in ("Nip", "InternalId") and not is_valid_nip(value[:10]):
        raise bad_request(21405, "Nieprawidłowy NIP w identyfikatorze kontekstu (suma kontrolna).")
    return {"type": ctx["type"], "value": value}


def subject_dn(subject, multi_valued=None):
    """The DN attributes of /certificates/enrollments/data from an x509 Name (cert or CSR subject).

    An attribute with one value maps to that value; one with several values maps to the list
    when its name is in ``multi_valued`` (None = any attribute), else to its first value.
    """
    from cryptography.x509.oid import NameOID

    from ... import certs
    fields = (("commonName", NameOID.COMMON_NAME), ("countryName", NameOID.COUNTRY_NAME),
              ("givenName", NameOID.GIVEN_NAME), ("surname", NameOID.SURNAME),
              ("serialNumber", NameOID.SERIAL_NUMBER),
              ("uniqueIdentifier", certs.OID_UNIQUE_IDENTIFIER),
              ("organizationName", NameOID.ORGANIZATION_NAME),
              ("organizationIdentifier", certs.OID_ORGANIZATION_IDENTIFIER))
    result = {}
    for name, oid in fields:
        values = [a.value for a in subject.get_attributes_for_oid(oid)]
        if values:
            keep_list = len(values) > 1 and (multi_valued is None or name in multi_valued)
            result[name] = values if keep_list else values[0]
    return result


def b64_field(body, name, length=None):
    try:
        raw = b64decode(body.get(name) or "")
    except (ValueError, TypeError):
        raise bad_request(21405, "Pole '%s' nie jest poprawnym Base64." % name) from None
    if length is not None and len(raw) != length:
        raise bad_request(21405, "Pole '%s' ma nieprawidłową długość." % name)
    return raw


def read_encryption(emu, body):
    """The ``encryption`` block of a session/export request -> (wrapped AES key bytes, IV).

    Missing fields or bad Base64 give 21405; a ``publicKeyId`` other than the current
    SymmetricKeyEncryption key gives 21470.
    """
    enc = body["encryption"] if isinstance(body["encryption"], dict) else {}
    require(enc, "encryptedSymmetricKey", "initializationVector")
    iv = b64_field(enc, "initializationVector", 16)
    wrapped = b64_field(enc, "encryptedSymmetricKey")
    key_id = enc.get("publicKeyId")
    if key_id and key_id != emu.keys.public_key_id("SymmetricKeyEncryption"):
        raise bad_request(21470, "Klucz o identyfikatorze %s nie jest wspierany." % key_id)
    return wrapped, iv


def unwrap_aes_key(emu, wrapped):
    """The 32-byte AES key wrapped with the SymmetricKeyEncryption key, or None if it is not."""
    try:
        key = rsa_oaep_decrypt(emu.keys.private_key("SymmetricKeyEncryption"), wrapped)
    except Exception:
        return None
    return key if len(key) == 32 else None


def page_size(req, default, low, high):
    value = req.q("pageSize")
    if value is None:
        return default
    try:
        size = int(value)
    except ValueError:
        raise bad_request(21405, "pageSize musi być liczbą.") from None
    if not low <= size <= high:
        raise bad_request(21405, "pageSize musi być w zakresie %d-%d." % (low, high))
    return size


def continuation(req, items, default_size=10, min_size=10, max_size=1000):
    """Slice ``items`` by the x-continuation-token header; return (page, next token or None)."""
    size = page_size(req, default_size, min_size, max_size)
    token = req.headers.get("x-continuation-token")
    offset = 0
    if token:
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
            if not text.startswith("offset:"):
                raise ValueError(text)
            offset = int(text[7:])
            if offset < 0:
                raise ValueError(text)
        except (ValueError, UnicodeDecodeError):
            raise bad_request(21418) from None
    page = items[offset:offset + size]
    nxt = None
    if offset + size < len(items):
        nxt = base64.urlsafe_b64encode(("offset:%d" % (offset + size)).encode()).decode().rstrip("=")
    return page, nxt


__all__ = ["ApiError", "b64_field", "continuation", "page_size", "require", "validate_context"]
