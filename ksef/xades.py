"""AuthTokenRequest and XAdES-BES signatures for KSeF login (lxml + cryptography only).

Signing (``sign_xades``) produces what the ministry's C# client produces
(``SignatureService.Sign``): an ENVELOPED signature, ``ds:Signature`` appended
as the last child of the root, with

* Reference ``URI=""``, transforms enveloped-signature + exclusive c14n, SHA-256;
* Reference ``#SignedProperties-...`` with ``Type="http://uri.etsi.org/01903#SignedProperties"``,
  exclusive c14n, SHA-256;
* SignedInfo canonicalised with exclusive c14n (the C# client uses c14n 1.0; both are
  on the ministry's list of accepted algorithms);
* SignatureMethod rsa-sha256 (RSASSA-PKCS1-v1_5) or ecdsa-sha256 with the value as
  R||S (IEEE P1363), as XMLDSig 1.1 / RFC 4050 and ``auth/podpis-xades.md`` require;
* KeyInfo/X509Data/X509Certificate;
* ds:Object/xades:QualifyingProperties/SignedProperties/SignedSignatureProperties with
  SigningTime and SigningCertificate (CertDigest SHA-256 + IssuerSerial) -- XAdES v1.3.2
  namespace, as in the ministry's C# client.

Verification (``verify_xades``) is what the KSeF emulator uses; it accepts what
``auth/podpis-xades.md`` lists: enveloped or enveloping (detached refused),
transforms enveloped-signature, exc-c14n, c14n 1.0/1.1 with/without comments and the
XPath ``not(ancestor-or-self::ds:Signature)``; RSA PKCS#1 v1.5, RSA-PSS (``*-rsa-MGF1``)
and ECDSA (R||S, DER tolerated); digests SHA-1/2/3. c14n 1.1 is computed as c14n 1.0
(lxml has no 1.1; they differ only for xml:id/xml:base in document subsets).
Not supported (refused with 9105): xmldsig-filter2 and base64 transforms, other XPath
expressions, external references.

Namespace of AuthTokenRequest: the API accepts ``http://ksef.mf.gov.pl/auth/token/2.0``
and, since API 2.5.0 (May 2026), ``.../2.1`` (same structure, only the IPv4 patterns of
AuthorizationPolicy were fixed). The ministry's examples and SDKs use 2.0, which is the
default here; pass ``namespace=NS_AUTH_2_1`` to send 2.1.
"""
import base64
import binascii
import copy
import datetime as _dt
import ipaddress
import re
import uuid
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from lxml import etree

from . import xmlsafe
from .crypto import backend
from .errors import KSeFConfigError, XAdESError, XMLSecurityError
from .i18n import _

NS_AUTH_2_0 = "http://ksef.mf.gov.pl/auth/token/2.0"
NS_AUTH_2_1 = "http://ksef.mf.gov.pl/auth/token/2.1"
AUTH_NAMESPACES = (NS_AUTH_2_0, NS_AUTH_2_1)

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
XADES141 = "http://uri.etsi.org/01903/v1.4.1#"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"

C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_10_COMMENTS = C14N_10 + "#WithComments"
C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"
C14N_11_COMMENTS = C14N_11 + "#WithComments"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = EXC_C14N + "WithComments"
ENVELOPED = DS + "enveloped-signature"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"

# c14n algorithm -> (exclusive, with_comments)
_C14N = {
    C14N_10: (False, False), C14N_10_COMMENTS: (False, True),
    C14N_11: (False, False), C14N_11_COMMENTS: (False, True),
    EXC_C14N: (True, False), EXC_C14N_COMMENTS: (True, True),
}

_DIGESTS = {
    DS + "sha1": hashes.SHA1,
    "http://www.w3.org/2001/04/xmldsig-more#sha224": hashes.SHA224,
    "http://www.w3.org/2001/04/xmlenc#sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashes.SHA512,
    "http://www.w3.org/2007/05/xmldsig-more#sha3-256": hashes.SHA3_256,
    "http://www.w3.org/2007/05/xmldsig-more#sha3-384": hashes.SHA3_384,
    "http://www.w3.org/2007/05/xmldsig-more#sha3-512": hashes.SHA3_512,
}
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_MORE07 = "http://www.w3.org/2007/05/xmldsig-more#"
_MORE21 = "http://www.w3.org/2021/04/xmldsig-more#"
RSA_SHA256 = _MORE + "rsa-sha256"
ECDSA_SHA256 = _MORE + "ecdsa-sha256"
# SignatureMethod -> (kind, hash class)
_SIGNATURE_METHODS = {
    DS + "rsa-sha1": ("rsa", hashes.SHA1),
    _MORE + "rsa-sha256": ("rsa", hashes.SHA256),
    _MORE + "rsa-sha384": ("rsa", hashes.SHA384),
    _MORE + "rsa-sha512": ("rsa", hashes.SHA512),
    _MORE07 + "sha1-rsa-MGF1": ("pss", hashes.SHA1),
    _MORE07 + "sha256-rsa-MGF1": ("pss", hashes.SHA256),
    _MORE07 + "sha384-rsa-MGF1": ("pss", hashes.SHA384),
    _MORE07 + "sha512-rsa-MGF1": ("pss", hashes.SHA512),
    _MORE07 + "sha3-256-rsa-MGF1": ("pss", hashes.SHA3_256),
    _MORE07 + "sha3-384-rsa-MGF1": ("pss", hashes.SHA3_384),
    _MORE07 + "sha3-512-rsa-MGF1": ("pss", hashes.SHA3_512),
    _MORE + "ecdsa-sha1": ("ec", hashes.SHA1),
    _MORE + "ecdsa-sha256": ("ec", hashes.SHA256),
    _MORE + "ecdsa-sha384": ("ec", hashes.SHA384),
    _MORE + "ecdsa-sha512": ("ec", hashes.SHA512),
    _MORE21 + "ecdsa-sha3-256": ("ec", hashes.SHA3_256),
    _MORE21 + "ecdsa-sha3-384": ("ec", hashes.SHA3_384),
    _MORE21 + "ecdsa-sha3-512": ("ec", hashes.SHA3_512),
}

CODE_INVALID_DOCUMENT = 9101
CODE_NO_SIGNATURE = 9102
CODE_TOO_MANY_SIGNATURES = 9103
CODE_INVALID_SIGNATURE = 9105

CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
SUBJECT_IDENTIFIER_TYPES = ("certificateSubject", "certificateFingerprint")

_DEFAULT_MAX_BYTES = 1024 * 1024


def _q(ns, tag):
    return "{%s}%s" % (ns, tag)


def _b64(data):
    return base64.b64encode(data).decode("ascii")


# --- AuthTokenRequest ----------------------------------------------------------------------------

_IP_KEYS = {
    "Ip4Address": ("ip4Addresses", "Ip4Address", "ip4_addresses", "ip4Address"),
    "Ip4Range": ("ip4Ranges", "Ip4Range", "ip4_ranges", "ip4Range"),
    "Ip4Mask": ("ip4Masks", "Ip4Mask", "ip4_masks", "ip4Mask"),
}


def _check_ip(kind, value):
    try:
        if kind == "Ip4Address":
            ipaddress.IPv4Address(value)
        elif kind == "Ip4Range":
            low, high = value.split("-")
            if int(ipaddress.IPv4Address(low)) > int(ipaddress.IPv4Address(high)):
                raise ValueError(value)
        else:
            address, bits = value.split("/")
            ipaddress.IPv4Address(address)
            if not bits.isdigit() or not 0 <= int(bits) <= 32 or (len(bits) > 1 and bits[0] == "0"):
                raise ValueError(value)
    except ValueError as exc:
        example = {"Ip4Address": "192.168.0.1", "Ip4Range": "192.168.0.1-192.168.0.20",
                   "Ip4Mask": "192.168.0.0/24"}[kind]
        message = {
            "Ip4Address": _("The allowed IP entry %(value)s is not a valid IPv4 address; write it "
                            "like %(example)s."),
            "Ip4Range": _("The allowed IP entry %(value)s is not a valid IPv4 range; write it like "
                          "%(example)s."),
            "Ip4Mask": _("The allowed IP entry %(value)s is not a valid IPv4 mask; write it like "
                         "%(example)s."),
        }[kind]
        raise KSeFConfigError(message, params={"value": repr(value), "example": example}) from exc


def build_auth_token_request(challenge, context_type="Nip", context_value=None,
                             subject_identifier_type="certificateSubject", allowed_ips=None,
                             namespace=NS_AUTH_2_0) -> bytes:
    """The unsigned AuthTokenRequest XML (UTF-8 bytes) for ``POST /auth/xades-signature``.

    ``allowed_ips``: ``{"ip4Addresses": [...], "ip4Ranges": ["a.b.c.d-e.f.g.h"],
    "ip4Masks": ["a.b.c.d/nn"]}`` (JSON API spelling; the XML names ``Ip4Address`` etc.
    are accepted too), at most 10 entries each.
    """
    if not challenge or not isinstance(challenge, str):
        raise KSeFConfigError(_("The authentication challenge is missing; request a new one from "
                                "KSeF."))
    if context_type not in CONTEXT_TYPES:
        raise KSeFConfigError(_("Unknown KSeF context type %(type)s; use one of %(types)s."),
                              params={"type": repr(context_type), "types": ", ".join(CONTEXT_TYPES)})
    if not context_value:
        raise KSeFConfigError(_("The KSeF context identifier (e.g. the company NIP) is missing; "
                                "set it in the KSeF settings."))
    if subject_identifier_type not in SUBJECT_IDENTIFIER_TYPES:
        raise KSeFConfigError(_("Unknown subject identifier type %(type)s; use one of %(types)s."),
                              params={"type": repr(subject_identifier_type),
                                      "types": ", ".join(SUBJECT_IDENTIFIER_TYPES)})
    ns = namespace
    root = etree.Element(_q(ns, "AuthTokenRequest"), nsmap={None: ns})
    etree.SubElement(root, _q(ns, "Challenge")).text = challenge.strip()
    ctx = etree.SubElement(root, _q(ns, "ContextIdentifier"))
    etree.SubElement(ctx, _q(ns, context_type)).text = str(context_value).strip()
    etree.SubElement(root, _q(ns, "SubjectIdentifierType")).text = subject_identifier_type
    if allowed_ips:
        unknown = set(allowed_ips) - {k for keys in _IP_KEYS.values() for k in keys}
        if unknown:
            raise KSeFConfigError(_("Unknown allowed-IP list(s): %(lists)s; use ip4Addresses, "
                                    "ip4Ranges, ip4Masks."), params={"lists": ", ".join(sorted(unknown))})
        entries = []
        for kind, keys in _IP_KEYS.items():
            values = []
            for key in keys:
                values.extend(allowed_ips.get(key) or [])
            if len(values) > 10:
                raise KSeFConfigError(_("At most 10 allowed IP entries of each kind are possible "
                                        "(%(count)s given for %(kind)s)."),
                                      params={"count": len(values), "kind": kind})
            for raw in values:
                value = str(raw).strip()
                _check_ip(kind, value)
                entries.append((kind, value))
        if entries:
            policy = etree.SubElement(root, _q(ns, "AuthorizationPolicy"))
            allowed = etree.SubElement(policy, _q(ns, "AllowedIps"))
            for kind, value in entries:
                etree.SubElement(allowed, _q(ns, kind)).text = value
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


# --- canonicalisation helpers ------------------------------------------------------------------

def _remove_keep_tail(el):
    """Remove ``el`` from its parent, keeping its tail text in the document."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _index_path(apex, el):
    path = []
    node = el
    while node is not apex:
        parent = node.getparent()
        if parent is None:
            raise ValueError("node not under apex")
        path.append(list(parent).index(node))
        node = parent
    return list(reversed(path))


def _follow(apex, path):
    node = apex
    for index in path:
        node = list(node)[index]
    return node


_XML_NS = "http://www.w3.org/XML/1998/namespace"


def _subtree_copy(el):
    """A standalone copy of ``el`` carrying every in-scope namespace (and inherited xml:*
    attributes) on its apex, so that inclusive c14n of the copy equals inclusive c14n of
    ``el`` as a document subset (lxml cannot do that on the original element)."""
    new = etree.Element(el.tag, nsmap=el.nsmap)
    inherited = {}
    ancestor = el.getparent()
    while ancestor is not None:
        for name, value in ancestor.attrib.items():
            if name.startswith("{%s}" % _XML_NS) and name not in inherited:
                inherited[name] = value
        ancestor = ancestor.getparent()
    for name, value in inherited.items():
        if name not in el.attrib:
            new.set(name, value)
    for name, value in el.attrib.items():
        new.set(name, value)
    new.text = el.text
    for child in el:
        new.append(copy.deepcopy(child))
    return new


class _NodeSet:
    """A same-document reference target: an apex (document or element) minus excluded subtrees."""

    def __init__(self, apex, is_document, with_comments):
        self.apex = apex              # original element (the root when is_document)
        self.is_document = is_document
        self.with_comments = with_comments
        self.exclude = []             # original elements removed with their subtrees

    def canonicalize(self, exclusive, with_comments, prefixes=None):
        with_comments = with_comments and self.with_comments
        if self.is_document:
            tree = copy.deepcopy(self.apex.getroottree())
            new_root = tree.getroot()
            for el in self.exclude:
                _remove_keep_tail(_follow(new_root, _index_path(self.apex, el)))
            target = tree
        else:
            new_root = _subtree_copy(self.apex)
            for el in self.exclude:
                _remove_keep_tail(_follow(new_root, _index_path(self.apex, el)))
            target = new_root
        kwargs = {"method": "c14n", "exclusive": exclusive, "with_comments": with_comments}
        if exclusive and prefixes:
            kwargs["inclusive_ns_prefixes"] = prefixes
        return etree.tostring(target, **kwargs)


def _c14n_element(el, algorithm, prefixes=None):
    exclusive, with_comments = _C14N[algorithm]
    nodeset = _NodeSet(el, False, True)
    return nodeset.canonicalize(exclusive, with_comments, prefixes)


def _exc_c14n(el):
    return _c14n_element(el, EXC_C14N)


def _hash(hash_cls, data):
    digest = hashes.Hash(hash_cls(), backend())
    digest.update(data)
    return digest.finalize()


# --- signing -------------------------------------------------------------------------------------

def _signing_time_text(value):
    value = value.astimezone(_dt.timezone.utc) if value.tzinfo else value
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _cert_valid_from(cert):
    value = getattr(cert, "not_valid_before_utc", None)
    return value if value is not None else cert.not_valid_before.replace(tzinfo=_dt.timezone.utc)


def sign_xades(xml, certificate, private_key, signing_time=None) -> bytes:
    """Sign ``xml`` (bytes) with an enveloped XAdES-BES signature; return the signed XML bytes.

    ``signing_time`` (aware or naive-UTC datetime) defaults to now minus one minute (as
    the ministry's C# client does, against clock skew), but never before the
    certificate's validity start.
    """
    if isinstance(private_key, rsa.RSAPrivateKey):
        method = RSA_SHA256
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        method = ECDSA_SHA256
    else:
        raise XAdESError(_("Only RSA and EC private keys can sign for KSeF."))
    try:
        root = xmlsafe.parse(xml, what=_("document to sign"))
    except XMLSecurityError as exc:
        raise XAdESError(_("The document to sign is not valid XML: %(error)s"), params={"error": exc},
                         code=CODE_INVALID_DOCUMENT) from exc
    tree = root.getroottree()
    if signing_time is None:
        now = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=1)
        signing_time = max(now, _cert_valid_from(certificate))
    elif signing_time.tzinfo is None:
        signing_time = signing_time.replace(tzinfo=_dt.timezone.utc)

    # digest of the document as the verifier will see it after the enveloped-signature
    # transform: the Signature is appended without any whitespace, so removing it
    # yields exactly the current document
    doc_digest = _hash(hashes.SHA256, etree.tostring(tree, method="c14n", exclusive=True,
                                                     with_comments=False))

    suffix = uuid.uuid4().hex[:16]
    sig_id = "Signature-" + suffix
    sp_id = "SignedProperties-" + suffix
    der = certificate.public_bytes(_der_encoding())

    sig = etree.SubElement(root, _q(DS, "Signature"), nsmap={"ds": DS})
    sig.set("Id", sig_id)
    signed_info = etree.SubElement(sig, _q(DS, "SignedInfo"))
    etree.SubElement(signed_info, _q(DS, "CanonicalizationMethod")).set("Algorithm", EXC_C14N)
    etree.SubElement(signed_info, _q(DS, "SignatureMethod")).set("Algorithm", method)

    ref = etree.SubElement(signed_info, _q(DS, "Reference"))
    ref.set("Id", "Reference-" + suffix)
    ref.set("URI", "")
    transforms = etree.SubElement(ref, _q(DS, "Transforms"))
    etree.SubElement(transforms, _q(DS, "Transform")).set("Algorithm", ENVELOPED)
    etree.SubElement(transforms, _q(DS, "Transform")).set("Algorithm", EXC_C14N)
    etree.SubElement(ref, _q(DS, "DigestMethod")).set("Algorithm", SHA256)
    etree.SubElement(ref, _q(DS, "DigestValue")).text = _b64(doc_digest)

    sp_ref = etree.SubElement(signed_info, _q(DS, "Reference"))
    sp_ref.set("Type", SIGNED_PROPERTIES_TYPE)
    sp_ref.set("URI", "#" + sp_id)
    transforms = etree.SubElement(sp_ref, _q(DS, "Transforms"))
    etree.SubElement(transforms, _q(DS, "Transform")).set("Algorithm", EXC_C14N)
    etree.SubElement(sp_ref, _q(DS, "DigestMethod")).set("Algorithm", SHA256)
    sp_digest_el = etree.SubElement(sp_ref, _q(DS, "DigestValue"))

    sig_value = etree.SubElement(sig, _q(DS, "SignatureValue"))
    key_info = etree.SubElement(sig, _q(DS, "KeyInfo"))
    x509_data = etree.SubElement(key_info, _q(DS, "X509Data"))
    etree.SubElement(x509_data, _q(DS, "X509Certificate")).text = _b64(der)

    obj = etree.SubElement(sig, _q(DS, "Object"))
    qp = etree.SubElement(obj, _q(XADES, "QualifyingProperties"), nsmap={"xades": XADES})
    qp.set("Target", "#" + sig_id)
    sp = etree.SubElement(qp, _q(XADES, "SignedProperties"))
    sp.set("Id", sp_id)
    ssp = etree.SubElement(sp, _q(XADES, "SignedSignatureProperties"))
    etree.SubElement(ssp, _q(XADES, "SigningTime")).text = _signing_time_text(signing_time)
    cert_el = etree.SubElement(etree.SubElement(ssp, _q(XADES, "SigningCertificate")),
                               _q(XADES, "Cert"))
    cert_digest = etree.SubElement(cert_el, _q(XADES, "CertDigest"))
    etree.SubElement(cert_digest, _q(DS, "DigestMethod")).set("Algorithm", SHA256)
    etree.SubElement(cert_digest, _q(DS, "DigestValue")).text = _b64(_hash(hashes.SHA256, der))
    issuer_serial = etree.SubElement(cert_el, _q(XADES, "IssuerSerial"))
    etree.SubElement(issuer_serial, _q(DS, "X509IssuerName")).text = certificate.issuer.rfc4514_string()
    etree.SubElement(issuer_serial, _q(DS, "X509SerialNumber")).text = str(certificate.serial_number)

    # SignedProperties digest in its final place in the document (namespace context!)
    sp_digest_el.text = _b64(_hash(hashes.SHA256, _exc_c14n(sp)))
    data = _exc_c14n(signed_info)
    if method == RSA_SHA256:
        raw = private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        der_sig = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
        r, s = utils.decode_dss_signature(der_sig)
        size = (private_key.curve.key_size + 7) // 8
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    sig_value.text = _b64(raw)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _der_encoding():
    from cryptography.hazmat.primitives.serialization import Encoding
    return Encoding.DER


# --- verification --------------------------------------------------------------------------------

@dataclass
class VerifiedSignature:
    """Result of a successful ``verify_xades``."""

    certificate: x509.Certificate
    signed_root: object            # lxml element: the signed document root without the Signature
    signing_time: object = None    # aware datetime or None
    signature_method: str = ""
    references: list = field(default_factory=list)


def _fail(message, code=CODE_INVALID_SIGNATURE):
    return XAdESError(message, code=code)


def _b64decode(text, what):
    try:
        return base64.b64decode(re.sub(r"\s+", "", text or ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail("The signature's %s is not valid Base64." % what) from exc


def _id_index(root):
    """Id/ID/id attribute value -> element; duplicated ids are refused (wrapping attacks)."""
    index = {}
    for el in root.iter(etree.Element):
        for attr in ("Id", "ID", "id"):
            value = el.get(attr)
            if value is None:
                continue
            if value in index and index[value] is not el:
                raise _fail("The document contains the identifier %r more than once; such a "
                            "signature cannot be verified unambiguously." % value)
            index[value] = el
    return index


def _parse_xs_datetime(text):
    if not text:
        return None
    text = text.strip()
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?", text)
    if not match:
        return None
    base = _dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    if match.group(2):
        base = base.replace(microsecond=int((match.group(2)[1:] + "000000")[:6]))
    tz = match.group(3)
    if tz in (None, "Z"):
        return base.replace(tzinfo=_dt.timezone.utc)
    sign = 1 if tz[0] == "+" else -1
    offset = _dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])) * sign
    return base.replace(tzinfo=_dt.timezone(offset)).astimezone(_dt.timezone.utc)


_XPATH_NOT_SIG = re.compile(r"^\s*not\s*\(\s*ancestor-or-self\s*::\s*(\w+)\s*:\s*Signature\s*\)\s*$")


def _reference_octets(ref, sig, root, ids):
    """Dereference ``ref`` and apply its transforms; return (octets, target element)."""
    uri = ref.get("URI")
    if uri is None:
        raise _fail("A signature Reference has no URI; detached or implicit references are not "
                    "accepted.")
    if uri == "":
        nodeset = _NodeSet(root, True, False)
        target = root
    elif uri.startswith("#") and not uri.startswith("#xpointer("):
        target = ids.get(uri[1:])
        if target is None:
            raise _fail("The signature refers to %r, which is not in the document (detached "
                        "signatures are not accepted)." % uri)
        nodeset = _NodeSet(target, False, False)
    elif uri in ("#xpointer(/)",):
        nodeset = _NodeSet(root, True, True)
        target = root
    else:
        raise _fail("The signature refers to %r outside the document; detached signatures are not "
                    "accepted by KSeF." % uri)
    octets = None
    transforms = ref.find(_q(DS, "Transforms"))
    for transform in (transforms if transforms is not None else []):
        if not isinstance(transform.tag, str) or transform.tag != _q(DS, "Transform"):
            continue
        algorithm = transform.get("Algorithm")
        if algorithm == ENVELOPED:
            if octets is not None:
                raise _fail("The enveloped-signature transform must come before canonicalisation.")
            nodeset.exclude.append(sig)
        elif algorithm in _C14N:
            exclusive, with_comments = _C14N[algorithm]
            prefixes = _inclusive_prefixes(transform) if exclusive else None
            if octets is not None:
                reparsed = xmlsafe.parse(octets, what="transformed data")
                nodeset = _NodeSet(reparsed, True, True)
            octets = nodeset.canonicalize(exclusive, with_comments, prefixes)
        elif algorithm == XPATH:
            xpath = transform.find(_q(DS, "XPath"))
            match = _XPATH_NOT_SIG.match(xpath.text or "") if xpath is not None else None
            if not match or xpath.nsmap.get(match.group(1)) != DS or octets is not None:
                raise _fail("Only the XPath transform not(ancestor-or-self::ds:Signature) is supported.")
            apex = nodeset.apex
            for other in apex.iter(_q(DS, "Signature")):
                nodeset.exclude.append(other)
        else:
            raise _fail("The signature uses the transform %r, which is not supported here; use "
                        "enveloped-signature with (exclusive) canonicalisation." % algorithm)
    if octets is None:
        octets = nodeset.canonicalize(False, False)
    return octets, target


def _inclusive_prefixes(transform):
    el = transform.find(_q(EXC_C14N, "InclusiveNamespaces"))
    if el is None:
        return None
    prefixes = (el.get("PrefixList") or "").split()
    return [p for p in prefixes if p != "#default"] or None


def _verify_signature_value(cert, method, data, value):
    kind, hash_cls = _SIGNATURE_METHODS[method]
    public_key = cert.public_key()
    try:
        if kind in ("rsa", "pss"):
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise _fail("The SignatureMethod is RSA but the certificate's key is not RSA.")
            if public_key.key_size < 2048:
                raise _fail("The certificate's RSA key has %d bits; at least 2048 are required."
                            % public_key.key_size)
            if kind == "rsa":
                public_key.verify(value, data, padding.PKCS1v15(), hash_cls())
            else:
                pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls.digest_size)
                public_key.verify(value, data, pss, hash_cls())
        else:
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise _fail("The SignatureMethod is ECDSA but the certificate's key is not EC.")
            if public_key.curve.key_size < 256:
                raise _fail("The certificate's EC curve has %d bits; at least 256 are required."
                            % public_key.curve.key_size)
            size = (public_key.curve.key_size + 7) // 8
            if len(value) == 2 * size:
                der = utils.encode_dss_signature(int.from_bytes(value[:size], "big"),
                                                 int.from_bytes(value[size:], "big"))
            else:  # tolerate DER (RFC 3279), which some signers produce
                der = value
            public_key.verify(der, data, ec.ECDSA(hash_cls()))
    except InvalidSignature as exc:
        raise _fail("The signature value does not match the signed data and the certificate "
                    "(the document was changed after signing, or signed with another key).") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _fail("The signature value cannot be checked: %s" % exc) from exc


def _signing_cert_digest_ok(sp, der):
    """True if a SigningCertificate(V2)/Cert/CertDigest in SignedProperties matches ``der``."""
    found = False
    for ns in (XADES, XADES141):
        for tag in ("SigningCertificate", "SigningCertificateV2"):
            for holder in sp.iter(_q(ns, tag)):
                for cert_el in holder.iter(_q(XADES, "Cert"), _q(XADES141, "Cert")):
                    found = True
                    digest_el = cert_el.find("{*}CertDigest")
                    if digest_el is None:
                        continue
                    method = digest_el.find(_q(DS, "DigestMethod"))
                    value = digest_el.find(_q(DS, "DigestValue"))
                    if method is None or value is None:
                        continue
                    hash_cls = _DIGESTS.get(method.get("Algorithm"))
                    if hash_cls is None:
                        raise _fail("The SigningCertificate digest algorithm %r is not supported."
                                    % method.get("Algorithm"))
                    if _b64decode(value.text, "certificate digest") == _hash(hash_cls, der):
                        return True
    if not found:
        raise _fail("The XAdES SignedProperties have no SigningCertificate; a XAdES-BES signature "
                    "must name its signing certificate.")
    return False


def verify_xades(xml, max_bytes=_DEFAULT_MAX_BYTES) -> VerifiedSignature:
    """Verify the single XAdES signature of ``xml`` (bytes) as KSeF does; see the module doc.

    Raises XAdESError with ``code`` 9101 (not a valid document), 9102 (no signature),
    9103 (more than one signature) or 9105 (the signature is invalid or not supported).
    Does NOT check the certificate's chain, validity or type (the caller decides).
    """
    try:
        root = xmlsafe.parse(xml, max_bytes=max_bytes, what="signed document")
    except XMLSecurityError as exc:
        raise _fail("The signed document cannot be read: %s" % exc.message,
                    code=CODE_INVALID_DOCUMENT) from exc
    signatures = list(root.iter(_q(DS, "Signature")))
    if not signatures:
        raise _fail("The document is not signed: it contains no ds:Signature element. Sign it with "
                    "a XAdES signature.", code=CODE_NO_SIGNATURE)
    if len(signatures) > 1:
        raise _fail("The document contains %d signatures; exactly one is expected."
                    % len(signatures), code=CODE_TOO_MANY_SIGNATURES)
    sig = signatures[0]
    ids = _id_index(root)

    signed_info = sig.find(_q(DS, "SignedInfo"))
    sig_value_el = sig.find(_q(DS, "SignatureValue"))
    if signed_info is None or sig_value_el is None:
        raise _fail("The signature has no SignedInfo or SignatureValue.")
    c14n_el = signed_info.find(_q(DS, "CanonicalizationMethod"))
    method_el = signed_info.find(_q(DS, "SignatureMethod"))
    c14n_alg = c14n_el.get("Algorithm") if c14n_el is not None else None
    method = method_el.get("Algorithm") if method_el is not None else None
    if c14n_alg not in _C14N:
        raise _fail("The canonicalisation method %r is not supported." % c14n_alg)
    if method not in _SIGNATURE_METHODS:
        raise _fail("The signature method %r is not supported (use RSA, RSA-PSS or ECDSA with "
                    "SHA-2)." % method)

    # KeyInfo certificates
    certs = []
    for cert_el in sig.iterfind("%s/%s/%s" % (_q(DS, "KeyInfo"), _q(DS, "X509Data"),
                                              _q(DS, "X509Certificate"))):
        der = _b64decode(cert_el.text, "certificate")
        try:
            certs.append((der, x509.load_der_x509_certificate(der, backend())))
        except ValueError as exc:
            raise _fail("The certificate in the signature's KeyInfo cannot be read.") from exc
    if not certs:
        raise _fail("The signature carries no certificate (KeyInfo/X509Data/X509Certificate); KSeF "
                    "needs the signing certificate inside the signature.")

    # references
    references = signed_info.findall(_q(DS, "Reference"))
    if not references:
        raise _fail("The signature has no Reference.")
    signed_properties = None
    covers_document = False
    target_object = None
    uris = []
    for ref in references:
        octets, target = _reference_octets(ref, sig, root, ids)
        digest_method = ref.find(_q(DS, "DigestMethod"))
        digest_value = ref.find(_q(DS, "DigestValue"))
        if digest_method is None or digest_value is None:
            raise _fail("A signature Reference has no DigestMethod/DigestValue.")
        hash_cls = _DIGESTS.get(digest_method.get("Algorithm"))
        if hash_cls is None:
            raise _fail("The digest method %r is not supported." % digest_method.get("Algorithm"))
        if _hash(hash_cls, octets) != _b64decode(digest_value.text, "digest value"):
            raise _fail("The signed content was changed after signing (digest mismatch for "
                        "Reference URI=%r)." % ref.get("URI"))
        uris.append(ref.get("URI"))
        is_sp = target.tag in (_q(XADES, "SignedProperties"), _q(XADES141, "SignedProperties"))
        if ref.get("Type") == SIGNED_PROPERTIES_TYPE and not is_sp:
            raise _fail("The SignedProperties reference does not point to xades:SignedProperties.")
        if is_sp:
            if sig not in target.iterancestors():
                raise _fail("The referenced SignedProperties do not belong to this signature.")
            signed_properties = target
        elif target is root:
            covers_document = True
        elif target.tag == _q(DS, "Object") and root is sig and target.getparent() is sig:
            covers_document = True
            target_object = target
    if signed_properties is None:
        raise _fail("The signature is not XAdES: its SignedProperties are missing or not signed "
                    "(a XAdES-BES signature is required).")
    if not covers_document:
        raise _fail("The signature does not cover the document (enveloped Reference URI=\"\" "
                    "expected).")
    qp = signed_properties.getparent()
    target_attr = qp.get("Target") if qp is not None else None
    if sig.get("Id") and target_attr and target_attr != "#" + sig.get("Id"):
        raise _fail("The XAdES QualifyingProperties target another signature.")

    # signing certificate: the KeyInfo certificate named by SigningCertificate
    chosen = None
    for der, cert in certs:
        if _signing_cert_digest_ok(signed_properties, der):
            chosen = cert
            break
    if chosen is None:
        raise _fail("The certificate in KeyInfo is not the one named in the XAdES SigningCertificate "
                    "(certificate digest mismatch).")

    data = _c14n_element(signed_info, c14n_alg, _inclusive_prefixes(c14n_el))
    _verify_signature_value(chosen, method, data, _b64decode(sig_value_el.text, "signature value"))

    signing_time = None
    st = signed_properties.find(".//{*}SigningTime")
    if st is not None:
        signing_time = _parse_xs_datetime(st.text)

    if target_object is not None:
        children = [c for c in target_object if isinstance(c.tag, str)]
        signed_root = copy.deepcopy(children[0]) if children else copy.deepcopy(target_object)
    else:
        signed_root = copy.deepcopy(root)
        for el in signed_root.iter(_q(DS, "Signature")):
            _remove_keep_tail(el)
            break
    return VerifiedSignature(certificate=chosen, signed_root=signed_root, signing_time=signing_time,
                             signature_method=method, references=uris)
