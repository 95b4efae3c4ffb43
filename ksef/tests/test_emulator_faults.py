"""Emulator: fault injection, unavailability, rate limits (429 + Retry-After), SQLite persistence."""
import time

import pytest
import requests

from ksef.emulator import Emulator
from ksef.emulator.ratelimits import RateLimiter
from ksef.emulator.routes import OPERATIONS, Router

from .conftest import FA_SCHEMA_DIR, load_openapi_document
from .emulator_support import SAMPLE_NIP, Api, fresh_invoice

SEND = "/sessions/online/{referenceNumber}/invoices"


@pytest.fixture
def api(emulator, openapi_check):
    api = Api(emulator, openapi_check)
    api.token_login(SAMPLE_NIP, emulator.make_ksef_token(SAMPLE_NIP))
    return api


def test_operation_table_matches_the_official_openapi():
    spec = load_openapi_document()      # 2.6.0 + the official 2.7 operations we serve
    official = {}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            limits = op.get("x-rate-limits") or {}
            official[(method.upper(), path)] = (limits.get("perSecond"), limits.get("perMinute"),
                                                limits.get("perHour"))
    assert {(m, p): lim for m, p, _g, lim in OPERATIONS} == official


def test_router_prefers_literal_segments():
    router = Router()
    assert router.match("GET", "/sessions/X/invoices/failed")[0] == \
        "/sessions/{referenceNumber}/invoices/failed"
    assert router.match("GET", "/sessions/X/invoices/Y")[0] == \
        "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}"
    assert router.match("GET", "/auth/sessions")[0] == "/auth/sessions"
    assert router.match("GET", "/auth/REF") == ("/auth/{referenceNumber}", {"referenceNumber": "REF"})


@pytest.mark.parametrize("kind,status", [("http500", 500), ("http503", 503)])
def test_server_error_faults(emulator, api, kind, status):
    emulator.faults.add(kind, path="/sessions", method="GET")
    first = api.call("GET", "/sessions", params={"sessionType": "Online"}, validate_request=False)
    assert first.status_code == status
    assert first.headers["Content-Type"].startswith("application/problem+json")
    second = api.call("GET", "/sessions", params={"sessionType": "Online"})
    assert second.status_code == 200  # count=1: only one request affected


def test_http429_fault_has_retry_after(emulator, api):
    emulator.faults.add("http429", path="/sessions", count=2, retry_after=7)
    for _ in range(2):
        response = api.call("GET", "/sessions", params={"sessionType": "Online"})
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
    assert api.call("GET", "/sessions", params={"sessionType": "Online"}).status_code == 200


def test_slow_and_timeout_faults(emulator, api):
    emulator.faults.add("slow", path="/sessions", seconds=0.3)
    start = time.monotonic()
    assert api.call("GET", "/sessions", params={"sessionType": "Online"}).status_code == 200
    assert time.monotonic() - start >= 0.3
    emulator.faults.add("timeout", path="/sessions", seconds=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(api.url + "/sessions", params={"sessionType": "Online"}, timeout=0.3,
                     headers={"Authorization": "Bearer " + api.token})


def test_drop_after_accept_really_accepts_the_invoice(emulator, api):
    session_ref, aes, iv = api.open_session()
    xml = fresh_invoice(1)
    emulator.faults.add("drop_after_accept", path=SEND, method="POST")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(api.url + "/sessions/online/%s/invoices" % session_ref,
                      json=api.invoice_body(xml, aes, iv), timeout=5,
                      headers={"Authorization": "Bearer " + api.token})
    invoices = api.call("GET", "/sessions/%s/invoices" % session_ref).json()["invoices"]
    assert len(invoices) == 1 and invoices[0]["status"]["code"] == 200
    assert emulator.counters["POST " + SEND] >= 1


def test_unavailable_answers_503(emulator, api):
    emulator.set_unavailable(True)
    response = api.call("POST", "/auth/challenge", validate_request=False)
    assert response.status_code == 503
    emulator.set_unavailable(False)
    assert api.call("POST", "/auth/challenge").status_code == 200


def test_revoked_token_blocks_refresh_and_new_logins(emulator, openapi_check):
    api = Api(emulator, openapi_check)
    token = emulator.make_ksef_token(SAMPLE_NIP)
    tokens = api.token_login(SAMPLE_NIP, token)
    emulator.revoke_ksef_token(token)
    refresh = api.call("POST", "/auth/token/refresh", token=tokens["refreshToken"]["token"])
    assert refresh.status_code == 400 and refresh.json()["errors"][0]["code"] == 21301
    api.token_login(SAMPLE_NIP, token, expect_status=450)


def test_rate_limit_429_with_retry_after(emulator, api):
    emulator.set_rate_limits({"sessionList": (2, None, None)})
    codes = [api.call("GET", "/sessions", params={"sessionType": "Online"}).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]
    blocked = api.call("GET", "/sessions", params={"sessionType": "Online"})
    assert int(blocked.headers["Retry-After"]) >= 1
    # legacy body without the problem-details header
    legacy = requests.get(api.url + "/sessions", params={"sessionType": "Online"}, timeout=5,
                          headers={"Authorization": "Bearer " + api.token})
    assert legacy.status_code == 429 and legacy.json()["status"]["code"] == 429
    # other groups are not affected
    assert api.call("GET", "/tokens").status_code == 200


def test_rate_limit_profiles_and_rate_limits_endpoint(emulator, api):
    router = Router()
    prd = RateLimiter(router, "PRD")
    assert prd.limits_for("POST", SEND) == (10, 30, 180)
    # API 2.5.0 (api-changelog.md): TEST defaults equal PRD (no longer 10 x PRD)
    assert RateLimiter(router, "TEST").limits_for("POST", SEND) == (10, 30, 180)
    assert RateLimiter(router, "TEST").group_limits()["invoiceSend"] == {
        "perSecond": 10, "perMinute": 30, "perHour": 180}
    # limity/limity-api.md (and the first text of our issue): TEST = 10 x PRD
    assert RateLimiter(router, "TEST10").limits_for("POST", SEND) == (100, 300, 1800)
    assert RateLimiter(router, "TEST10").group_limits()["invoiceSend"]["perHour"] == 1800
    assert RateLimiter(router, "off").limits_for("POST", SEND) == (None, None, None)
    with pytest.raises(ValueError):
        RateLimiter(router, "FAST")
    # sliding window: the 181st send in an hour is refused, with a wait until the oldest expires
    limiter = RateLimiter(router, {"invoiceSend": (None, None, 3)})
    assert [limiter.check("POST", SEND, "ctx", "ip", now=t) for t in (0, 10, 20)] == [None] * 3
    assert limiter.check("POST", SEND, "ctx", "ip", now=30) == 3570
    assert limiter.check("POST", SEND, "other", "ip", now=30) is None  # per context
    assert limiter.check("POST", SEND, "ctx", "ip", now=3601) is None
    emulator.set_rate_limits("PRD")
    values = api.call("GET", "/rate-limits").json()
    assert values["invoiceSend"] == {"perSecond": 10, "perMinute": 30, "perHour": 180}


def test_counters_count_requests_per_operation(emulator, api):
    emulator.reset_counters()
    for _ in range(3):
        api.call("POST", "/auth/challenge")
    assert emulator.counters == {"POST /auth/challenge": 3}


def test_sqlite_state_survives_restart(tmp_path, openapi_check):
    db = str(tmp_path / "ksef.sqlite")
    emu = Emulator(schema_dir=FA_SCHEMA_DIR, db_path=db)
    emu.start()
    try:
        api = Api(emu, openapi_check)
        token = emu.make_ksef_token(SAMPLE_NIP)
        tokens = api.token_login(SAMPLE_NIP, token)
        session_ref, aes, iv = api.open_session()
        ref = api.send(session_ref, fresh_invoice(1), aes, iv).json()["referenceNumber"]
        number = api.invoice_status(session_ref, ref)["ksefNumber"]
        key_ids = [k["publicKeyId"] for k in api.call("GET", "/security/public-key-certificates").json()]
    finally:
        emu.stop()
    emu = Emulator(schema_dir=FA_SCHEMA_DIR, db_path=db)
    emu.start()
    try:
        api = Api(emu, openapi_check, access_token=tokens["accessToken"]["token"])
        assert [k["publicKeyId"] for k in api.call("GET", "/security/public-key-certificates").json()] \
            == key_ids
        status = api.invoice_status(session_ref, ref)
        assert status["ksefNumber"] == number
        # the open session still takes invoices (key kept), the KSeF token still logs in
        assert api.send(session_ref, fresh_invoice(2), aes, iv).status_code == 202
        Api(emu, openapi_check).token_login(SAMPLE_NIP, token)
        assert number in emu.state.invoices_by_ksef_number
    finally:
        emu.stop()
