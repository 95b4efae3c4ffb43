"""KSeF client pieces that need no emulator: dates, error bodies, key choice, local refusals."""
import datetime as dt
import json
import socket

import pytest
import requests

from ksef import environments, errors
from ksef.bootstrap import obtain_test_token
from ksef.client import KSeFClient, resolve_environment
from ksef.public_keys import choose
from ksef.records import AuthTokens, InvoiceStatus, PublicKeyCertificate, parse_datetime
from ksef.sessions import MAX_INVOICE_SIZE, OnlineSession, build_send_request
from ksef.transport import connection_failed_before_sending, error_from_response

UTC = dt.timezone.utc


def _response(status, body=None, content_type="application/json", headers=None):
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if body is not None else b""
    response.headers["Content-Type"] = content_type
    response.headers.update(headers or {})
    return response


def test_parse_datetime_handles_ksef_formats():
    assert parse_datetime("2025-07-11T12:23:56.0154302+00:00") == dt.datetime(
        2025, 7, 11, 12, 23, 56, 15430, tzinfo=UTC)
    assert parse_datetime("2025-07-11T14:23:56+02:00") == dt.datetime(2025, 7, 11, 12, 23, 56, tzinfo=UTC)
    assert parse_datetime("2025-07-11T12:23:56Z").tzinfo is not None
    assert parse_datetime(None) is None
    with pytest.raises(ValueError):
        parse_datetime("yesterday")


def test_exception_response_body_is_parsed():
    body = {"exception": {"exceptionDetailList": [{"exceptionCode": 21405, "exceptionDescription":
                                                   "Błąd walidacji danych wejściowych.",
                                                   "details": ["invoiceSize must be > 0"]}],
                          "referenceNumber": "20250625-EE-2C3E6C8000-B675CF5D68-07",
                          "timestamp": "2025-06-25T10:00:00Z"}}
    error = error_from_response(_response(400, body), "send invoice")
    assert isinstance(error, errors.KSeFBadRequest)
    assert error.exception_code == 21405
    assert error.details == ["invoiceSize must be > 0"]
    assert error.reference_number == "20250625-EE-2C3E6C8000-B675CF5D68-07"
    assert "21405" in error.message and "invoiceSize" in error.message and "Correct" in error.message


def test_problem_details_bodies_are_parsed():
    bad = error_from_response(_response(400, {
        "title": "Bad Request", "status": 400, "instance": "/v2/auth/ksef-token",
        "detail": "Validation failed", "errors": [{"code": 21470, "description": "Unknown key",
                                                    "details": ["publicKeyId"]}],
        "timestamp": "2025-06-25T10:00:00Z", "traceId": "x"}, "application/problem+json"))
    assert bad.exception_code == 21470 and bad.errors[0][0] == 21470
    forbidden = error_from_response(_response(403, {
        "title": "Forbidden", "status": 403, "detail": "no", "reasonCode": "missing-permissions",
        "timestamp": "2025-06-25T10:00:00Z"}, "application/problem+json"))
    assert isinstance(forbidden, errors.KSeFForbidden)
    assert forbidden.reason_code == "missing-permissions" and "grant" in forbidden.message
    limited = error_from_response(_response(429, {"status": {"code": 429, "description": "Too Many Requests",
                                                             "details": ["1 s"]}},
                                            headers={"Retry-After": "30"}))
    assert isinstance(limited, errors.KSeFRateLimited) and limited.retry_after == 30
    assert "retried after 30 seconds" in limited.message
    gone = error_from_response(_response(410, {"title": "Gone", "status": 410, "detail": "expired"},
                                         "application/problem+json"))
    assert isinstance(gone, errors.KSeFGone)
    assert isinstance(error_from_response(_response(503, None)), errors.KSeFUnavailable)
    server = error_from_response(_response(502, None))
    assert isinstance(server, errors.KSeFServerError) and "Try again later" in server.message


def _key(usage, valid_from, valid_to, key_id):
    return PublicKeyCertificate(b"", key_id, key_id, valid_from, valid_to, tuple(usage))


def test_public_key_choice_by_usage_validity_and_latest_valid_from():
    now = dt.datetime.now(UTC)
    day = dt.timedelta(days=1)
    keys = [
        _key(["KsefTokenEncryption"], now - 10 * day, now + 10 * day, "old-token"),
        _key(["KsefTokenEncryption"], now - 1 * day, now + 10 * day, "new-token"),
        _key(["KsefTokenEncryption"], now + 1 * day, now + 10 * day, "future-token"),
        _key(["SymmetricKeyEncryption"], now - 20 * day, now - 1 * day, "expired-sym"),
        _key(["SymmetricKeyEncryption"], now - 5 * day, now + 1 * day, "sym"),
    ]
    assert choose(keys, "KsefTokenEncryption").public_key_id == "new-token"
    assert choose(keys, "SymmetricKeyEncryption").public_key_id == "sym"
    assert choose(keys[:3], "SymmetricKeyEncryption") is None


def test_environments_and_custom_url():
    assert resolve_environment("test").api_url == "https://api-test.ksef.mf.gov.pl/v2"
    assert resolve_environment("PRD") is environments.PROD
    assert resolve_environment("DEMO").qr_url == "https://qr-demo.ksef.mf.gov.pl"
    assert resolve_environment("http://127.0.0.1:1/v2/").api_url == "http://127.0.0.1:1/v2"
    assert resolve_environment("https://api.ksef.mf.gov.pl/v2") is environments.PROD
    with pytest.raises(errors.KSeFConfigError):
        resolve_environment("staging")


def test_unreachable_host_raises_transport_error_saying_check_network():
    with socket.socket() as probe:       # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = KSeFClient("http://127.0.0.1:%d/v2" % port, max_retries=0)
    with pytest.raises(errors.KSeFTransportError) as info:
        client.key_store.refresh()
    assert not isinstance(info.value, errors.KSeFTimeoutError)
    assert "Check the network" in info.value.message and info.value.sent is False


def test_connection_error_classification():
    refused = requests.ConnectionError(ConnectionRefusedError(111, "refused"))
    assert connection_failed_before_sending(refused)
    dropped = requests.ConnectionError(ConnectionResetError(104, "reset by peer"))
    assert not connection_failed_before_sending(dropped)


def test_invalid_nip_refused_before_any_request():
    client = KSeFClient("http://127.0.0.1:9/v2", max_retries=0)   # nothing listens there
    with pytest.raises(errors.InvalidNIPError) as info:
        client.authenticate_with_token("1234567890", "whatever")
    assert "NIP" in info.value.message and "Correct" in info.value.message
    with pytest.raises(errors.KSeFConfigError):
        client.authenticate_with_token("9999999999", "  ")


def test_not_authenticated_client_says_so():
    client = KSeFClient("http://127.0.0.1:9/v2")
    with pytest.raises(errors.KSeFConfigError) as info:
        client.session_status("20250625-SO-2C3E6C8000-B675CF5D68-07")
    assert "authenticate" in info.value.message


def test_invoice_over_one_megabyte_is_refused_locally():
    with pytest.raises(errors.InvoiceTooLargeError) as info:
        build_send_request(b"<a/>" + b" " * MAX_INVOICE_SIZE, b"k" * 32, b"i" * 16)
    assert "1000000" in info.value.message and "Nothing was sent" in info.value.message
    body = build_send_request(b"x" * MAX_INVOICE_SIZE, b"k" * 32, b"i" * 16)   # exactly the limit
    assert body["invoiceSize"] == MAX_INVOICE_SIZE
    assert body["encryptedInvoiceSize"] == MAX_INVOICE_SIZE + 16       # PKCS#7: one full block


def test_technical_correction_is_always_sent_as_offline():
    # ksef-docs offline/korekta-techniczna.md: offlineMode true + hashOfCorrectedInvoice
    body = build_send_request(b"<a/>", b"k" * 32, b"i" * 16, hash_of_corrected_invoice="h" * 44)
    assert body["offlineMode"] is True and body["hashOfCorrectedInvoice"] == "h" * 44
    assert build_send_request(b"<a/>", b"k" * 32, b"i" * 16)["offlineMode"] is False


def test_bootstrap_refuses_production():
    for target in ("PROD", environments.PROD, "https://api.ksef.mf.gov.pl/v2"):
        with pytest.raises(errors.KSeFConfigError) as info:
            obtain_test_token(target, "9999999999")
        assert "production" in info.value.message


def test_invoice_status_helpers():
    ok = InvoiceStatus.from_json({"ordinalNumber": 1, "referenceNumber": "R", "invoiceHash": "h",
                                  "invoicingDate": "2026-01-01T00:00:00Z",
                                  "ksefNumber": "9999999999-20260101-0123456789AB-01",
                                  "status": {"code": 200, "description": "Sukces"}})
    assert ok.is_final and ok.is_success and ok.raise_for_rejection() is ok
    assert ok.held_ksef_number == ok.ksef_number
    pending = InvoiceStatus(code=150)
    assert not pending.is_final and pending.rejection_error() is None
    dup = InvoiceStatus(code=440, description="Duplikat faktury", invoice_number="FV/1",
                        extensions={"originalKsefNumber": "9999999999-20260101-0123456789AB-01",
                                    "originalSessionReferenceNumber": "S"})
    with pytest.raises(errors.KSeFDuplicateInvoice) as info:
        dup.raise_for_rejection()
    assert info.value.original_ksef_number == "9999999999-20260101-0123456789AB-01"
    assert "do not send it again" in info.value.message
    assert dup.held_ksef_number == "9999999999-20260101-0123456789AB-01"
    bad = InvoiceStatus(code=430, description="Błąd weryfikacji pliku faktury", details=["line 3"])
    with pytest.raises(errors.KSeFInvoiceRejected) as info:
        bad.raise_for_rejection()
    assert info.value.status_code == 430 and "line 3" in info.value.message
    assert "Correct the invoice" in info.value.message


def test_tokens_and_session_round_trip_through_dicts():
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    tokens = AuthTokens("a", now, "r", now + dt.timedelta(days=7), "REF", "9999999999")
    again = AuthTokens.from_dict(json.loads(json.dumps(tokens.to_dict())))
    assert again == tokens
    assert "'a'" not in repr(tokens) and "'r'" not in repr(tokens)
    client = KSeFClient("http://127.0.0.1:9/v2")
    session = OnlineSession(client, "20250625-SO-2C3E6C8000-B675CF5D68-07", b"k" * 32, b"i" * 16, now)
    restored = OnlineSession.from_dict(client, json.loads(json.dumps(session.to_dict())))
    assert (restored.reference_number, restored.key, restored.iv, restored.valid_until) == (
        session.reference_number, session.key, session.iv, session.valid_until)


class _CannedAdapter(requests.adapters.BaseAdapter):
    """A requests transport adapter answering every request with one canned response."""

    def __init__(self, status, body, headers):
        super().__init__()
        self.answer = (status, body, headers)
        self.sent = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        response = _response(self.answer[0], self.answer[1], headers=self.answer[2])
        response.request, response.url = request, request.url
        return response

    def close(self):
        pass


def test_system_warning_is_logged_without_the_token(caplog):
    from ksef.transport import Transport
    adapter = _CannedAdapter(200, [], {"X-System-Warning": "[21999]: FA(2) will be refused soon"})
    session = requests.Session()
    session.mount("https://", adapter)
    transport = Transport("https://ksef.invalid/v2", session=session)
    with caplog.at_level("WARNING", logger="ksef.transport"):
        transport.request("GET", "/tokens", token="SECRET-JWT")
    assert "FA(2) will be refused soon" in caplog.text and "SECRET-JWT" not in caplog.text
    sent = adapter.sent[0]
    assert sent.headers["Authorization"] == "Bearer SECRET-JWT"
    assert sent.headers["X-Error-Format"] == "problem-details"


def test_session_upo_page_of_10000_documents_is_not_refused_as_oversize():
    """A full session UPO page (10,000 Dokument entries, ~6 MB) is larger than the
    default XML ceiling; the session UPO download must still accept it."""
    from types import SimpleNamespace

    from ksef import crypto as _crypto
    from ksef.client import KSeFClient
    from ksef.errors import XMLSecurityError

    entry = b"<Dokument><NumerKSeFDokumentu>" + b"X" * 600 + b"</NumerKSeFDokumentu></Dokument>"
    body = b"<Potwierdzenie>" + entry * 10000 + b"</Potwierdzenie>"
    assert len(body) > 5 * 1024 * 1024
    response = SimpleNamespace(content=body, headers={"x-ms-meta-hash": _crypto.sha256_b64(body)})
    client = KSeFClient("http://127.0.0.1:9/v2")
    assert client._checked_upo(response, "session UPO", max_bytes=32 * 1024 * 1024) == body
    try:
        client._checked_upo(response, "invoice UPO")
    except XMLSecurityError:
        pass
    else:  # pragma: no cover
        raise AssertionError("an invoice UPO of 6 MB must be refused")


def test_odoo_date_helpers():
    from datetime import datetime, timezone

    from ksef.records import from_iso, naive_utc, parse_naive_utc, to_iso
    assert parse_naive_utc("2025-10-01T12:34:56.123456+02:00") == datetime(2025, 10, 1, 10, 34, 56)
    assert parse_naive_utc("2025-10-01T12:34:56Z") == datetime(2025, 10, 1, 12, 34, 56)
    assert parse_naive_utc("2025-10-01") == datetime(2025, 10, 1)
    assert parse_naive_utc("") is False and parse_naive_utc(None) is False
    assert parse_naive_utc("yesterday") is False
    aware = datetime(2025, 10, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    assert to_iso(aware) == "2025-10-01T12:00:00.123456+00:00"
    assert to_iso(aware.replace(tzinfo=None)) == to_iso(aware) and to_iso(None) is False
    assert from_iso(to_iso(aware)) == aware and from_iso("") is None
    assert from_iso("2025-10-01T12:00:00").tzinfo is timezone.utc
    assert naive_utc(aware) == datetime(2025, 10, 1, 12, 0, 0) and naive_utc(None) is False


def test_token_format_checked_before_any_request():
    client = KSeFClient("http://127.0.0.1:9/v2", max_retries=0)   # nothing listens there
    nip = "5265877635"
    for bad in ("whatever", "abc|def", "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-%s|xyz" % nip,
                "ey.JWT.like-this", "20251010-EC-1DCE3E3000-12ECB5B36E-45 nip-%s %s" % (nip, "a" * 64)):
        with pytest.raises(errors.KSeFConfigError) as info:
            client.authenticate_with_token(nip, bad)
        assert "three parts" in info.value.message, bad
    other = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-7770001111|%s" % ("ab" * 32)
    with pytest.raises(errors.KSeFConfigError) as info:
        client.authenticate_with_token(nip, other)
    assert "7770001111" in info.value.message and nip in info.value.message
    from ksef.auth import check_token_format
    good = "20251010-EC-1DCE3E3000-12ECB5B36E-45|internalId-%s-12345|%s" % (nip, "9f" * 32)
    assert check_token_format("  %s\n" % good, nip) == good
