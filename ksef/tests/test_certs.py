"""Certificates and keys: loading, KSeF type/identity, validity, key match, CSR, test certificates."""
import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ksef import certs
from ksef.crypto import backend
from ksef.errors import (
    CertificateError,
    CertificateExpiredError,
    CertificateKeyMismatchError,
    CertificateTypeError,
    KeyPasswordError,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "ksef"
VECTORS = SHARED / "test-vectors" / "ksef-test-vectors.json"
NIP = "5265877635"
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def rsa_auth():
    return certs.make_test_certificate(nip=NIP, key_type="rsa", key_password="s3cret")


@pytest.fixture(scope="module")
def ec_offline():
    return certs.make_test_certificate(nip=NIP, cert_type="Offline", key_type="ec")


def _ksef_test_certificate():
    if not VECTORS.exists():
        pytest.skip("shared/ksef test vectors not available")
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    b64 = data["kod2_certificate_link"]["official_example"]["signer_certificate_der_base64"]
    return base64.b64decode(b64)


# --- test certificates ----------------------------------------------------------------------------

def test_make_test_certificate_rsa_seal(rsa_auth):
    cert = rsa_auth.certificate
    assert isinstance(rsa_auth.private_key, rsa.RSAPrivateKey)
    assert rsa_auth.private_key.key_size == 2048
    assert rsa_auth.serial == certs.serial_hex(cert) and len(rsa_auth.serial) == 16
    assert rsa_auth.serial == rsa_auth.serial.upper()
    assert cert.subject == cert.issuer  # self-signed
    subject = {a.oid.dotted_string: a.value for a in cert.subject}
    assert subject["2.5.4.97"] == "VATPL-" + NIP          # organizationIdentifier
    assert subject["2.5.4.6"] == "PL"
    assert "2.5.4.10" in subject and "2.5.4.3" in subject  # organizationName, commonName
    assert "2.5.4.42" not in subject and "2.5.4.4" not in subject  # no givenName/surname on a seal
    assert certs.certificate_type(cert) == "Authentication"
    assert b"ENCRYPTED PRIVATE KEY" in rsa_auth.key_pem
    assert certs.load_certificate(rsa_auth.cert_der) == cert
    assert certs.load_certificate(rsa_auth.cert_pem) == cert
    now = dt.datetime.now(UTC)
    assert certs.valid_from(cert) < now < certs.valid_to(cert)
    assert certs.valid_to(cert) - now > dt.timedelta(days=700)


def test_make_test_certificate_ec_offline(ec_offline):
    assert isinstance(ec_offline.private_key, ec.EllipticCurvePrivateKey)
    assert ec_offline.private_key.curve.name == "secp256r1"
    usage = ec_offline.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.content_commitment and not usage.digital_signature
    assert certs.certificate_type(ec_offline.certificate) == "Offline"
    assert b"BEGIN PRIVATE KEY" in ec_offline.key_pem


def test_make_test_certificate_person_and_serial():
    person = certs.make_test_certificate(pesel="88102341294", key_type="ec", serial=0x1F20A5D352AE590)
    assert certs.certificate_identity(person.certificate) == ("Pesel", "88102341294")
    assert certs.certificate_nip(person.certificate) is None
    assert person.serial == "01F20A5D352AE590"  # zero-padded to 16
    tin = certs.make_test_certificate(nip=NIP, person=True, key_type="ec")
    serial_attr = tin.certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    assert serial_attr == "TINPL-" + NIP
    assert certs.certificate_nip(tin.certificate) == NIP
    anonymous = certs.make_test_certificate(key_type="ec", cert_type=None)
    kind, value = certs.certificate_identity(anonymous.certificate)
    assert kind == "Fingerprint" and value == certs.fingerprint_sha256_hex(anonymous.certificate)
    assert len(value) == 64 and value == value.upper()
    assert certs.certificate_type(anonymous.certificate) is None


# --- identity patterns (ministry regexes) -----------------------------------------------------------

def _cert_with_subject(attrs, extensions=()):
    key = ec.generate_private_key(ec.SECP256R1(), backend())
    name = x509.Name(attrs)
    now = dt.datetime.utcnow()
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(12345)
               .not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=10)))
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(key, hashes.SHA256(), backend()), key


@pytest.mark.parametrize("serial_number, expected", [
    ("TINPL-5265877635", ("Nip", "5265877635")),
    ("NIP-5265877635", ("Nip", "5265877635")),
    ("PNOPL-88102341294", ("Pesel", "88102341294")),
    ("PESEL-88102341294", ("Pesel", "88102341294")),
    ("IDCPL-ABC123", None),  # an ID-card number is no identity for KSeF -> fingerprint
])
def test_identity_from_serial_number(serial_number, expected):
    cert, _ = _cert_with_subject([x509.NameAttribute(NameOID.COMMON_NAME, "X"),
                                  x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number)])
    identity = certs.certificate_identity(cert)
    if expected is None:
        assert identity[0] == "Fingerprint"
    else:
        assert identity == expected


def test_identity_from_organization_identifier():
    cert, _ = _cert_with_subject([
        x509.NameAttribute(NameOID.COMMON_NAME, "Firma"),
        x509.NameAttribute(certs.OID_ORGANIZATION_IDENTIFIER, "VATPL-5265877635")])
    assert certs.certificate_nip(cert) == "5265877635"
    other, _ = _cert_with_subject([
        x509.NameAttribute(NameOID.COMMON_NAME, "Firma"),
        x509.NameAttribute(certs.OID_ORGANIZATION_IDENTIFIER, "VATDE-123456789")])
    assert certs.certificate_nip(other) is None


def test_real_ksef_test_certificate():
    """The ministry's public TEST KSeF certificate (ksef-docs kody-qr.md example)."""
    der = _ksef_test_certificate()
    cert = certs.load_certificate(der)
    assert certs.serial_hex(cert) == "01F20A5D352AE590"
    assert certs.certificate_type(cert) == "Authentication"
    assert certs.certificate_nip(cert) == "5265877635"
    assert certs.is_ksef_issued(cert)
    assert certs.is_qualified(cert)  # it carries qcStatements
    # bare Base64 of DER, as /certificates/retrieve returns it, is accepted too
    assert certs.load_certificate(base64.b64encode(der)) == cert
    with pytest.raises(CertificateExpiredError, match="expired on 2027-07-29"):
        certs.check_validity(cert, dt.datetime(2027, 8, 1, tzinfo=UTC))


# --- loading errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"hello world", b"\x30\x03\x02\x01\x01",
                                  b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_load_certificate_rejects_garbage(data):
    with pytest.raises(CertificateError, match="not an X.509 certificate"):
        certs.load_certificate(data)


def test_load_certificate_rejects_a_key(rsa_auth):
    with pytest.raises(CertificateError, match="private key, not a certificate"):
        certs.load_certificate(rsa_auth.key_pem)


def test_key_password_handling(rsa_auth):
    key = certs.load_private_key(rsa_auth.key_pem, "s3cret")
    assert key.private_numbers() == rsa_auth.private_key.private_numbers()
    assert certs.load_private_key(rsa_auth.key_pem, b"s3cret").key_size == 2048
    with pytest.raises(KeyPasswordError, match="password is wrong"):
        certs.load_private_key(rsa_auth.key_pem, "wrong")
    with pytest.raises(KeyPasswordError, match="no password was given"):
        certs.load_private_key(rsa_auth.key_pem, None)
    with pytest.raises(KeyPasswordError):
        certs.load_private_key(rsa_auth.key_pem, "")


def test_key_formats(ec_offline, rsa_auth):
    ec_key = ec_offline.private_key
    plain_pem = ec_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption())
    assert b"BEGIN EC PRIVATE KEY" in plain_pem
    # a password given for an unencrypted key is ignored
    assert certs.load_private_key(plain_pem, "unused").private_numbers() == ec_key.private_numbers()
    trad_enc = rsa_auth.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"pw"))
    assert b"Proc-Type: 4,ENCRYPTED" in trad_enc
    assert certs.load_private_key(trad_enc, "pw").key_size == 2048
    with pytest.raises(KeyPasswordError):
        certs.load_private_key(trad_enc, "nope")
    der_enc = ec_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                   serialization.BestAvailableEncryption(b"pw"))
    assert certs.load_private_key(der_enc, "pw").private_numbers() == ec_key.private_numbers()
    with pytest.raises(KeyPasswordError, match="password is wrong"):
        certs.load_private_key(der_enc, "nope")
    with pytest.raises(KeyPasswordError):
        certs.load_private_key(der_enc, None)
    der_plain = ec_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    assert certs.load_private_key(der_plain, None).private_numbers() == ec_key.private_numbers()
    pem = certs.private_key_to_pem(ec_key, "x")
    assert certs.load_private_key(pem, "x").private_numbers() == ec_key.private_numbers()


_DER_WHITESPACE_TAIL = b" \t\n\r\x0b\x0c"


def _der_ending_in_whitespace(make):
    """A DER blob from ``make()`` whose last byte is one bytes.strip() would remove."""
    for _ in range(2000):  # about 1 in 40 random keys/signatures ends that way
        der = make()
        if der[-1:] in [bytes([b]) for b in _DER_WHITESPACE_TAIL]:
            return der
    raise AssertionError("no DER blob ending in a whitespace byte was produced")


def test_der_key_ending_in_a_whitespace_byte_loads():
    """Regression: DER is binary; stripping it cut the key's last byte (seen in CI)."""
    keys = {}

    def make():
        key = ec.generate_private_key(ec.SECP256R1(), backend())
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        keys[der] = key
        return der

    der = _der_ending_in_whitespace(make)
    assert certs.load_private_key(der, None).private_numbers() == keys[der].private_numbers()
    # ...and a DER key with a newline appended by an editor still loads
    assert certs.load_private_key(der + b"\n").private_numbers() == keys[der].private_numbers()


def test_der_certificate_ending_in_a_whitespace_byte_loads():
    def make():
        return certs.make_test_certificate(nip=NIP, cert_type="Offline", key_type="ec").cert_der

    der = _der_ending_in_whitespace(make)
    assert certs.load_certificate(der).public_bytes(serialization.Encoding.DER) == der
    assert certs.load_certificate(der + b"\r\n").public_bytes(serialization.Encoding.DER) == der


def test_not_a_key(rsa_auth):
    with pytest.raises(CertificateError, match="not a private key") as info:
        certs.load_private_key(b"definitely not a key", "pw")
    assert not isinstance(info.value, KeyPasswordError)
    with pytest.raises(CertificateError, match="certificate, not a private key"):
        certs.load_private_key(rsa_auth.cert_pem, None)


def test_weak_rsa_key_refused():
    small = rsa.generate_private_key(65537, 1024, backend())  # noqa: S505 - the weak key is the point
    pem = certs.private_key_to_pem(small, None)
    with pytest.raises(CertificateError, match="2048"):
        certs.load_private_key(pem, None)


def test_wrong_password_message_has_no_secret(rsa_auth):
    with pytest.raises(KeyPasswordError) as info:
        certs.load_private_key(rsa_auth.key_pem, "MyVerySecretGuess")
    assert "MyVerySecretGuess" not in str(info.value)


# --- checks and credentials ----------------------------------------------------------------------

def test_expired_and_not_yet_valid():
    old = certs.make_test_certificate(nip=NIP, key_type="ec",
                                      valid_from=dt.datetime(2020, 1, 1, tzinfo=UTC),
                                      valid_to=dt.datetime(2021, 3, 4, 12, 0, tzinfo=UTC))
    with pytest.raises(CertificateExpiredError,
                       match=r"expired on 2021-03-04; obtain a new certificate in the KSeF app"):
        certs.check_validity(old.certificate)
    with pytest.raises(CertificateExpiredError):
        certs.load_credentials(old.cert_pem, old.key_pem, None, expected_type="Authentication")
    certs.check_validity(old.certificate, at=dt.datetime(2020, 6, 1))  # naive = UTC, valid then
    future = certs.make_test_certificate(nip=NIP, key_type="ec",
                                         valid_from=dt.datetime.now(UTC) + dt.timedelta(days=3))
    with pytest.raises(CertificateExpiredError, match="not valid yet"):
        certs.check_validity(future.certificate)


def test_key_mismatch(rsa_auth, ec_offline):
    other = certs.make_test_certificate(nip=NIP, key_type="rsa")
    with pytest.raises(CertificateKeyMismatchError):
        certs.check_key_matches(rsa_auth.certificate, other.private_key)
    with pytest.raises(CertificateKeyMismatchError):
        certs.check_key_matches(rsa_auth.certificate, ec_offline.private_key)
    with pytest.raises(CertificateKeyMismatchError, match="does not belong"):
        certs.load_credentials(rsa_auth.cert_pem, other.key_pem, None)
    certs.check_key_matches(ec_offline.certificate, ec_offline.private_key)


def test_type_checks(rsa_auth, ec_offline):
    with pytest.raises(CertificateTypeError,
                       match=r"This is an Offline \(link-signing\) certificate; it cannot be used to log "
                             r"in\. Upload the Authentication certificate"):
        certs.load_credentials(ec_offline.cert_pem, ec_offline.key_pem, None,
                               expected_type="Authentication")
    with pytest.raises(CertificateTypeError, match="Authentication .* cannot sign the QR code"):
        certs.load_credentials(rsa_auth.cert_pem, rsa_auth.key_pem, "s3cret", expected_type="Offline")
    creds = certs.load_credentials(ec_offline.cert_der, ec_offline.key_pem, None, expected_type="Offline")
    assert creds.cert_type == "Offline"
    # certificates without keyUsage (like the ministry SDK's self-signed ones) may log in
    plain = certs.make_test_certificate(nip=NIP, key_type="ec", cert_type=None)
    certs.load_credentials(plain.cert_pem, plain.key_pem, None, expected_type="Authentication")
    with pytest.raises(CertificateTypeError):
        certs.load_credentials(plain.cert_pem, plain.key_pem, None, expected_type="Offline")


def test_qualified_non_repudiation_certificate_may_log_in():
    """Qualified signature certificates usually have nonRepudiation only; they are not KSeF Offline."""
    usage = x509.KeyUsage(False, True, False, False, False, False, False, False, False)
    qc = x509.UnrecognizedExtension(certs.OID_QC_STATEMENTS, bytes.fromhex("3000"))
    cert, key = _cert_with_subject(
        [x509.NameAttribute(NameOID.GIVEN_NAME, "Jan"), x509.NameAttribute(NameOID.SURNAME, "Nowak"),
         x509.NameAttribute(NameOID.SERIAL_NUMBER, "PNOPL-88102341294"),
         x509.NameAttribute(NameOID.COMMON_NAME, "Jan Nowak"),
         x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")],
        [(usage, True), (qc, False)])
    assert certs.certificate_type(cert) == "Offline"
    assert certs.is_qualified(cert) and not certs.is_ksef_issued(cert)
    certs.check_type(cert, "Authentication")  # no error
    pem = cert.public_bytes(serialization.Encoding.PEM)
    creds = certs.load_credentials(pem, certs.private_key_to_pem(key, None), None,
                                   expected_type="Authentication")
    assert creds.identity == ("Pesel", "88102341294")


def test_credentials_properties(rsa_auth):
    creds = certs.load_credentials(rsa_auth.cert_pem, rsa_auth.key_pem, "s3cret",
                                   expected_type="Authentication")
    assert creds.serial == rsa_auth.serial
    assert creds.nip == NIP
    assert creds.cert_type == "Authentication"
    assert creds.valid_from.tzinfo is not None and creds.valid_to.utcoffset() == dt.timedelta(0)
    assert creds.valid_from < creds.valid_to
    assert creds.key_type == "rsa"
    assert creds.fingerprint == certs.fingerprint_sha256_hex(rsa_auth.certificate)


# --- CSR -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_csr_contains_enrollment_data_verbatim(key_type):
    data = {  # shape of GET /certificates/enrollments/data
        "commonName": "Jan Maria Kowalski",
        "countryName": "PL",
        "givenName": ["Jan", "Maria"],
        "surname": "Kowalski",
        "serialNumber": "PNOPL-88102341294",
        "uniqueIdentifier": "a1b2c3-ż",
        "organizationName": None,
        "organizationIdentifier": "",
    }
    key = certs.new_private_key(key_type)
    der = certs.make_csr(data, key)
    csr = x509.load_der_x509_csr(der, backend())
    assert csr.is_signature_valid
    assert csr.public_key().public_numbers() == key.public_key().public_numbers()
    subject = csr.subject
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.GIVEN_NAME)] == ["Jan", "Maria"]
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Jan Maria Kowalski"
    assert subject.get_attributes_for_oid(NameOID.SURNAME)[0].value == "Kowalski"
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "PNOPL-88102341294"
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "PL"
    assert subject.get_attributes_for_oid(certs.OID_UNIQUE_IDENTIFIER)[0].value == "a1b2c3-ż"
    assert not subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert not subject.get_attributes_for_oid(certs.OID_ORGANIZATION_IDENTIFIER)
    # string types as in the ministry's client: PrintableString for C and serialNumber
    raw = subject.public_bytes(backend())
    assert bytes([0x13, 2]) + b"PL" in raw
    assert bytes([0x13, 17]) + b"PNOPL-88102341294" in raw
    assert bytes([0x0C, 8]) + b"Kowalski" in raw


def test_csr_for_company_seal():
    data = {"commonName": "Firma", "countryName": "PL", "organizationName": "Firma sp. z o.o.",
            "organizationIdentifier": "VATPL-5265877635"}
    csr = x509.load_der_x509_csr(certs.make_csr(data, certs.new_private_key("ec")), backend())
    assert csr.subject.get_attributes_for_oid(certs.OID_ORGANIZATION_IDENTIFIER)[0].value == \
        "VATPL-5265877635"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Firma sp. z o.o."
    with pytest.raises(CertificateError):
        certs.make_csr({}, certs.new_private_key("ec"))
