"""KSeF 2.0 authentication: challenge -> KSeF token or XAdES -> poll -> redeem -> refresh.

Low-level steps working on a ``Transport``; ``ksef.client.KSeFClient`` strings
them together and keeps the tokens.
"""
import re
import time
from dataclasses import dataclass

from . import crypto, errors
from .i18n import Text, _
from .public_keys import KSEF_TOKEN_ENCRYPTION
from .records import AuthStatus, AuthTokens, parse_datetime, utcnow

AUTH_PENDING = 100
AUTH_SUCCESS = 200

_AUTH_MESSAGES = {
    415: _("This token/certificate has no permissions in the context of NIP %(nip)s: grant it the needed "
         "permissions (e.g. InvoiceWrite, InvoiceRead) in KSeF for that company, or use credentials "
         "of that company, then connect again."),
    425: _("The authentication was revoked by the user. Connect to KSeF again."),
    450: _("The KSeF token is invalid, revoked or belongs to another company: generate a new token in "
         "the KSeF taxpayer application and connect again."),
    460: _("KSeF refused the certificate (invalid, expired, revoked, suspended or not trusted): use a "
         "valid KSeF certificate of type Authentication (generate a new one in the KSeF taxpayer "
         "application if needed) and connect again."),
    470: _("KSeF refused the authentication: the person identified by the credentials is recorded as "
         "deceased. Use credentials of an authorised person."),
    480: _("KSeF blocked the authentication because of a security incident. Contact the KSeF helpdesk."),
    500: _("KSeF failed with an unknown error during authentication. Try again later."),
    550: _("KSeF cancelled the authentication. Connect again."),
}


def auth_error(status, nip):
    """KSeFAuthError for a failed auth status, with a message saying what to do."""
    hint = _AUTH_MESSAGES.get(
        status.code, _("KSeF authentication failed. Check the credentials and connect again."))
    detail = "; ".join(status.details)
    return errors.KSeFAuthError(
        _("KSeF authentication failed (status %(code)s: %(description)s%(detail)s). %(hint)s"),
        params={"code": status.code, "description": status.description or _("no description"),
                "detail": " - %s" % detail if detail else "", "hint": Text(hint, {"nip": nip})},
        status_code=status.code, description=status.description, details=list(status.details))


def get_challenge(transport):
    """POST /auth/challenge -> dict(challenge, timestamp, timestampMs, clientIp)."""
    response = transport.request("POST", "/auth/challenge",
                                 operation=_("KSeF authentication challenge"))
    return response.json()


_TOKEN_RE = re.compile(r"^(?P<reference>[0-9A-Za-z-]{10,64})\|(?P<context>[A-Za-z]+-[0-9A-Za-z-]+)"
                       r"\|(?P<secret>[0-9A-Fa-f]{32,128})$")


def check_token_format(ksef_token, nip=None):
    """Refuse, before contacting KSeF, what cannot be a KSeF token: KSeF tokens have three parts
    separated by "|" (reference | context, e.g. nip-5265877635 | hexadecimal secret). A token
    made in the context of another NIP is refused with both NIPs named. Returns the token."""
    token = (ksef_token or "").strip()
    match = _TOKEN_RE.match(token)
    if not match:
        raise errors.KSeFConfigError(_(
            "This is not a KSeF token: a KSeF token has three parts separated by \"|\" (its "
            "reference, the context such as nip-1234567890, and a long hexadecimal secret), "
            "about 100 characters in all. Copy the whole token again from the KSeF application "
            "(it is shown only once; if it is lost, generate a new one)."))
    context = match.group("context")
    if nip and context.lower().startswith("nip-") and context[4:] != nip:
        raise errors.KSeFConfigError(_(
            "This KSeF token was generated for NIP %(token_nip)s, but the company's NIP is "
            "%(nip)s. Generate a token in the context of NIP %(nip)s, or check the company's "
            "tax ID."), params={"token_nip": context[4:], "nip": nip})
    return token


def encrypt_ksef_token(ksef_token, timestamp_ms, public_key):
    """RSA-OAEP-SHA256 of ``"<token>|<timestampMs>"`` (Base64)."""
    plain = ("%s|%d" % (ksef_token, int(timestamp_ms))).encode("utf-8")
    return crypto.b64encode(crypto.rsa_oaep_encrypt(public_key, plain))


def init_token_auth(transport, key_store, nip, ksef_token, context_type="Nip"):
    """Challenge + POST /auth/ksef-token -> (referenceNumber, authenticationToken)."""
    def attempt(key):
        challenge = get_challenge(transport)
        body = {
            "challenge": challenge["challenge"],
            "contextIdentifier": {"type": context_type, "value": nip},
            "encryptedToken": encrypt_ksef_token(ksef_token, challenge["timestampMs"], key.public_key),
            "publicKeyId": key.public_key_id,
        }
        return transport.request("POST", "/auth/ksef-token", json=body,
                                 operation=_("KSeF token authentication")).json()
    data = key_store.call_with_key(KSEF_TOKEN_ENCRYPTION, attempt)
    return data["referenceNumber"], data["authenticationToken"]["token"]


def init_xades_auth(transport, nip, credentials, context_type="Nip",
                    subject_identifier_type="certificateSubject"):
    """Challenge + signed AuthTokenRequest + POST /auth/xades-signature -> (ref, authenticationToken)."""
    from . import xades
    challenge = get_challenge(transport)
    request_xml = xades.build_auth_token_request(challenge["challenge"], context_type, nip,
                                                 subject_identifier_type)
    signed = xades.sign_xades(request_xml, credentials.certificate, credentials.private_key)
    data = transport.request("POST", "/auth/xades-signature", data=signed,
                             content_type="application/xml",
                             operation=_("KSeF certificate (XAdES) authentication")).json()
    return data["referenceNumber"], data["authenticationToken"]["token"]


def get_auth_status(transport, reference_number, authentication_token):
    response = transport.request("GET", "/auth/{referenceNumber}",
                                 path_params={"referenceNumber": reference_number},
                                 token=authentication_token, operation=_("KSeF authentication status"))
    return AuthStatus.from_json(response.json())


@dataclass
class PendingLogin:
    """A login KSeF is still checking. ``authentication_token`` is a short-lived secret: keep
    it in memory (the Odoo layer does), never in logs."""

    reference_number: str
    authentication_token: str
    nip: str
    started_at: object = None

    def age(self, now=None):
        if self.started_at is None:
            return 0.0
        return ((now or utcnow()) - self.started_at).total_seconds()

    def __repr__(self):
        return "PendingLogin(%s, nip=%s)" % (self.reference_number, self.nip)


def auth_ready(transport, pending):
    """One look at a login -> True once KSeF authenticated it, False while it checks;
    raises KSeFAuthError when it failed."""
    status = get_auth_status(transport, pending.reference_number, pending.authentication_token)
    if status.code == AUTH_SUCCESS:
        return True
    if status.code != AUTH_PENDING:
        raise auth_error(status, pending.nip)
    return False


def wait_for_auth(transport, reference_number, authentication_token, nip, timeout=60.0,
                  poll_interval=0.25, max_poll_interval=2.0, sleep=time.sleep):
    """Poll GET /auth/{ref} until 200; raise KSeFAuthError on a failure status or timeout."""
    deadline = time.monotonic() + timeout
    interval = poll_interval
    while True:
        status = get_auth_status(transport, reference_number, authentication_token)
        if status.code == AUTH_SUCCESS:
            return status
        if status.code != AUTH_PENDING:
            raise auth_error(status, nip)
        if time.monotonic() + interval > deadline:
            raise errors.KSeFAuthError(_(
                "KSeF has not finished the authentication within %(seconds)s seconds (it may be "
                "checking the certificate online). Try to connect again in a few minutes."),
                params={"seconds": "%d" % timeout},
                status_code=status.code, description=status.description, details=status.details)
        sleep(interval)
        interval = min(max_poll_interval, interval * 1.5)


def redeem_tokens(transport, authentication_token, reference_number="", context_nip=""):
    """POST /auth/token/redeem (once only) -> AuthTokens."""
    data = transport.request("POST", "/auth/token/redeem", token=authentication_token,
                             operation=_("KSeF token redeem")).json()
    return AuthTokens(access_token=data["accessToken"]["token"],
                      access_valid_until=parse_datetime(data["accessToken"]["validUntil"]),
                      refresh_token=data["refreshToken"]["token"],
                      refresh_valid_until=parse_datetime(data["refreshToken"]["validUntil"]),
                      reference_number=reference_number, context_nip=context_nip)


def refresh_access_token(transport, refresh_token):
    """POST /auth/token/refresh -> (access_token, valid_until). Safe to repeat."""
    data = transport.request("POST", "/auth/token/refresh", token=refresh_token,
                             operation=_("KSeF access token refresh")).json()
    return data["accessToken"]["token"], parse_datetime(data["accessToken"]["validUntil"])
