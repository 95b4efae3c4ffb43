"""X.509 certificates and private keys for KSeF (cryptography library only).

What KSeF needs from a certificate (ministry docs: ``auth/podpis-xades.md``,
``certyfikaty-KSeF.md``):

* its *type* -- KSeF issues two mutually exclusive kinds of certificates:
  ``Authentication`` (keyUsage digitalSignature; used to log in with a XAdES
  signature) and ``Offline`` (keyUsage nonRepudiation; only for signing the
  KOD II QR link of offline invoices, it cannot log in);
* its *identity* -- read from the subject: ``serialNumber`` (2.5.4.5) matched
  by ``(PNOPL|PESEL).*?(\\d{11})`` (PESEL) or ``(TINPL|NIP).*?(\\d{10})`` (NIP),
  or ``organizationIdentifier`` (2.5.4.97) matched by ``(VATPL).*?(\\d{10})``
  (NIP of a company seal); otherwise the SHA-256 fingerprint of the certificate;
* its serial number as 16 uppercase hex characters (KOD II links, the
  ``/certificates`` endpoints).

Datetimes: every datetime returned here is *aware* and in UTC
(``tzinfo=datetime.timezone.utc``); naive datetimes given to this module are
taken as UTC.

Never put passwords or key material into messages; the messages below only
say what is wrong and what to do.
"""
import base64
import binascii
import datetime as _dt
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .crypto import backend
from .errors import (
    CertificateError,
    CertificateExpiredError,
    CertificateKeyMismatchError,
    CertificateTypeError,
    KeyPasswordError,
)
from .i18n import _

AUTHENTICATION = "Authentication"
OFFLINE = "Offline"
CERTIFICATE_TYPES = (AUTHENTICATION, OFFLINE)

OID_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
OID_UNIQUE_IDENTIFIER = x509.ObjectIdentifier("2.5.4.45")
OID_QC_STATEMENTS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")

# the ministry's recognition patterns (auth/podpis-xades.md)
_PESEL_RE = re.compile(r"(PNOPL|PESEL).*?(?P<identifier>\d{11})")
_NIP_SERIAL_RE = re.compile(r"(TINPL|NIP).*?(?P<identifier>\d{10})")
_NIP_ORGID_RE = re.compile(r"(VATPL).*?(?P<identifier>\d{10})")

_NOT_A_CERT_MSG = _("The file is not an X.509 certificate (PEM or DER). Upload the .crt/.cer file "
                   "KSeF issued (or the certificate file of your qualified signature/seal).")
_NOT_A_KEY_MSG = _("The file is not a private key (PEM or DER, PKCS#8 or traditional RSA/EC). "
                  "Upload the .key file that was created together with the certificate request.")


def _utc(value):
    """Aware UTC datetime from an aware or naive (taken as UTC) datetime."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc)


def _now():
    return _dt.datetime.now(_dt.timezone.utc)


def _as_bytes(data):
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    return data


def _maybe_base64(data):
    """Raw Base64 text (e.g. pasted from a KSeF API response) -> DER bytes, else None."""
    text = re.sub(rb"\s+", b"", data)
    if not text or len(text) % 4 or not re.fullmatch(rb"[A-Za-z0-9+/]+={0,2}", text):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- loading ---------------------------------------------------------------------------------------

def load_certificate(data) -> x509.Certificate:
    """Certificate from PEM, DER, or bare Base64 of DER (as returned by ``/certificates/retrieve``).

    Raises CertificateError when the data is not a certificate.
    """
    data = _as_bytes(data)
    if not isinstance(data, bytes) or not data.strip():
        raise CertificateError(_NOT_A_CERT_MSG)
    stripped = data.strip()
    if b"-----BEGIN" in stripped:
        if b"-----BEGIN CERTIFICATE-----" not in stripped:
            if b"PRIVATE KEY-----" in stripped:
                raise CertificateError(_(
                    "This file contains a private key, not a certificate. Upload the certificate "
                    "(.crt/.cer) KSeF issued in the certificate field and the key in the key field."))
            raise CertificateError(_NOT_A_CERT_MSG)
        try:
            return x509.load_pem_x509_certificate(stripped, backend())
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise CertificateError(_NOT_A_CERT_MSG) from exc
    # DER is binary: its last byte may be 0x09-0x0d or 0x20, so try it unstripped first
    # (a file with a stray newline added by a text editor is tried stripped next).
    candidates = [data] if data == stripped else [data, stripped]
    decoded = _maybe_base64(stripped)
    if decoded:
        candidates.append(decoded)
    for der in candidates:
        try:
            return x509.load_der_x509_certificate(der, backend())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    raise CertificateError(_NOT_A_CERT_MSG)


def _password_bytes(password):
    if password is None:
        return None
    if isinstance(password, str):
        password = password.encode("utf-8")
    return password or None


def _check_key_kind(key):
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise CertificateError(_(
                "The RSA private key has only %(bits)s bits; KSeF requires at least 2048 bits. "
                "Request a new certificate with an RSA 2048 or EC P-256 key."),
                params={"bits": key.key_size})
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.key_size < 256:
            raise CertificateError(_(
                "The EC private key uses a %(bits)s-bit curve; KSeF requires at least 256 bits "
                "(P-256). Request a new certificate with an EC P-256 key."),
                params={"bits": key.curve.key_size})
        return key
    raise CertificateError(_(
        "This private key type is not supported by KSeF; use an RSA (2048 bits) or EC (P-256) key."))


def load_private_key(data, password=None):
    """Private key from PEM or DER (PKCS#8 encrypted or not, traditional RSA/EC PEM).

    ``password`` may be str, bytes or None ('' counts as None). A password given
    for a key that is not encrypted is ignored.
    Raises KeyPasswordError when the password is missing or wrong, CertificateError
    when the data is not a (supported) private key.
    """
    data = _as_bytes(data)
    if not isinstance(data, bytes) or not data.strip():
        raise CertificateError(_NOT_A_KEY_MSG)
    stripped = data.strip()
    pwd = _password_bytes(password)
    if b"-----BEGIN" in stripped:
        if b"PRIVATE KEY-----" not in stripped:
            if b"CERTIFICATE-----" in stripped:
                raise CertificateError(_(
                    "This file contains a certificate, not a private key. Upload the private key "
                    "(.key/.pem) that was created together with the certificate request."))
            raise CertificateError(_NOT_A_KEY_MSG)
        loaders = [(stripped, serialization.load_pem_private_key)]
    else:
        # DER is binary: never strip it before trying it as is (its last byte may be 0x09-0x0d
        # or 0x20); a stray newline added by a text editor is handled by the stripped retry.
        loaders = [(data, serialization.load_der_private_key)]
        if stripped != data:
            loaders.append((stripped, serialization.load_der_private_key))
        decoded = _maybe_base64(stripped)
        if decoded:
            loaders.append((decoded, serialization.load_der_private_key))

    encrypted = False
    for blob, loader in loaders:
        _clear_openssl_errors()
        try:
            return _check_key_kind(loader(blob, pwd, backend()))
        except TypeError as exc:
            text = str(exc).lower()
            if "not encrypted" in text:  # a password was given for a plain key: ignore it
                try:
                    return _check_key_kind(loader(blob, None, backend()))
                except (ValueError, TypeError, UnsupportedAlgorithm):
                    continue
            if "encrypted" in text:  # no password for an encrypted key
                raise KeyPasswordError(_(
                    "The private key is protected by a password, but no password was given. "
                    "Enter the private key's password.")) from exc
            continue
        except (ValueError, UnsupportedAlgorithm):
            if pwd is not None and _is_encrypted(blob, loader):
                encrypted = True
                break
            continue
    if encrypted:
        raise KeyPasswordError(_(
            "The private key's password is wrong. Enter the password that was set when the key "
            "was created (it is case-sensitive)."))
    raise CertificateError(_NOT_A_KEY_MSG)


def _clear_openssl_errors():
    """Empty this thread's OpenSSL error queue before a key is loaded.

    cryptography 3.4 (Odoo 19's pin on Python 3.11) reads the queue to explain a
    failed load; an error left there by an earlier, unrelated call made a correct
    password look like "not a key" now and then. Newer versions keep it clean.
    """
    lib = getattr(backend(), "_lib", None)
    clear = getattr(lib, "ERR_clear_error", None)
    if clear is not None:
        clear()


def _is_encrypted(blob, loader):
    """True when ``blob`` is a private key that needs a password."""
    if b"ENCRYPTED" in blob[:200]:
        return True
    try:
        loader(blob, None, backend())
    except TypeError as exc:
        return "encrypted" in str(exc).lower() and "not encrypted" not in str(exc).lower()
    except (ValueError, UnsupportedAlgorithm):
        return False
    return False


# --- inspection ------------------------------------------------------------------------------------

def _key_usage(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def certificate_type(cert):
    """``"Authentication"``, ``"Offline"`` or None, from keyUsage (ministry: certyfikaty-KSeF.md).

    Authentication: keyUsage digitalSignature. Offline: keyUsage nonRepudiation
    (contentCommitment) without digitalSignature. None: no keyUsage extension or
    neither bit (e.g. the self-signed test certificates of the ministry's SDKs).
    """
    usage = _key_usage(cert)
    if usage is None:
        return None
    if usage.digital_signature:
        return AUTHENTICATION
    if usage.content_commitment:
        return OFFLINE
    return None


def is_ksef_issued(cert):
    """True when the issuer looks like the KSeF CA of the Ministry of Finance (heuristic).

    Test KSeF certificates are issued by ``CN=TI CCK KSeF, O=Ministerstwo Finansów``.
    """
    org = " ".join(a.value for a in cert.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    cns = " ".join(a.value for a in cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME))
    return "ministerstwo finans" in org.lower() and "ksef" in cns.lower()


def is_qualified(cert):
    """True when the certificate carries a qcStatements extension (EU qualified certificate)."""
    try:
        cert.extensions.get_extension_for_oid(OID_QC_STATEMENTS)
    except (x509.ExtensionNotFound, ValueError):
        return False
    return True


def _subject_values(cert, oid):
    return [a.value for a in cert.subject.get_attributes_for_oid(oid) if isinstance(a.value, str)]


def certificate_identity(cert):
    """``(type, value)`` of the authenticating subject as KSeF reads it.

    Order: PESEL in serialNumber, NIP in serialNumber, NIP in organizationIdentifier
    (VATPL-...), else ``("Fingerprint", <SHA-256 hex of the DER>)``.
    """
    for value in _subject_values(cert, NameOID.SERIAL_NUMBER):
        match = _PESEL_RE.search(value)
        if match:
            return "Pesel", match.group("identifier")
    for value in _subject_values(cert, NameOID.SERIAL_NUMBER):
        match = _NIP_SERIAL_RE.search(value)
        if match:
            return "Nip", match.group("identifier")
    for value in _subject_values(cert, OID_ORGANIZATION_IDENTIFIER):
        match = _NIP_ORGID_RE.search(value)
        if match:
            return "Nip", match.group("identifier")
    return "Fingerprint", fingerprint_sha256_hex(cert)


def certificate_nip(cert):
    """The NIP identity of the certificate (10 digits), or None when it identifies a PESEL/fingerprint."""
    kind, value = certificate_identity(cert)
    return value if kind == "Nip" else None


def serial_hex(cert) -> str:
    """Serial number as uppercase hex, zero-padded to at least 16 characters."""
    return "%016X" % cert.serial_number


def fingerprint_sha256_hex(cert) -> str:
    """Uppercase hex SHA-256 of the DER certificate (the KSeF "Fingerprint" identifier)."""
    return binascii.hexlify(cert.fingerprint(hashes.SHA256())).decode("ascii").upper()


def valid_from(cert):
    value = getattr(cert, "not_valid_before_utc", None)
    return value if value is not None else _utc(cert.not_valid_before)


def valid_to(cert):
    value = getattr(cert, "not_valid_after_utc", None)
    return value if value is not None else _utc(cert.not_valid_after)


def check_validity(cert, at=None):
    """Raise CertificateExpiredError if the certificate is expired or not yet valid at ``at`` (UTC now)."""
    at = _utc(at) or _now()
    start, end = valid_from(cert), valid_to(cert)
    if at > end:
        raise CertificateExpiredError(_(
            "The certificate (serial %(serial)s) expired on %(date)s; obtain a new certificate in "
            "the KSeF app (or from your trust service provider) and upload it together with its "
            "private key."), params={"serial": serial_hex(cert), "date": end.strftime("%Y-%m-%d")},
            reason="expired", valid_to=end)
    if at < start:
        raise CertificateExpiredError(_(
            "The certificate (serial %(serial)s) is not valid yet: it becomes valid on %(date)s UTC. "
            "Wait until then or use a certificate that is already valid."),
            params={"serial": serial_hex(cert), "date": start.strftime("%Y-%m-%d %H:%M")},
            reason="not_yet_valid", valid_from=start)


def check_key_matches(cert, key):
    """Raise CertificateKeyMismatchError unless ``key`` is the private key of ``cert``."""
    cert_pub = cert.public_key()
    try:
        key_pub = key.public_key()
        same = (type(cert_pub.public_numbers()) is type(key_pub.public_numbers())
                and cert_pub.public_numbers() == key_pub.public_numbers())
    except AttributeError:
        same = False
    if not same:
        raise CertificateKeyMismatchError(_(
            "The private key does not belong to this certificate. Upload the key file that was "
            "generated together with this certificate's request (or the matching certificate)."))


# --- credentials -----------------------------------------------------------------------------------

@dataclass
class Credentials:
    """A certificate with its private key. Datetimes are aware UTC."""

    certificate: x509.Certificate
    private_key: object

    @property
    def serial(self):
        return serial_hex(self.certificate)

    @property
    def nip(self):
        return certificate_nip(self.certificate)

    @property
    def identity(self):
        return certificate_identity(self.certificate)

    @property
    def cert_type(self):
        return certificate_type(self.certificate)

    @property
    def valid_from(self):
        return valid_from(self.certificate)

    @property
    def valid_to(self):
        return valid_to(self.certificate)

    @property
    def fingerprint(self):
        return fingerprint_sha256_hex(self.certificate)

    @property
    def key_type(self):
        return "ec" if isinstance(self.private_key, ec.EllipticCurvePrivateKey) else "rsa"


def check_type(cert, expected_type):
    """Raise CertificateTypeError when ``cert`` cannot serve as ``expected_type``.

    ``Authentication``: a KSeF Offline certificate (nonRepudiation only) is refused.
    Qualified certificates from trust service providers (qcStatements, not issued by
    KSeF) often carry nonRepudiation only and are still valid for XAdES login, so
    they are not refused. ``Offline``: the certificate must have the Offline keyUsage.
    """
    if expected_type is None:
        return
    if expected_type not in CERTIFICATE_TYPES:
        raise ValueError("expected_type must be one of %r" % (CERTIFICATE_TYPES,))
    actual = certificate_type(cert)
    if expected_type == AUTHENTICATION and actual == OFFLINE:
        if is_qualified(cert) and not is_ksef_issued(cert):
            return
        raise CertificateTypeError(_(
            "This is an Offline (link-signing) certificate; it cannot be used to log in. Upload the "
            "Authentication certificate issued by KSeF (or a qualified signature/seal certificate)."),
            actual_type=actual, expected_type=expected_type)
    if expected_type == OFFLINE and actual != OFFLINE:
        if actual == AUTHENTICATION:
            message = _(
                "This is an Authentication (login) certificate; it cannot sign the QR code (KOD II) "
                "of offline invoices. Upload the Offline certificate issued by KSeF (certificate "
                "type 'Offline').")
        else:
            message = _(
                "This is not a KSeF Offline certificate; it cannot sign the QR code (KOD II) of "
                "offline invoices. Upload the Offline certificate issued by KSeF (certificate type "
                "'Offline').")
        raise CertificateTypeError(message, actual_type=actual, expected_type=expected_type)


def load_credentials(cert_bytes, key_bytes, password=None, expected_type=None, at=None):
    """Load and check a certificate + key pair; return Credentials.

    Checks, in order: certificate parses, key parses (password), key matches the
    certificate, validity at ``at`` (default now), type (``expected_type`` in
    ``"Authentication"``/``"Offline"``/None). Raises the matching CertificateError subclass.
    """
    cert = load_certificate(cert_bytes)
    key = load_private_key(key_bytes, password)
    check_key_matches(cert, key)
    check_validity(cert, at)
    check_type(cert, expected_type)
    return Credentials(certificate=cert, private_key=key)


# --- serialisation ---------------------------------------------------------------------------------

def private_key_to_pem(key, password=None) -> bytes:
    """PKCS#8 PEM, encrypted with ``password`` (best available encryption) when given."""
    pwd = _password_bytes(password)
    encryption = (serialization.BestAvailableEncryption(pwd) if pwd
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def certificate_to_pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def certificate_to_der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def new_private_key(key_type="ec"):
    """A new EC P-256 (default, recommended by MF) or RSA 2048 private key."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1(), backend())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048, backend=backend())
    raise ValueError("key_type must be 'ec' or 'rsa'")


# --- CSR for KSeF certificate enrollment -------------------------------------------------------------

try:  # private in cryptography, stable since 2.x
    from cryptography.x509.name import _ASN1Type
except ImportError:  # pragma: no cover
    _ASN1Type = None

# order and string types as in the ministry's C# client (CreateSubjectDistinguishedName)
_CSR_FIELDS = (
    ("commonName", NameOID.COMMON_NAME, "utf8"),
    ("surname", NameOID.SURNAME, "utf8"),
    ("givenName", NameOID.GIVEN_NAME, "utf8"),
    ("organizationName", NameOID.ORGANIZATION_NAME, "utf8"),
    ("organizationIdentifier", OID_ORGANIZATION_IDENTIFIER, "utf8"),
    ("countryName", NameOID.COUNTRY_NAME, "printable"),
    ("serialNumber", NameOID.SERIAL_NUMBER, "printable"),
    ("uniqueIdentifier", OID_UNIQUE_IDENTIFIER, "utf8"),
)


def _name_attribute(oid, value, kind):
    if _ASN1Type is not None:
        asn1 = _ASN1Type.PrintableString if kind == "printable" else _ASN1Type.UTF8String
        return x509.NameAttribute(oid, value, _type=asn1)
    return x509.NameAttribute(oid, value)  # pragma: no cover


def enrollment_subject(enrollment_data: dict) -> x509.Name:
    """X.509 Name from the body of ``GET /certificates/enrollments/data`` (values verbatim).

    givenName may be a list (several RDNs). Unknown/empty fields are skipped.
    """
    rdns = []
    for key, oid, kind in _CSR_FIELDS:
        value = enrollment_data.get(key)
        if value in (None, "", []):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if item in (None, ""):
                continue
            rdns.append(x509.RelativeDistinguishedName([_name_attribute(oid, str(item), kind)]))
    if not rdns:
        raise CertificateError(_(
            "KSeF returned no subject data for the certificate request; authenticate with a "
            "qualified signature/seal or a KSeF certificate and try again."))
    return x509.Name(rdns)


def make_csr(enrollment_data: dict, private_key) -> bytes:
    """PKCS#10 certificate request (DER) for ``POST /certificates/enrollments`` (Base64 it there).

    Signed with SHA-256 (ECDSA for EC keys, RSA PKCS#1 v1.5 for RSA keys).
    """
    builder = x509.CertificateSigningRequestBuilder().subject_name(enrollment_subject(enrollment_data))
    csr = builder.sign(private_key, hashes.SHA256(), backend())
    return csr.public_bytes(serialization.Encoding.DER)


# --- self-signed test certificates -------------------------------------------------------------------

@dataclass
class TestCertificate:
    """A self-signed certificate like those KSeF TEST accepts, with its key."""

    __test__ = False  # not a pytest test class

    cert_pem: bytes
    key_pem: bytes
    cert_der: bytes
    serial: str
    certificate: x509.Certificate
    private_key: object


def _random_serial():
    import os
    value = int.from_bytes(os.urandom(8), "big") & 0x7FFFFFFFFFFFFFFF
    return value or 1


def make_test_certificate(nip=None, cert_type=AUTHENTICATION, key_type="rsa", valid_from=None,
                          valid_to=None, common_name=None, pesel=None, key_password=None,
                          serial=None, organization_name=None, given_name="Jan",
                          surname="Kowalski", person=False) -> TestCertificate:
    """Self-signed certificate shaped like the ministry's test certificates.

    * ``pesel`` given: a personal certificate (givenName, surname,
      serialNumber ``PNOPL-<pesel>``, commonName, C=PL);
    * else ``nip`` given and ``person``: a personal certificate with serialNumber
      ``TINPL-<nip>`` (as the ministry's SDKs build them);
    * else ``nip`` given: a company seal (organizationName,
      organizationIdentifier ``VATPL-<nip>``, commonName, C=PL);
    * neither: a personal certificate without identifier (fingerprint identity).

    ``cert_type`` sets keyUsage: ``Authentication`` -> digitalSignature,
    ``Offline`` -> nonRepudiation, None -> no keyUsage (like the SDKs' certificates).
    Validity defaults to now - 1 day .. now + 2 years. Key: RSA 2048 or EC P-256;
    ``key_pem`` is PKCS#8, encrypted when ``key_password`` is given.
    """
    if cert_type not in (AUTHENTICATION, OFFLINE, None):
        raise ValueError("cert_type must be 'Authentication', 'Offline' or None")
    key = new_private_key(key_type)
    now = _now()
    start = _utc(valid_from) or now - _dt.timedelta(days=1)
    end = _utc(valid_to) or now + _dt.timedelta(days=730)
    country = x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")
    if pesel or (nip and person):
        identifier = "PNOPL-%s" % pesel if pesel else "TINPL-%s" % nip
        attrs = [x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
                 x509.NameAttribute(NameOID.SURNAME, surname),
                 x509.NameAttribute(NameOID.SERIAL_NUMBER, identifier),
                 x509.NameAttribute(NameOID.COMMON_NAME, common_name or "%s %s" % (given_name, surname)),
                 country]
    elif nip:
        org = organization_name or "Test %s sp. z o.o." % nip
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                 x509.NameAttribute(OID_ORGANIZATION_IDENTIFIER, "VATPL-%s" % nip),
                 x509.NameAttribute(NameOID.COMMON_NAME, common_name or "KSeF test %s" % nip),
                 country]
    else:
        attrs = [x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
                 x509.NameAttribute(NameOID.SURNAME, surname),
                 x509.NameAttribute(NameOID.COMMON_NAME, common_name or "%s %s" % (given_name, surname)),
                 country]
    name = x509.Name(attrs)
    serial_number = serial if serial is not None else _random_serial()
    builder = (x509.CertificateBuilder()
               .subject_name(name).issuer_name(name)
               .public_key(key.public_key())
               .serial_number(serial_number)
               .not_valid_before(start.replace(tzinfo=None))
               .not_valid_after(end.replace(tzinfo=None))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if cert_type is not None:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=cert_type == AUTHENTICATION, content_commitment=cert_type == OFFLINE,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
    cert = builder.sign(key, hashes.SHA256(), backend())
    return TestCertificate(
        cert_pem=certificate_to_pem(cert),
        key_pem=private_key_to_pem(key, key_password),
        cert_der=certificate_to_der(cert),
        serial=serial_hex(cert),
        certificate=cert,
        private_key=key,
    )
