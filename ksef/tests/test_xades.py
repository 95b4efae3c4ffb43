"""AuthTokenRequest + XAdES-BES: round trips, structure, XSD, tampering, and cross-checks with xmlsec1."""
import base64
import copy
import datetime as dt
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from lxml import etree

from ksef import certs, xades
from ksef.errors import KSeFConfigError, XAdESError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "ksef"
XSD_21 = SHARED / "schemas" / "auth" / "schemat_auth_v2-1.xsd"
SAMPLES = SHARED / "samples" / "auth"
DS = xades.DS
XA = xades.XADES
NS = {"ds": DS, "xades": XA}
NIP = "5265877635"
CHALLENGE = "20250604-CR-461EA5B000-537A6BA15D-D7"
XMLSEC1 = shutil.which("xmlsec1")
needs_xmlsec1 = pytest.mark.skipif(
    XMLSEC1 is None, reason="xmlsec1 not installed (apt-get install xmlsec1): independent "
                            "cross-check of the XAdES signatures SKIPPED")


@pytest.fixture(scope="module")
def rsa_cert():
    return certs.make_test_certificate(nip=NIP, key_type="rsa")


@pytest.fixture(scope="module")
def ec_cert():
    return certs.make_test_certificate(nip=NIP, key_type="ec")


@pytest.fixture(scope="module")
def schema():
    if not XSD_21.exists():
        pytest.skip("shared/ksef auth schema not available")
    return etree.XMLSchema(etree.parse(str(XSD_21), etree.XMLParser(no_network=True)))


def _validate_21(schema, xml_bytes):
    """Validate against the 2.1 XSD with the 2.0 namespace switched in memory."""
    doc = etree.fromstring(xml_bytes.replace(xades.NS_AUTH_2_0.encode(), xades.NS_AUTH_2_1.encode()))
    ok = schema.validate(doc)
    assert ok, schema.error_log


def _request(**kwargs):
    kwargs.setdefault("context_value", NIP)
    return xades.build_auth_token_request(CHALLENGE, **kwargs)


def _sign(test_cert, xml=None, **kwargs):
    return xades.sign_xades(xml or _request(), test_cert.certificate, test_cert.private_key, **kwargs)


# --- AuthTokenRequest ------------------------------------------------------------------------------

def _normalized(xml_bytes):
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(xml_bytes, parser), method="c14n")


@pytest.mark.parametrize("sample, ctx_type, ctx_value, subject", [
    ("AuthTokenRequest_context-identifier-nip.xml", "Nip", "5265877635", "certificateSubject"),
    ("AuthTokenRequest_context-identifier-internal-id.xml", "InternalId", "5265877635-12345",
     "certificateSubject"),
    ("AuthTokenRequest_context-identifier-nip-vat-ue.xml", "NipVatUe", "5265877635-ATU12345678",
     "certificateSubject"),
    ("AuthTokenRequest_subject-identifier-type-certificate-fingerprint.xml", "Nip", "5265877635",
     "certificateFingerprint"),
])
def test_request_equals_ministry_samples(sample, ctx_type, ctx_value, subject):
    path = SAMPLES / sample
    if not path.exists():
        pytest.skip("shared/ksef samples not available")
    built = xades.build_auth_token_request(CHALLENGE, ctx_type, ctx_value, subject)
    assert _normalized(built) == _normalized(path.read_bytes())


def test_request_with_policy_is_schema_valid(schema):
    xml = _request(allowed_ips={"ip4Addresses": ["192.168.0.1", "10.0.0.7"],
                                "ip4Ranges": ["222.111.0.1-222.111.0.255"],
                                "ip4Masks": ["192.168.1.0/24"]})
    _validate_21(schema, xml)
    root = etree.fromstring(xml)
    ns = {"a": xades.NS_AUTH_2_0}
    assert root.xpath("a:AuthorizationPolicy/a:AllowedIps/a:Ip4Address/text()", namespaces=ns) == \
        ["192.168.0.1", "10.0.0.7"]
    assert root.xpath("a:AuthorizationPolicy/a:AllowedIps/*", namespaces=ns)[-1].tag.endswith("Ip4Mask")
    xml21 = _request(namespace=xades.NS_AUTH_2_1, allowed_ips={"Ip4Mask": ["10.0.0.0/8"]})
    assert schema.validate(etree.fromstring(xml21)), schema.error_log


@pytest.mark.parametrize("kwargs, match", [
    ({"context_type": "Regon"}, "Unknown KSeF context type"),
    ({"context_value": ""}, "context identifier"),
    ({"subject_identifier_type": "pesel"}, "subject identifier type"),
    ({"allowed_ips": {"ip4Addresses": ["300.1.1.1"]}}, "not a valid IPv4 address"),
    ({"allowed_ips": {"ip4Ranges": ["10.0.0.9-10.0.0.1"]}}, "not a valid IPv4 range"),
    ({"allowed_ips": {"ip4Masks": ["10.0.0.0/33"]}}, "not a valid IPv4 mask"),
    ({"allowed_ips": {"ip4Addresses": ["10.0.0.%d" % i for i in range(11)]}}, "At most 10"),
    ({"allowed_ips": {"ipv6": ["::1"]}}, "Unknown allowed-IP"),
])
def test_request_input_errors(kwargs, match):
    with pytest.raises(KSeFConfigError, match=match):
        _request(**kwargs)


# --- round trip and structure ------------------------------------------------------------------------

@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_sign_verify_round_trip(key_type, rsa_cert, ec_cert, schema):
    test_cert = rsa_cert if key_type == "rsa" else ec_cert
    when = dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.timezone.utc)
    signed = _sign(test_cert, signing_time=when)
    result = xades.verify_xades(signed)
    assert result.certificate == test_cert.certificate
    assert result.signing_time == when
    # the signed document, signature removed, is a valid AuthTokenRequest
    assert result.signed_root.find("{%s}Signature" % DS) is None
    _validate_21(schema, etree.tostring(result.signed_root))
    assert result.signed_root.findtext("{%s}Challenge" % xades.NS_AUTH_2_0) == CHALLENGE


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_xades_structure(key_type, rsa_cert, ec_cert):
    test_cert = rsa_cert if key_type == "rsa" else ec_cert
    root = etree.fromstring(_sign(test_cert))
    sig = root[-1]
    assert sig.tag == "{%s}Signature" % DS  # enveloped, last child of the root
    sig_id = sig.get("Id")
    si = sig.find("ds:SignedInfo", NS)
    assert si.find("ds:CanonicalizationMethod", NS).get("Algorithm") == xades.EXC_C14N
    expected_method = xades.RSA_SHA256 if key_type == "rsa" else xades.ECDSA_SHA256
    assert si.find("ds:SignatureMethod", NS).get("Algorithm") == expected_method
    doc_ref, sp_ref = si.findall("ds:Reference", NS)
    assert doc_ref.get("URI") == ""
    assert [t.get("Algorithm") for t in doc_ref.find("ds:Transforms", NS)] == \
        [xades.ENVELOPED, xades.EXC_C14N]
    assert sp_ref.get("Type") == "http://uri.etsi.org/01903#SignedProperties"
    for ref in (doc_ref, sp_ref):
        assert ref.find("ds:DigestMethod", NS).get("Algorithm") == xades.SHA256
    qp = sig.find("ds:Object/xades:QualifyingProperties", NS)
    assert qp.get("Target") == "#" + sig_id
    sp = qp.find("xades:SignedProperties", NS)
    assert sp_ref.get("URI") == "#" + sp.get("Id")
    ssp = sp.find("xades:SignedSignatureProperties", NS)
    assert ssp.find("xades:SigningTime", NS).text.endswith("Z")
    cert_el = ssp.find("xades:SigningCertificate/xades:Cert", NS)
    digest = cert_el.findtext("xades:CertDigest/ds:DigestValue", namespaces=NS)
    assert base64.b64decode(digest) == hashlib.sha256(test_cert.cert_der).digest()
    assert cert_el.findtext("xades:IssuerSerial/ds:X509SerialNumber", namespaces=NS) == \
        str(test_cert.certificate.serial_number)
    x509_b64 = sig.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    assert base64.b64decode(x509_b64) == test_cert.cert_der
    value = base64.b64decode(sig.findtext("ds:SignatureValue", namespaces=NS))
    assert len(value) == (256 if key_type == "rsa" else 64)  # ECDSA as raw R||S (P1363)


def test_default_signing_time(ec_cert):
    before = dt.datetime.now(dt.timezone.utc)
    result = xades.verify_xades(_sign(ec_cert))
    assert before - dt.timedelta(minutes=2) < result.signing_time <= before
    young = certs.make_test_certificate(nip=NIP, key_type="ec", valid_from=before)
    result = xades.verify_xades(_sign(young))
    assert result.signing_time >= before.replace(microsecond=0)  # never before the cert's validity


# --- tampering ---------------------------------------------------------------------------------------

def _code(excinfo):
    return excinfo.value.code


def test_changed_challenge_fails(rsa_cert):
    signed = _sign(rsa_cert)
    tampered = signed.replace(b"461EA5B000", b"461EA5B001")
    with pytest.raises(XAdESError, match="changed after signing") as info:
        xades.verify_xades(tampered)
    assert _code(info) == 9105


def test_changed_signing_time_fails(ec_cert):
    signed = _sign(ec_cert, signing_time=dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))
    with pytest.raises(XAdESError) as info:
        xades.verify_xades(signed.replace(b"2026-03-01T00:00:00Z", b"2026-03-02T00:00:00Z"))
    assert _code(info) == 9105


def test_swapped_certificate_fails(rsa_cert):
    other = certs.make_test_certificate(nip=NIP, key_type="rsa")
    signed = _sign(rsa_cert)
    swapped = signed.replace(base64.b64encode(rsa_cert.cert_der), base64.b64encode(other.cert_der))
    assert swapped != signed
    with pytest.raises(XAdESError, match="not the one named") as info:
        xades.verify_xades(swapped)
    assert _code(info) == 9105


def test_signature_by_other_key_fails(rsa_cert):
    """Same certificate in KeyInfo and SigningCertificate, but SignedInfo signed by another key."""
    other = certs.make_test_certificate(nip=NIP, key_type="rsa")
    root = etree.fromstring(_sign(rsa_cert))
    si = root.find("ds:Signature/ds:SignedInfo", NS)
    data = etree.tostring(si, method="c14n", exclusive=True)
    forged = other.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    root.find("ds:Signature/ds:SignatureValue", NS).text = base64.b64encode(forged).decode()
    with pytest.raises(XAdESError, match="signature value does not match") as info:
        xades.verify_xades(etree.tostring(root))
    assert _code(info) == 9105


def test_no_signature_and_two_signatures(rsa_cert, ec_cert):
    with pytest.raises(XAdESError) as info:
        xades.verify_xades(_request())
    assert _code(info) == 9102
    signed = _sign(rsa_cert)
    root = etree.fromstring(signed)
    root.remove(root[-1])
    with pytest.raises(XAdESError) as info:
        xades.verify_xades(etree.tostring(root))
    assert _code(info) == 9102
    twice = xades.sign_xades(signed, ec_cert.certificate, ec_cert.private_key)
    with pytest.raises(XAdESError) as info:
        xades.verify_xades(twice)
    assert _code(info) == 9103


def test_invalid_documents():
    for bad in (b"<not-closed>", b"",
                b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'):
        with pytest.raises(XAdESError) as info:
            xades.verify_xades(bad)
        assert _code(info) == 9101
    with pytest.raises(XAdESError) as info:
        xades.verify_xades(b"<a>" + b"x" * 200 + b"</a>", max_bytes=100)
    assert _code(info) == 9101


def test_detached_reference_refused(rsa_cert):
    root = etree.fromstring(_sign(rsa_cert))
    root.find("ds:Signature/ds:SignedInfo/ds:Reference", NS).set("URI", "http://example.com/doc.xml")
    with pytest.raises(XAdESError, match="detached") as info:
        xades.verify_xades(etree.tostring(root))
    assert _code(info) == 9105


def test_plain_xmldsig_without_signed_properties_is_not_xades(rsa_cert):
    """Remove the SignedProperties reference and re-sign SignedInfo: valid XMLDSig, but not XAdES-BES."""
    root = etree.fromstring(_sign(rsa_cert))
    si = root.find("ds:Signature/ds:SignedInfo", NS)
    si.remove(si.findall("ds:Reference", NS)[1])
    data = etree.tostring(si, method="c14n", exclusive=True)
    value = rsa_cert.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    root.find("ds:Signature/ds:SignatureValue", NS).text = base64.b64encode(value).decode()
    with pytest.raises(XAdESError, match="not XAdES") as info:
        xades.verify_xades(etree.tostring(root))
    assert _code(info) == 9105


def test_duplicate_ids_refused(rsa_cert):
    root = etree.fromstring(_sign(rsa_cert))
    sp = root.find(".//xades:SignedProperties", NS)
    decoy = copy.deepcopy(sp)
    root.insert(0, decoy)
    with pytest.raises(XAdESError, match="more than once"):
        xades.verify_xades(etree.tostring(root))


# --- other accepted signature forms --------------------------------------------------------------

def _resign(root, private_key, method, signer):
    si = root.find("ds:Signature/ds:SignedInfo", NS)
    si.find("ds:SignatureMethod", NS).set("Algorithm", method)
    data = etree.tostring(si, method="c14n", exclusive=True)
    root.find("ds:Signature/ds:SignatureValue", NS).text = base64.b64encode(signer(data)).decode()
    return etree.tostring(root)


def test_rsa_pss_accepted(rsa_cert):
    root = etree.fromstring(_sign(rsa_cert))
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    signed = _resign(root, rsa_cert.private_key, "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
                     lambda data: rsa_cert.private_key.sign(data, pss, hashes.SHA256()))
    assert xades.verify_xades(signed).signature_method.endswith("sha256-rsa-MGF1")


def test_ecdsa_der_signature_value_tolerated(ec_cert):
    root = etree.fromstring(_sign(ec_cert))
    signed = _resign(root, ec_cert.private_key, xades.ECDSA_SHA256,
                     lambda data: ec_cert.private_key.sign(data, ec.ECDSA(hashes.SHA256())))
    xades.verify_xades(signed)
    # and a wrong R||S is rejected
    bad = _resign(etree.fromstring(signed), ec_cert.private_key, xades.ECDSA_SHA256,
                  lambda data: b"\x01" * 64)
    with pytest.raises(XAdESError):
        xades.verify_xades(bad)
    r, s = utils.decode_dss_signature(ec_cert.private_key.sign(b"x", ec.ECDSA(hashes.SHA256())))
    assert r and s


def test_pretty_printed_signed_document_is_still_valid(ec_cert):
    """Whitespace inside the document but outside the signed text nodes must not be touched by us."""
    xml = (b'<?xml version="1.0" encoding="utf-8"?>\n<AuthTokenRequest xmlns="%s">\n  <Challenge>%s'
           b'</Challenge>\n  <ContextIdentifier>\n    <Nip>%s</Nip>\n  </ContextIdentifier>\n'
           b'  <SubjectIdentifierType>certificateSubject</SubjectIdentifierType>\n</AuthTokenRequest>\n'
           % (xades.NS_AUTH_2_0.encode(), CHALLENGE.encode(), NIP.encode()))
    signed = _sign(ec_cert, xml)
    assert b"\n    <Nip>" in signed
    assert xades.verify_xades(signed).signed_root.findtext(
        ".//{%s}Nip" % xades.NS_AUTH_2_0) == NIP


# --- independent implementation: xmlsec1 (libxmlsec1, OpenSSL) ---------------------------------------

def _xmlsec1(*args):
    return subprocess.run([XMLSEC1, *args], capture_output=True, text=True, timeout=30, check=False)


@needs_xmlsec1
@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_xmlsec1_verifies_our_signature(key_type, rsa_cert, ec_cert, tmp_path):
    test_cert = rsa_cert if key_type == "rsa" else ec_cert
    (tmp_path / "cert.pem").write_bytes(test_cert.cert_pem)
    signed = _sign(test_cert)
    (tmp_path / "signed.xml").write_bytes(signed)
    args = ["--verify", "--enabled-key-data", "x509", "--trusted-pem", str(tmp_path / "cert.pem"),
            "--id-attr:Id", "SignedProperties"]
    ok = _xmlsec1(*args, str(tmp_path / "signed.xml"))
    assert ok.returncode == 0, ok.stderr
    assert "References (ok/all): 2/2" in ok.stdout + ok.stderr
    # and it rejects the tampered document (the check can fail)
    (tmp_path / "bad.xml").write_bytes(signed.replace(b"461EA5B000", b"461EA5B001"))
    bad = _xmlsec1(*args, str(tmp_path / "bad.xml"))
    assert bad.returncode != 0


_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.0">
  <!-- comments are not signed with URI="" -->
  <Challenge>{challenge}</Challenge>
  <ContextIdentifier>
    <Nip>{nip}</Nip>
  </ContextIdentifier>
  <SubjectIdentifierType>certificateSubject</SubjectIdentifierType>
<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="sig1">
  <ds:SignedInfo>
    <ds:CanonicalizationMethod Algorithm="{c14n}"/>
    <ds:SignatureMethod Algorithm="{method}"/>
    <ds:Reference URI="">
      <ds:Transforms>{transforms}</ds:Transforms>
      <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
      <ds:DigestValue></ds:DigestValue>
    </ds:Reference>
    <ds:Reference URI="#sp1" Type="http://uri.etsi.org/01903#SignedProperties">
      <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha512"/>
      <ds:DigestValue></ds:DigestValue>
    </ds:Reference>
  </ds:SignedInfo>
  <ds:SignatureValue></ds:SignatureValue>
  <ds:KeyInfo><ds:X509Data></ds:X509Data></ds:KeyInfo>
  <ds:Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#sig1">
    <xades:SignedProperties Id="sp1"><xades:SignedSignatureProperties>
      <xades:SigningTime>2026-01-02T03:04:05+01:00</xades:SigningTime>
      <xades:SigningCertificate><xades:Cert><xades:CertDigest>
        <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <ds:DigestValue>{cert_digest}</ds:DigestValue>
      </xades:CertDigest></xades:Cert></xades:SigningCertificate>
    </xades:SignedSignatureProperties></xades:SignedProperties>
  </xades:QualifyingProperties></ds:Object>
</ds:Signature>
</AuthTokenRequest>
"""
_XPATH_TRANSFORM = ('<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">'
                    '<ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>')
_ENVELOPED_TRANSFORMS = ('<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
                         '<ds:Transform Algorithm="http://www.w3.org/2006/12/xml-c14n11"/>')


@needs_xmlsec1
@pytest.mark.parametrize("key_type, c14n, method, transforms", [
    ("ec", xades.C14N_10, xades.ECDSA_SHA256, _XPATH_TRANSFORM),
    ("rsa", xades.C14N_10_COMMENTS, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
     _ENVELOPED_TRANSFORMS),
    ("rsa", xades.EXC_C14N, "http://www.w3.org/2000/09/xmldsig#rsa-sha1", _ENVELOPED_TRANSFORMS),
])
def test_we_verify_xmlsec1_signatures(key_type, c14n, method, transforms, rsa_cert, ec_cert, tmp_path):
    """Signatures made by xmlsec1 in other accepted forms (inclusive c14n of SignedInfo with the
    request's default namespace in scope, XPath filter, c14n 1.1, SHA-512 digest, comments)."""
    test_cert = rsa_cert if key_type == "rsa" else ec_cert
    template = _TEMPLATE.format(
        challenge=CHALLENGE, nip=NIP, c14n=c14n, method=method, transforms=transforms,
        cert_digest=base64.b64encode(hashlib.sha256(test_cert.cert_der).digest()).decode())
    (tmp_path / "tmpl.xml").write_text(template, encoding="utf-8")
    (tmp_path / "key.pem").write_bytes(certs.private_key_to_pem(test_cert.private_key, None))
    (tmp_path / "cert.pem").write_bytes(test_cert.cert_pem)
    out = tmp_path / "signed.xml"
    run = _xmlsec1("--sign", "--privkey-pem", "%s,%s" % (tmp_path / "key.pem", tmp_path / "cert.pem"),
                   "--id-attr:Id", "SignedProperties", "--output", str(out), str(tmp_path / "tmpl.xml"))
    assert run.returncode == 0, run.stderr
    signed = out.read_bytes()
    result = xades.verify_xades(signed)
    assert result.certificate == test_cert.certificate
    assert result.signing_time == dt.datetime(2026, 1, 2, 2, 4, 5, tzinfo=dt.timezone.utc)
    assert result.signature_method == method
    with pytest.raises(XAdESError) as info:
        xades.verify_xades(signed.replace(NIP.encode(), b"1111111111"))
    assert info.value.code == 9105
    # a comment added outside the signed text does not matter for URI="" (comments are excluded)
    xades.verify_xades(signed.replace(b"<Challenge>", b"<!-- x --><Challenge>"))


_ENVELOPING = """<?xml version="1.0"?>
<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="sig1"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<ds:Reference URI="#obj"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
<ds:Reference URI="#sp1" Type="http://uri.etsi.org/01903#SignedProperties">
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo>
<ds:Object Id="obj"><AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.0"><Challenge>{challenge}</Challenge>
<ContextIdentifier><Nip>{nip}</Nip></ContextIdentifier><SubjectIdentifierType>certificateSubject</SubjectIdentifierType>
</AuthTokenRequest></ds:Object>
<ds:Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#sig1">
<xades:SignedProperties Id="sp1"><xades:SignedSignatureProperties>
<xades:SigningTime>2026-01-02T03:04:05Z</xades:SigningTime>
<xades:SigningCertificate><xades:Cert><xades:CertDigest>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
<ds:DigestValue>{cert_digest}</ds:DigestValue></xades:CertDigest></xades:Cert></xades:SigningCertificate>
</xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties></ds:Object></ds:Signature>
"""


@needs_xmlsec1
def test_we_verify_xmlsec1_enveloping_signature(rsa_cert, schema, tmp_path):
    template = _ENVELOPING.format(
        challenge=CHALLENGE, nip=NIP,
        cert_digest=base64.b64encode(hashlib.sha256(rsa_cert.cert_der).digest()).decode())
    (tmp_path / "tmpl.xml").write_text(template, encoding="utf-8")
    (tmp_path / "key.pem").write_bytes(certs.private_key_to_pem(rsa_cert.private_key, None))
    (tmp_path / "cert.pem").write_bytes(rsa_cert.cert_pem)
    out = tmp_path / "signed.xml"
    run = _xmlsec1("--sign", "--privkey-pem", "%s,%s" % (tmp_path / "key.pem", tmp_path / "cert.pem"),
                   "--id-attr:Id", "Object", "--id-attr:Id", "SignedProperties",
                   "--output", str(out), str(tmp_path / "tmpl.xml"))
    assert run.returncode == 0, run.stderr
    signed = out.read_bytes()
    result = xades.verify_xades(signed)
    assert result.signed_root.tag == "{%s}AuthTokenRequest" % xades.NS_AUTH_2_0
    _validate_21(schema, etree.tostring(result.signed_root))
    with pytest.raises(XAdESError) as info:
        xades.verify_xades(signed.replace(NIP.encode(), b"1111111111"))
    assert info.value.code == 9105
