"""The emulator against the official OpenAPI, over real HTTP (regressions of the schemathesis run,
ksef/tests/run_schemathesis.sh; no schemathesis needed here).

* every path of the spec the emulator implements: each method the spec does not define there
  gets 405 with an ``Allow`` listing exactly the spec's methods (a concrete path wins over a
  templated one: GET /auth/challenge is not GET /auth/{referenceNumber});
* request parameters and JSON bodies are validated against the spec's schemas (400, KSeF's
  ExceptionResponse, code 21405 with the reasons); the embedded contract equals the spec;
* a rate limit of 0, a chunked body and a broken Content-Length get answers, never a dropped
  connection.
"""
import http.client
import json
import os
import re
import urllib.parse

import pytest

from ksef.emulator.contract import CONTRACT_FILE, build_contract
from ksef.emulator.routes import OPERATIONS
from ksef.emulator.server import HANDLERS

from .conftest import OPENAPI_FILE, load_openapi_document

ALL_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT",
               "PROPFIND")
pytestmark = pytest.mark.skipif(not os.path.exists(OPENAPI_FILE), reason="official OpenAPI absent")


def _raw(emulator, method, path, body=None, headers=None):
    parts = urllib.parse.urlsplit(emulator.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, parts.path + path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _implemented_paths():
    """{spec path: set of spec methods} for every path with an operation the emulator serves."""
    document = load_openapi_document()
    served = {t for (m, t) in HANDLERS if t.startswith("/")}
    paths = {}
    for path, item in document["paths"].items():
        if path in served:
            paths[path] = {m.upper() for m in item if m.upper() in ALL_METHODS}
    return paths


def _concrete(path):
    # a value per parameter that no concrete sibling path has (so the templated path matches)
    return re.sub(r"\{[^}]+\}", "20250101-SO-0000000000-0000000000-00", path)


def test_every_undefined_method_on_every_implemented_path_is_405_with_allow(emulator):
    paths = _implemented_paths()
    assert len(paths) >= 55
    checked = 0
    for path, methods in sorted(paths.items()):
        for method in ALL_METHODS:
            if method in methods:
                continue
            status, headers, body = _raw(emulator, method, _concrete(path))
            assert status == 405, (method, path, status, body[:200])
            assert headers.get("Allow") == ", ".join(sorted(methods)), (method, path, headers)
            if method != "HEAD":
                problem = json.loads(body)
                assert problem["status"] == 405 and headers["Content-Type"].startswith(
                    "application/problem+json")
            checked += 1
    assert checked > 500


@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/auth/challenge", "POST"),             # not GET /auth/{referenceNumber}
    ("GET", "/auth/ksef-token", "POST"),
    ("GET", "/auth/xades-signature", "POST"),
    ("DELETE", "/auth/sessions", "GET"),
    ("GET", "/sessions/online", "POST"),            # not GET /sessions/{referenceNumber}
    ("GET", "/sessions/batch", "POST"),
    ("TRACE", "/tokens", "GET, POST"),
])
def test_a_concrete_path_wins_over_a_templated_one(emulator, method, path, allow):
    status, headers, _body = _raw(emulator, method, path)
    assert (status, headers.get("Allow")) == (405, allow)


def test_embedded_contract_is_the_official_spec():
    with open(CONTRACT_FILE, encoding="utf-8") as handle:
        embedded = json.load(handle)
    built = build_contract(load_openapi_document(), [(m, t) for m, t, _g, _l in OPERATIONS])
    assert json.loads(json.dumps(built)) == embedded


def _validation_error(status, headers, body):
    assert status == 400, body[:300]
    assert headers["Content-Type"].startswith("application/json")
    detail = json.loads(body)["exception"]["exceptionDetailList"][0]
    assert detail["exceptionCode"] == 21405
    return " ".join(detail["details"] or [])


@pytest.mark.parametrize("method,path,body,reason", [
    # query parameters: int32 range, minimum, type
    ("POST", "/certificates/query?pageOffset=2147483648", {}, "pageOffset"),
    ("POST", "/invoices/query/metadata?pageSize=5", {
        "subjectType": "Subject1", "dateRange": {"dateType": "Issue",
                                                 "from": "2025-09-01T00:00:00Z"}}, "pageSize"),
    ("POST", "/certificates/query?pageOffset=abc", {}, "pageOffset"),
    # bodies: wrong type, enum, maximum, nested item, required
    ("POST", "/testdata/subject", {"subjectNip": 5265877635, "subjectType": "VatGroup",
                                   "description": "x"}, "subjectNip"),
    ("POST", "/testdata/permissions", {
        "contextIdentifier": {"type": "Nip", "value": "5265877635"},
        "authorizedIdentifier": {"type": "Nip", "value": "7762811692"},
        "permissions": [{"permissionType": "NoSuchPermission", "description": "x"}]},
     "permissionType"),
    ("POST", "/collective-identifiers/query", {"invoiceCountTo": 2147483648}, "invoiceCountTo"),
    ("POST", "/testdata/context/block", {"contextIdentifier": "5265877635"}, "contextIdentifier"),
    ("POST", "/testdata/attachment", {}, "nip"),
])
def test_requests_violating_the_schema_are_400_21405(emulator, method, path, body, reason):
    from ksef.bootstrap import obtain_test_token
    from ksef.client import KSeFClient
    client = KSeFClient(emulator.url)
    client.authenticate_with_token("5265877635", obtain_test_token(emulator.url, "5265877635"))
    headers = {"Authorization": "Bearer " + client.tokens.access_token,
               "Content-Type": "application/json"}
    status, response_headers, answer = _raw(emulator, method, path, json.dumps(body), headers)
    assert reason in _validation_error(status, response_headers, answer)


def test_rate_limit_of_zero_answers_429_not_a_dropped_connection(emulator):
    emulator.set_rate_limits({"default": (0, 10, 10)})  # 0 per second, others set
    try:
        status, headers, _body = _raw(emulator, "GET", "/tokens",
                                      headers={"Authorization": "Bearer x"})
        assert status == 429 and int(headers["Retry-After"]) >= 1
    finally:
        emulator.set_rate_limits("off")


def test_chunked_body_is_read_and_broken_length_is_400(emulator):
    parts = urllib.parse.urlsplit(emulator.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("POST", parts.path + "/testdata/subject", body=iter([b"{", b"}"]),
                           headers={"Content-Type": "application/json"},
                           encode_chunked=True)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 400 and b"subjectNip" in body   # the body {} was read
        # the same connection still works: nothing of the chunked body was left unread
        connection.request("TRACE", parts.path + "/tokens")
        response = connection.getresponse()
        response.read()
        assert response.status == 405
    finally:
        connection.close()
    status, _headers, body = _raw(emulator, "POST", "/testdata/subject", body=b"{}",
                                  headers={"Content-Length": "abc"})
    assert status == 400


def _token(emulator):
    from ksef.bootstrap import obtain_test_token
    from ksef.client import KSeFClient
    client = KSeFClient(emulator.url)
    client.authenticate_with_token("5265877635", obtain_test_token(emulator.url, "5265877635"))
    return client.tokens.access_token


def test_token_is_checked_before_the_request_content(emulator):
    # an operation behind a bearer token: no token -> 401 even with an invalid body
    status, headers, body = _raw(emulator, "POST", "/sessions/online",
                                 body=b'{"formCode": 1}', headers={"Content-Type": "application/json"})
    assert status == 401 and headers["Content-Type"].startswith("application/problem+json")
    status, _headers, body = _raw(emulator, "POST", "/sessions/online", body=b'{"formCode": 1}',
                                  headers={"Content-Type": "application/json",
                                           "Authorization": "Bearer " + _token(emulator)})
    assert status == 400 and b"$.formCode" in body


def test_path_parameters_are_percent_decoded(emulator):
    # 36 characters once decoded (ReferenceNumber maxLength 36), 3 times that percent-encoded
    reference = urllib.parse.quote("ąęł" + "0" * 33)
    status, _headers, body = _raw(emulator, "GET", "/sessions/" + reference,
                                  headers={"Authorization": "Bearer " + _token(emulator)})
    detail = json.loads(body)["exception"]["exceptionDetailList"][0]
    assert status == 400 and detail["exceptionCode"] == 21173, body   # unknown, not too long


def _exception(status, body):
    assert status == 400, body[:300]
    return json.loads(body)["exception"]["exceptionDetailList"][0]


def test_business_400_codes_are_the_ones_the_operation_documents(emulator):
    token = {"Authorization": "Bearer " + _token(emulator), "Content-Type": "application/json"}
    unknown = "20250101-SE-0000000000-0000000000-00"
    # documented for the operation: its own code
    detail = _exception(*_raw(emulator, "GET", "/sessions/" + unknown, headers=token)[::2])
    assert detail["exceptionCode"] == 21173
    # GET /sessions/{ref}/invoices/{invoiceRef} documents only 21405: the reason stays in details
    detail = _exception(*_raw(emulator, "GET", "/sessions/%s/invoices/%s" % (unknown, unknown),
                              headers=token)[::2])
    assert detail["exceptionCode"] == 21405
    assert any("Brak sesji" in text for text in detail["details"])
    # POST /certificates/retrieve documents only 21405 (an unknown serial is not 25008 there)
    detail = _exception(*_raw(emulator, "POST", "/certificates/retrieve", headers=token,
                              body=json.dumps({"certificateSerialNumbers":
                                               ["0321C82DA41B4362"]}))[::2])
    assert detail["exceptionCode"] == 21405
    # POST /certificates/{serial}/revoke documents 25008 for an unknown certificate
    detail = _exception(*_raw(emulator, "POST", "/certificates/0000000000000000/revoke",
                              headers=token,
                              body=json.dumps({"revocationReason": "KeyCompromise"}))[::2])
    assert detail["exceptionCode"] in (25008, 21405)


def test_undocumented_codes_fall_back_to_21405_only_where_21405_is_documented():
    from ksef.emulator.common import ApiError
    from ksef.emulator.contract import documented_error
    with open(CONTRACT_FILE, encoding="utf-8") as handle:
        operations = json.load(handle)["operations"]
    assert sum(1 for op in operations.values() if op["codes400"]) > 60
    for key, op in operations.items():
        method, template = key.split(" ", 1)
        mapped = documented_error(ApiError(400, 99999, details=["x"]), method, template)
        if 21405 in op["codes400"]:
            assert mapped.code == 21405 and "x" in mapped.details, key
        else:
            assert mapped.code == 99999, key
        for code in op["codes400"]:
            assert documented_error(ApiError(400, code), method, template).code == code
    duplicate = documented_error(ApiError(400, 71005), "POST", "/collective-identifiers")
    assert duplicate.code == 71005   # the ministry's 2.7 notes document it


def test_permissions_are_checked_before_the_request_content(emulator):
    from ksef.client import KSeFClient
    client = KSeFClient(emulator.url)
    client.authenticate_with_token("5265877635", emulator.make_ksef_token(
        "5265877635", permissions=("InvoiceRead",)))
    status, _headers, body = _raw(emulator, "POST", "/sessions/online", body=b'{"formCode": 1}',
                                  headers={"Content-Type": "application/json",
                                           "Authorization": "Bearer " + client.tokens.access_token})
    assert status == 403 and b"InvoiceWrite" in body
