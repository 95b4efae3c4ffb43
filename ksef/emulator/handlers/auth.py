"""Authentication: challenge, KSeF-token and XAdES logins, status, redeem, refresh, auth sessions."""
import time

from ...crypto import b64decode, rsa_oaep_decrypt, sha256_b64
from ..common import ApiError, bad_request, iso, token_hash
from ..server import empty, json_response, route
from .util import continuation, require, subject_dn, validate_context

CHALLENGE_LIFETIME = 600

AUTH_STATUS = {
    100: "Uwierzytelnianie w toku",
    200: "Uwierzytelnianie zakończone sukcesem",
    415: "Uwierzytelnianie zakończone niepowodzeniem",
    425: "Uwierzytelnienie unieważnione",
    450: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu",
    460: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu",
}

TOKEN_METHOD = {"category": "Token", "code": "token.ksef", "displayName": "Token KSeF"}


def _status(code, detail=None):
    status = {"code": code, "description": AUTH_STATUS[code]}
    if detail:
        status["details"] = [detail]
    return status


@route("POST", "/auth/challenge")
def challenge(emu, req):
    ref = emu.new_reference("CR")
    stamp = time.time()
    ms = int(stamp * 1000)
    emu.state.put("challenges", ref, {"timestampMs": ms, "created": stamp, "used": False})
    # forget old challenges
    for key, rec in list(emu.state.table("challenges").items()):
        if rec["created"] < stamp - 2 * CHALLENGE_LIFETIME:
            emu.state.delete("challenges", key)
    return json_response({"challenge": ref, "timestamp": iso(ms / 1000.0), "timestampMs": ms,
                          "clientIp": req.ip})


def _take_challenge(emu, value):
    rec = emu.state.get("challenges", value or "")
    if rec is None or rec["used"] or rec["created"] < time.time() - CHALLENGE_LIFETIME:
        raise bad_request(21111, "Wyzwanie %s jest nieznane, wygasło lub zostało już użyte." % value)
    rec["used"] = True
    emu.state.put("challenges", value, rec)
    return rec


def _new_operation(emu, method, method_info, context, status, **extra):
    ref = emu.new_reference("AU")
    start = time.time()
    op = {"referenceNumber": ref, "startDate": start, "authenticationMethod": method,
          "authenticationMethodInfo": method_info, "status": status,
          "readyAt": start + emu.auth_delay, "context": context, "isTokenRedeemed": False,
          "refreshTokenValidUntil": None, "lastTokenRefreshDate": None, "permissions": [],
          "revoked": False}
    op.update(extra)
    emu.state.put("auth", ref, op)
    token, valid_until = emu.issue_bearer("authentication", ref, context,
                                          emu.authentication_token_lifetime)
    return json_response({"referenceNumber": ref, "authenticationToken": {
        "token": token, "validUntil": iso(valid_until)}}, status=202)


@route("POST", "/auth/ksef-token")
def ksef_token(emu, req):
    body = req.json()
    require(body, "challenge", "contextIdentifier", "encryptedToken")
    context = validate_context(body["contextIdentifier"])
    key_id = body.get("publicKeyId")
    if key_id and key_id != emu.keys.public_key_id("KsefTokenEncryption"):
        raise bad_request(21470, "Klucz o identyfikatorze %s nie jest wspierany." % key_id)
    try:
        encrypted = b64decode(body["encryptedToken"])
    except (ValueError, TypeError):
        raise bad_request(21405, "encryptedToken nie jest poprawnym Base64.") from None
    challenge_rec = _take_challenge(emu, body["challenge"])
    extra = {"allowedIps": (body.get("authorizationPolicy") or {}).get("allowedIps")}
    status = _status(200)
    try:
        plain = rsa_oaep_decrypt(emu.keys.private_key("KsefTokenEncryption"), encrypted).decode("utf-8")
    except Exception:
        plain = None
    token_rec = None
    if plain is None or "|" not in plain:
        status = _status(450, "Nieprawidłowy token")
    else:
        token, _, stamp = plain.rpartition("|")
        from .tokens import find_token
        token_rec = find_token(emu, token)
        if stamp != str(challenge_rec["timestampMs"]):
            status = _status(450, "Nieprawidłowy czas tokena")
        elif token_rec is None:
            status = _status(450, "Nieprawidłowy token")
        elif token_rec["status"] in ("Revoked", "Revoking"):
            status = _status(450, "Token unieważniony")
        elif token_rec["status"] != "Active":
            status = _status(450, "Token nieaktywny")
        elif token_rec["contextIdentifier"] != context:
            status = _status(415, "Brak przypisanych uprawnień")
    if token_rec is not None:
        extra.update(ksefTokenReference=token_rec["referenceNumber"],
                     subject={"type": "Token", "value": token_rec["referenceNumber"]},
                     author=token_rec["authorIdentifier"])
        if status["code"] == 200:
            extra["permissions"] = list(token_rec["requestedPermissions"])
            token_rec["lastUseDate"] = time.time()
            emu.state.put("ksef_tokens", token_rec["referenceNumber"], token_rec)
    return _new_operation(emu, "Token", TOKEN_METHOD, context, status, **extra)


def _xades_method(cert):
    from ... import certs
    if certs.is_ksef_issued(cert):
        return "InternalCertificate", {"category": "XadesSignature",
                                       "code": "xades.internal-certificate",
                                       "displayName": "Certyfikat KSeF"}
    kind, _value = certs.certificate_identity(cert)
    if kind == "Pesel":
        return "QualifiedSignature", {"category": "XadesSignature", "code": "xades.qualified-signature",
                                      "displayName": "Podpis kwalifikowany"}
    return "QualifiedSeal", {"category": "XadesSignature", "code": "xades.qualified-seal",
                             "displayName": "Pieczęć kwalifikowana"}


@route("POST", "/auth/xades-signature")
def xades_signature(emu, req):
    from ... import certs, xmlsafe
    from ...errors import CertificateError, XAdESError, XMLSecurityError
    try:
        from ... import xades
    except ImportError:  # pragma: no cover - module of another issue
        raise ApiError(501, detail="Weryfikacja XAdES jest niedostępna w tej instalacji.") from None
    if not req.body:
        raise bad_request(21001, "Brak dokumentu AuthTokenRequest.")
    try:
        xmlsafe.parse(req.body, what="AuthTokenRequest")
    except XMLSecurityError as exc:
        raise bad_request(21001, str(exc)) from None
    try:
        verified = xades.verify_xades(req.body)
    except XAdESError as exc:
        code = getattr(exc, "code", None) or 9105
        raise bad_request(code if code in (9101, 9102, 9103, 9105) else 9105, str(exc)) from None
    root = verified.signed_root
    ns = root.nsmap.get(None) or ""
    if not ns.startswith("http://ksef.mf.gov.pl/auth/token/") or not root.tag.endswith("}AuthTokenRequest"):
        raise bad_request(21401, "Dokument nie jest AuthTokenRequest (ns http://ksef.mf.gov.pl/auth/token/2.0).")
    q = {"a": ns}
    challenge_value = root.findtext("a:Challenge", namespaces=q)
    ctx_el = root.find("a:ContextIdentifier", q)
    subject_type = root.findtext("a:SubjectIdentifierType", namespaces=q)
    if challenge_value is None or ctx_el is None or len(ctx_el) != 1 or subject_type not in (
            "certificateSubject", "certificateFingerprint"):
        raise bad_request(21401, "AuthTokenRequest nie zawiera wymaganych elementów "
                                 "(Challenge, ContextIdentifier, SubjectIdentifierType).")
    ctx_tag = ctx_el[0].tag.split("}")[-1]
    ctx_type = {"Nip": "Nip", "InternalId": "InternalId", "NipVatUe": "NipVatUe",
                "PeppolId": "PeppolId"}.get(ctx_tag)
    if ctx_type is None:
        raise bad_request(21401, "Nieznany typ identyfikatora kontekstu %s." % ctx_tag)
    context = validate_context({"type": ctx_type, "value": (ctx_el[0].text or "").strip()})
    _take_challenge(emu, challenge_value.strip())
    cert = verified.certificate
    method, method_info = _xades_method(cert)
    extra = {"authDocumentHash": sha256_b64(req.body), "certSerial": certs.serial_hex(cert),
             "subjectDn": subject_dn(cert.subject, multi_valued=("givenName",))}
    allowed = root.find("a:AuthorizationPolicy/a:AllowedIps", q)
    if allowed is not None:
        extra["allowedIps"] = {
            "ip4Addresses": [e.text for e in allowed.findall("a:Ip4Address", q)],
            "ip4Ranges": [e.text for e in allowed.findall("a:Ip4Range", q)],
            "ip4Masks": [e.text for e in allowed.findall("a:Ip4Mask", q)]}
    if subject_type == "certificateFingerprint":
        subject = {"type": "Fingerprint", "value": certs.fingerprint_sha256_hex(cert)}
    else:
        kind, value = certs.certificate_identity(cert)
        subject = {"type": kind, "value": value}
    extra["subject"] = subject
    status = _status(200)
    issued = emu.state.get("certs", certs.serial_hex(cert)) if certs.is_ksef_issued(cert) else None
    try:
        certs.check_validity(cert)
    except CertificateError:
        status = _status(460, "Nieważny certyfikat")
    if status["code"] == 200 and certs.certificate_type(cert) == certs.OFFLINE:
        status = _status(460, "Niepoprawny certyfikat")
    if status["code"] == 200 and issued is not None and issued["validTo"] <= time.time():
        status = _status(460, "Nieważny certyfikat")    # validTo shortened (PUT /testdata/...)
    if status["code"] == 200 and issued is not None and issued["status"] != "Active":
        status = _status(460, "Certyfikat odwołany" if issued["status"] == "Revoked"
                         else "Certyfikat zawieszony")
    if status["code"] == 200 and subject_type == "certificateSubject" and subject["type"] == "Fingerprint":
        raise bad_request(21117, "Certyfikat nie zawiera identyfikatora NIP ani PESEL.")
    if status["code"] == 200:
        permissions = emu.permissions_of(context, subject)
        if not permissions:
            status = _status(415, "Brak przypisanych uprawnień")
        extra["permissions"] = permissions
        # permissions granted by the context's owner (an accounting office acting for a client):
        # KSeF invalidates the tokens of this login when they are revoked (emu.authorize)
        extra["grantBased"] = not (context["type"] == "Nip" and subject["type"] == "Nip"
                                   and subject["value"] == context["value"])
        if issued is not None:
            issued["lastUseDate"] = time.time()
            emu.state.put("certs", issued["certificateSerialNumber"], issued)
    return _new_operation(emu, method, method_info, context, status, **extra)


def _operation_view(op, current_ref=None):
    status = op["status"]
    if op.get("revoked"):
        status = _status(425, "Uwierzytelnienie i powiązane refresh tokeny zostały unieważnione "
                              "przez użytkownika")
    elif time.time() < op.get("readyAt", 0):
        status = _status(100)
    view = {"startDate": iso(op["startDate"]), "authenticationMethod": op["authenticationMethod"],
            "authenticationMethodInfo": op["authenticationMethodInfo"], "status": status,
            "isTokenRedeemed": op["isTokenRedeemed"],
            "lastTokenRefreshDate": iso(op["lastTokenRefreshDate"]),
            "refreshTokenValidUntil": iso(op["refreshTokenValidUntil"])}
    if current_ref is not None:
        view["referenceNumber"] = op["referenceNumber"]
        view["isCurrent"] = op["referenceNumber"] == current_ref
    return view


@route("GET", "/auth/{referenceNumber}")
def auth_status(emu, req):
    bearer, op = emu.authorize(req, kind="authentication")
    ref = req.params["referenceNumber"]
    if ref != op["referenceNumber"]:
        raise bad_request(21304, "Operacja uwierzytelniania o numerze referencyjnym %s nie została "
                                 "znaleziona." % ref)
    if op["startDate"] < time.time() - 7 * 24 * 3600:
        raise ApiError(410, detail="Status operacji uwierzytelniania nie jest już dostępny.")
    return json_response(_operation_view(op))


@route("POST", "/auth/token/redeem")
def redeem(emu, req):
    _bearer, op = emu.authorize(req, kind="authentication")
    view_status = _operation_view(op)["status"]["code"]
    if view_status != 200:
        raise bad_request(21301, "Status uwierzytelniania (%s) nie pozwala na pobranie tokenów."
                          % view_status)
    if op["isTokenRedeemed"]:
        raise bad_request(21301, "Tokeny dla operacji uwierzytelniania %s zostały już pobrane."
                          % op["referenceNumber"])
    access, access_until = emu.issue_bearer("access", op["referenceNumber"], op["context"],
                                            emu.access_token_lifetime)
    refresh, refresh_until = emu.issue_bearer("refresh", op["referenceNumber"], op["context"],
                                              emu.refresh_token_lifetime)
    op["isTokenRedeemed"] = True
    op["refreshTokenValidUntil"] = refresh_until
    emu.state.put("auth", op["referenceNumber"], op)
    return json_response({"accessToken": {"token": access, "validUntil": iso(access_until)},
                          "refreshToken": {"token": refresh, "validUntil": iso(refresh_until)}})


def _check_token_still_valid(emu, op):
    if op.get("ksefTokenReference"):
        token_rec = emu.state.get("ksef_tokens", op["ksefTokenReference"])
        if token_rec is None or token_rec["status"] != "Active":
            raise bad_request(21301, "Token KSeF został unieważniony.")


@route("POST", "/auth/token/refresh")
def refresh(emu, req):
    _bearer, op = emu.authorize(req, kind="refresh")
    if op.get("revoked"):
        raise bad_request(21301, "Status uwierzytelniania (425) nie pozwala na odświeżenie tokenu "
                                 "dostępowego.")
    _check_token_still_valid(emu, op)
    access, access_until = emu.issue_bearer("access", op["referenceNumber"], op["context"],
                                            emu.access_token_lifetime)
    op["lastTokenRefreshDate"] = time.time()
    emu.state.put("auth", op["referenceNumber"], op)
    return json_response({"accessToken": {"token": access, "validUntil": iso(access_until)}})


@route("GET", "/auth/sessions")
def auth_sessions(emu, req):
    _bearer, op = emu.authorize(req)
    items = [o for o in emu.state.table("auth").values()
             if o["context"] == op["context"] and o["isTokenRedeemed"] and not o.get("revoked")
             and (o["refreshTokenValidUntil"] or 0) > time.time()]
    items.sort(key=lambda o: o["startDate"], reverse=True)
    page, token = continuation(req, items, default_size=10, min_size=10, max_size=100)
    return json_response({"continuationToken": token,
                          "items": [_operation_view(o, op["referenceNumber"]) for o in page]})


def _revoke_auth(emu, op):
    op["revoked"] = True
    emu.state.put("auth", op["referenceNumber"], op)
    for key, rec in list(emu.state.table("bearer").items()):
        if rec["authRef"] == op["referenceNumber"] and rec["kind"] == "refresh":
            emu.state.delete("bearer", key)


@route("DELETE", "/auth/sessions/current")
def delete_current(emu, req):
    token = req.token()
    rec = emu.state.get("bearer", token_hash(token)) if token else None
    kind = rec["kind"] if rec and rec["kind"] in ("access", "refresh") else "access"
    _bearer, op = emu.authorize(req, kind=kind)
    _revoke_auth(emu, op)
    return empty(204)


@route("DELETE", "/auth/sessions/{referenceNumber}")
def delete_session(emu, req):
    _bearer, current = emu.authorize(req)
    op = emu.state.get("auth", req.params["referenceNumber"])
    if op is None or op["context"] != current["context"]:
        raise bad_request(21304, "Operacja uwierzytelniania o numerze referencyjnym %s nie została "
                                 "znaleziona." % req.params["referenceNumber"])
    _revoke_auth(emu, op)
    return empty(204)

