"""The stepwise batch session (ksef.batch.BatchSession) over real HTTP: open, upload, close, status,
invoices, UPO, and the resume state after a crash between any two steps (a new client, as in the
next cron run, continues from ``to_dict()`` passed through JSON)."""
import json

import pytest

from ksef import errors
from ksef.tests.client_support import (
    SELLER_NIP,
    ClientFactory,
    assert_valid_upo,
    count,
    sample_invoice,
)

OPEN = "/sessions/batch"
CLOSE = "/sessions/batch/{referenceNumber}/close"
PART = "/storage/batch/{referenceNumber}/{ordinalNumber}"
PART_SIZE = 2500          # a few parts for a handful of sample invoices


class Crash(Exception):
    """A worker killed between two steps."""


@pytest.fixture
def connect(emulator, openapi_check):
    factory = ClientFactory(emulator, openapi_check)
    yield factory
    factory.close()


def _files(count_=6):
    return [("inv-%02d.xml" % i, sample_invoice()) for i in range(count_)]


def _next_run(connect, client, state):
    """What the next cron run has: a new client logged in with the stored tokens, and the state
    as it comes back from the database (JSON)."""
    other = connect(login=False)
    other.use_tokens(client.tokens.to_dict())
    return other.resume_batch_session(json.loads(json.dumps(state)))


def _assert_all_accepted(session, files):
    status = session.wait(timeout=10, poll_interval=0.1)
    assert status.code == 200, status
    listed = session.invoices()
    assert sorted(item.invoice_file_name for item in listed) == sorted(name for name, _xml in files)
    assert all(item.is_success for item in listed)
    for item in listed:
        assert session.file_for_hash(item.invoice_hash) == item.invoice_file_name
    pages = session.upo_pages(status)
    assert len(pages) == 1
    assert_valid_upo(pages[0])
    return listed


def test_state_is_complete_and_json_safe_before_any_upload(emulator, connect):
    client = connect(SELLER_NIP)
    files = _files()
    emulator.reset_counters()
    session = client.open_batch_session(files, part_size=PART_SIZE)
    assert count(emulator, "POST", OPEN) == 1 and count(emulator, "PUT", PART) == 0
    state = session.to_dict()
    assert json.loads(json.dumps(state)) == state
    assert state["reference_number"] == session.reference_number
    assert state["key"] and state["iv"] and not state["uploaded"] and not state["closed"]
    assert len(state["uploads"]) == session.part_count > 1
    assert sorted(state["files"]) == [name for name, _xml in files]


def test_crash_after_open_resumes_upload_in_the_next_run(emulator, connect):
    client = connect(SELLER_NIP)
    files = _files()
    emulator.reset_counters()
    state = client.open_batch_session(files, part_size=PART_SIZE).to_dict()
    # crash: nothing uploaded; the next run rebuilds the parts from the same files
    session = _next_run(connect, client, state)
    assert session.pending_parts == list(range(1, session.part_count + 1))
    session.upload(files)
    session.close()
    _assert_all_accepted(session, files)
    assert count(emulator, "POST", OPEN) == 1
    assert count(emulator, "PUT", PART) == session.part_count
    assert count(emulator, "POST", CLOSE) == 1


def test_crash_after_some_parts_uploads_only_the_rest(emulator, connect):
    client = connect(SELLER_NIP)
    files = _files()
    session = client.open_batch_session(files, part_size=PART_SIZE)
    assert session.part_count >= 3
    stored = {}

    def store_then_crash(current, number):
        stored["state"] = current.to_dict()      # what the caller commits after each part
        if number == 2:
            raise Crash()
    emulator.reset_counters()
    with pytest.raises(Crash):
        session.upload(on_part=store_then_crash)
    assert stored["state"]["uploaded"] == [1, 2]
    resumed = _next_run(connect, client, stored["state"])
    assert resumed.pending_parts == list(range(3, session.part_count + 1))
    resumed.upload([(name, xml) for name, xml in reversed(files)])   # order does not matter
    assert resumed.pending_parts == []
    resumed.upload(files)                  # nothing left: no request
    assert count(emulator, "PUT", PART) == session.part_count
    resumed.upload(files, again=True)      # re-uploading a part is allowed until the close
    assert count(emulator, "PUT", PART) == 2 * session.part_count
    resumed.close()
    _assert_all_accepted(resumed, files)


def test_crash_after_close_reads_the_outcome(emulator, connect):
    client = connect(SELLER_NIP)
    files = _files(3)
    session = client.open_batch_session(files)
    session.upload()
    session.close()
    state = session.to_dict()
    assert state["closed"] and state["uploaded"] == [1]
    emulator.reset_counters()
    resumed = _next_run(connect, client, state)
    with pytest.raises(errors.KSeFConfigError):
        resumed.upload(files)              # closed: nothing more to upload
    listed = _assert_all_accepted(resumed, files)
    assert count(emulator, "POST", CLOSE) == 0 and count(emulator, "PUT", PART) == 0
    # the session known only by its reference gives the same outcome
    by_reference = client.resume_batch_session(session.reference_number)
    assert by_reference.status().code == 200
    assert {i.ksef_number for i in by_reference.invoices()} == {i.ksef_number for i in listed}
    with pytest.raises(errors.KSeFConfigError):
        by_reference.upload(files)


def test_close_answer_lost_is_told_by_the_status(emulator, connect):
    client = connect(SELLER_NIP, timeout=(2, 2))
    files = _files(2)
    session = client.open_batch_session(files)
    session.upload()
    emulator.faults.add("drop_after_accept", path=CLOSE, method="POST")
    emulator.reset_counters()
    with pytest.raises(errors.KSeFTimeoutError):
        session.close()
    assert count(emulator, "POST", CLOSE) == 1            # never repeated by the transport
    assert not session.closed
    assert session.status().code in (150, 200)           # KSeF did close it: do not close again
    _assert_all_accepted(session, files)


def test_resume_with_other_files_uploads_nothing(emulator, connect):
    client = connect(SELLER_NIP)
    files = _files(2)
    state = client.open_batch_session(files).to_dict()
    resumed = _next_run(connect, client, state)
    emulator.reset_counters()
    changed = [(files[0][0], sample_invoice()), files[1]]
    with pytest.raises(errors.KSeFConfigError) as info:
        resumed.upload(changed)
    assert "differ" in info.value.message
    with pytest.raises(errors.KSeFConfigError):
        resumed.upload()                   # the files are needed after a restart
    assert count(emulator, "PUT", PART) == 0


def test_storage_upload_retried_on_5xx_and_timeout(emulator, connect):
    client = connect(SELLER_NIP, timeout=(2, 1))
    files = _files(2)
    session = client.open_batch_session(files)
    emulator.faults.add("http500", path=PART, method="PUT", count=1)
    emulator.faults.add("timeout", path=PART, method="PUT", count=1, seconds=2)
    emulator.reset_counters()
    session.upload(timeout=1)
    assert count(emulator, "PUT", PART) == 3           # 500, no answer, stored
    assert len(client.slept) == 2                      # through the transport's sleep
    session.close()
    _assert_all_accepted(session, files)


def test_storage_refusal_is_not_retried_and_names_the_part(emulator, connect):
    client = connect(SELLER_NIP)
    session = client.open_batch_session(_files(1))
    session.uploads[1]["headers"]["Authorization"] = "Bearer %s" % client.tokens.access_token
    emulator.reset_counters()
    with pytest.raises(errors.KSeFAPIError) as info:
        session.upload()
    assert info.value.http_status == 400 and "part 1" in info.value.message
    assert info.value.reference_number == session.reference_number
    assert count(emulator, "PUT", PART) == 1 and session.pending_parts == [1]


def test_storage_unreachable_after_retries_is_a_transport_error(emulator, connect):
    client = connect(SELLER_NIP, max_retries=2)
    session = client.open_batch_session(_files(1))
    emulator.faults.add("http503", path=PART, method="PUT", count=None)
    emulator.reset_counters()
    with pytest.raises(errors.KSeFTransportError) as info:
        session.upload()
    assert "could not be uploaded" in info.value.message
    assert count(emulator, "PUT", PART) == 3


def test_open_refused_locally_before_any_request(emulator, connect):
    client = connect(SELLER_NIP)
    emulator.reset_counters()
    with pytest.raises(errors.KSeFConfigError):
        client.open_batch_session([("a.xml", sample_invoice()), ("a.xml", sample_invoice())])
    with pytest.raises(errors.KSeFConfigError):
        client.open_batch_session([])
    assert count(emulator, "POST", OPEN) == 0
