"""HTTP layer: request/response objects, error bodies, the request handler."""
import json
import logging
import socket
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .common import ApiError, iso, json_bytes, new_trace_id, now

_logger = logging.getLogger(__name__)

API_PREFIX = "/v2"
STORAGE_PREFIX = "/storage"

#: (method, template) -> handler(emu, request) -> Response
HANDLERS = {}


def route(method, template):
    def register(func):
        HANDLERS[(method, template)] = func
        return func
    return register


class Response:
    def __init__(self, status=200, body=b"", content_type="application/json", headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})


def json_response(obj, status=200, headers=None):
    return Response(status, json_bytes(obj), "application/json; charset=utf-8", headers)


def empty(status=204):
    return Response(status, b"", None)


class Request:
    def __init__(self, method, path, query, headers, body, ip):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.ip = ip
        self.template = None
        self.params = {}
        self.trace_id = new_trace_id()
        self.problem = (headers.get("X-Error-Format") or "").lower() == "problem-details"
        self.bearer = None
        self.pending_validation = False  # set by the dispatcher, done by Emulator.authorize()

    def json(self):
        if not self.body:
            raise ApiError(400, 21405, details=["Brak treści żądania (JSON)."])
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, 21405, details=["Treść żądania nie jest poprawnym JSON."]) from None
        if not isinstance(data, dict):
            raise ApiError(400, 21405, details=["Treść żądania musi być obiektem JSON."])
        return data

    def q(self, name, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def q_list(self, name):
        return self.query.get(name) or []

    def token(self):
        value = self.headers.get("Authorization") or ""
        if value[:7].lower() == "bearer ":
            return value[7:].strip()
        return None


def error_response(req, err):
    """Render an ApiError in the format KSeF uses for that status/request."""
    instance = API_PREFIX + (req.path if req else "")
    stamp = iso(now())
    trace = req.trace_id if req else new_trace_id()
    if err.status == 400 and not (req and req.problem):
        body = {"exception": {
            "exceptionDetailList": [{"exceptionCode": err.code,
                                     "exceptionDescription": err.description,
                                     "details": err.details or None}],
            "referenceNumber": None, "serviceCode": trace, "serviceCtx": "srvTEMFB",
            "serviceName": "KSeF emulator", "timestamp": stamp}}
        return Response(400, json_bytes(body), "application/json; charset=utf-8")
    if err.status == 400:
        body = {"title": "Bad Request", "status": 400, "instance": instance,
                "detail": err.description or "Błąd walidacji danych wejściowych.",
                "errors": [{"code": err.code, "description": err.description,
                            "details": err.details}],
                "timestamp": stamp, "traceId": trace}
        return Response(400, json_bytes(body), "application/problem+json")
    titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
              410: "Gone", 500: "Internal Server Error", 501: "Not Implemented",
              503: "Service Unavailable"}
    body = {"title": titles.get(err.status, "Error"), "status": err.status,
            "detail": err.detail, "instance": instance, "timestamp": stamp, "traceId": trace}
    if err.status == 403:
        body["reasonCode"] = err.reason_code or "missing-permissions"
    return Response(err.status, json_bytes(body), "application/problem+json")


def too_many_requests(req, retry_after):
    detail = ("Przekroczono limit żądań dla operacji %s %s. Spróbuj ponownie po %d sekundach."
              % (req.method, req.template, retry_after))
    headers = {"Retry-After": str(int(retry_after))}
    if req.problem:
        body = {"title": "Too Many Requests", "status": 429, "instance": API_PREFIX + req.path,
                "detail": detail, "timestamp": iso(now()), "traceId": req.trace_id}
        return Response(429, json_bytes(body), "application/problem+json", headers)
    body = {"status": {"code": 429, "description": "Too Many Requests", "details": [detail]}}
    return Response(429, json_bytes(body), "application/json; charset=utf-8", headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "KSeFEmulator/2.0"
    # headers and body go out in separate writes; without TCP_NODELAY every answer
    # waits for the client's delayed ACK (~40 ms on loopback)
    disable_nagle_algorithm = True
    emulator = None  # set on the subclass made per server

    def log_message(self, fmt, *args):  # no request logging (URLs may carry nothing secret,
        _logger.debug("%s %s", self.command, self.path.split("?")[0])  # but stay quiet)

    def _serve(self):
        parsed = urllib.parse.urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._write(error_response(None, ApiError(
                400, 21405, details=["Nieprawidłowy nagłówek Content-Length lub Transfer-Encoding."])))
            return
        req = Request(self.command, parsed.path, urllib.parse.parse_qs(parsed.query),
                      self.headers, body, self.client_address[0])
        try:
            outcome = self.emulator._dispatch(req)
        except Exception:  # pragma: no cover - emulator bug: answer 500, never a dropped line
            _logger.exception("emulator failed: %s %s", req.method, req.path)
            outcome = error_response(req, ApiError(500, detail="Nieznany błąd emulatora."))
        if outcome is None:  # drop the connection, no answer
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._write(outcome)

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError(length)
        return self.rfile.read(length) if length else b""

    def _write(self, resp):
        self.send_response(resp.status)
        if resp.content_type:
            self.send_header("Content-Type", resp.content_type)
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if resp.body and self.command != "HEAD":
            self.wfile.write(resp.body)

    def __getattr__(self, name):
        # every method reaches the dispatcher (BaseHTTPRequestHandler answers 501 to a method
        # without a do_<METHOD>): the API answers 405 + Allow on its paths, 404 elsewhere
        if name.startswith("do_") and name[3:].isalpha() and name[3:].isupper():
            return self._serve
        raise AttributeError(name)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: several Odoo workers connecting at once
    # would see refused or timed-out connections
    request_queue_size = 128


def make_server(emulator, host, port):
    handler = type("EmulatorHandler", (_Handler,), {"emulator": emulator})
    return Server((host, port), handler)


def sleep(seconds, stop_event):
    """Sleep that ends early when the emulator stops."""
    if stop_event is not None:
        stop_event.wait(seconds)
    else:  # pragma: no cover
        time.sleep(seconds)
