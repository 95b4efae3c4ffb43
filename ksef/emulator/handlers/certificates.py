"""KSeF certificates: limits, enrollment data, enrollments, retrieve, query, revoke."""
import datetime
import os
import re
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ...crypto import b64decode, b64encode, backend
from ..common import bad_request, iso, parse_iso
from ..server import empty, json_response, route
from .util import page_size, subject_dn

ENROLLMENT_LIMIT = {"Nip": 300, "Pesel": 12, "Fingerprint": 12}
CERTIFICATE_LIMIT = {"Nip": 100, "Pesel": 6, "Fingerprint": 6}
VALIDITY_DAYS = 730
_NAME_RE = re.compile(r"^[a-zA-Z0-9_\- ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]+$")
ENROLLMENT_STATUS = {100: "Wniosek przyjęty do realizacji",
                     200: "Wniosek obsłużony (certyfikat wygenerowany)",
                     400: "Wniosek odrzucony"}


def _signature_auth(emu, req, code):
    _bearer, op = emu.authorize(req)
    if op["authenticationMethod"] == "Token" or not op.get("subjectDn"):
        raise bad_request(code)
    return op


def _subject(op):
    subject = op.get("subject") or {}
    return subject.get("type", "Nip"), subject.get("value", op["context"]["value"])


def _counts(emu, op):
    kind, value = _subject(op)
    enrollments = [e for e in emu.state.table("enrollments").values()
                   if e["subject"] == [kind, value]]
    active = [c for c in emu.state.table("certs").values()
              if c["subject"] == [kind, value] and c["status"] == "Active"]
    return kind, len(enrollments), len(active)


@route("GET", "/certificates/limits")
def limits(emu, req):
    _bearer, op = emu.authorize(req)
    kind, enrolled, active = _counts(emu, op)
    e_limit, c_limit = ENROLLMENT_LIMIT.get(kind, 12), CERTIFICATE_LIMIT.get(kind, 6)
    return json_response({
        "canRequest": enrolled < e_limit and active < c_limit,
        "enrollment": {"remaining": max(0, e_limit - enrolled), "limit": e_limit},
        "certificate": {"remaining": max(0, c_limit - active), "limit": c_limit}})


@route("GET", "/certificates/enrollments/data")
def enrollment_data(emu, req):
    op = _signature_auth(emu, req, 25001)
    dn = dict(op["subjectDn"])
    dn.setdefault("commonName", dn.get("organizationName") or "KSeF")
    dn.setdefault("countryName", "PL")
    return json_response(dn)


def _issue(emu, csr, cert_type, valid_from):
    ca_key = emu.keys.private_key("CA")
    ca_cert = emu.keys.certificate("CA")
    serial = int.from_bytes(os.urandom(8), "big") | (1 << 60)
    serial &= 0x7FFFFFFFFFFFFFFF
    start = valid_from
    builder = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_cert.subject)
               .public_key(csr.public_key()).serial_number(serial)
               .not_valid_before(start.replace(tzinfo=None))
               .not_valid_after((start + datetime.timedelta(days=VALIDITY_DAYS)).replace(tzinfo=None))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=cert_type == "Authentication",
                   content_commitment=cert_type == "Offline", key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=False,
                   crl_sign=False, encipher_only=False, decipher_only=False), critical=True))
    cert = builder.sign(ca_key, hashes.SHA256(), backend())
    return cert, "%016X" % serial


@route("POST", "/certificates/enrollments")
def enroll(emu, req):
    op = _signature_auth(emu, req, 25002)
    body = req.json()
    name = body.get("certificateName")
    cert_type = body.get("certificateType")
    if not isinstance(name, str) or not 5 <= len(name) <= 100 or not _NAME_RE.match(name):
        raise bad_request(21405, "certificateName: 5-100 znaków (litery, cyfry, _, -, spacja).")
    if cert_type not in ("Authentication", "Offline"):
        raise bad_request(21405, "certificateType: Authentication lub Offline.")
    try:
        csr = x509.load_der_x509_csr(b64decode(body.get("csr") or ""), backend())
        if not csr.is_signature_valid:
            raise ValueError("bad CSR signature")
    except (ValueError, TypeError):
        raise bad_request(25004) from None
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise bad_request(25010)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name != "secp256r1":
            raise bad_request(25010)
    else:
        raise bad_request(25010)
    if not isinstance(csr.signature_hash_algorithm, (hashes.SHA1, hashes.SHA256, hashes.SHA384,
                                                     hashes.SHA512)):
        raise bad_request(25011)
    expected = dict(op["subjectDn"])
    expected.setdefault("commonName", expected.get("organizationName") or "KSeF")
    expected.setdefault("countryName", "PL")
    if subject_dn(csr.subject) != expected:
        raise bad_request(25003)
    kind, enrolled, active = _counts(emu, op)
    if enrolled >= ENROLLMENT_LIMIT.get(kind, 12):
        raise bad_request(25006)
    ref = emu.new_reference("CE")
    stamp = time.time()
    der_key = key.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    taken = any(c["publicKey"] == b64encode(der_key) and c["subject"] != list(_subject(op))
                for c in emu.state.table("certs").values())
    record = {"referenceNumber": ref, "requestDate": stamp, "subject": list(_subject(op)),
              "context": op["context"], "certificateSerialNumber": None}
    if taken:
        record["status"] = {"code": 400, "description": ENROLLMENT_STATUS[400],
                            "details": ["Klucz publiczny został już certyfikowany przez inny podmiot."]}
    elif active >= CERTIFICATE_LIMIT.get(kind, 6):
        record["status"] = {"code": 400, "description": ENROLLMENT_STATUS[400],
                            "details": ["Osiągnięto dopuszczalny limit posiadanych certyfikatów."]}
    else:
        valid_from = body.get("validFrom")
        try:
            start = datetime.datetime.fromtimestamp(parse_iso(valid_from) if valid_from else stamp,
                                                    datetime.timezone.utc)
        except ValueError:
            raise bad_request(21405, "validFrom: nieprawidłowa data.") from None
        cert, serial = _issue(emu, csr, cert_type, start)
        emu.state.put("certs", serial, {
            "certificateSerialNumber": serial, "name": name, "type": cert_type,
            "commonName": (subject_dn(csr.subject).get("commonName") or name),
            "status": "Active", "subject": list(_subject(op)), "context": op["context"],
            "validFrom": start.timestamp(),
            "validTo": (start + datetime.timedelta(days=VALIDITY_DAYS)).timestamp(),
            "requestDate": stamp, "lastUseDate": None,
            "certificate": b64encode(cert.public_bytes(serialization.Encoding.DER)),
            "publicKey": b64encode(der_key)})
        record["certificateSerialNumber"] = serial
        record["status"] = {"code": 200, "description": ENROLLMENT_STATUS[200]}
    emu.state.put("enrollments", ref, record)
    return json_response({"referenceNumber": ref, "timestamp": iso(stamp)}, status=202)


@route("GET", "/certificates/enrollments/{referenceNumber}")
def enrollment_status(emu, req):
    _bearer, op = emu.authorize(req)
    rec = emu.state.get("enrollments", req.params["referenceNumber"])
    if rec is None or rec["subject"] != list(_subject(op)):
        raise bad_request(25005)
    view = {"requestDate": iso(rec["requestDate"]), "status": rec["status"]}
    if time.time() < rec["requestDate"] + float(getattr(emu, "enrollment_delay", 0.0) or 0.0):
        view["status"] = {"code": 100, "description": ENROLLMENT_STATUS[100]}   # still working
    elif rec.get("certificateSerialNumber"):
        view["certificateSerialNumber"] = rec["certificateSerialNumber"]
    return json_response(view)


def _own_cert(emu, op, serial):
    rec = emu.state.get("certs", serial)
    if rec is None or rec["subject"] != list(_subject(op)):
        raise bad_request(25008)
    return rec


@route("POST", "/certificates/retrieve")
def retrieve(emu, req):
    _bearer, op = emu.authorize(req)
    serials = req.json().get("certificateSerialNumbers")
    if not isinstance(serials, list) or not 1 <= len(serials) <= 10:
        raise bad_request(21405, "certificateSerialNumbers: od 1 do 10 numerów seryjnych.")
    result = []
    for serial in serials:
        rec = _own_cert(emu, op, str(serial))
        result.append({"certificate": rec["certificate"], "certificateName": rec["name"],
                       "certificateSerialNumber": rec["certificateSerialNumber"],
                       "certificateType": rec["type"]})
    return json_response({"certificates": result})


def _effective_status(rec):
    if rec["status"] == "Active" and rec["validTo"] < time.time():
        return "Expired"
    return rec["status"]


@route("POST", "/certificates/query")
def query(emu, req):
    _bearer, op = emu.authorize(req)
    body = req.json() if req.body else {}
    size = page_size(req, 10, 10, 50)
    try:
        offset = int(req.q("pageOffset", 0))
    except ValueError:
        raise bad_request(21405, "pageOffset musi być liczbą.") from None
    items = [c for c in emu.state.table("certs").values() if c["subject"] == list(_subject(op))]
    if body.get("certificateSerialNumber"):
        items = [c for c in items if c["certificateSerialNumber"] == body["certificateSerialNumber"]]
    if body.get("name"):
        items = [c for c in items if body["name"].lower() in c["name"].lower()]
    if body.get("type"):
        items = [c for c in items if c["type"] == body["type"]]
    if body.get("status"):
        items = [c for c in items if _effective_status(c) == body["status"]]
    if body.get("expiresAfter"):
        bound = parse_iso(body["expiresAfter"])
        items = [c for c in items if c["validTo"] > bound]
    items.sort(key=lambda c: c["requestDate"], reverse=True)
    page = items[offset * size:(offset + 1) * size]
    kind, value = _subject(op)
    return json_response({"hasMore": (offset + 1) * size < len(items), "certificates": [{
        "certificateSerialNumber": c["certificateSerialNumber"], "name": c["name"], "type": c["type"],
        "commonName": c["commonName"], "status": _effective_status(c),
        "subjectIdentifier": {"type": kind if kind in ("Nip", "Pesel", "Fingerprint") else "Nip",
                              "value": value},
        "validFrom": iso(c["validFrom"]), "validTo": iso(c["validTo"]),
        "lastUseDate": iso(c["lastUseDate"]), "requestDate": iso(c["requestDate"])} for c in page]})


@route("POST", "/certificates/{certificateSerialNumber}/revoke")
def revoke(emu, req):
    op = _signature_auth(emu, req, 21405)
    rec = _own_cert(emu, op, req.params["certificateSerialNumber"])
    if _effective_status(rec) != "Active":
        raise bad_request(25009)
    body = req.json() if req.body else {}
    reason = body.get("revocationReason") or "Unspecified"
    if reason not in ("Unspecified", "Superseded", "KeyCompromise"):
        raise bad_request(21405, "revocationReason: Unspecified, Superseded lub KeyCompromise.")
    rec["status"] = "Revoked"
    rec["revocationReason"] = reason
    emu.state.put("certs", rec["certificateSerialNumber"], rec)
    return empty(204)





@route("PUT", "/testdata/certificates/{serialNumber}")
def shorten_validity(emu, req):
    """TEST only (API 2.7): move a KSeF certificate's ``validTo`` earlier, to try its expiry. The
    new date may not be later than the current one; the certificate must be the authenticated
    subject's (25008 otherwise). The certificate file keeps its notAfter: KSeF's registry decides
    (status Expired in /certificates/query, status 460 at XAdES login)."""
    _bearer, op = emu.authorize(req)
    rec = _own_cert(emu, op, req.params["serialNumber"])
    body = req.json()
    try:
        valid_to = parse_iso(body["validTo"])
    except (KeyError, ValueError, TypeError):
        raise bad_request(21405, "validTo (data i czas) jest wymagane.") from None
    if valid_to > rec["validTo"]:
        raise bad_request(21405, "validTo: nowa data ważności nie może być późniejsza niż obecna (%s)."
                          % iso(rec["validTo"]))
    rec["validTo"] = valid_to
    emu.state.put("certs", rec["certificateSerialNumber"], rec)
    return empty(200)
