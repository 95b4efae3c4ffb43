"""The Emulator object: lifecycle, dispatch (faults, availability, rate limits, auth), test helpers."""
import ipaddress
import logging
import secrets
import threading
import time

from ..fa3.schema import SHIPPED_SCHEMA_DIR
from . import handlers  # noqa: F401  (importing the package registers every route)
from .common import ApiError, iso, make_reference, now, token_hash
from .contract import documented_error, requires_token, validate_request
from .faults import Faults
from .handlers.batch import serve_upload
from .handlers.exports import serve_download
from .handlers.sessions import advance, serve_storage
from .handlers.tokens import create_token, revoke_token
from .keys import KeyRing
from .ratelimits import RateLimiter
from .routes import Router
from .seed import seed_incoming_invoices, seed_raw_invoice
from .server import (
    API_PREFIX,
    HANDLERS,
    STORAGE_PREFIX,
    error_response,
    json_response,
    make_server,
    sleep,
    too_many_requests,
)
from .store import Store
from .verify import serve_verification

LATARNIA_PREFIX = "/latarnia"
#: KOD I / KOD II verification pages (verify.py): the emulator is its own QR host
VERIFY_PREFIXES = ("/invoice/", "/certificate/")

_logger = logging.getLogger(__name__)
_NO_FAULT = object()

ALL_PERMISSIONS = ["InvoiceRead", "InvoiceWrite", "CredentialsRead", "CredentialsManage",
                   "SubunitManage", "EnforcementOperations", "Introspection",
                   "CollectiveIdentifierManage"]


class Emulator:
    """A local KSeF 2.0 API (TEST-like behaviour). See notes/CONTRACT.md."""

    def __init__(self, schema_dir=None, rate_limits="off", db_path=None, processing_delay=0.0,
                 access_token_lifetime=900, refresh_token_lifetime=7 * 24 * 3600,
                 authentication_token_lifetime=45 * 60, auth_delay=0.0, session_lifetime=12 * 3600):
        # FA(3) XSD checks of received invoices: None = the schema shipped in ksef/fa3/xsd (on by
        # default, compiled once per process), a folder = that schema, False = no XSD check
        self.schema_dir = SHIPPED_SCHEMA_DIR if schema_dir is None else (schema_dir or None)
        self.processing_delay = float(processing_delay or 0)
        self.access_token_lifetime = access_token_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self.authentication_token_lifetime = authentication_token_lifetime
        self.auth_delay = float(auth_delay or 0)
        self.session_lifetime = session_lifetime
        self.lock = threading.RLock()
        self.router = Router()
        self.rate_limiter = RateLimiter(self.router, rate_limits)
        self.faults = Faults()
        self.counters = {}
        self.unavailable = False
        self.state = Store(db_path)
        self.keys = KeyRing(self.state)
        # purchase side (exports, HWM) and batch sessions: tests lower these to stay fast
        self.hwm_fixed = None              # None: HWM = now - hwm_lag; see advance_hwm()
        self.hwm_lag = 0.0
        self.query_record_cap = 10000      # POST /invoices/query/metadata truncation
        self.export_invoice_cap = 10000    # invoices per export package
        self.export_size_cap = 1024 ** 3   # compressed bytes per export package
        self.export_part_size = 50 * 1024 * 1024
        self.export_delay = 0.0            # seconds an export stays "100 running"
        self.latarnia = {}                 # availability service: event id -> [versions]
        self.enrollment_delay = 0.0        # seconds a certificate request stays "100"
        self.batch_max_uncompressed = 2 * 1024 ** 3
        # collective identifiers: identifiers one context may put an invoice in (KSeF: 132)
        self.collective_max_identifiers_per_invoice = 132
        self.blobs = {}                    # uploaded batch parts, export parts (memory only)
        self.exports = {}
        self._server = None
        self._thread = None
        self._stop = threading.Event()
        self.url = None
        self.root_url = None

    # --- lifecycle -----------------------------------------------------------
    def start(self, host="127.0.0.1", port=0):
        self._stop.clear()
        self._server = make_server(self, host, port)
        real_host, real_port = self._server.server_address[:2]
        self.root_url = "http://%s:%d" % (real_host, real_port)
        self.url = self.root_url + API_PREFIX
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True,
                                        name="ksef-emulator")
        self._thread.start()
        return self.url

    def stop(self):
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self.lock:
            self.state.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- test helpers ----------------------------------------------------------
    def reset_counters(self):
        with self.lock:
            self.counters.clear()

    def set_unavailable(self, flag=True):
        self.unavailable = bool(flag)

    def set_rate_limits(self, profile):
        with self.lock:
            self.rate_limiter.set_profile(profile)

    def expire_access_tokens(self):
        """Every access token issued so far becomes expired (401 on use)."""
        with self.lock:
            past = time.time() - 1
            for key, rec in list(self.state.table("bearer").items()):
                if rec["kind"] == "access" and rec["validUntil"] > past:
                    rec["validUntil"] = past
                    self.state.put("bearer", key, rec)

    def revoke_ksef_token(self, token_or_reference):
        with self.lock:
            ref = token_or_reference.split("|", 1)[0]
            return revoke_token(self, ref)

    def make_ksef_token(self, nip, permissions=("InvoiceWrite", "InvoiceRead"),
                        description="Token created by the emulator for tests"):
        with self.lock:
            _ref, token = create_token(self, {"type": "Nip", "value": nip},
                                       {"type": "Nip", "value": nip}, list(permissions),
                                       description)
            return token

    # --- purchase side --------------------------------------------------------------
    def advance_hwm(self, moment=None):
        """Make everything stored so far final: the PermanentStorageHwmDate becomes ``moment``
        (default now) and stays there until the next call (so invoices stored later are
        beyond the HWM). Returns the HWM as an aware datetime."""
        import datetime
        with self.lock:
            if moment is None:
                value = time.time()
            elif isinstance(moment, datetime.datetime):
                value = moment.timestamp()
            else:
                value = float(moment)
            self.hwm_fixed = value
            return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)

    def release_hwm(self):
        """Back to the default moving HWM (now - hwm_lag)."""
        self.hwm_fixed = None

    def seed_incoming_invoices(self, buyer_nip, count, sellers=None, start=None, offline_late=0,
                               lines=3, seed=None):
        """Create ``count`` FA(3) purchase invoices issued TO ``buyer_nip`` by valid seller NIPs
        (``sellers`` or generated), stored as sent by those sellers (KSeF numbers, UPO, metadata),
        acquired evenly between ``start`` (datetime; default shortly before now) and now. The last
        ``offline_late`` ones are offline invoices with an issue date (P_1) 2-4 weeks ago that
        reach KSeF now. Rates 23/8/5/zw, some KOR corrections of earlier ones, some paid.
        Returns their KSeF numbers."""
        with self.lock:
            return seed_incoming_invoices(self, buyer_nip, count, sellers=sellers, start=start,
                                          offline_late=offline_late, lines=lines, seed=seed)

    def seed_raw_invoice(self, buyer_nip, xml_bytes, seller_nip=None, invoice_number=None):
        """Store ``xml_bytes`` unchecked (e.g. hostile XML) as an invoice to ``buyer_nip``
        -> KSeF number."""
        with self.lock:
            return seed_raw_invoice(self, buyer_nip, xml_bytes, seller_nip, invoice_number)

    def revoke_permissions(self, context_nip, identifier_type, identifier_value, permissions=None):
        """Take back permissions (all when ``permissions`` is None) of a subject in a NIP context;
        the tokens of its logins in that context stop working once it holds none."""
        with self.lock:
            key = "%s|%s|%s" % (context_nip, identifier_type, identifier_value)
            rec = self.state.get("grants", key)
            if rec is None:
                return
            rec["permissions"] = sorted(set(rec["permissions"]) - set(permissions or rec["permissions"]))
            if rec["permissions"]:
                self.state.put("grants", key, rec)
            else:
                self.state.delete("grants", key)

    def grant_permissions(self, context_nip, identifier_type, identifier_value, permissions):
        """Like POST /testdata/permissions: give a subject permissions in a NIP context."""
        with self.lock:
            key = "%s|%s|%s" % (context_nip, identifier_type, identifier_value)
            rec = self.state.get("grants", key) or {"context": context_nip, "type": identifier_type,
                                                    "value": identifier_value, "permissions": []}
            rec["permissions"] = sorted(set(rec["permissions"]) | set(permissions))
            self.state.put("grants", key, rec)

    # --- dispatch -----------------------------------------------------------------
    # --- the ministry's availability service (Latarnia) ------------------------------------
    def announce_outage(self, category, start, end=None, title="", text=""):
        """Publish an outage message (category MAINTENANCE / FAILURE / TOTAL_FAILURE; start and
        end as epoch seconds) -> its event id."""
        with self.lock:
            event_id = len(self.latarnia) + 1
            kind = "MAINTENANCE_ANNOUNCEMENT" if category == "MAINTENANCE" else "FAILURE_START"
            self.latarnia[event_id] = [{"category": category, "type": kind, "start": start,
                                        "end": end, "title": title or category,
                                        "text": text or title or category,
                                        "published": time.time()}]
            return event_id

    def update_outage(self, event_id, start=None, end=None):
        """A new version of an event: moved (start/end changed) or ended (FAILURE_END)."""
        with self.lock:
            versions = self.latarnia[event_id]
            last = dict(versions[-1])
            if start is not None:
                last["start"] = start
            if end is not None:
                last["end"] = end
                if last["category"] != "MAINTENANCE":
                    last["type"] = "FAILURE_END"
            last["published"] = time.time()
            versions.append(last)

    def _latarnia_messages(self):
        out = []
        for event_id, versions in sorted(self.latarnia.items()):
            for version, item in enumerate(versions, 1):
                out.append({"id": "%d-%d" % (event_id, version), "eventId": event_id,
                            "category": item["category"], "type": item["type"],
                            "title": item["title"], "text": item["text"],
                            "start": iso(item["start"]),
                            "end": iso(item["end"]) if item["end"] else None,
                            "version": version, "published": iso(item["published"])})
        return out

    def _latarnia_status(self):
        moment = time.time()
        current = []
        for event_id, versions in sorted(self.latarnia.items()):
            item = versions[-1]
            if item["start"] <= moment and (not item["end"] or item["end"] > moment):
                current.append((event_id, item))
        order = ("TOTAL_FAILURE", "FAILURE", "MAINTENANCE")
        status = next((c for c in order if any(i["category"] == c for _e, i in current)),
                      "AVAILABLE")
        ids = {event_id for event_id, _item in current}
        messages = [m for m in self._latarnia_messages() if m["eventId"] in ids]
        return {"status": status, "messages": messages}

    def _serve_latarnia(self, req):
        path = req.path[len(LATARNIA_PREFIX):]
        if path not in ("/status", "/messages"):
            return error_response(req, ApiError(404, detail="Nieznany adres Latarni."))
        if req.method != "GET":
            response = error_response(req, ApiError(405, detail="Dozwolone: GET."))
            response.headers["Allow"] = "GET"
            return response
        self._count("GET", LATARNIA_PREFIX + path)
        fault = self.faults.take("GET", LATARNIA_PREFIX + path)
        early = self._fault_response(req, fault)
        if early is not _NO_FAULT:
            return early
        with self.lock:
            body = self._latarnia_status() if path == "/status" else self._latarnia_messages()
        return json_response(body)

    def _dispatch(self, req):
        """Return a Response, or None to drop the connection without answering."""
        if req.path.startswith(LATARNIA_PREFIX + "/"):
            return self._serve_latarnia(req)
        if req.path.startswith(VERIFY_PREFIXES):
            return serve_verification(self, req)
        if req.path.startswith(STORAGE_PREFIX + "/"):
            kind = req.path[len(STORAGE_PREFIX) + 1:].split("/", 1)[0]
            serve, req.template = {
                "batch": (serve_upload, STORAGE_PREFIX + "/batch/{referenceNumber}/{ordinalNumber}"),
                "export": (serve_download, STORAGE_PREFIX + "/export/{referenceNumber}/{ordinalNumber}"),
            }.get(kind, (serve_storage, STORAGE_PREFIX + "/upo/{id}"))
            self._count(req.method, req.template)
            fault = self.faults.take(req.method, req.template)
            early = self._fault_response(req, fault)
            if early is not _NO_FAULT:
                return early
            try:
                with self.lock:
                    response = serve(self, req)
            except ApiError as err:
                response = error_response(req, err)
            if fault is not None and fault.kind == "drop_after_accept":
                return None
            return response
        if not req.path.startswith(API_PREFIX + "/") and req.path != API_PREFIX:
            return error_response(req, ApiError(404, detail="Nieznany adres (API jest pod /v2)."))
        req.path = req.path[len(API_PREFIX):] or "/"
        template, params = self.router.match(req.method, req.path)
        if template is None:
            if not params:
                return error_response(req, ApiError(404, detail="Brak operacji %s %s."
                                                    % (req.method, req.path)))
            # the path exists, not with this method (TRACE, HEAD, OPTIONS, another verb): 405
            allowed = ", ".join(self.router.methods(params))
            response = error_response(req, ApiError(405, detail="Metoda %s nie jest dozwolona dla "
                                                    "%s; dozwolone: %s." % (req.method, req.path,
                                                                            allowed)))
            response.headers["Allow"] = allowed
            return response
        req.template, req.params = template, params
        self._count(req.method, template)
        fault = self.faults.take(req.method, template)
        early = self._fault_response(req, fault)
        if early is not _NO_FAULT:
            return early
        if self.unavailable:
            return error_response(req, ApiError(
                503, detail="KSeF jest niedostępny (awaria lub prace serwisowe). Spróbuj później."))
        handler = HANDLERS.get((req.method, template))
        with self.lock:
            context = self._peek_context(req)
            retry = self.rate_limiter.check(req.method, template, context, req.ip)
            if retry is not None:
                return too_many_requests(req, retry)
            if handler is None:
                return error_response(req, ApiError(501, detail="Operacja %s %s nie jest "
                                                    "zaimplementowana w emulatorze."
                                                    % (req.method, template)))
            try:
                # as in KSeF, the bearer token (401) and its permissions (403) are checked before
                # the request's content (400): for an operation behind a token the content is
                # validated when the handler has authorized the request (authorize())
                if requires_token(req.method, template):
                    self._require_bearer(req)
                    req.pending_validation = True
                else:
                    validate_request(req, req.method, template)
                advance(self)
                response = handler(self, req)
            except ApiError as err:
                response = error_response(req, documented_error(err, req.method, template))
            except Exception:  # pragma: no cover - emulator bug
                _logger.exception("emulator handler failed: %s %s", req.method, template)
                response = error_response(req, ApiError(500, detail="Nieznany błąd emulatora."))
        if fault is not None and fault.kind == "drop_after_accept":
            return None
        return response

    def _fault_response(self, req, fault):
        """What an injected fault answers before the handler runs: a Response, None (drop the
        connection), or _NO_FAULT (go on; ``slow`` has waited, ``drop_after_accept`` drops the
        handler's answer afterwards)."""
        if fault is None:
            return _NO_FAULT
        if fault.kind in ("http500", "http503"):
            status = 500 if fault.kind == "http500" else 503
            return error_response(req, ApiError(status, detail=fault.params.get(
                "detail", "Błąd serwera (wstrzyknięty przez emulator).")))
        if fault.kind == "http429":
            return too_many_requests(req, fault.params.get("retry_after", 2))
        if fault.kind == "slow":
            sleep(fault.params.get("seconds", 1.0), self._stop)
        if fault.kind == "timeout":
            sleep(fault.params.get("seconds", 120.0), self._stop)
            return None
        return _NO_FAULT

    def _count(self, method, template):
        key = "%s %s" % (method, template)
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + 1

    def _peek_context(self, req):
        token = req.token()
        if not token:
            return None
        rec = self.state.get("bearer", token_hash(token))
        return rec["context"]["value"] if rec else None

    # --- bearer tokens -------------------------------------------------------------
    def issue_bearer(self, kind, auth_ref, context, lifetime):
        """Create an opaque JWT-shaped token; only its hash is stored."""
        import base64
        import json

        def seg(obj):
            raw = json.dumps(obj, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")
        valid_until = time.time() + lifetime
        claims = {"typ": kind, "ref": auth_ref, "ctx": "%s:%s" % (context["type"], context["value"]),
                  "exp": int(valid_until), "jti": secrets.token_hex(8), "iss": "ksef-emulator"}
        token = "%s.%s.%s" % (seg({"alg": "none", "typ": "JWT"}), seg(claims),
                              base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="))
        self.state.put("bearer", token_hash(token), {
            "kind": kind, "authRef": auth_ref, "context": context, "validUntil": valid_until,
            "issued": time.time()})
        return token, valid_until

    def _require_bearer(self, req):
        """401 before any validation when the request carries no live bearer token of any kind
        (the operation's handler then checks its kind and permissions)."""
        token = req.token()
        if not token:
            raise ApiError(401, detail="Brak tokena uwierzytelniającego (nagłówek Authorization).")
        rec = self.state.get("bearer", token_hash(token))
        if rec is None:
            raise ApiError(401, detail="Nieprawidłowy token uwierzytelniający.")
        if rec["validUntil"] <= time.time():
            raise ApiError(401, detail="Token uwierzytelniający wygasł.")

    def authorize(self, req, kind="access", permissions=None):
        """Validate the bearer token of ``req``; return (bearer record, auth record).

        ``permissions``: any one of them is required (403 missing-permissions otherwise).
        """
        token = req.token()
        if not token:
            raise ApiError(401, detail="Brak tokena uwierzytelniającego (nagłówek Authorization).")
        rec = self.state.get("bearer", token_hash(token))
        if rec is None or rec["kind"] != kind:
            raise ApiError(401, detail="Nieprawidłowy token uwierzytelniający.")
        if rec["validUntil"] <= time.time():
            raise ApiError(401, detail="Token uwierzytelniający wygasł.")
        auth = self.state.get("auth", rec["authRef"])
        if auth is None:
            raise ApiError(401, detail="Nieprawidłowy token uwierzytelniający.")
        if kind == "access" and auth.get("allowedIps") and not _ip_allowed(req.ip, auth["allowedIps"]):
            raise ApiError(403, reason_code="ip-not-allowed",
                           detail="Adres IP %s nie jest dozwolony dla tego tokena." % req.ip)
        held = auth.get("permissions") or []
        if auth.get("grantBased") and kind in ("access", "refresh"):
            # "tokens are invalidated when the permissions are lost": a login that holds its
            # permissions by grant (an office in a client's context) has what is granted now
            held = self.permissions_of(auth["context"], auth["subject"])
            if not held:
                raise ApiError(401, detail="Token unieważniony: uprawnienia w tym kontekście "
                                           "zostały odebrane.")
        if permissions and not set(permissions) & set(held):
            raise ApiError(403, reason_code="missing-permissions",
                           detail="Brak wymaganych uprawnień: %s." % ", ".join(permissions))
        req.bearer = rec
        if getattr(req, "pending_validation", False):
            req.pending_validation = False
            validate_request(req, req.method, req.template)
        return rec, auth

    def permissions_of(self, context, subject):
        """Permissions of ``subject`` ({type, value}) in ``context`` on TEST."""
        if context["type"] == "Nip" and subject["type"] == "Nip" and subject["value"] == context["value"]:
            return list(ALL_PERMISSIONS)
        key = "%s|%s|%s" % (context["value"], subject["type"], subject["value"])
        grant = self.state.get("grants", key)
        return list(grant["permissions"]) if grant else []

    def new_reference(self, kind):
        return make_reference(kind, now())


def _ip_allowed(ip, allowed):
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for item in allowed.get("ip4Addresses") or []:
        if ip == item:
            return True
    for item in allowed.get("ip4Ranges") or []:
        low, _, high = item.partition("-")
        if ipaddress.ip_address(low) <= addr <= ipaddress.ip_address(high):
            return True
    for item in allowed.get("ip4Masks") or []:
        if addr in ipaddress.ip_network(item, strict=False):
            return True
    return False
