"""KSeF verification QR codes: KOD I (invoice) and KOD II (issuer certificate).

Source: CIRFMF/ksef-docs ``kody-qr.md``.

KOD I   ``https://<qr-host>/invoice/{sellerNIP}/{DD-MM-YYYY}/{hash}``
        hash = SHA-256 of the exact invoice file bytes, Base64URL without padding (43 chars).
        Label under the code: the KSeF number, or ``OFFLINE`` while there is none.
KOD II  ``https://<qr-host>/certificate/{ctxType}/{ctxValue}/{sellerNIP}/{certSerial}/{hash}/{sig}``
        (offline invoices only). ``sig`` signs the link without ``https://`` and without the
        trailing ``/``, as UTF-8: RSA -> RSASSA-PSS/SHA-256/MGF1-SHA-256/salt 32; EC P-256 ->
        ECDSA/SHA-256 in IEEE P1363 form (r||s, 64 bytes). Base64URL without padding. Only a KSeF
        certificate of type ``Offline`` may sign it. Label: ``CERTYFIKAT``.

Images are PNG (Pillow) or SVG, made with the ``qrcode`` library at error-correction level M
(the ministry names no level; its SDKs use M), with the label under the code.
"""
import datetime
import functools
import io
import re
from typing import NamedTuple
from urllib.parse import urlsplit

import qrcode
import qrcode.image.svg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from . import environments
from .certs import (
    AUTHENTICATION,
    OFFLINE,
    certificate_type,
    check_key_matches,
    check_validity,
    load_certificate,
    load_private_key,
    serial_hex,
)
from .crypto import b64url_decode, b64url_encode, sha256_b64url
from .errors import CertificateError, CertificateTypeError, KSeFConfigError
from .i18n import _

LABEL_OFFLINE = "OFFLINE"
LABEL_CERTIFICATE = "CERTYFIKAT"

CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
_CONTEXT_TYPES_BY_LOWER = {name.lower(): name for name in CONTEXT_TYPES}

#: salt length of the RSASSA-PSS signature of KOD II (bytes)
PSS_SALT_LENGTH = 32
#: IEEE P1363 size of a P-256 ECDSA signature (r||s)
P256_SIGNATURE_SIZE = 64

_SEGMENT_RE = re.compile(r"[A-Za-z0-9._~-]+")
_NIP_RE = re.compile(r"\d{10}")
_HASH_B64URL_RE = re.compile(r"[A-Za-z0-9_-]{43}")


class InvoiceLink(NamedTuple):
    """The parts of a KOD I link."""

    host: str
    seller_nip: str
    issue_date: datetime.date
    invoice_hash: str  # Base64URL


class CertificateLink(NamedTuple):
    """The parts of a KOD II link; ``signed_data`` is what the signature covers."""

    host: str
    context_type: str
    context_value: str
    seller_nip: str
    certificate_serial: str
    invoice_hash: str  # Base64URL
    signature: bytes
    signed_data: str


# --- inputs ------------------------------------------------------------------------

def _seller_nip(value):
    nip = re.sub(r"[\s-]", "", str(value or "")).upper()
    if nip.startswith("PL"):
        nip = nip[2:]
    if not _NIP_RE.fullmatch(nip):
        raise KSeFConfigError(_(
            "The seller NIP %(nip)s is not a 10-digit Polish NIP, so no KSeF QR link can be made. "
            "Correct the seller's Tax ID (Podmiot1 NIP) on the invoice."), params={"nip": repr(value)})
    return nip


def _date_segment(issue_date):
    if isinstance(issue_date, datetime.datetime):
        issue_date = issue_date.date()
    elif isinstance(issue_date, str):
        try:
            issue_date = datetime.date.fromisoformat(issue_date[:10])
        except ValueError as exc:
            raise KSeFConfigError(_("The issue date %(date)s is not a date (YYYY-MM-DD); give the "
                                    "invoice's P_1 date."), params={"date": repr(issue_date)}) from exc
    if not isinstance(issue_date, datetime.date):
        raise KSeFConfigError(_("The issue date (P_1) is missing; give the invoice's issue date."))
    return issue_date.strftime("%d-%m-%Y")


def invoice_hash_b64url(invoice_xml=None, invoice_hash=None):
    """SHA-256 of the invoice in Base64URL without padding (43 chars).

    From the exact invoice bytes, or from a hash given in standard Base64 (as in
    ``invoiceHash``/``SkrotDokumentu``) or already in Base64URL. Given both, they must agree.
    """
    computed = sha256_b64url(bytes(invoice_xml)) if invoice_xml is not None else None
    if invoice_hash is None:
        if computed is None:
            raise KSeFConfigError(_("Neither the invoice file nor its SHA-256 hash was given; a KSeF "
                                    "QR link needs one of them."))
        return computed
    text = str(invoice_hash).strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        valid = bool(_HASH_B64URL_RE.fullmatch(text)) and len(b64url_decode(text)) == 32
    except ValueError:
        valid = False
    if not valid:
        raise KSeFConfigError(_("The invoice hash %(hash)s is not a SHA-256 hash in Base64 or "
                                "Base64URL (44 or 43 characters). Use the hash of the sent invoice "
                                "file."), params={"hash": repr(invoice_hash)})
    if computed is not None and computed != text:
        raise KSeFConfigError(_("The given invoice hash does not match the invoice file; the QR "
                                "code must use the hash of the exact file sent to KSeF."))
    return text


def _context(context_type, context_value):
    ctype = _CONTEXT_TYPES_BY_LOWER.get(str(context_type or "").strip().lower())
    if ctype is None:
        raise KSeFConfigError(_("Unknown KSeF context type %(type)s; use one of %(types)s."),
                              params={"type": repr(context_type), "types": ", ".join(CONTEXT_TYPES)})
    value = str(context_value or "").strip()
    if not _SEGMENT_RE.fullmatch(value):
        raise KSeFConfigError(_("The KSeF context identifier %(value)s is empty or contains "
                                "characters that cannot appear in a KSeF link; give the identifier "
                                "of the context you log in to (e.g. the company NIP)."),
                              params={"value": repr(context_value)})
    return ctype, value


# --- KOD I -------------------------------------------------------------------------

def invoice_verification_url(environment, seller_nip, issue_date, invoice_xml=None,
                             invoice_hash=None) -> str:
    """KOD I link: ``https://<qr-host>/invoice/{NIP}/{DD-MM-YYYY}/{hash}``.

    ``environment``: an ``environments.Environment`` or "TEST"/"DEMO"/"PROD".
    ``issue_date``: P_1 (date, datetime or "YYYY-MM-DD"). Give the exact invoice bytes
    (``invoice_xml``) or their SHA-256 (``invoice_hash``, Base64 or Base64URL).
    """
    env = environments.get(environment)
    return "%s/invoice/%s/%s/%s" % (env.qr_url, _seller_nip(seller_nip), _date_segment(issue_date),
                                    invoice_hash_b64url(invoice_xml, invoice_hash))


def label_for_kod1(ksef_number=None) -> str:
    """Caption under KOD I: the KSeF number if known, else ``OFFLINE``."""
    number = (ksef_number or "").strip()
    return number or LABEL_OFFLINE


# --- KOD II ------------------------------------------------------------------------

def certificate_string_to_sign(environment, context_type, context_value, seller_nip,
                               certificate_serial, invoice_xml=None, invoice_hash=None) -> str:
    """What KOD II signs: ``<qr-host>/certificate/{ctxType}/{ctxValue}/{NIP}/{serial}/{hash}``."""
    env = environments.get(environment)
    ctype, cvalue = _context(context_type, context_value)
    serial = str(certificate_serial or "").strip().upper()
    if not re.fullmatch(r"[0-9A-F]+", serial):
        raise KSeFConfigError(_("The certificate serial number %(serial)s is not hexadecimal."),
                              params={"serial": repr(certificate_serial)})
    return "%s/certificate/%s/%s/%s/%s/%s" % (
        env.qr_host, ctype, cvalue, _seller_nip(seller_nip), serial,
        invoice_hash_b64url(invoice_xml, invoice_hash))


def _sign(private_key, data):
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < 2048:
            raise CertificateError(_("The RSA key of the Offline certificate has fewer than 2048 "
                                     "bits; KSeF requires at least 2048. Use a certificate with a "
                                     "stronger key."))
        return private_key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                  salt_length=PSS_SALT_LENGTH), hashes.SHA256())
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name != "secp256r1":
            raise CertificateError(_("The EC key of the Offline certificate is on curve %(curve)s; "
                                     "KOD II needs P-256 (secp256r1). Use a certificate with a "
                                     "P-256 key."), params={"curve": private_key.curve.name})
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    raise CertificateError(_("The private key of the Offline certificate is neither RSA nor EC; "
                             "KOD II needs an RSA (2048+) or EC P-256 key."))


def _check_offline_certificate(cert):
    cert_type = certificate_type(cert)
    if cert_type == OFFLINE:
        return
    if cert_type == AUTHENTICATION:
        message = _(
            "KOD II must be signed with the Offline KSeF certificate, but the configured certificate "
            "(serial %(serial)s) is an Authentication certificate (for logging in to KSeF). Request "
            "a certificate of type 'Offline' in KSeF and upload it with its private key for offline "
            "invoicing.")
    else:
        message = _(
            "KOD II must be signed with the Offline KSeF certificate, but the configured certificate "
            "(serial %(serial)s) is not a KSeF certificate of type Offline. Request a certificate of "
            "type 'Offline' in KSeF and upload it with its private key for offline invoicing.")
    raise CertificateTypeError(message, params={"serial": serial_hex(cert)},
                               actual_type=cert_type, expected_type=OFFLINE)


def certificate_verification_url(environment, context_type, context_value, seller_nip, certificate,
                                 private_key, invoice_xml=None, invoice_hash=None, key_password=None,
                                 at=None) -> str:
    """KOD II link, signed with the issuer's Offline KSeF certificate.

    ``certificate``: x509.Certificate or PEM/DER bytes; ``private_key``: key object or PEM/DER
    bytes (``key_password`` if encrypted). ``at``: when the certificate must be valid (default
    now, UTC). Raises CertificateTypeError for a non-Offline certificate,
    CertificateExpiredError outside its validity, CertificateKeyMismatchError when the key is
    not the certificate's.
    """
    cert = certificate if hasattr(certificate, "public_key") else load_certificate(certificate)
    key = private_key if hasattr(private_key, "sign") else load_private_key(private_key, key_password)
    _check_offline_certificate(cert)
    check_validity(cert, at)
    check_key_matches(cert, key)
    env = environments.get(environment)
    data = certificate_string_to_sign(env, context_type, context_value, seller_nip, serial_hex(cert),
                                      invoice_xml, invoice_hash)
    signature = _sign(key, data.encode("utf-8"))
    scheme = env.qr_url.split("://", 1)[0] if "://" in env.qr_url else "https"
    return "%s://%s/%s" % (scheme, data, b64url_encode(signature))


#: what the test signature of ``check_offline_signing`` covers (no invoice is involved)
_SIGNING_TEST_DOCUMENT = b"<Faktura>KSeF Offline certificate signing test</Faktura>"


def check_offline_signing(environment, seller_nip, certificate, private_key, key_password=None,
                          at=None) -> str:
    """Prove that an Offline certificate can sign KOD II: sign a KOD II link of a test document
    in the seller's context (``Nip``) and verify it with the certificate -> the link.

    Raises what :func:`certificate_verification_url` raises (not an Offline certificate,
    outside its validity, key not the certificate's) and ``CertificateError`` when the
    signature does not verify with the certificate.
    """
    cert = certificate if hasattr(certificate, "public_key") else load_certificate(certificate)
    url = certificate_verification_url(environment, "Nip", seller_nip, seller_nip, cert,
                                       private_key, invoice_xml=_SIGNING_TEST_DOCUMENT,
                                       key_password=key_password, at=at)
    if not verify_certificate_url(url, cert):
        raise CertificateError(_(
            "A KOD II signed with the Offline certificate %(serial)s does not verify with that "
            "certificate, so it cannot sign offline invoices. Request the certificate again or "
            "upload one obtained in the KSeF application."), params={"serial": serial_hex(cert)})
    return url


# --- parsing and verifying ------------------------------------------------------------

def _split(url, kind, count):
    parts = urlsplit(str(url or "").strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("not a KSeF %s link" % kind)
    segments = parts.path.strip("/").split("/")
    # the QR base URL may carry a path prefix; the last `count` segments follow `kind`
    if len(segments) < count + 1 or segments[-count - 1] != kind:
        raise ValueError("not a KSeF %s link" % kind)
    prefix = "/".join(segments[:-count - 1])
    host = parts.netloc + ("/" + prefix if prefix else "")
    return host, segments[-count:]


def parse_invoice_url(url) -> InvoiceLink:
    """Split a KOD I link; raises ValueError when it is not one."""
    host, (nip, day, digest) = _split(url, "invoice", 3)
    if not _NIP_RE.fullmatch(nip) or not _HASH_B64URL_RE.fullmatch(digest):
        raise ValueError("malformed KSeF invoice link")
    issue = datetime.datetime.strptime(day, "%d-%m-%Y").date()
    return InvoiceLink(host, nip, issue, digest)


def parse_certificate_url(url) -> CertificateLink:
    """Split a KOD II link; raises ValueError when it is not one."""
    host, (ctype, cvalue, nip, serial, digest, sig) = _split(url, "certificate", 6)
    if (ctype not in CONTEXT_TYPES or not _NIP_RE.fullmatch(nip)
            or not re.fullmatch(r"[0-9A-F]+", serial) or not _HASH_B64URL_RE.fullmatch(digest)
            or not re.fullmatch(r"[A-Za-z0-9_-]+", sig)):
        raise ValueError("malformed KSeF certificate link")
    signed = "%s/certificate/%s/%s/%s/%s/%s" % (host, ctype, cvalue, nip, serial, digest)
    return CertificateLink(host, ctype, cvalue, nip, serial, digest, b64url_decode(sig), signed)


def verify_certificate_url(url, certificate) -> bool:
    """True when the KOD II ``url`` names ``certificate``'s serial and its signature verifies
    with the certificate's public key (RSA-PSS salt 32; ECDSA P1363 or DER).

    ``certificate``: x509.Certificate, PEM/DER bytes, or a bare RSA/EC public key (then the
    serial in the link is not compared). Only the link is checked: not the certificate's type,
    validity or revocation.
    """
    if isinstance(certificate, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        cert, public_key = None, certificate
    else:
        cert = certificate if hasattr(certificate, "public_key") else load_certificate(certificate)
        public_key = cert.public_key()
    try:
        link = parse_certificate_url(url)
    except ValueError:
        return False
    if cert is not None and link.certificate_serial.lstrip("0") != serial_hex(cert).lstrip("0"):
        return False
    data = link.signed_data.encode("utf-8")
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(link.signature, data, padding.PSS(
                mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            signature = link.signature
            if len(signature) == P256_SIGNATURE_SIZE:
                signature = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                                 int.from_bytes(signature[32:], "big"))
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


# --- images -----------------------------------------------------------------------------

_FONT_FILES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
               "LiberationSans-Regular.ttf", "Arial.ttf")


def _qrcode(url, box_size, border, error_correction, image_factory=None):
    qr = qrcode.QRCode(error_correction=error_correction, box_size=box_size, border=border,
                       image_factory=image_factory)
    qr.add_data(url)
    qr.make(fit=True)
    return qr.make_image()


@functools.lru_cache(maxsize=32)
def _truetype(size):
    """A TrueType font of ``size`` px (DejaVu Sans if present), or None when there is none."""
    from PIL import ImageFont
    for name in _FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return None


def _render_label(label, width, font_size):
    """An 'L' image with ``label`` centred in ``width`` pixels (may be wider if it cannot fit)."""
    from PIL import Image, ImageDraw, ImageFont

    margin = max(2, font_size // 3)
    size = font_size
    font = _truetype(size)
    if font is not None:
        # shrink to fit the code's width, down to 10 px; beyond that the image grows wider
        while True:
            left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
                (0, 0), label, font=font)
            if right - left + 2 * margin <= width or size <= 10:
                break
            size -= 1
            font = _truetype(size)
        text_w, text_h = right - left, bottom - top
        canvas = Image.new("L", (max(width, text_w + 2 * margin), text_h + 2 * margin), 255)
        ImageDraw.Draw(canvas).text(((canvas.width - text_w) // 2 - left, margin - top), label,
                                    font=font, fill=0)
        return canvas
    # no TrueType font: Pillow's built-in bitmap font, scaled up by whole pixels to stay crisp
    font = ImageFont.load_default()
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), label, font=font)
    small = Image.new("L", (right - left, bottom - top), 255)
    ImageDraw.Draw(small).text((-left, -top), label, font=font, fill=0)
    scale = max(1, min(-(-font_size // max(1, small.height)), (width - 2 * margin) // max(1, small.width)))
    big = small.resize((small.width * scale, small.height * scale), Image.NEAREST)
    canvas = Image.new("L", (max(width, big.width + 2 * margin), big.height + 2 * margin), 255)
    canvas.paste(big, ((canvas.width - big.width) // 2, margin))
    return canvas


def qr_png(url, label=None, box_size=5, border=4, font_size=None,
           error_correction=qrcode.constants.ERROR_CORRECT_M) -> bytes:
    """PNG (bytes) of the QR code of ``url`` with ``label`` centred under it.

    ``box_size``: pixels per module (the ministry's SDK examples use 5); ``border``: quiet zone
    in modules (4 per ISO/IEC 18004). ``font_size`` defaults to about three modules.
    """
    from PIL import Image

    code = _qrcode(url, box_size, border, error_correction).get_image().convert("L")
    if not label:
        out = code
    else:
        text = _render_label(str(label), code.width, font_size or max(12, box_size * 3))
        out = Image.new("L", (max(code.width, text.width), code.height + text.height), 255)
        out.paste(code, ((out.width - code.width) // 2, 0))
        # the label sits in the lower part of the quiet zone, close to the code
        out.paste(text, ((out.width - text.width) // 2, code.height))
    buffer = io.BytesIO()
    out.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def qr_svg(url, label=None, box_size=10, border=4,
           error_correction=qrcode.constants.ERROR_CORRECT_M) -> bytes:
    """Standalone SVG (UTF-8 bytes) of the QR code of ``url`` with ``label`` as a <text> under it.

    Sizes are in mm as qrcode makes them (``box_size`` 10 = 1 mm per module); one <path> draws
    the modules, a white <rect> the background.
    """
    from qrcode.compat.etree import ET

    image = _qrcode(url, box_size, border, error_correction,
                    image_factory=qrcode.image.svg.SvgPathImage)
    root = image.get_image()
    side = float(image.units(image.pixel_size, text=False))   # mm
    module = float(image.units(box_size, text=False))
    available = side - 2 * module
    font = module * 3
    if label:
        # long labels (KSeF numbers, 35 characters) get a smaller font, down to 1.5 modules
        font = max(module * 1.5, min(font, available / (len(str(label)) * 0.6)))
    label_h = font * 2 if label else 0
    height = side + label_h
    root.set("width", "%gmm" % side)
    root.set("height", "%gmm" % height)
    root.set("viewBox", "0 0 %g %g" % (side, height))
    root.insert(0, ET.Element("rect", x="0", y="0", width="%g" % side, height="%g" % height,
                              fill="#ffffff"))
    if label:
        text = ET.SubElement(root, "text", {
            "x": "%g" % (side / 2), "y": "%g" % (side + font * 0.9), "text-anchor": "middle",
            "font-family": "DejaVu Sans, Arial, Helvetica, sans-serif", "font-size": "%g" % font,
            "fill": "#000000"})
        text.text = str(label)
        if len(str(label)) * font * 0.6 > available:  # still too wide: squeeze to fit
            text.set("textLength", "%g" % available)
            text.set("lengthAdjust", "spacingAndGlyphs")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)
