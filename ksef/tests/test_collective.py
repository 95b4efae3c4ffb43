"""Collective identifiers (API 2.7+): core checks, KSeFClient against the emulator over real HTTP
(every exchange validated against the official OpenAPI, 2.6.0 + the 2.7 additions), and an
independent SDK (ksef-client 0.20.0) against the same emulator."""
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import tempfile
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests
from cryptography import x509

from ksef import certs, collective, errors
from ksef.emulator import Emulator
from ksef.emulator.ratelimits import RateLimiter
from ksef.emulator.routes import GROUPS, Router
from ksef.emulator.seed import seller_nips
from ksef.i18n import Text
from ksef.ksef_number import make_ksef_number
from ksef.tests.client_support import ClientFactory, count, make_client

GENERATE = "/collective-identifiers"
QUERY = "/collective-identifiers/query"
INVOICES = "/collective-identifiers/invoices"
BY_KSEF = "/collective-identifiers/ksef/{ksefNumber}"
OFFICIAL_EXAMPLE = "1111111111-IZ202607-65ED02180000-E7"
SELLER, OTHER_SELLER = seller_nips(2, seed=7108)
WARSAW = ZoneInfo("Europe/Warsaw")


@pytest.fixture
def connect(emulator, openapi_check):
    factory = ClientFactory(emulator, openapi_check)
    yield factory
    factory.close()


class Parties:
    """Companies of one test (fresh NIPs: the emulator is shared by the tests of this module)."""

    def __init__(self):
        self.buyer, self.seller, self.other, self.stranger = seller_nips(
            4, seed=secrets.randbits(32))


@pytest.fixture
def p():
    return Parties()


@pytest.fixture
def invoices(emulator, p):
    """Two purchase invoices of p.seller to p.buyer and one of p.other (another seller)."""
    ours = emulator.seed_incoming_invoices(p.buyer, 2, sellers=[p.seller])
    other = emulator.seed_incoming_invoices(p.buyer, 1, sellers=[p.other])
    return ours + other


def _today():
    """Today in Poland: the client reads a date as that whole day in Polish time."""
    return dt.datetime.now(WARSAW).date()


def _sent(emulator, template, method="POST"):
    return count(emulator, method, template)


# --- the identifier ----------------------------------------------------------------------------------

def test_identifier_format_and_checksum():
    assert collective.is_valid_collective_identifier(OFFICIAL_EXAMPLE)
    made = collective.make_collective_identifier("1111111111", dt.date(2026, 7, 1), "65ed02180000")
    assert made == OFFICIAL_EXAMPLE
    fresh = collective.new_collective_identifier(SELLER, dt.datetime(2027, 1, 31, 23, 30,
                                                                      tzinfo=dt.timezone.utc))
    assert collective.is_valid_collective_identifier(fresh)
    assert fresh.startswith(SELLER + "-IZ202702-")      # 00:30 on 1 Feb in Poland
    assert collective.seller_nip_of(fresh) == SELLER
    cases = {"": "empty", OFFICIAL_EXAMPLE[:-1]: "length",
             OFFICIAL_EXAMPLE.replace("IZ", "XX"): "format",
             OFFICIAL_EXAMPLE.replace("202607", "202613"): "format",
             OFFICIAL_EXAMPLE.lower(): "format",
             OFFICIAL_EXAMPLE[:-2] + "E8": "checksum",
             OFFICIAL_EXAMPLE.replace("65ED", "65DE"): "checksum"}
    for value, reason in cases.items():
        assert collective.collective_identifier_problem(value) == reason, value
        with pytest.raises(errors.InvalidCollectiveIdentifierError) as info:
            collective.check_collective_identifier(value)
        assert info.value.reason == reason and isinstance(info.value, errors.KSeFConfigError)
        assert info.value.template != info.value.message or reason == "empty"    # translatable
    assert collective.check_collective_identifier("  %s " % OFFICIAL_EXAMPLE) == OFFICIAL_EXAMPLE


def test_invoice_items_are_checked_before_sending():
    k1, k2 = (make_ksef_number(SELLER, _today(), "%012X" % i) for i in (1, 2))
    items = collective.check_invoices([
        k1, {"ksefNumber": k2, "description": "FV 2", "payment": {"amount": "10.50", "currency": "pln"}}])
    assert items[0] == collective.CollectiveInvoice(k1)
    assert items[1].amount == Decimal("10.50") and items[1].currency == "PLN"
    assert items[1].to_json() == {"ksefNumber": k2, "description": "FV 2",
                                  "payment": {"amount": 10.5, "currency": "PLN"}}
    bad = {
        "count": [k1],
        "description": [k1, {"ksef_number": k2, "description": "x" * 513}],
        "payment": [k1, {"ksef_number": k2, "amount": 5}],
        "ksef_number": [k1, k2[:-2] + ("00" if k2[-2:] != "00" else "01")],
    }
    for reason, value in bad.items():
        with pytest.raises(errors.CollectiveIdentifierRequestError) as info:
            collective.check_invoices(value)
        assert info.value.reason == reason, reason
    with pytest.raises(errors.CollectiveIdentifierRequestError) as info:
        collective.check_invoices([k1, k2], max_invoices=1)
    assert "at most 1 invoices" in info.value.message
    with pytest.raises(errors.CollectiveDuplicateInvoice) as dup:
        collective.check_invoices([k1, k1])
    assert dup.value.local and dup.value.http_status is None and dup.value.ksef_numbers == [k1]
    foreign = make_ksef_number(OTHER_SELLER, _today(), "%012X" % 3)
    with pytest.raises(errors.CollectiveInvoicesOfDifferentSellers) as mixed:
        collective.check_invoices([k1, foreign])
    assert mixed.value.exception_code == 71004 and OTHER_SELLER in mixed.value.message
    with pytest.raises(errors.CollectiveIdentifierRequestError) as span:
        collective.query_body(dt.date(2026, 1, 1), dt.date(2026, 4, 11))      # 100 days + 1 day
    assert span.value.reason == "range"
    body = collective.query_body(dt.date(2026, 1, 1), dt.date(2026, 4, 10))   # exactly 100 days
    assert body == {"dateCreatedFrom": "2025-12-31T23:00:00.000Z",
                    "dateCreatedTo": "2026-04-10T21:59:59.999Z"}


# --- KSeFClient against the emulator ------------------------------------------------------------------

def test_generate_for_two_invoices_of_one_seller_and_read_it_back(emulator, connect, invoices, p):
    k1, k2, _foreign = invoices
    buyer = connect(p.buyer)
    number = buyer.generate_collective_identifier([
        {"ksef_number": k1, "amount": Decimal("1230.00"), "currency": "PLN", "description": "FV 1"},
        {"ksef_number": k2, "amount": "99.99", "currency": "PLN"}])
    assert collective.is_valid_collective_identifier(number)
    assert number.startswith("%s-IZ%s-" % (p.seller, dt.datetime.now(WARSAW).strftime("%Y%m")))
    assert _sent(emulator, GENERATE) == 1
    rows = {r.ksef_number: r for r in buyer.collective_identifier_invoices(number)}
    assert set(rows) == {k1, k2}
    assert rows[k1].amount == Decimal("1230") and rows[k1].currency == "PLN"
    assert rows[k1].description == "FV 1" and not rows[k1].details_hidden
    assert rows[k2].amount == Decimal("99.99") and rows[k2].description is None
    assert rows[k2].collective_identifier_number == number
    assert rows[k2].to_dict()["amount"] == "99.99"
    # found again by KSeF number and by the query, with the invoice count
    found = buyer.collective_identifiers_of_invoice(k2)
    assert [i.number for i in found] == [number] and found[0].created_in_current_context
    assert found[0].invoice_count is None and found[0].date_created is not None
    listed = buyer.query_collective_identifiers(_today() - dt.timedelta(days=1), _today())
    assert [(i.number, i.invoice_count) for i in listed] == [(number, 2)]
    assert buyer.query_collective_identifiers(_today(), number=number)[0].seller_nip == p.seller
    assert buyer.query_collective_identifiers(_today(), invoice_count_from=3) == []
    assert buyer.query_collective_identifiers(_today(), created_in_current_context=False) == []
    # the seller sees it (Podmiot 1 on the invoices), with the amounts, as not created by it
    seller = connect(p.seller)
    seen = seller.query_collective_identifiers(_today())
    assert [(i.number, i.created_in_current_context) for i in seen] == [(number, False)]
    assert {r.amount for r in seller.collective_identifier_invoices([number])} == {
        Decimal("1230"), Decimal("99.99")}
    assert seller.find_collective_identifier([k2, k1]) is None        # not created by the seller
    assert buyer.find_collective_identifier([k2, k1]) == number
    # a company named nowhere on the invoices: the numbers, but no amounts or descriptions
    stranger = connect(p.stranger)
    hidden = stranger.collective_identifier_invoices(number)
    assert {r.ksef_number for r in hidden} == {k1, k2}
    assert all(r.details_hidden and r.amount is None and r.description is None for r in hidden)
    assert stranger.query_collective_identifiers(_today()) == []
    assert stranger.collective_identifiers_of_invoice(k1) == []
    assert all(c.checked for c in (buyer, seller, stranger))


def test_paging_by_continuation_token_and_more_than_ten_identifiers(emulator, connect, invoices, p):
    k1, k2, _foreign = invoices
    buyer = connect(p.buyer)
    made = [buyer.generate_collective_identifier([k1, k2]) for _ in range(12)]
    emulator.reset_counters()
    listed = buyer.query_collective_identifiers(_today(), page_size=10)
    assert sorted(i.number for i in listed) == sorted(made) and len(listed) == 12
    assert _sent(emulator, QUERY) == 2                                 # 10 + 2
    assert [i.date_created for i in listed] == sorted((i.date_created for i in listed), reverse=True)
    assert sorted(i.number for i in buyer.collective_identifiers_of_invoice(k1, page_size=10)) \
        == sorted(made)
    assert _sent(emulator, BY_KSEF, "GET") == 2
    # 12 identifiers: sent as 10 + 2 (KSeF takes at most 10 per call); 20 rows need 2 pages of 10
    rows = buyer.collective_identifier_invoices(made + made[:3], page_size=10)
    assert len(rows) == 24 and {r.collective_identifier_number for r in rows} == set(made)
    assert _sent(emulator, INVOICES) == 3
    assert collective.chunks(made + made[:3]) == [made[:10], made[10:]]


def test_unknown_or_foreign_invoice_is_71001(emulator, connect, invoices, p):
    k1, _k2, _foreign = invoices
    buyer = connect(p.buyer)
    unknown = make_ksef_number(p.seller, _today(), "ABCDEF012345")
    with pytest.raises(errors.CollectiveInvoiceUnavailable) as info:
        buyer.generate_collective_identifier([k1, unknown])
    error = info.value
    assert error.http_status == 400 and error.exception_code == 71001 and not error.local
    assert error.ksef_numbers == [unknown] and isinstance(error, errors.KSeFBadRequest)
    assert isinstance(error.params["hint"], Text) and "company" in error.message
    # an invoice between two other companies cannot be grouped by a stranger either
    with pytest.raises(errors.CollectiveInvoiceUnavailable):
        connect(p.stranger).generate_collective_identifier(invoices[:2])


def test_invoice_in_too_many_identifiers_is_71002(emulator, connect, invoices, p):
    k1, k2, _foreign = invoices
    assert emulator.collective_max_identifiers_per_invoice == collective.MAX_IDENTIFIERS_PER_INVOICE == 132
    k3 = emulator.seed_incoming_invoices(p.buyer, 1, sellers=[p.seller])[0]
    buyer = connect(p.buyer)
    emulator.collective_max_identifiers_per_invoice = 3
    try:
        for _ in range(3):
            buyer.generate_collective_identifier([k1, k2])
        with pytest.raises(errors.CollectiveInvoiceLimitReached) as info:
            buyer.generate_collective_identifier([k3, k1])
        assert info.value.exception_code == 71002 and info.value.ksef_numbers == [k1]
        assert "132" in info.value.message
        # the limit counts the identifiers of one context: the seller may still group k1
        assert connect(p.seller).generate_collective_identifier([k1, k3])
    finally:
        emulator.collective_max_identifiers_per_invoice = 132


def test_different_sellers_71004_and_duplicates_71005(emulator, connect, invoices, p):
    k1, k2, foreign = invoices
    buyer = connect(p.buyer)
    emulator.reset_counters()
    with pytest.raises(errors.CollectiveInvoicesOfDifferentSellers) as local:
        buyer.generate_collective_identifier([k1, foreign])
    with pytest.raises(errors.CollectiveDuplicateInvoice):
        buyer.generate_collective_identifier([k1, k2, k1])
    assert local.value.local and _sent(emulator, GENERATE) == 0        # refused before sending
    # what KSeF itself answers (the transport maps the codes onto the same classes)
    with pytest.raises(errors.CollectiveInvoicesOfDifferentSellers) as remote:
        buyer.call("POST", GENERATE, json={"invoices": [{"ksefNumber": k1}, {"ksefNumber": foreign}]})
    assert remote.value.http_status == 400 and remote.value.exception_code == 71004
    assert not remote.value.local and p.seller in remote.value.message
    with pytest.raises(errors.CollectiveDuplicateInvoice) as dup:
        buyer.call("POST", GENERATE, json={"invoices": [{"ksefNumber": k2}, {"ksefNumber": k2}]})
    assert dup.value.exception_code == 71005 and dup.value.ksef_numbers == [k2]
    # the legacy error body (no X-Error-Format header) carries the same code
    legacy = requests.post(emulator.url + GENERATE, timeout=5, json={"invoices": [
        {"ksefNumber": k1}, {"ksefNumber": foreign}]},
        headers={"Authorization": "Bearer " + buyer.tokens.access_token})
    detail = legacy.json()["exception"]["exceptionDetailList"][0]
    assert legacy.status_code == 400 and detail["exceptionCode"] == 71004


def test_bad_identifier_is_refused_before_anything_is_sent(emulator, connect, p):
    client = connect(p.buyer)
    emulator.reset_counters()
    typo = OFFICIAL_EXAMPLE[:-2] + "E8"
    with pytest.raises(errors.InvalidCollectiveIdentifierError) as info:
        client.collective_identifier_invoices([OFFICIAL_EXAMPLE, typo])
    assert info.value.reason == "checksum" and "mistyped" in info.value.message
    with pytest.raises(errors.InvalidCollectiveIdentifierError):
        client.query_collective_identifiers(_today(), number="1111111111-IZ202607")
    with pytest.raises(errors.CollectiveIdentifierRequestError) as span:
        client.query_collective_identifiers(_today() - dt.timedelta(days=101), _today())
    assert "100 days" in span.value.message
    with pytest.raises(errors.CollectiveIdentifierRequestError):
        client.collective_identifier_invoices(OFFICIAL_EXAMPLE, page_size=501)
    with pytest.raises(errors.CollectiveIdentifierRequestError):
        client.collective_identifiers_of_invoice("not-a-ksef-number")
    assert sum(emulator.counters.values()) == 0
    # KSeF refuses the same on its side (21405), e.g. 11 identifiers in one call
    with pytest.raises(errors.KSeFBadRequest) as refused:
        client.call("POST", INVOICES, json={"collectiveIdentifierNumbers": [OFFICIAL_EXAMPLE] * 11})
    assert refused.value.exception_code == 21405
    # an unknown (well-formed) identifier simply has no invoices
    assert client.collective_identifier_invoices(OFFICIAL_EXAMPLE) == []


def test_context_limit_of_invoices_per_identifier(emulator, connect, invoices, p):
    k1, k2, _foreign = invoices
    k3 = emulator.seed_incoming_invoices(p.buyer, 1, sellers=[p.seller])[0]
    buyer = connect(p.buyer)
    assert buyer.collective_identifier_max_invoices() == 500
    session = {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 10000}
    buyer.call("POST", "/testdata/limits/context/session", json={
        "onlineSession": session, "batchSession": session, "collectiveIdentifier": {"maxInvoices": 2}})
    try:
        assert buyer.collective_identifier_max_invoices() == 2
        with pytest.raises(errors.KSeFBadRequest) as info:
            buyer.generate_collective_identifier([k1, k2, k3])
        assert info.value.exception_code == 21405 and "(2)" in info.value.message
        with pytest.raises(errors.CollectiveIdentifierRequestError):        # known limit: local
            buyer.generate_collective_identifier([k1, k2, k3], max_invoices=2)
        with pytest.raises(errors.KSeFBadRequest):
            buyer.call("POST", "/testdata/limits/context/session", json={
                "onlineSession": session, "batchSession": session,
                "collectiveIdentifier": {"maxInvoices": 5001}})
    finally:
        buyer.call("DELETE", "/testdata/limits/context/session")
    assert buyer.collective_identifier_max_invoices() == 500
    assert buyer.generate_collective_identifier([k1, k2, k3])


def test_rate_limit_group_and_429(emulator, connect, invoices, p):
    k1, k2, _foreign = invoices
    router = Router()
    assert GROUPS["collectiveIdentifier"] == (20, 120, 240)
    for method, path in (("POST", GENERATE), ("POST", QUERY), ("POST", INVOICES), ("GET", BY_KSEF)):
        assert router.limits[(method, path)] == ("collectiveIdentifier", (20, 120, 240))
        assert RateLimiter(router, "PRD").limits_for(method, path) == (20, 120, 240)
    buyer = connect(p.buyer, max_retry_after=2)
    emulator.set_rate_limits("PRD")
    values = buyer.call("GET", "/rate-limits").json()
    assert values["collectiveIdentifier"] == {"perSecond": 20, "perMinute": 120, "perHour": 240}
    emulator.set_rate_limits({"collectiveIdentifier": (None, 3, None)})     # 3 a minute
    number = buyer.generate_collective_identifier([k1, k2])
    buyer.collective_identifiers_of_invoice(k1)
    buyer.collective_identifier_invoices(number)
    emulator.reset_counters()
    with pytest.raises(errors.KSeFRateLimited) as info:
        buyer.generate_collective_identifier([k1, k2])
    assert info.value.retry_after and info.value.retry_after > 2
    assert _sent(emulator, GENERATE) == 1            # a POST that creates is never repeated
    with pytest.raises(errors.KSeFRateLimited):
        buyer.query_collective_identifiers(_today())
    assert _sent(emulator, QUERY) == 1               # Retry-After over max_retry_after: no wait
    # per context, as KSeF counts: another company is not affected
    assert connect(p.seller).query_collective_identifiers(_today())
    # /testdata/rate-limits takes the new group (API 2.7 requires it)
    emulator.set_rate_limits("off")
    limits = {g: {"perSecond": v[0], "perMinute": v[1], "perHour": v[2]} for g, v in GROUPS.items()}
    limits["collectiveIdentifier"] = {"perSecond": 1, "perMinute": 1, "perHour": 1}
    buyer.call("POST", "/testdata/rate-limits", json={"rateLimits": limits})
    buyer.collective_identifiers_of_invoice(k1)
    with pytest.raises(errors.KSeFRateLimited):
        buyer.collective_identifiers_of_invoice(k1)
    del limits["collectiveIdentifier"]            # a 2.6 body (invalid for the 2.7 OpenAPI too)
    old = requests.post(emulator.url + "/testdata/rate-limits", json={"rateLimits": limits}, timeout=5,
                        headers={"Authorization": "Bearer " + buyer.tokens.access_token,
                                 "X-Error-Format": "problem-details"})
    assert old.status_code == 400 and "collectiveIdentifier" in old.json()["errors"][0]["details"][0]


def test_permissions(emulator, connect, invoices, p):
    k1, k2, _foreign = invoices
    no_invoice_rights = connect(p.buyer, token=emulator.make_ksef_token(p.buyer, ["CredentialsRead"]))
    with pytest.raises(errors.KSeFForbidden) as info:
        no_invoice_rights.generate_collective_identifier([k1, k2])
    assert info.value.reason_code == "missing-permissions"
    with pytest.raises(errors.KSeFForbidden):
        no_invoice_rights.query_collective_identifiers(_today())
    dedicated = connect(p.buyer, token=emulator.make_ksef_token(p.buyer, ["CollectiveIdentifierManage"]))
    number = dedicated.generate_collective_identifier([k1, k2])
    assert [r.ksef_number for r in dedicated.collective_identifier_invoices(number)] == sorted(
        [k1, k2], reverse=True)
    # a token may now carry the new permission (POST /tokens, 2.7 TokenPermissionType)
    owner = connect(login=False)
    test_cert = certs.make_test_certificate(nip=p.buyer)
    owner.authenticate_with_certificate(p.buyer, credentials=certs.Credentials(
        test_cert.certificate, test_cert.private_key))
    reference, _token = owner.generate_ksef_token(["CollectiveIdentifierManage"], "collective only")
    info = owner.wait_for_ksef_token(reference, timeout=10)
    assert list(info.permissions) == ["CollectiveIdentifierManage"]


def test_generate_timeout_is_settled_by_asking_ksef(emulator, connect, invoices, p):
    k1, k2, _foreign = invoices
    buyer = connect(p.buyer)
    emulator.faults.add("drop_after_accept", path=GENERATE, method="POST")
    emulator.reset_counters()
    number = buyer.generate_collective_identifier([k2, k1])          # answer lost, created anyway
    assert collective.is_valid_collective_identifier(number)
    assert _sent(emulator, GENERATE) == 1 and _sent(emulator, BY_KSEF, "GET") == 1
    assert [r.ksef_number for r in buyer.collective_identifier_invoices(number)] == sorted(
        [k1, k2], reverse=True)
    # lost before KSeF made anything (here: an answer lost for a refused request)
    emulator.faults.add("timeout", path=GENERATE, method="POST", seconds=30)
    quick = connect(p.buyer, timeout=(2, 0.5))
    k3 = emulator.seed_incoming_invoices(p.buyer, 1, sellers=[p.seller])[0]
    with pytest.raises(errors.KSeFTimeoutError) as info:
        quick.generate_collective_identifier([k3, k1])
    assert info.value.checked                              # KSeF was asked: nothing was created
    assert quick.collective_identifiers_of_invoice(k3) == []


def test_testdata_shortens_a_certificate(emulator, connect, p):
    nip = p.buyer
    owner = connect(login=False)
    seal = certs.make_test_certificate(nip=nip)
    owner.authenticate_with_certificate(nip, credentials=certs.Credentials(seal.certificate,
                                                                           seal.private_key))
    der, key = owner.enroll_offline_certificate("Odoo auth 1", timeout=30, cert_type="Authentication")
    cert = x509.load_der_x509_certificate(der)
    serial = certs.serial_hex(cert)
    path = "/testdata/certificates/{serialNumber}"
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3650)
    with pytest.raises(errors.KSeFBadRequest) as info:                 # only earlier dates
        owner.call("PUT", path, path_params={"serialNumber": serial},
                   json={"validTo": later.isoformat()})
    assert info.value.exception_code == 21405
    with pytest.raises(errors.KSeFBadRequest) as unknown:
        owner.call("PUT", path, path_params={"serialNumber": "0123456789ABCDEF"},
                   json={"validTo": dt.datetime.now(dt.timezone.utc).isoformat()})
    assert unknown.value.exception_code == 25008
    # before: the certificate logs in
    user = connect(login=False)
    user.authenticate_with_certificate(nip, credentials=certs.Credentials(cert, key))
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    response = owner.call("PUT", path, path_params={"serialNumber": serial},
                          json={"validTo": past.isoformat()})
    assert response.status_code == 200
    listed = owner.query_certificates(serial_number=serial)[0]
    assert listed.status == "Expired" and abs((listed.valid_to - past).total_seconds()) < 1
    with pytest.raises(errors.KSeFAuthError) as refused:
        connect(login=False).authenticate_with_certificate(nip, credentials=certs.Credentials(cert, key))
    assert refused.value.status_code == 460


def test_other_methods_keep_405_and_identifiers_survive_a_restart(tmp_path, openapi_check, p):
    db = str(tmp_path / "ksef.sqlite")
    emu = Emulator(db_path=db)
    emu.start()
    try:
        numbers = emu.seed_incoming_invoices(p.buyer, 2, sellers=[p.seller])
        client = make_client(emu.url, openapi_check)
        client.authenticate_with_token(p.buyer, emu.make_ksef_token(p.buyer))
        made = client.generate_collective_identifier(numbers)
        for method, path in (("GET", GENERATE), ("DELETE", QUERY), ("GET", INVOICES),
                             ("POST", "/collective-identifiers/ksef/%s" % numbers[0])):
            assert requests.request(method, emu.url + path, timeout=5).status_code == 405
        client.close()
    finally:
        emu.stop()
    emu = Emulator(db_path=db)
    emu.start()
    try:
        assert made in emu.state.collective_identifiers
        client = make_client(emu.url, openapi_check)
        client.authenticate_with_token(p.buyer, emu.make_ksef_token(p.buyer))
        assert sorted(r.ksef_number for r in client.collective_identifier_invoices(made)) == sorted(numbers)
        client.close()
    finally:
        emu.stop()


# --- an independent SDK ------------------------------------------------------------------------------

SDK = "ksef-client==0.20.0"
SDK_SCRIPT = r'''
import json, sys
from ksef_client import KsefApiError, KsefClient, KsefClientOptions
from ksef_client.models import (CollectiveIdentifierInvoice, CollectiveIdentifierInvoicePayment,
                                CollectiveIdentifiersQueryRequest, CurrencyCode,
                                GenerateCollectiveIdentifierRequest)

args = json.load(sys.stdin)
token = args["token"]
client = KsefClient(KsefClientOptions(base_url=args["url"]), access_token=token)
ci = client.collective_identifiers
first, second = args["one_seller"]
pln = CurrencyCode("PLN")
request = GenerateCollectiveIdentifierRequest(invoices=[
    CollectiveIdentifierInvoice(ksef_number=first, description="FV 1",
                                payment=CollectiveIdentifierInvoicePayment(amount=100.0, currency=pln)),
    CollectiveIdentifierInvoice(ksef_number=second,
                                payment=CollectiveIdentifierInvoicePayment(amount=45.5, currency=pln))])
number = ci.generate(request, access_token=token).collective_identifier_number
out = {"number": number}
out["invoices"] = [{"ksef": i.ksef_number, "amount": i.payment.amount, "currency": i.payment.currency,
                    "description": i.description, "hidden": i.details_hidden,
                    "identifier": i.collective_identifier_number}
                   for i in ci.iter_invoices([number], access_token=token, page_size=10)]
out["by_ksef"] = [i.collective_identifier_number for i in ci.iter_by_ksef_number(second, access_token=token)]
query = CollectiveIdentifiersQueryRequest(date_created_from=args["from"], date_created_to=args["to"])
out["query"] = [[i.collective_identifier_number, i.invoice_count, i.created_in_current_context]
                for i in ci.iter_query(query, access_token=token, page_size=10)]
mixed = GenerateCollectiveIdentifierRequest(invoices=[CollectiveIdentifierInvoice(ksef_number=n)
                                                      for n in args["two_sellers"]])
try:
    ci.generate(mixed, access_token=token)
except ValueError as exc:          # the SDK checks the sellers itself before sending
    out["sdk_local_check"] = str(exc)
try:                               # so send the same model through its own HTTP layer
    client.http_client.request("POST", "/collective-identifiers", json=mixed.to_dict(),
                               access_token=token, expected_status={201})
except KsefApiError as exc:
    out["two_sellers"] = [exc.status_code, exc.response_body]
print(json.dumps(out))
'''


def _sdk_python():
    """Python of a throwaway venv with ksef-client 0.20.0 (made once, kept in the temp dir).

    ksef-client needs cryptography >= 42 and httpx; our pins (Odoo 19: cryptography 3.4.8) cannot
    take it, so it never goes into the test venv."""
    home = os.environ.get("KSEF_SDK_VENV") or os.path.join(tempfile.gettempdir(),
                                                           "l10n_pl_ksef-ksef-client-0.20.0")
    python = os.path.join(home, "bin", "python")
    probe = [python, "-c", "import ksef_client.clients.collective_identifiers"]
    if os.path.exists(python) and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", home], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", SDK],
                       check=True, capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        output = getattr(exc, "stderr", b"") or b""
        pytest.skip("cannot install %s into a throwaway venv (%s): %s" % (
            SDK, type(exc).__name__, output.decode(errors="replace")[-300:]))
    return python


def test_independent_sdk_ksef_client(emulator, connect, invoices, p):
    k1, k2, foreign = invoices
    python = _sdk_python()
    buyer = connect(p.buyer)
    buyer.refresh_if_needed(600)
    now = dt.datetime.now(dt.timezone.utc)
    args = {"url": emulator.url, "token": buyer.tokens.access_token, "one_seller": [k1, k2],
            "two_sellers": [k1, foreign],
            "from": (now - dt.timedelta(hours=1)).isoformat(),
            "to": (now + dt.timedelta(hours=1)).isoformat()}
    run = subprocess.run([python, "-c", SDK_SCRIPT], input=json.dumps(args), capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    number = out["number"]
    assert collective.is_valid_collective_identifier(number) and number.startswith(p.seller)
    assert sorted((i["ksef"], i["amount"], i["currency"]) for i in out["invoices"]) == sorted(
        [(k1, 100.0, "PLN"), (k2, 45.5, "PLN")])
    assert all(i["identifier"] == number and not i["hidden"] for i in out["invoices"])
    assert out["by_ksef"] == [number]
    assert out["query"] == [[number, 2, True]]
    assert "same seller" in out["sdk_local_check"]
    status, body = out["two_sellers"]
    assert status == 400
    assert body["exception"]["exceptionDetailList"][0]["exceptionCode"] == 71004
    # and our client reads what the SDK made
    assert {r.amount for r in buyer.collective_identifier_invoices(number)} == {Decimal("100"),
                                                                                 Decimal("45.5")}
