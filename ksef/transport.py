"""HTTP transport of the KSeF client: one requests.Session, timeouts, typed errors, safe retries.

Every HTTP call of the client goes through here: the KSeF API (``Transport.request``, path
templates of the OpenAPI) and the storage URLs KSeF hands out for batch part uploads and export
part downloads (``Transport.request_url``, absolute URLs, never with the access token).

Retry policy (one table, ``RETRYABLE_WRITES``; ``may_retry(method, template)``):
- every GET/HEAD is read-only and is retried on connection failures, timeouts, 5xx and 429;
- a write (POST/PUT/DELETE) is retried only when ``RETRYABLE_WRITES`` lists it, with the reason
  repeating it cannot do anything twice; a POST that creates something (an authentication, a
  session, an invoice send, a close, a token, a certificate request, a collective identifier)
  is never listed, so never repeated: a timeout, or a connection error after the request may
  have been sent, raises KSeFTimeoutError (outcome unknown) so the caller can check before
  acting again; a connection error before anything was sent raises KSeFTransportError;
- a ``Retry-After`` is honoured up to ``max_retry_after`` seconds; a longer one raises
  KSeFRateLimited at once so a cron can reschedule instead of sleeping;
- the waits between attempts go through ``Transport.sleep`` (injectable; the client's polling
  uses the same one).
"""
import json as jsonlib
import logging
import random
import socket
import time
from urllib.parse import quote

import requests

from . import errors
from .i18n import Text, _

_logger = logging.getLogger(__name__)

USER_AGENT = "l10n_pl_ksef (Odoo) KSeF 2.0 client"
RETRYABLE_STATUSES = (429, 500, 502, 503, 504)

#: the template of the absolute storage URLs KSeF returns (batch part uploads, export parts)
STORAGE_URL = "{storage URL}"

#: The one table of the writes the transport may repeat by itself: (method, path template) ->
#: why repeating it cannot do anything twice. GET/HEAD are always retried (read-only). Never
#: listed, so never repeated blindly: POST /auth/ksef-token, /auth/xades-signature,
#: /auth/token/redeem (once only), /sessions/online, /sessions/batch (a second session),
#: /sessions/online/{referenceNumber}/invoices (a second send), the two session closes (the
#: caller settles a lost close from the session status), /tokens, /certificates/enrollments,
#: /collective-identifiers, DELETE /auth/sessions/current, and everything not named here.
RETRYABLE_WRITES = {
    ("POST", "/auth/challenge"): "a fresh challenge; an unused one expires and binds nothing",
    ("POST", "/auth/token/refresh"): "a new access token for the same refresh token; nothing is created",
    ("POST", "/invoices/query/metadata"): "a read-only query (the filters travel in the body)",
    ("POST", "/invoices/exports"): "prepares a temporary package of invoices already in KSeF; a "
                                   "package whose answer was lost is never downloaded",
    ("POST", "/certificates/retrieve"): "a read-only query",
    ("POST", "/certificates/query"): "a read-only query",
    ("POST", "/certificates/{certificateSerialNumber}/revoke"): "a revoked certificate stays revoked",
    ("POST", "/collective-identifiers/query"): "a read-only query",
    ("POST", "/collective-identifiers/invoices"): "a read-only query",
    ("DELETE", "/tokens/{referenceNumber}"): "a revoked token stays revoked",
    ("PUT", STORAGE_URL): "a batch part upload overwrites the same blob until the session is closed",
}


def may_retry(method, template):
    """May the transport repeat ``method template`` by itself? (GET/HEAD or RETRYABLE_WRITES)"""
    method = method.upper()
    return method in ("GET", "HEAD") or (method, template) in RETRYABLE_WRITES

_KNOWN_CODE_HINTS = {
    21111: _("The authentication challenge is invalid or expired; connect to KSeF again."),
    21155: _("The session reached its invoice limit; the next invoice will be sent in a new session."),
    21173: _("The KSeF session does not exist; open a new session."),
    21180: _("The KSeF session no longer accepts this operation (closed or expired); open a new session."),
    21301: _("KSeF refused the authorisation (tokens already redeemed, or the KSeF token was revoked); "
           "connect to KSeF again, with a new token if it was revoked."),
    21304: _("The authentication operation is unknown to KSeF; connect again."),
    21402: _("The invoice size sent does not match its content; this is a program error, report it."),
    21403: _("The invoice hash sent does not match its content; this is a program error, report it."),
    21418: _("The paging token is invalid; start the listing again."),
    21470: _("The ministry's public key used is unknown or withdrawn; the keys will be downloaded again."),
    26001: _("A KSeF token cannot be given permissions its creator does not have; log in with a "
           "certificate/signature of the company owner to create it."),
    26002: _("A KSeF token cannot be created in this context; log in with a certificate/signature."),
    71001: _("An invoice is unknown to KSeF or cannot be put in a collective identifier in this "
           "company's context (only invoices the company issued, received or is named on can be "
           "grouped); check the KSeF numbers."),
    71002: _("An invoice already belongs to the maximum number of collective identifiers (132); "
           "pay it with its own KSeF number or with an identifier that already contains it."),
    71004: _("The invoices of one collective identifier must all be issued by the same seller; "
           "make one identifier (and one transfer) per seller."),
    71005: _("The same KSeF number is listed twice; list each invoice once."),
}

_FORBIDDEN_HINTS = {
    "missing-permissions": _("The KSeF user has no permission for this operation in this company's "
                           "context: grant it in the KSeF taxpayer application (e.g. InvoiceWrite, "
                           "InvoiceRead) and try again."),
    "ip-not-allowed": _("KSeF does not accept requests from this server's IP address (authorisation "
                      "policy); allow the IP or connect again without an IP restriction."),
    "insufficient-resource-access": _("This KSeF session/resource belongs to another authentication; "
                                    "open a new session."),
    "auth-method-not-allowed": _("This operation is not allowed for the way you logged in (e.g. a KSeF "
                               "token); log in with a KSeF certificate or a qualified signature."),
    "security-service-blocked": _("KSeF's security service blocked the request; contact the KSeF "
                                "helpdesk."),
    "context-type-not-allowed": _("This operation is not allowed in this kind of context."),
}


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def parse_retry_after(value):
    """Retry-After header -> seconds (float) or None (only delay-seconds is used by KSeF)."""
    if value in (None, ""):
        return None
    try:
        return max(0.0, float(str(value).strip()))
    except ValueError:
        from email.utils import parsedate_to_datetime
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, moment.timestamp() - time.time())


def error_from_response(response, operation=""):
    """Build the typed KSeFAPIError for an HTTP error response (not raised here)."""
    status = response.status_code
    body = None
    text = ""
    try:
        text = response.text or ""
        body = jsonlib.loads(text) if text.strip() else None
    except ValueError:
        body = None
    errors_list = []          # (code, description, details)
    description = None
    reference_number = None
    reason_code = None
    if isinstance(body, dict):
        if isinstance(body.get("exception"), dict):                       # ExceptionResponse
            exc = body["exception"]
            reference_number = exc.get("referenceNumber")
            for item in exc.get("exceptionDetailList") or []:
                errors_list.append((item.get("exceptionCode"), item.get("exceptionDescription") or "",
                                    _as_list(item.get("details"))))
        if isinstance(body.get("errors"), list):                          # problem+json 400
            for item in body["errors"]:
                if isinstance(item, dict):
                    errors_list.append((item.get("code"), item.get("description") or "",
                                        _as_list(item.get("details"))))
        if isinstance(body.get("status"), dict):                          # legacy 429
            legacy = body["status"]
            description = legacy.get("description")
            if legacy.get("details"):
                errors_list.append((legacy.get("code"), description or "", _as_list(legacy["details"])))
        if body.get("detail") or body.get("title"):
            description = body.get("detail") or body.get("title")
        reason_code = body.get("reasonCode")
        reference_number = reference_number or body.get("referenceNumber")
    exception_code = errors_list[0][0] if errors_list else None
    details = errors_list[0][2] if errors_list else []
    if errors_list and errors_list[0][1]:
        description = errors_list[0][1] if not description or status == 400 else description
    if not description:
        description = (text.strip()[:300] if text and body is None else "") or response.reason or ""
    retry_after = parse_retry_after(response.headers.get("Retry-After"))

    what = " (%s)" % operation if operation else ""
    summary = "; ".join(
        "%s%s%s" % ("[%s] " % code if code is not None else "", desc,
                    " - %s" % ", ".join(det) if det else "")
        for code, desc, det in errors_list) or description
    params = {"what": what, "summary": summary, "description": description, "status": status}
    if status == 400:
        try:
            code = int(exception_code) if exception_code is not None else None
        except (TypeError, ValueError):
            code = None
        cls = errors.BAD_REQUEST_CLASSES.get(code, errors.KSeFBadRequest)
        params["hint"] = Text(_KNOWN_CODE_HINTS.get(exception_code, _("Correct the data and try again.")))
        message = _("KSeF rejected the request%(what)s: %(summary)s. %(hint)s")
    elif status == 401:
        cls = errors.KSeFUnauthorized
        message = _("KSeF refused the access token%(what)s (missing, expired or revoked): "
                    "%(description)s. Connect to KSeF again.")
    elif status == 403:
        cls = errors.KSeFForbidden
        params["hint"] = Text(_FORBIDDEN_HINTS.get(
            reason_code, _("Check the KSeF permissions of the user in this company's context.")))
        message = _("KSeF denied access%(what)s: %(description)s. %(hint)s")
    elif status == 404:
        cls = errors.KSeFNotFound
        message = _("KSeF does not know this resource%(what)s (HTTP 404): %(description)s. Check "
                    "the reference.")
    elif status == 410:
        cls = errors.KSeFGone
        message = _("KSeF no longer keeps the status of this operation%(what)s: %(description)s. "
                    "Start the operation again.")
    elif status == 429:
        cls = errors.KSeFRateLimited
        params["wait"] = "%d" % (int(round(retry_after)) if retry_after is not None else 60)
        message = _("KSeF's request limit was reached%(what)s; it will be retried after %(wait)s "
                    "seconds (nothing was processed).")
    elif status == 503:
        cls = errors.KSeFUnavailable
        message = _("KSeF is unavailable%(what)s (maintenance or failure): %(description)s. Try "
                    "again later; if it lasts, check the KSeF status announcements and use the "
                    "offline mode.")
    elif status >= 500:
        cls = errors.KSeFServerError
        message = _("KSeF failed on its side%(what)s (HTTP %(status)s): %(description)s. Try again "
                    "later; nothing needs to be changed locally.")
    else:
        cls = errors.KSeFAPIError
        message = _("KSeF answered HTTP %(status)s%(what)s: %(description)s.")
    return cls(message, params=params, http_status=status, exception_code=exception_code,
               description=description, details=details, errors=errors_list,
               reference_number=reference_number, retry_after=retry_after,
               body=body if body is not None else text, reason_code=reason_code)


def _iter_causes(exc):
    seen = set()
    stack = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
        stack.extend(arg for arg in getattr(item, "args", ()) if isinstance(arg, BaseException))


def connection_failed_before_sending(exc):
    """True when a requests.ConnectionError happened before the request was sent
    (DNS failure, connection refused, connect timeout)."""
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    if isinstance(exc, requests.ConnectTimeout):
        return True
    for cause in _iter_causes(exc):
        if isinstance(cause, (NewConnectionError, ConnectTimeoutError, ConnectionRefusedError,
                              socket.gaierror)):
            return True
    return False


def connection_problem(exc):
    """What went wrong with a connection, as a translatable phrase for the user (never a Python
    class name): DNS, refused, TLS, proxy, connect timeout, an invalid address."""
    from urllib3.exceptions import ConnectTimeoutError
    causes = list(_iter_causes(exc))
    if isinstance(exc, requests.exceptions.SSLError):
        return Text(_("a secure connection (TLS) could not be established: the server's "
                      "certificate or the system's certificate store is not accepted"))
    if isinstance(exc, requests.exceptions.ProxyError):
        return Text(_("the proxy server refused or broke the connection"))
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return Text(_("the KSeF address is not a valid URL"))
    if any(isinstance(c, socket.gaierror) for c in causes) or "Name or service not known" in str(exc) \
            or "getaddrinfo" in str(exc) or "Temporary failure in name resolution" in str(exc):
        return Text(_("the server's name could not be resolved (DNS)"))
    if any(isinstance(c, ConnectionRefusedError) for c in causes) or "Connection refused" in str(exc):
        return Text(_("the connection was refused (nothing answers at that address)"))
    # urllib3 1.x: NewConnectionError (refused, DNS) is a ConnectTimeoutError too: checked last
    if isinstance(exc, requests.ConnectTimeout) or any(isinstance(c, ConnectTimeoutError)
                                                       for c in causes):
        return Text(_("the server did not accept the connection in time"))
    if isinstance(exc, requests.ConnectionError):
        return Text(_("the network connection failed"))
    return Text(_("the HTTP request could not be made"))


class Transport:
    """Sends requests to one KSeF API base URL (and the storage URLs it hands out) and turns
    failures into typed exceptions."""

    def __init__(self, base_url="", timeout=(5, 30), session=None, max_retries=3,
                 max_retry_after=10.0, backoff=0.5, max_backoff=8.0, user_agent=USER_AGENT):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.max_retries = max(0, int(max_retries))
        self.max_retry_after = max_retry_after
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.user_agent = user_agent
        self.sleep = time.sleep          # every wait of the client (replaceable in tests/benchmarks)

    def url_for(self, path, path_params=None):
        if path_params:
            path = path.format(**{k: quote(str(v), safe="") for k, v in path_params.items()})
        return self.base_url + path

    def _backoff_delay(self, attempt):
        delay = min(self.max_backoff, self.backoff * (2 ** attempt))
        return delay * (0.75 + random.random() * 0.5)

    def request(self, method, path, *, path_params=None, params=None, json=None, data=None,
                content_type=None, headers=None, token=None, accept=None, timeout=None,
                operation=None):
        """Send one API request and return the requests.Response (retried per RETRYABLE_WRITES).

        ``path`` is the OpenAPI template (e.g. "/sessions/{referenceNumber}"), filled from
        ``path_params``; it is also the key of the retry table. ``token`` is the bearer JWT.
        Non-2xx answers raise KSeFAPIError subclasses; network failures KSeFTransportError /
        KSeFTimeoutError.
        """
        method = method.upper()
        send_headers = {
            "User-Agent": self.user_agent,
            "X-Error-Format": "problem-details",
            "Accept": accept or "application/json",
        }
        if token:
            send_headers["Authorization"] = "Bearer %s" % token
        if content_type:
            send_headers["Content-Type"] = content_type
        if headers:
            send_headers.update(headers)
        body = None
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            send_headers.setdefault("Content-Type", "application/json")
        elif data is not None:
            body = data
        return self._send(method, self.url_for(path, path_params), retry=may_retry(method, path),
                          operation=operation or "%s %s" % (method, path), params=params, data=body,
                          headers=send_headers, timeout=timeout)

    def request_url(self, method, url, *, data=None, headers=None, timeout=None, operation=None,
                    allow_redirects=False):
        """Send one request to an absolute URL (a storage URL KSeF returned: batch part upload,
        export part download) with exactly ``headers`` (and the User-Agent), never the access
        token. Same timeouts, typed errors and retry policy as ``request``; the retry table key
        is ``(method, STORAGE_URL)``."""
        method = method.upper()
        send_headers = {"User-Agent": self.user_agent}
        send_headers.update({str(k): str(v) for k, v in (headers or {}).items() if v is not None})
        return self._send(method, url, retry=may_retry(method, STORAGE_URL),
                          operation=operation or "%s storage URL" % method, data=data,
                          headers=send_headers, timeout=timeout, allow_redirects=allow_redirects)

    def _send(self, method, url, *, retry, operation, params=None, data=None, headers=None,
              timeout=None, allow_redirects=False):
        attempts = (self.max_retries + 1) if retry else 1
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, params=params, data=data,
                                                headers=headers, timeout=timeout or self.timeout,
                                                allow_redirects=allow_redirects)
            except requests.ConnectionError as exc:
                before = connection_failed_before_sending(exc)
                if attempt + 1 < attempts:
                    self._wait(attempt, None, operation, "connection error")
                    attempt += 1
                    continue
                if before:
                    raise errors.KSeFTransportError(_(
                        "KSeF could not be reached (%(operation)s): %(error)s. Check the "
                        "network/internet connection and the KSeF address, then try again; nothing "
                        "was sent."), params={"operation": operation, "error": connection_problem(exc)},
                        operation=operation, sent=False) from exc
                raise errors.KSeFTimeoutError(_(
                    "The connection to KSeF broke after the request was sent (%(operation)s). The "
                    "operation may or may not have been carried out; it will be checked before any "
                    "retry."), params={"operation": operation}, operation=operation, sent=True) from exc
            except requests.Timeout as exc:
                if attempt + 1 < attempts:
                    self._wait(attempt, None, operation, "timeout")
                    attempt += 1
                    continue
                raise errors.KSeFTimeoutError(_(
                    "KSeF did not answer in time (%(operation)s). The operation may or may not have "
                    "been carried out; it will be checked before any retry."),
                    params={"operation": operation},
                    operation=operation, sent=True) from exc
            except requests.RequestException as exc:
                raise errors.KSeFTransportError(_(
                    "The request to KSeF failed (%(operation)s): %(error)s. Check the network and "
                    "the KSeF address."), params={"operation": operation, "error": connection_problem(exc)},
                    operation=operation) from exc
            warning = response.headers.get("X-System-Warning")
            if warning:
                _logger.warning("KSeF system warning on %s: %s", operation, warning[:1000])
            if response.status_code < 400:
                return response
            error = error_from_response(response, operation)
            if response.status_code in RETRYABLE_STATUSES and attempt + 1 < attempts:
                if (error.retry_after is not None and self.max_retry_after is not None
                        and error.retry_after > self.max_retry_after):
                    raise error      # do not sleep for minutes: the caller reschedules
                self._wait(attempt, error.retry_after, operation, "HTTP %s" % response.status_code)
                attempt += 1
                continue
            raise error

    def _wait(self, attempt, retry_after, operation, why):
        delay = retry_after if retry_after is not None else self._backoff_delay(attempt)
        if self.max_retry_after is not None:
            delay = min(delay, self.max_retry_after)
        _logger.info("KSeF %s on %s; retrying in %.1f s", why, operation, delay)
        if delay > 0:
            self.sleep(delay)

    def close(self):
        self.session.close()


class TransportOwner:
    """``close()`` and the with-statement for objects that own a Transport (``self.transport``)."""

    def close(self):
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
