"""KSeF 2.0 API client: authentication, online sessions, UPO, tokens, certificates.

    client = KSeFClient("TEST")                       # or DEMO, PROD, an Environment, a base URL
    client.authenticate_with_token(nip, ksef_token)
    session = client.open_online_session()
    sent = session.send_invoice(xml_bytes)
    status = session.wait_for_invoice(sent.reference_number).raise_for_rejection()
    upo = client.get_invoice_upo(session.reference_number, sent.reference_number)
    session.close()

Every failure is a typed exception of ``ksef.errors`` whose message says what to do.
"""
import logging
import time
from dataclasses import dataclass

from . import auth, crypto, environments, errors, xmlsafe
from .i18n import Text, _
from .nip import check_nip
from .public_keys import PublicKeyStore
from .records import (
    AuthTokens,
    CertificateInfo,
    EnrollmentStatus,
    InvoiceStatus,
    KSeFCertificate,
    KSeFTokenInfo,
    SessionStatus,
    format_datetime,
    parse_datetime,
    utcnow,
)
from .sessions import OnlineSession, pick_best
from .transport import Transport, TransportOwner

_logger = logging.getLogger(__name__)

#: permissions a KSeF token may carry (TokenPermissionType; CollectiveIdentifierManage since API 2.7)
TOKEN_PERMISSIONS = ("InvoiceRead", "InvoiceWrite", "CredentialsRead", "CredentialsManage",
                     "SubunitManage", "EnforcementOperations", "Introspection",
                     "CollectiveIdentifierManage")
#: what the module needs: send (InvoiceWrite) and download (InvoiceRead) invoices. Either of them
#: also allows the collective identifier operations, so CollectiveIdentifierManage is not asked
#: for by default (an environment still on API 2.6 refuses the unknown value).
DEFAULT_TOKEN_PERMISSIONS = ("InvoiceWrite", "InvoiceRead")
#: tokens made on TEST / the emulator (ksef.bootstrap) also carry the dedicated permission
TEST_TOKEN_PERMISSIONS = DEFAULT_TOKEN_PERMISSIONS + ("CollectiveIdentifierManage",)


def resolve_environment(environment):
    """'TEST'/'DEMO'/'PROD' (any case), an Environment, or a base URL (http[s]://...)."""
    if isinstance(environment, environments.Environment):
        return environment
    text = str(environment or "").strip()
    if text.lower().startswith(("http://", "https://")):
        for env in environments.ENVIRONMENTS.values():
            if env.api_url == text.rstrip("/"):
                return env
        return environments.custom(text)
    try:
        return environments.get(text)
    except ValueError as exc:
        raise errors.KSeFConfigError(_(
            "Unknown KSeF environment %(environment)s: choose TEST, DEMO or PROD (or give the API "
            "base URL)."), params={"environment": repr(environment)}) from exc


#: ceiling for one session UPO page (10,000 Dokument entries are about 6 MB)
SESSION_UPO_MAX_BYTES = 32 * 1024 * 1024


@dataclass
class PendingEnrollment:
    """A certificate request KSeF is processing, resumable in another process.

    ``private_key_pem`` is the key of the certificate to be issued: a secret (the Odoo layer
    stores ``to_dict()`` encrypted)."""

    reference_number: str
    name: str
    cert_type: str
    private_key_pem: bytes
    started_at: object = None

    def to_dict(self):
        return {"reference_number": self.reference_number, "name": self.name,
                "cert_type": self.cert_type, "private_key_pem": self.private_key_pem.decode(),
                "started_at": self.started_at.isoformat() if self.started_at else None}

    @classmethod
    def from_dict(cls, data):
        try:
            return cls(reference_number=data["reference_number"], name=data["name"],
                       cert_type=data["cert_type"],
                       private_key_pem=data["private_key_pem"].encode(),
                       started_at=parse_datetime(data.get("started_at")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise errors.KSeFConfigError(_("The stored certificate request is unreadable; request "
                                           "the certificate again.")) from exc

    def age(self, now=None):
        if self.started_at is None:
            return 0.0
        return ((now or utcnow()) - self.started_at).total_seconds()


class KSeFClient(TransportOwner):
    """One KSeF API connection for one company context (NIP)."""

    def __init__(self, environment, timeout=(5, 30), session=None, max_retries=3,
                 max_retry_after=10.0, refresh_margin=60, auth_timeout=60.0, auth_grace=None):
        self.environment = resolve_environment(environment)
        self.transport = Transport(self.environment.api_url, timeout=timeout, session=session,
                                   max_retries=max_retries, max_retry_after=max_retry_after)
        self.key_store = PublicKeyStore(self.transport)
        self.tokens = None
        self.nip = None
        self.refresh_margin = refresh_margin
        self.auth_timeout = auth_timeout
        self._relogin = None     # re-authenticates with the credentials kept in memory only
        # None: a login waits (polls) until KSeF has checked it (scripts). A number: it looks,
        # pauses once for that many seconds, looks again, and raises KSeFAuthPending when KSeF
        # is still checking (a server worker never sleeps in a loop; resume_login continues)
        self.auth_grace = auth_grace

    @property
    def sleep(self):
        """The one injectable sleep of the client: the transport's (retries and polling)."""
        return self.transport.sleep

    @sleep.setter
    def sleep(self, func):
        self.transport.sleep = func

    @property
    def session(self):
        """The underlying requests.Session (tests install response hooks on it)."""
        return self.transport.session

    def __repr__(self):
        return "KSeFClient(%s, nip=%s)" % (self.environment.api_url, self.nip)

    # --- authentication ------------------------------------------------------------------
    def authenticate_with_token(self, nip, ksef_token, context_type="Nip"):
        """Log in with a KSeF token in the context of ``nip`` -> AuthTokens."""
        nip = check_nip(nip, _("The company NIP (KSeF context)"))
        ksef_token = (ksef_token or "").strip()
        if not ksef_token:
            raise errors.KSeFConfigError(_(
                "The KSeF token is missing. Generate a token in the KSeF taxpayer application "
                "(permissions InvoiceWrite and InvoiceRead) and enter it."))
        ksef_token = auth.check_token_format(ksef_token, nip)
        reference, auth_token = auth.init_token_auth(self.transport, self.key_store, nip, ksef_token,
                                                     context_type)
        self._finish_login(nip, reference, auth_token)
        self._relogin = lambda: self.authenticate_with_token(nip, ksef_token, context_type)
        return self.tokens

    def authenticate_with_certificate(self, nip, cert_bytes=None, key_bytes=None, key_password=None,
                                      credentials=None, subject_identifier_type="certificateSubject",
                                      context_type="Nip"):
        """Log in with XAdES, signing with a KSeF Authentication certificate -> AuthTokens.

        Give ``cert_bytes`` (.crt/.cer/.pem, PEM or DER), ``key_bytes`` (private key, possibly
        encrypted) and ``key_password``, or already loaded ``credentials`` (certs.Credentials).
        """
        nip = check_nip(nip, _("The company NIP (KSeF context)"))
        if credentials is None:
            from . import certs
            credentials = certs.load_credentials(cert_bytes, key_bytes, key_password,
                                                 expected_type="Authentication")
        reference, auth_token = auth.init_xades_auth(self.transport, nip, credentials, context_type,
                                                     subject_identifier_type)
        self._finish_login(nip, reference, auth_token)
        self._relogin = lambda: self.authenticate_with_certificate(
            nip, credentials=credentials, subject_identifier_type=subject_identifier_type,
            context_type=context_type)
        return self.tokens

    def _finish_login(self, nip, reference, auth_token):
        if self.auth_grace is None:
            auth.wait_for_auth(self.transport, reference, auth_token, nip,
                               timeout=self.auth_timeout, sleep=self.sleep)
        else:
            pending = auth.PendingLogin(reference, auth_token, nip, utcnow())
            if not auth.auth_ready(self.transport, pending):
                if self.auth_grace > 0:
                    self.sleep(self.auth_grace)          # one pause, never a loop
                if not auth.auth_ready(self.transport, pending):
                    raise self._auth_pending(pending)
        self.tokens = auth.redeem_tokens(self.transport, auth_token, reference, nip)
        self.nip = nip

    @staticmethod
    def _auth_pending(pending):
        return errors.KSeFAuthPending(_(
            "KSeF is still checking the login (started %(seconds)s s ago). Nothing failed: try "
            "again in a few seconds; scheduled work continues by itself."),
            params={"seconds": "%d" % pending.age()}, pending=pending,
            reference_number=pending.reference_number)

    def resume_login(self, pending):
        """Continue a login KSeF was still checking (``KSeFAuthPending.pending``): one look, then
        the tokens; ``KSeFAuthPending`` again while KSeF checks, ``KSeFAuthError`` if it failed."""
        if not auth.auth_ready(self.transport, pending):
            raise self._auth_pending(pending)
        self.tokens = auth.redeem_tokens(self.transport, pending.authentication_token,
                                         pending.reference_number, pending.nip)
        self.nip = pending.nip
        return self.tokens

    def use_tokens(self, tokens, nip=None):
        """Resume with AuthTokens (or their to_dict()) kept by the caller."""
        if isinstance(tokens, dict):
            tokens = AuthTokens.from_dict(tokens)
        self.tokens = tokens
        self.nip = nip or tokens.context_nip or self.nip
        return tokens

    def relogin_with(self, login):
        """Log in again with ``login()`` (it authenticates this client) when KSeF no longer
        accepts the tokens given to ``use_tokens`` (refresh refused), e.g. after the
        permissions behind them were revoked; without it the refusal is raised."""
        self._relogin = login

    @property
    def is_authenticated(self):
        return self.tokens is not None and not self.tokens.refresh_expires_within(5)

    def refresh_if_needed(self, margin=None):
        """Refresh the access token when it expires within ``margin`` seconds (default 60)."""
        if self.tokens is None:
            raise errors.KSeFConfigError(_(
                "Not connected to KSeF: authenticate (KSeF token or certificate) first."))
        margin = self.refresh_margin if margin is None else margin
        if self.tokens.access_expires_within(margin):
            self.refresh()
        return self.tokens

    def refresh(self):
        """Get a new access token with the refresh token (or log in again when it is no longer valid
        and the credentials are known in this process)."""
        if self.tokens is None:
            raise errors.KSeFConfigError(_(
                "Not connected to KSeF: authenticate (KSeF token or certificate) first."))
        if not self.tokens.refresh_expires_within(5):
            try:
                token, valid_until = auth.refresh_access_token(self.transport, self.tokens.refresh_token)
            except (errors.KSeFUnauthorized, errors.KSeFBadRequest) as exc:
                if self._relogin is None or isinstance(exc, errors.KSeFBadRequest) and \
                        exc.exception_code != 21301:
                    raise
                _logger.info("KSeF refresh refused (%s); logging in again", exc.http_status)
            else:
                self.tokens.access_token = token
                self.tokens.access_valid_until = valid_until
                return self.tokens
        if self._relogin is None:
            raise errors.KSeFUnauthorized(_(
                "The KSeF login has expired (refresh token no longer valid). Connect to KSeF again."),
                http_status=401)
        self._relogin()
        return self.tokens

    def logout(self):
        """End the authentication session (DELETE /auth/sessions/current) and forget the tokens."""
        if self.tokens is None:
            return
        self._relogin = None        # never log in again just to log out
        try:
            self.call("DELETE", "/auth/sessions/current", operation=_("end KSeF authentication session"))
        except errors.KSeFUnauthorized:
            pass    # already expired/revoked: nothing left to end
        finally:
            self.tokens = None

    # --- authenticated calls ---------------------------------------------------------------
    def call(self, method, path, **kwargs):
        """An authenticated request: refreshes the access token when near expiry, and once after a 401."""
        self.refresh_if_needed()
        try:
            return self.transport.request(method, path, token=self.tokens.access_token, **kwargs)
        except errors.KSeFUnauthorized:
            # a 401 means the request was refused before processing: repeating it once is safe
            self.refresh()
            return self.transport.request(method, path, token=self.tokens.access_token, **kwargs)

    def _paged(self, path, items_key, path_params=None, params=None, operation=None, method="GET",
               json=None):
        """Items of every page of a listing paged by ``x-continuation-token``. A POST listing
        (``json`` = the filters, sent again with each page) is read-only: the transport's
        retry table (``transport.RETRYABLE_WRITES``) lists it."""
        token = None
        seen = set()
        while True:
            headers = {"x-continuation-token": token} if token else None
            data = self.call(method, path, path_params=path_params, params=params, headers=headers,
                             json=json, operation=operation).json()
            yield from data.get(items_key) or []
            token = data.get("continuationToken")
            if not token or token in seen:      # a token seen before would loop for ever
                return
            seen.add(token)

    # --- KSeF tokens -------------------------------------------------------------------------
    def generate_ksef_token(self, permissions=DEFAULT_TOKEN_PERMISSIONS,
                            description="Odoo l10n_pl_ksef"):
        """POST /tokens -> (reference_number, token). The token is shown only once: store it."""
        data = self.call("POST", "/tokens", json={"permissions": list(permissions),
                                                  "description": description},
                         operation=_("generate KSeF token")).json()
        return data["referenceNumber"], data["token"]

    def ksef_token_status(self, reference_number):
        data = self.call("GET", "/tokens/{referenceNumber}",
                         path_params={"referenceNumber": reference_number},
                         operation=_("KSeF token status")).json()
        return KSeFTokenInfo.from_json(data)

    def list_ksef_tokens(self, status=None, description=None, page_size=50):
        params = {"pageSize": page_size}
        if status:
            params["status"] = [status] if isinstance(status, str) else list(status)
        if description:
            params["description"] = description
        return [KSeFTokenInfo.from_json(item)
                for item in self._paged("/tokens", "tokens", params=params, operation=_("list KSeF tokens"))]

    def revoke_ksef_token(self, reference_number):
        self.call("DELETE", "/tokens/{referenceNumber}", path_params={"referenceNumber": reference_number},
                  operation=_("revoke KSeF token"))

    def wait_for_ksef_token(self, reference_number, timeout=60.0, poll_interval=0.5):
        """Poll until the token is Active -> KSeFTokenInfo; raise KSeFError if it failed/timed out."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.ksef_token_status(reference_number)
            if info.is_active:
                return info
            if info.status in ("Failed", "Revoking", "Revoked"):
                raise errors.KSeFError(_(
                    "KSeF did not activate the new token (status %(status)s%(details)s). Generate a "
                    "new token."), params={"status": info.status, "details": ": " + "; ".join(
                        info.status_details) if info.status_details else ""},
                    status=info.status)
            if time.monotonic() + poll_interval > deadline:
                raise errors.KSeFTimeoutError(_(
                    "The new KSeF token is still %(status)s after %(seconds)s seconds. Check its "
                    "status later in the KSeF application."),
                    params={"status": info.status, "seconds": "%d" % timeout}, status=info.status)
            self.sleep(poll_interval)

    # --- online sessions ---------------------------------------------------------------------
    def open_online_session(self, form_code=None):
        """POST /sessions/online with a new AES-256 key -> OnlineSession."""
        return OnlineSession.open(self, form_code)

    def resume_online_session(self, data):
        """OnlineSession from OnlineSession.to_dict() (e.g. in the next cron run)."""
        return OnlineSession.from_dict(self, data)

    def session_status(self, reference_number):
        data = self.call("GET", "/sessions/{referenceNumber}",
                         path_params={"referenceNumber": reference_number},
                         operation=_("KSeF session status")).json()
        return SessionStatus.from_json(data, reference_number)

    def invoice_status(self, session_reference_number, invoice_reference_number):
        data = self.call("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}",
                         path_params={"referenceNumber": session_reference_number,
                                      "invoiceReferenceNumber": invoice_reference_number},
                         operation=_("KSeF invoice status")).json()
        return InvoiceStatus.from_json(data, session_reference_number)

    def wait_for_invoice(self, session_reference_number, invoice_reference_number, timeout=60.0,
                         poll_interval=1.0):
        """Poll until the invoice status is final or ``timeout``; returns the last InvoiceStatus
        (check ``is_final``; call ``raise_for_rejection()`` to turn failures into exceptions)."""
        deadline = time.monotonic() + timeout
        interval = min(0.2, poll_interval)
        while True:
            status = self.invoice_status(session_reference_number, invoice_reference_number)
            if status.is_final or time.monotonic() + interval > deadline:
                return status
            self.sleep(interval)
            interval = min(poll_interval, interval * 2)

    def session_invoices(self, session_reference_number, page_size=100, failed=False):
        """All invoices of a session (paged by continuation token) -> [InvoiceStatus]."""
        path = "/sessions/{referenceNumber}/invoices" + ("/failed" if failed else "")
        return [InvoiceStatus.from_json(item, session_reference_number)
                for item in self._paged(path, "invoices",
                                        path_params={"referenceNumber": session_reference_number},
                                        params={"pageSize": page_size},
                                        operation=_("list KSeF session invoices"))]

    def list_session_invoices(self, session_reference_number, failed_only=False, page_size=1000):
        """All invoices (or only the failed ones) of a session, 1000 per request -> [InvoiceStatus]."""
        return self.session_invoices(session_reference_number, page_size=page_size, failed=failed_only)

    # --- batch sessions (ksef/batch.py) ------------------------------------------------------
    def open_batch_session(self, files, offline_mode=False, part_size=None, form_code=None):
        """ZIP, encrypt and split ``files`` ([(file name, XML bytes)] or {name: XML}) and open a
        batch session -> batch.BatchSession, nothing uploaded yet: store its ``to_dict()``
        (encrypted: it holds the AES key) before ``upload()``, ``close()``, ``status()``..."""
        from .batch import MAX_PART_SIZE, BatchSession
        return BatchSession.open(self, files, offline_mode=offline_mode,
                                 part_size=part_size or MAX_PART_SIZE, form_code=form_code)

    def resume_batch_session(self, state):
        """batch.BatchSession from BatchSession.to_dict() (or from a reference number alone:
        close, status, invoices and UPO then work, uploads do not)."""
        from .batch import BatchSession
        return BatchSession.from_dict(self, state)

    def send_batch(self, invoices, offline_mode=False, **kwargs):
        """Send {file name: XML bytes} in one batch session (open, upload, close) ->
        batch.BatchResult (see ksef.batch.BatchSession)."""
        from .batch import send_batch
        return send_batch(self, invoices, offline_mode=offline_mode, **kwargs)

    def find_invoice(self, invoice_hash, session_refs, page_size=100):
        """Does KSeF hold an invoice with this SHA-256 (Base64) in these sessions? -> InvoiceStatus|None.

        Used to settle a send that timed out without sending twice. The best match is returned:
        accepted (``ksef_number``) > duplicate 440 (``original_ksef_number``) > still processing >
        rejected. ``status.held_ksef_number`` is the KSeF number KSeF holds it under, if any.
        """
        if isinstance(session_refs, str):
            session_refs = [session_refs]
        matches = []
        for reference in session_refs or ():
            try:
                invoices = self.session_invoices(reference, page_size=page_size)
            except errors.KSeFBadRequest as exc:
                if exc.exception_code == 21173:      # unknown session: nothing sent there
                    continue
                raise
            for listed in invoices:
                if listed.invoice_hash == invoice_hash:
                    if listed.reference_number and not listed.is_final:   # get the freshest status
                        listed = self.invoice_status(reference, listed.reference_number)  # noqa: PLW2901
                    matches.append(listed)
            if any(s.is_success for s in matches):
                break
        return pick_best(matches)

    # --- collective identifiers (ksef/collective.py) ----------------------------------------
    def generate_collective_identifier(self, invoices, max_invoices=None):
        """One collective identifier for several invoices of one seller -> its number (str).

        ``invoices``: 2..500 (the context's limit) items, each a KSeF number or a dict/object
        with ``ksef_number``, optional ``description`` (<= 512 characters) and optional
        ``amount`` + ``currency`` (what the transfer pays for it). Checked locally first
        (CollectiveIdentifierRequestError; CollectiveDuplicateInvoice and
        CollectiveInvoicesOfDifferentSellers for 71005/71004). Never repeated blindly: see
        ``collective.generate_collective_identifier``.
        """
        from . import collective
        return collective.generate_collective_identifier(self, invoices, max_invoices)

    def find_collective_identifier(self, ksef_numbers, created_after=None):
        """The identifier created in this context for exactly these invoices, or None."""
        from . import collective
        return collective.find_collective_identifier(self, ksef_numbers, created_after)

    def query_collective_identifiers(self, date_from, date_to=None, number=None,
                                     created_in_current_context=None, invoice_count_from=None,
                                     invoice_count_to=None, page_size=100):
        """Identifiers created from ``date_from`` to ``date_to`` (at most 100 days; dates are whole
        days in Polish time) -> [collective.CollectiveIdentifier], newest first, all pages."""
        from . import collective
        return collective.query_collective_identifiers(
            self, date_from, date_to, number, created_in_current_context, invoice_count_from,
            invoice_count_to, page_size)

    def collective_identifiers_of_invoice(self, ksef_number, page_size=100):
        """Identifiers that contain the invoice -> [collective.CollectiveIdentifier]."""
        from . import collective
        return collective.collective_identifiers_of_invoice(self, ksef_number, page_size)

    def collective_identifier_invoices(self, numbers, page_size=500):
        """Invoices (with amounts) of one or more identifiers -> [collective.CollectiveIdentifierInvoice];
        more than 10 identifiers are asked for in several calls of 10."""
        from . import collective
        return collective.collective_identifier_invoices(self, numbers, page_size)

    def collective_identifier_max_invoices(self):
        """How many invoices one identifier may group in this context (default 500)."""
        from . import collective
        return collective.collective_identifier_max_invoices(self)

    # --- UPO ---------------------------------------------------------------------------------
    def _checked_upo(self, response, what, max_bytes=xmlsafe.DEFAULT_MAX_BYTES):
        content = response.content
        expected = response.headers.get("x-ms-meta-hash")
        if expected and crypto.sha256_b64(content) != expected.strip():
            raise errors.KSeFTransportError(_(
                "The %(what)s downloaded from KSeF is damaged (hash mismatch). Download it again."),
                params={"what": what},
                what=what)
        xmlsafe.parse(content, max_bytes=max_bytes, what=what)
        return content

    def get_invoice_upo(self, session_ref, invoice_ref=None, ksef_number=None):
        """The UPO (official receipt, XML bytes) of one invoice, by invoice reference or KSeF number."""
        session_reference_number, invoice_reference_number = session_ref, invoice_ref
        if invoice_reference_number:
            path = "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo"
            params = {"referenceNumber": session_reference_number,
                      "invoiceReferenceNumber": invoice_reference_number}
        elif ksef_number:
            path = "/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo"
            params = {"referenceNumber": session_reference_number, "ksefNumber": ksef_number}
        else:
            raise errors.KSeFConfigError(_("Give the invoice reference number or the KSeF number of "
                                           "the invoice whose UPO is wanted."))
        response = self.call("GET", path, path_params=params, accept="application/xml",
                             operation=_("download invoice UPO"))
        return self._checked_upo(response, _("invoice UPO"))

    def get_session_upo(self, session_reference_number, upo_reference_number):
        """One page of the session UPO (XML bytes)."""
        response = self.call("GET", "/sessions/{referenceNumber}/upo/{upoReferenceNumber}",
                             path_params={"referenceNumber": session_reference_number,
                                          "upoReferenceNumber": upo_reference_number},
                             accept="application/xml", operation=_("download session UPO"))
        # a page lists up to 10,000 documents (about 600 bytes each)
        return self._checked_upo(response, _("session UPO"), max_bytes=SESSION_UPO_MAX_BYTES)

    def get_session_upos(self, session_reference_number):
        """All pages of the session UPO (after close, when the session status is 200) -> [bytes]."""
        status = self.session_status(session_reference_number)
        return [self.get_session_upo(session_reference_number, page.reference_number)
                for page in status.upo_pages]

    # --- invoices stored in KSeF -------------------------------------------------------------------
    def download_invoice(self, ksef_number, max_bytes=5 * 1024 * 1024):
        """GET /invoices/ksef/{ksefNumber} -> the invoice XML exactly as stored in KSeF (bytes).

        The x-ms-meta-hash header (when present) is checked, and the XML is parsed safely.
        """
        response = self.call("GET", "/invoices/ksef/{ksefNumber}", path_params={"ksefNumber": ksef_number},
                             accept="application/xml",
                             operation=Text(_("download invoice %(number)s"), {"number": ksef_number}))
        content = response.content
        expected = response.headers.get("x-ms-meta-hash")
        if expected and crypto.sha256_b64(content) != expected.strip():
            raise errors.KSeFTransportError(_(
                "The invoice %(number)s downloaded from KSeF is damaged (hash mismatch). Download it "
                "again."), params={"number": ksef_number}, ksef_number=ksef_number)
        xmlsafe.parse(content, max_bytes=max_bytes, what="invoice %s" % ksef_number)
        return content

    # --- certificates ---------------------------------------------------------------------------
    def get_certificate_limits(self):
        return self.call("GET", "/certificates/limits", operation=_("KSeF certificate limits")).json()

    def get_enrollment_data(self):
        return self.call("GET", "/certificates/enrollments/data",
                         operation=_("KSeF certificate enrollment data")).json()

    def enroll_certificate(self, name, cert_type, csr_der_b64, valid_from=None):
        """POST /certificates/enrollments -> reference number of the request."""
        if isinstance(csr_der_b64, bytes):
            csr_der_b64 = csr_der_b64.decode("ascii")
        body = {"certificateName": name, "certificateType": cert_type, "csr": csr_der_b64}
        if valid_from is not None:
            body["validFrom"] = format_datetime(valid_from)
        return self.call("POST", "/certificates/enrollments", json=body,
                         operation=_("KSeF certificate enrollment")).json()["referenceNumber"]

    def enrollment_status(self, reference_number):
        data = self.call("GET", "/certificates/enrollments/{referenceNumber}",
                         path_params={"referenceNumber": reference_number},
                         operation=_("KSeF certificate enrollment status")).json()
        return EnrollmentStatus.from_json(data)

    def wait_for_enrollment(self, reference_number, timeout=120.0, poll_interval=1.0):
        """Poll until issued (scripts); a server worker uses poll_certificate_enrollment."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.enrollment_status(reference_number)
            if status.is_success:
                return status
            if status.is_final:
                raise self._enrollment_refused(status)
            if time.monotonic() + poll_interval > deadline:
                raise errors.KSeFTimeoutError(_(
                    "KSeF has not issued the certificate within %(seconds)s seconds. Check the "
                    "request %(reference)s later."),
                    params={"seconds": "%d" % timeout, "reference": reference_number},
                    reference_number=reference_number)
            self.sleep(poll_interval)

    @staticmethod
    def _enrollment_refused(status):
        return errors.CertificateError(_(
            "KSeF refused the certificate request (status %(code)s: %(description)s"
            "%(details)s). Check the certificate limits and the request data, then try "
            "again."), params={"code": status.code, "description": status.description,
                               "details": " - " + "; ".join(status.details)
                               if status.details else ""},
            status_code=status.code, details=status.details)

    def begin_certificate_enrollment(self, name, cert_type="Offline", key_type="ec",
                                     valid_from=None):
        """Generate a key + CSR and send the request -> PendingEnrollment; nothing waits.

        Keep ``to_dict()`` (it holds the new private key: store it encrypted) and call
        ``poll_certificate_enrollment`` now or in a later run."""
        from . import certs
        data = self.get_enrollment_data()
        private_key = certs.new_private_key(key_type)
        csr_der = certs.make_csr(data, private_key)
        reference = self.enroll_certificate(name, cert_type, crypto.b64encode(csr_der), valid_from)
        return PendingEnrollment(reference_number=reference, name=name, cert_type=cert_type,
                                 private_key_pem=certs.private_key_to_pem(private_key),
                                 started_at=utcnow())

    def poll_certificate_enrollment(self, pending):
        """One look at ``pending`` -> the certificate (DER) once KSeF issued it, None while it
        is still working; ``CertificateError`` when KSeF refused the request."""
        status = self.enrollment_status(pending.reference_number)
        if not status.is_success:
            if status.is_final:
                raise self._enrollment_refused(status)
            return None
        found = self.retrieve_certificates([status.certificate_serial_number])
        if not found:
            raise errors.KSeFServerError(_(
                "KSeF issued certificate %(serial)s but did not return it. Retrieve it later by its "
                "serial number."), params={"serial": status.certificate_serial_number},
                serial_number=status.certificate_serial_number)
        return found[0].certificate_der

    def retrieve_certificates(self, serial_numbers):
        """POST /certificates/retrieve -> [KSeFCertificate] (DER)."""
        data = self.call("POST", "/certificates/retrieve",
                         json={"certificateSerialNumbers": list(serial_numbers)},
                         operation=_("retrieve KSeF certificates")).json()
        return [KSeFCertificate(item["certificateSerialNumber"], item.get("certificateName"),
                                item.get("certificateType"), crypto.b64decode(item["certificate"]))
                for item in data.get("certificates") or []]

    def query_certificates(self, status=None, cert_type=None, name=None, serial_number=None,
                           expires_after=None, page_size=50):
        """POST /certificates/query (all pages) -> [CertificateInfo]."""
        body = {}
        if status:
            body["status"] = status
        if cert_type:
            body["type"] = cert_type
        if name:
            body["name"] = name
        if serial_number:
            body["certificateSerialNumber"] = serial_number
        if expires_after is not None:
            body["expiresAfter"] = format_datetime(expires_after)
        result = []
        offset = 0
        while True:
            data = self.call("POST", "/certificates/query", json=body,
                             params={"pageSize": page_size, "pageOffset": offset},
                             operation=_("query KSeF certificates")).json()
            result.extend(CertificateInfo.from_json(item) for item in data.get("certificates") or [])
            if not data.get("hasMore"):
                return result
            offset += 1

    def revoke_certificate(self, serial_number, reason="Unspecified"):
        self.call("POST", "/certificates/{certificateSerialNumber}/revoke",
                  path_params={"certificateSerialNumber": serial_number},
                  json={"revocationReason": reason},
                  operation=_("revoke KSeF certificate"))

    def enroll_offline_certificate(self, name, key_type="ec", timeout=120.0, valid_from=None,
                                   cert_type="Offline"):
        """Generate a key + CSR, enroll, wait, retrieve -> (certificate_der, private_key).

        Waits (polls) for KSeF: for scripts; a server worker uses begin_certificate_enrollment /
        poll_certificate_enrollment. Needs a login with a signature/certificate (KSeF refuses
        enrollment for token logins). The private key never leaves this process; store it
        encrypted.
        """
        from . import certs
        pending = self.begin_certificate_enrollment(name, cert_type, key_type, valid_from)
        self.wait_for_enrollment(pending.reference_number, timeout=timeout)
        return (self.poll_certificate_enrollment(pending),
                certs.load_private_key(pending.private_key_pem))



__all__ = ["KSeFClient", "PendingEnrollment", "OnlineSession", "AuthTokens", "InvoiceStatus", "SessionStatus",
           "resolve_environment", "utcnow"]
