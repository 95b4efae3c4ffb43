"""Retries, rate limits, 5xx, timeouts and the no-double-send guarantee, over real HTTP."""
import pytest

from ksef import errors
from ksef.ksef_number import is_valid_ksef_number
from ksef.tests.client_support import SELLER_NIP, ClientFactory, count, sample_invoice

SEND = "/sessions/online/{referenceNumber}/invoices"
SESSION_STATUS = "/sessions/{referenceNumber}"


@pytest.fixture
def connect(emulator, openapi_check):
    factory = ClientFactory(emulator, openapi_check)
    yield factory
    emulator.faults.clear()
    emulator.set_unavailable(False)
    factory.close()


def test_idempotent_get_is_retried_after_5xx_and_succeeds(emulator, connect):
    client = connect(SELLER_NIP)
    session = client.open_online_session()
    emulator.reset_counters()
    emulator.faults.add("http500", path=SESSION_STATUS, method="GET", count=2)
    status = client.session_status(session.reference_number)
    assert status.code == 100
    assert count(emulator, "GET", SESSION_STATUS) == 3
    assert len(client.slept) == 2             # backed off twice


def test_invoice_send_is_not_retried_after_5xx(emulator, connect):
    client = connect(SELLER_NIP)
    session = client.open_online_session()
    emulator.reset_counters()
    emulator.faults.add("http500", path=SEND, method="POST", count=1)
    invoice = sample_invoice()
    with pytest.raises(errors.KSeFServerError) as info:
        session.send_invoice(invoice)
    assert info.value.http_status == 500 and "Try again later" in info.value.message
    assert info.value.invoice_hash and info.value.session_reference_number == session.reference_number
    assert count(emulator, "POST", SEND) == 1
    assert client.find_invoice(info.value.invoice_hash, [session.reference_number]) is None
    sent = session.send_invoice(invoice)      # the caller decides to send again: works once
    assert session.wait_for_invoice(sent.reference_number, timeout=30, poll_interval=0.1).is_success


def test_rate_limit_long_retry_after_is_raised_not_slept(emulator, connect):
    client = connect(SELLER_NIP, max_retry_after=10)
    session = client.open_online_session()
    emulator.reset_counters()
    emulator.faults.add("http429", path=SESSION_STATUS, method="GET", count=1, retry_after=30)
    with pytest.raises(errors.KSeFRateLimited) as info:
        client.session_status(session.reference_number)
    assert info.value.retry_after == 30 and info.value.http_status == 429
    assert "retried after 30 seconds" in info.value.message
    assert count(emulator, "GET", SESSION_STATUS) == 1 and client.slept == []


def test_rate_limit_short_retry_after_is_honoured_for_get(emulator, connect):
    client = connect(SELLER_NIP)
    session = client.open_online_session()
    emulator.reset_counters()
    emulator.faults.add("http429", path=SESSION_STATUS, method="GET", count=1, retry_after=1)
    assert client.session_status(session.reference_number).code == 100
    assert count(emulator, "GET", SESSION_STATUS) == 2 and client.slept == [1]


def test_rate_limited_send_is_raised_with_retry_after(emulator, connect):
    client = connect(SELLER_NIP)
    session = client.open_online_session()
    emulator.reset_counters()
    emulator.faults.add("http429", path=SEND, method="POST", count=1, retry_after=2)
    with pytest.raises(errors.KSeFRateLimited) as info:
        session.send_invoice(sample_invoice())
    assert info.value.retry_after == 2
    assert count(emulator, "POST", SEND) == 1


def test_send_timeout_then_find_invoice_settles_it_without_a_second_send(emulator, connect):
    client = connect(SELLER_NIP, timeout=(2, 2))
    session = client.open_online_session()
    emulator.reset_counters()
    emulator.faults.add("drop_after_accept", path=SEND, method="POST", count=1)
    invoice = sample_invoice()
    with pytest.raises(errors.KSeFTimeoutError) as info:
        session.send_invoice(invoice)
    assert "may or may not" in info.value.message
    assert count(emulator, "POST", SEND) == 1          # never repeated by the client

    found = client.find_invoice(info.value.invoice_hash, [session.reference_number])
    assert found is not None, "KSeF holds the invoice although the client saw a timeout"
    if not found.is_final:
        found = session.wait_for_invoice(found.reference_number, timeout=30, poll_interval=0.1)
    assert found.is_success and is_valid_ksef_number(found.held_ksef_number)
    assert len(client.session_invoices(session.reference_number)) == 1
    assert count(emulator, "POST", SEND) == 1


def test_read_timeout_on_get_is_retried(emulator, connect):
    client = connect(SELLER_NIP, timeout=(2, 1))
    session = client.open_online_session()
    emulator.reset_counters()
    emulator.faults.add("slow", path=SESSION_STATUS, method="GET", count=1, seconds=1.5)
    assert client.session_status(session.reference_number).code == 100
    assert count(emulator, "GET", SESSION_STATUS) == 2


def test_unavailable_ksef_raises_unavailable_after_retries(emulator, connect):
    client = connect(SELLER_NIP, max_retries=2)
    session = client.open_online_session()
    emulator.set_unavailable(True)
    emulator.reset_counters()
    with pytest.raises(errors.KSeFUnavailable) as info:
        client.session_status(session.reference_number)
    assert "unavailable" in info.value.message and "offline" in info.value.message
    assert count(emulator, "GET", SESSION_STATUS) == 3
    with pytest.raises(errors.KSeFUnavailable):
        session.send_invoice(sample_invoice())
    assert count(emulator, "POST", SEND) == 1
    emulator.set_unavailable(False)
    assert client.session_status(session.reference_number).code == 100


# --- the retry table (transport.RETRYABLE_WRITES) --------------------------------------------------

CREATING_WRITES = [
    ("POST", "/auth/ksef-token"), ("POST", "/auth/xades-signature"), ("POST", "/auth/token/redeem"),
    ("POST", "/sessions/online"), ("POST", "/sessions/batch"), ("POST", SEND),
    ("POST", "/sessions/online/{referenceNumber}/close"),
    ("POST", "/sessions/batch/{referenceNumber}/close"), ("POST", "/tokens"),
    ("POST", "/certificates/enrollments"), ("POST", "/collective-identifiers"),
]


def test_retry_table_names_real_operations_and_no_creating_post():
    from ksef.emulator.routes import OPERATIONS
    from ksef.transport import RETRYABLE_WRITES, STORAGE_URL, may_retry
    known = {(method, path) for method, path, _group, _limits in OPERATIONS}
    for (method, template), reason in RETRYABLE_WRITES.items():
        assert reason, (method, template)
        assert template == STORAGE_URL or (method, template) in known, (method, template)
    for method, template in CREATING_WRITES:
        assert (method, template) in known and not may_retry(method, template), (method, template)
    assert may_retry("GET", "/sessions/{referenceNumber}") and may_retry("get", "/anything")
    assert may_retry("PUT", STORAGE_URL) and not may_retry("POST", STORAGE_URL)


def test_session_open_is_not_retried_after_5xx(emulator, connect):
    client = connect(SELLER_NIP)
    emulator.reset_counters()
    emulator.faults.add("http500", path="/sessions/online", method="POST", count=1)
    with pytest.raises(errors.KSeFServerError):
        client.open_online_session()
    assert count(emulator, "POST", "/sessions/online") == 1 and client.slept == []
    assert client.open_online_session().reference_number     # the caller opens again later


def test_batch_open_is_not_retried_after_a_timeout(emulator, connect):
    client = connect(SELLER_NIP, timeout=(2, 1))
    emulator.reset_counters()
    emulator.faults.add("timeout", path="/sessions/batch", method="POST", count=1, seconds=2)
    with pytest.raises(errors.KSeFTimeoutError) as info:
        client.open_batch_session([("a.xml", sample_invoice())])
    assert "may or may not" in info.value.message
    assert count(emulator, "POST", "/sessions/batch") == 1 and client.slept == []


def test_listed_post_is_retried_after_5xx(emulator, connect):
    client = connect(login=False)
    emulator.reset_counters()
    emulator.faults.add("http503", path="/auth/challenge", method="POST", count=1)
    client.authenticate_with_token(SELLER_NIP, emulator.make_ksef_token(SELLER_NIP))
    assert count(emulator, "POST", "/auth/challenge") == 2
    assert count(emulator, "POST", "/auth/ksef-token") == 1


def test_get_is_retried_after_a_timeout(emulator, connect):
    client = connect(SELLER_NIP, timeout=(2, 1))
    session = client.open_online_session()
    emulator.reset_counters()
    emulator.faults.add("timeout", path=SESSION_STATUS, method="GET", count=1, seconds=2)
    assert client.session_status(session.reference_number).code == 100
    assert count(emulator, "GET", SESSION_STATUS) == 2 and len(client.slept) == 1


def test_one_sleep_for_retries_and_polling(emulator):
    from ksef.client import KSeFClient
    client = KSeFClient(emulator.url)
    waits = []
    client.sleep = waits.append
    assert client.transport.sleep is client.sleep
    client.transport.sleep(0.5)
    assert waits == [0.5]
    client.close()
