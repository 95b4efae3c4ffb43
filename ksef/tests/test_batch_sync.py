"""Batch sessions (ksef.batch) and the purchase sync (ksef.sync) against the emulator, over HTTP.

Every /v2 exchange of the client is validated against the official OpenAPI (openapi_check hook).
"""
import collections
import io
import random
import time
import zipfile

import pytest
from lxml import etree

from ksef import batch, crypto, errors, sync
from ksef.nip import make_nip
from ksef.tests.client_support import (
    FA_SCHEMA_DIR,
    assert_valid_upo,
    invalid_invoice,
    make_client,
    sample_invoice,
)

SELLER = "9999999999"          # seller NIP of the official samples
UPO_NS = "{http://upo.schematy.mf.gov.pl/KSeF/v4-3}"
HOSTILE = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><Faktura>&lol2;</Faktura>')


def _nip():
    while True:
        nip = make_nip(str(random.randint(100000000, 999999999)))
        if nip and nip[1:3] != "00":
            return nip


def _client(emu, nip, openapi_check):
    client = make_client(emu.url, openapi_check)
    client.authenticate_with_token(nip, emu.make_ksef_token(nip))
    return client


def _api_requests(emu):
    """API requests served (/v2 operations; storage links are not KSeF API calls)."""
    return {k: v for k, v in emu.counters.items() if " /storage/" not in k}


@pytest.fixture
def knobs(emulator):
    """Restore the emulator's export/HWM knobs after a test."""
    saved = {k: getattr(emulator, k) for k in ("hwm_fixed", "export_invoice_cap", "export_part_size",
                                               "query_record_cap", "batch_max_uncompressed",
                                               "export_delay")}
    yield emulator
    for key, value in saved.items():
        setattr(emulator, key, value)


# --- batch sessions -----------------------------------------------------------------------------

def test_batch_of_50_all_accepted_with_upo(emulator, openapi_check):
    client = _client(emulator, SELLER, openapi_check)
    files = {"inv-%02d.xml" % i: sample_invoice() for i in range(50)}
    emulator.reset_counters()
    result = client.send_batch(files, part_size=20000)         # several parts
    assert result.part_count > 1
    assert set(result.files) == set(files)
    assert result.files["inv-07.xml"] == crypto.sha256_b64(files["inv-07.xml"])
    status = batch.wait_for_batch(client, result.reference_number, timeout=10)
    assert status.code == 200, status
    assert (status.invoice_count, status.successful_invoice_count, status.failed_invoice_count) == (50, 50, 0)
    listed = client.list_session_invoices(result.reference_number)
    assert len(listed) == 50
    assert all(item.code == 200 for item in listed)
    assert len({item.ksef_number for item in listed}) == 50
    for item in listed:       # hashes map back to the file names
        assert result.file_for_hash(item.invoice_hash) == item.invoice_file_name
        assert item.invoicing_mode == "Online"
    assert len(status.upo_pages) == 1
    upo = assert_valid_upo(client.get_session_upo(result.reference_number,
                                                  status.upo_pages[0].reference_number))
    numbers = {el.text for el in upo.iter(UPO_NS + "NumerKSeFDokumentu")}
    assert numbers == {item.ksef_number for item in listed}
    counts = _api_requests(emulator)
    assert counts.get("POST /sessions/batch") == 1
    assert counts.get("POST /sessions/batch/{referenceNumber}/close") == 1
    assert counts.get("GET /sessions/{referenceNumber}/invoices") == 1     # 1000 per page
    assert sum(counts.values()) <= 8, counts
    assert emulator.counters["PUT /storage/batch/{referenceNumber}/{ordinalNumber}"] == result.part_count
    assert client.checked >= 5


def test_batch_one_invalid_invoice_fails_alone(emulator, openapi_check):
    client = _client(emulator, SELLER, openapi_check)
    files = {"ok-%d.xml" % i: sample_invoice() for i in range(4)}
    files["broken.xml"] = invalid_invoice()
    result = batch.send_batch(client, files)
    status = batch.wait_for_batch(client, result.reference_number, timeout=10)
    assert status.code == 200
    assert (status.successful_invoice_count, status.failed_invoice_count) == (4, 1)
    failed = client.list_session_invoices(result.reference_number, failed_only=True)
    assert [(f.invoice_file_name, f.code) for f in failed] == [("broken.xml", 430)]
    assert failed[0].invoice_hash == result.files["broken.xml"]


def test_batch_duplicate_and_offline_mode(emulator, openapi_check):
    client = _client(emulator, SELLER, openapi_check)
    xml = sample_invoice()
    result = client.send_batch({"a.xml": xml, "b.xml": xml}, offline_mode=True)
    status = batch.wait_for_batch(client, result.reference_number, timeout=10)
    by_name = {i.invoice_file_name: i for i in client.list_session_invoices(result.reference_number)}
    codes = sorted(i.code for i in by_name.values())
    assert codes == [200, 440] and status.code == 200
    ok = next(i for i in by_name.values() if i.code == 200)
    assert ok.invoicing_mode == "Offline"


def test_batch_zip_bomb_refused(emulator, openapi_check, knobs):
    client = _client(emulator, SELLER, openapi_check)
    emulator.batch_max_uncompressed = 2 * 1000 * 1000
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(3):           # 3 x 1.5 MB of zeros: ~5 KB compressed
            archive.writestr("bomb-%d.xml" % i, b"\0" * 1500000)
    data = buffer.getvalue()
    assert len(data) < 50000
    result = batch.send_archive(client, data)
    status = batch.wait_for_batch(client, result.reference_number, timeout=10)
    assert status.code == 430, status
    assert "bomba" in " ".join(status.details)
    # an entry over the invoice limit alone fails that invoice, not the session
    emulator.batch_max_uncompressed = 2 * 1024 ** 3
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("huge.xml", random.Random(5).randbytes(2000000).hex().encode())
        archive.writestr("ok.xml", sample_invoice())
    result = batch.send_archive(client, buffer.getvalue())
    status = batch.wait_for_batch(client, result.reference_number, timeout=10)
    listed = {i.invoice_file_name: i.code for i in client.list_session_invoices(result.reference_number)}
    assert status.code == 200 and listed == {"huge.xml": 430, "ok.xml": 200}


def test_batch_bad_parts_refused(emulator, openapi_check):
    client = _client(emulator, SELLER, openapi_check)
    archive, _hashes = batch.build_archive({"a.xml": sample_invoice()})
    key, iv = crypto.new_aes_key(), crypto.new_iv()
    # a part that is not AES output (length not a multiple of 16) -> 435
    garbage = b"not encrypted at all"
    ref, uploads = batch.open_batch(client, batch.describe_archive(archive, [garbage]), key, iv)
    assert "Authorization" not in uploads[1]["headers"]
    batch.upload_part(client, uploads[1], garbage, ref)
    batch.close_batch(client, ref)
    assert client.session_status(ref).code == 435
    # a part whose content differs from what was declared -> 405
    good = crypto.aes_encrypt(archive, key, iv)
    ref, uploads = batch.open_batch(client, batch.describe_archive(archive, [good]), key, iv)
    batch.upload_part(client, uploads[1], bytes(reversed(good)), ref)
    batch.close_batch(client, ref)
    assert client.session_status(ref).code == 405
    # a missing part: close refused (21205), wrong size: 21157
    ref, uploads = batch.open_batch(client, batch.describe_archive(archive, [good]), key, iv)
    with pytest.raises(errors.KSeFBadRequest) as info:
        batch.close_batch(client, ref)
    assert info.value.exception_code == 21205
    batch.upload_part(client, uploads[1], good + b"0" * 16, ref)
    with pytest.raises(errors.KSeFBadRequest) as info:
        batch.close_batch(client, ref)
    assert info.value.exception_code == 21157
    # the storage refuses the KSeF access token
    with pytest.raises(errors.KSeFAPIError):
        batch.upload_part(client, dict(uploads[1], headers={
            "Authorization": "Bearer %s" % client.tokens.access_token}), good, ref)


def test_batch_open_validation(emulator):
    client = _client(emulator, SELLER, None)      # the OpenAPI itself forbids 51 parts
    archive, _hashes = batch.build_archive({"a.xml": sample_invoice()})
    key, iv = crypto.new_aes_key(), crypto.new_iv()
    described = batch.describe_archive(archive, [b"x" * 16] * 51)
    with pytest.raises(errors.KSeFBadRequest) as info:
        batch.open_batch(client, described, key, iv)
    assert info.value.exception_code == 21161
    with pytest.raises(errors.KSeFConfigError):
        batch.build_archive({"x%d.xml" % i: b"<a/>" for i in range(10001)})


# --- purchase sync ------------------------------------------------------------------------------

def _sync_all(client, checkpoint=None, use_export=None, limit=50):
    """fetch_increment until complete -> (all docs, increments)."""
    docs, increments = [], []
    seen = frozenset()
    for _ in range(limit):
        inc = sync.fetch_increment(client, "Subject2", checkpoint, use_export=use_export, seen=seen)
        increments.append(inc)
        docs.extend(inc.invoices)
        assert inc.new_checkpoint >= inc.checkpoint
        checkpoint, seen = inc.new_checkpoint, inc.boundary_numbers
        if inc.is_complete:
            return docs, increments
    raise AssertionError("sync did not complete")


def test_sync_export_paging_and_truncation(emulator, openapi_check, knobs):
    buyer = _nip()
    numbers = emulator.seed_incoming_invoices(buyer, 500, seed=11)
    emulator.seed_incoming_invoices(_nip(), 20, seed=12)        # someone else's: never seen
    emulator.advance_hwm()
    emulator.export_invoice_cap = 120
    emulator.export_part_size = 40000                            # several parts per package
    client = _client(emulator, buyer, openapi_check)
    emulator.reset_counters()
    docs, increments = _sync_all(client)
    got = collections.Counter(doc.ksef_number for doc in docs)
    assert set(got) == set(numbers)
    assert max(got.values()) == 1, "a KSeF number came twice across increments"
    assert [inc.is_truncated for inc in increments] == [True] * 4 + [False]
    assert all(doc.ok for doc in docs)
    doc = docs[0]
    root = etree.fromstring(doc.xml)
    assert root.tag.endswith("Faktura") and doc.metadata["buyer"]["identifier"]["value"] == buyer
    assert doc.metadata["invoiceHash"] == crypto.sha256_b64(doc.xml)
    kinds = collections.Counter(d.metadata["invoiceType"] for d in docs)
    assert kinds["Vat"] > 400 and kinds["Kor"] > 5
    counts = _api_requests(emulator)
    assert counts["POST /invoices/exports"] == 5
    assert counts["GET /invoices/exports/{referenceNumber}"] == 5
    assert emulator.counters["GET /storage/export/{referenceNumber}/{ordinalNumber}"] > 5
    # a later run from the final checkpoint finds nothing new
    again = sync.fetch_increment(client, "Subject2", increments[-1].new_checkpoint,
                                 seen=increments[-1].boundary_numbers)
    assert again.invoices == [] and again.is_complete


def test_sync_query_path_with_truncation(emulator, openapi_check, knobs):
    buyer = _nip()
    numbers = emulator.seed_incoming_invoices(buyer, 30, seed=21)
    emulator.advance_hwm()
    emulator.query_record_cap = 12
    client = _client(emulator, buyer, openapi_check)
    emulator.reset_counters()
    docs, increments = _sync_all(client, use_export=False)
    got = collections.Counter(doc.ksef_number for doc in docs)
    assert set(got) == set(numbers) and max(got.values()) == 1
    assert increments[0].is_truncated and not increments[-1].is_truncated
    assert all(doc.ok for doc in docs)
    counts = _api_requests(emulator)
    assert counts["GET /invoices/ksef/{ksefNumber}"] >= 30
    assert "POST /invoices/exports" not in counts


def test_late_offline_invoice_is_caught(emulator, openapi_check, knobs):
    buyer = _nip()
    emulator.seed_incoming_invoices(buyer, 20, seed=31)
    emulator.advance_hwm()
    client = _client(emulator, buyer, openapi_check)
    first = sync.fetch_increment(client, "Subject2", None)
    assert len(first.invoices) == 20 and first.is_complete
    # an offline invoice issued weeks ago reaches KSeF only now
    late = emulator.seed_incoming_invoices(buyer, 1, offline_late=1, seed=32)
    assert sync.fetch_increment(client, "Subject2", first.new_checkpoint,
                                seen=first.boundary_numbers).invoices == []   # not final yet
    emulator.advance_hwm()
    second = sync.fetch_increment(client, "Subject2", first.new_checkpoint, seen=first.boundary_numbers)
    assert [doc.ksef_number for doc in second.invoices] == late
    meta = second.invoices[0].metadata
    assert meta["invoicingMode"] == "Offline"
    assert meta["issueDate"] < first.new_checkpoint.date().isoformat()
    assert second.new_checkpoint > first.new_checkpoint


@pytest.mark.parametrize("use_export", [True, False])
def test_hostile_documents_become_errors(emulator, openapi_check, knobs, use_export):
    buyer = _nip()
    good = emulator.seed_incoming_invoices(buyer, 3, seed=41)
    hostile = emulator.seed_raw_invoice(buyer, HOSTILE)
    broken = emulator.seed_raw_invoice(buyer, b"<Faktura><Fa>unclosed")
    # over the invoice limit but not a zip bomb (incompressible): a refused document, not inflated
    noise = random.Random(7).randbytes(3 * 1024 * 1024).hex().encode()
    huge = emulator.seed_raw_invoice(buyer, b"<Faktura>" + noise + b"</Faktura>")
    hwm = emulator.advance_hwm()
    client = _client(emulator, buyer, openapi_check)
    inc = sync.fetch_increment(client, "Subject2", None, use_export=use_export)
    by_number = {doc.ksef_number: doc for doc in inc.invoices}
    assert set(by_number) == set(good) | {hostile, broken, huge}
    assert all(by_number[n].ok for n in good)
    for number, word in ((hostile, "DOCTYPE"), (broken, "well-formed"), (huge, "large")):
        doc = by_number[number]
        assert doc.xml is None and word in doc.error, doc.error
        assert doc.metadata["ksefNumber"] == number
    assert inc.is_complete and abs((inc.new_checkpoint - hwm).total_seconds()) < 0.002
    assert len(inc.errors) == 3


def test_requests_per_1000_invoices_via_export(emulator, openapi_check, knobs):
    buyer = _nip()
    emulator.seed_incoming_invoices(buyer, 1000, seed=51)
    emulator.advance_hwm()
    client = _client(emulator, buyer, openapi_check)
    emulator.reset_counters()
    docs, _increments = _sync_all(client)
    assert len({d.ksef_number for d in docs}) == 1000
    used = sum(_api_requests(emulator).values())
    assert used <= 20, _api_requests(emulator)


def test_damaged_package_raises_without_result(emulator, openapi_check, knobs):
    buyer = _nip()
    emulator.seed_incoming_invoices(buyer, 5, seed=61)
    emulator.advance_hwm()
    client = _client(emulator, buyer, openapi_check)
    filters = {"subjectType": "Subject2", "dateRange": {
        "dateType": "PermanentStorage", "from": "2020-01-01T00:00:00Z",
        "to": "2020-03-01T00:00:00Z"}}
    ref, key, iv = sync.start_export(client, filters)
    status = sync.wait_for_export(client, ref)
    assert status["package"]["invoiceCount"] == 0
    since = sync.format_datetime(sync.utcnow() - sync.timedelta(days=1))
    filters["dateRange"] = {"dateType": "PermanentStorage", "from": since,
                            "restrictToPermanentStorageHwmDate": True}
    ref, key, iv = sync.start_export(client, filters)
    package = sync.wait_for_export(client, ref)["package"]
    blob_key = "export/%s/1" % ref
    original = emulator.blobs[blob_key]
    emulator.blobs[blob_key] = original[:-16] + bytes(16)
    with pytest.raises(errors.KSeFPackageError):
        sync.download_package(client, package, key, iv)
    emulator.blobs[blob_key] = original
    with pytest.raises(errors.KSeFPackageError):           # wrong key: cannot be decrypted
        sync.download_package(client, package, crypto.new_aes_key(), iv)
    metadata, files = sync.read_package(sync.download_package(client, package, key, iv))
    assert len(metadata) == 5 and len(files) == 5
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("_metadata.json", b'{"invoices": []}')
        for i in range(4):
            archive.writestr("%d.xml" % i, b"\0" * 3000000)
    with pytest.raises(errors.KSeFPackageError):
        sync.read_package(bomb.getvalue(), max_total=5000000)
    with pytest.raises(errors.KSeFPackageError):
        sync.read_package(b"PK\x03\x04 not a zip")


def test_export_part_download_goes_through_the_transport(emulator, openapi_check, knobs):
    """Storage GETs are retried by the transport (5xx, timeout) with its sleep; a refusal (4xx)
    is not retried and raises KSeFPackageError."""
    buyer = _nip()
    emulator.seed_incoming_invoices(buyer, 4, seed=81)
    emulator.advance_hwm()
    client = _client(emulator, buyer, openapi_check)
    since = sync.format_datetime(sync.utcnow() - sync.timedelta(days=1))
    filters = {"subjectType": "Subject2", "dateRange": {
        "dateType": "PermanentStorage", "from": since, "restrictToPermanentStorageHwmDate": True}}
    ref, key, iv = sync.start_export(client, filters)
    package = sync.wait_for_export(client, ref)["package"]
    part = "/storage/export/{referenceNumber}/{ordinalNumber}"
    emulator.faults.add("http500", path=part, method="GET", count=1)
    emulator.reset_counters()
    client.slept.clear()
    metadata, files = sync.read_package(sync.download_package(client, package, key, iv))
    assert len(files) == 4
    assert emulator.counters["GET " + part] == 2 and len(client.slept) == 1
    gone = dict(package, parts=[dict(p, url=p["url"] + "0") for p in package["parts"]])
    emulator.reset_counters()
    with pytest.raises(errors.KSeFPackageError) as info:
        sync.download_package(client, gone, key, iv)
    assert "HTTP 404" in info.value.message
    assert emulator.counters["GET " + part] == 1


def test_old_checkpoint_served_in_three_month_windows(emulator, openapi_check, knobs):
    buyer = _nip()
    emulator.seed_incoming_invoices(buyer, 3, seed=71)
    emulator.advance_hwm()
    client = _client(emulator, buyer, openapi_check)
    old = sync.utcnow() - sync.timedelta(days=200)
    first = sync.fetch_increment(client, "Subject2", old)
    assert not first.is_complete and first.invoices == []
    assert first.new_checkpoint == old.replace(microsecond=old.microsecond // 1000 * 1000) + sync.MAX_WINDOW
    docs, _incs = _sync_all(client, first.new_checkpoint)
    assert len(docs) == 3


def test_seeded_invoices_are_valid_fa3(emulator):
    if emulator.schema_dir is None:
        pytest.skip("no FA(3) schema")
    from ksef.fa3 import load_schema, validate_xml
    buyer = _nip()
    emulator.seed_incoming_invoices(buyer, 40, offline_late=2, seed=81)
    schema = load_schema(FA_SCHEMA_DIR)
    stored = [inv for inv in emulator.state.invoices_by_ksef_number.values()
              if inv["buyerIdentifier"].get("value") == buyer]
    assert len(stored) == 40 and len({inv["sellerNip"] for inv in stored}) >= 2
    for inv in stored:
        assert validate_xml(crypto.b64decode(inv["content"]), schema) == []
    rates = set()
    for inv in stored:
        rates.update(etree.fromstring(crypto.b64decode(inv["content"])).itertext())
    assert {"23", "8", "5", "zw"} <= rates
    assert sum(1 for inv in stored if inv["invoicingMode"] == "Offline") >= 2


def test_seeding_right_after_advance_hwm_lands_after_the_hwm(emulator):
    """Seeded invoices are stored after a freshly fixed HWM (no negative time step)."""
    emulator.advance_hwm()
    try:
        numbers = emulator.seed_incoming_invoices("5265877635", 20, seed=7)
        hwm = emulator.hwm_fixed
        for number in numbers:
            assert emulator.state.invoices_by_ksef_number[number]["permanentStorageTs"] > hwm
    finally:
        emulator.release_hwm()


def test_export_resumes_in_another_process_without_waiting(emulator, openapi_check, knobs):
    """begin/poll: nothing sleeps; the pending export survives to_dict/from_dict (a later run,
    a new client) and gives the same increment as the blocking fetch_increment."""
    buyer = _nip()
    numbers = emulator.seed_incoming_invoices(buyer, 25, seed=61)
    emulator.advance_hwm()
    emulator.export_delay = 1.5
    client = _client(emulator, buyer, openapi_check)
    slept = []
    client.sleep = slept.append
    pending = sync.begin_export_increment(client, "Subject2", None)
    assert sync.poll_export_increment(client, pending) is None          # KSeF still preparing
    stored = pending.to_dict()
    assert pending.key not in repr(stored).encode() and stored["key"]   # key is base64 text
    later = _client(emulator, buyer, openapi_check)                     # a later cron run
    later.sleep = slept.append
    resumed = sync.PendingExport.from_dict(stored)
    assert resumed.reference_number == pending.reference_number and resumed.key == pending.key
    increment = None
    deadline = pending.age() + 10
    while increment is None and resumed.age() < deadline:
        time.sleep(0.3)                                                 # the test's own pause
        increment = sync.poll_export_increment(later, resumed)
    assert slept == [], "no sleep on the stepwise path"
    assert sorted(doc.ksef_number for doc in increment.invoices) == sorted(numbers)
    assert increment.is_complete and increment.reference_number == pending.reference_number
    with pytest.raises(errors.KSeFConfigError):
        sync.PendingExport.from_dict({"reference_number": "x"})


def test_refused_export_raises_on_poll(emulator, openapi_check, knobs):
    buyer = _nip()
    client = _client(emulator, buyer, openapi_check)
    pending = sync.begin_export_increment(client, "Subject2", None)
    pending.reference_number = "20260101-EX-0000000000-0000000000-00"
    with pytest.raises(errors.KSeFError):
        sync.poll_export_increment(client, pending)
