"""ksef.archive / sync.read_package: archives are refused before they are unpacked when they
would go beyond KSeF's own limits, with bounded memory; broken and lying archives are refused."""
import io
import struct
import time
import tracemalloc
import zipfile
import zlib

import pytest

from ksef import archive, sync
from ksef.errors import ArchiveInvalid, ArchiveTooLarge, KSeFPackageError

NUMBER = "5265877635-20260215-0100001AF629-AF"


def _raw_zip(entries):
    """A ZIP written by hand: ``entries`` = [(name, deflated bytes, crc, declared size)], so the
    headers can say what a real ZIP writer never would."""
    out = io.BytesIO()
    central = []
    for text, data, crc, size in entries:
        name = text.encode()
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size,
                              len(name), 0) + name + data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc,
                                   len(data), size, len(name), 0, 0, 0, 0, 0, offset) + name)
    start = out.tell()
    for record in central:
        out.write(record)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central),
                          out.tell() - start, start, 0))
    return out.getvalue()


def _deflate_zeros(total, chunk=1024 * 1024):
    """Raw deflate of ``total`` zero bytes and its CRC, without ``total`` bytes in memory: one
    chunk compressed with a full flush (the compressor forgets everything), repeated, then an
    empty final block."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(chunk)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(total // chunk):
        crc = zlib.crc32(zeros, crc)
    data = block * (total // chunk) + b"\x03\x00"
    assert zlib.decompressobj(-15).decompress(data[:len(block) * 2 + 2], 10) == bytes(10)
    return data, crc


def _package(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as handle:
        for name, data in files:
            handle.writestr(name, data)
    return buffer.getvalue()


def _measured(call):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ArchiveTooLarge) as info:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return info.value, time.perf_counter() - start, peak


@pytest.fixture(scope="module")
def bomb_600mb():
    data, crc = _deflate_zeros(600 * 1024 * 1024)
    return data, crc


def test_600kb_that_unpacks_to_600mb_is_refused_quickly_in_bounded_memory(bomb_600mb):
    data, crc = bomb_600mb
    one = _raw_zip([("%s.xml" % NUMBER, data, crc, 600 * 1024 * 1024)])
    assert len(one) < 700 * 1024
    # in a KSeF package it is one document above an invoice's maximum: never inflated, it
    # becomes a refused document (the other invoices of the package are still imported)
    started = time.monotonic()
    tracemalloc.start()
    try:
        _metadata, files = sync.read_package(one)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert files == {NUMBER: None}
    assert time.monotonic() - started < 2 and peak < 50 * 1024 * 1024
    # read_zip's default: any file above one invoice's maximum refuses the archive
    exc, seconds, peak = _measured(lambda: archive.read_zip(one))
    assert exc.reason == "entry" and exc.limit == 3000000 and "at most 3000000 bytes" in exc.message
    assert seconds < 2 and peak < 50 * 1024 * 1024
    # the same 600 MB as 200 files of 3 MB each (each within the invoice limit): a zip bomb
    small, small_crc = _deflate_zeros(3000000, chunk=1000000)
    many = _raw_zip([("%d.xml" % i, small, small_crc, 3000000) for i in range(200)])
    assert len(many) < 1024 * 1024
    exc, seconds, peak = _measured(lambda: sync.read_package(many))
    assert exc.reason == "ratio" and exc.limit == archive.MAX_RATIO and "zip bomb" in exc.message
    assert seconds < 2 and peak < 50 * 1024 * 1024


def test_too_many_entries():
    entries = [("%05d.xml" % i, b"\x03\x00", 0, 0) for i in range(10002)]   # empty deflate
    with pytest.raises(ArchiveTooLarge) as info:
        sync.read_package(_raw_zip(entries))
    assert info.value.reason == "entries" and info.value.limit == 10001
    assert "holds 10002 files; at most 10001" in info.value.message
    # 10,000 invoices + the metadata file are fine
    assert len(archive.read_zip(_raw_zip(entries[:10001]))) == 10001


def test_header_that_lies_about_the_size():
    content = b"<Faktura>" + b"x" * 5000 + b"</Faktura>"
    deflated = zlib.compress(content)[2:-4]
    crc = zlib.crc32(content)
    for declared in (100, len(content) + 100):      # says less / more than it unpacks to
        with pytest.raises(ArchiveInvalid) as info:
            sync.read_package(_raw_zip([("%s.xml" % NUMBER, deflated, crc, declared)]))
        assert info.value.reason in ("broken", "size") and isinstance(info.value, KSeFPackageError)
    assert archive.read_zip(_raw_zip([("a.xml", deflated, crc, len(content))])) == [
        ("a.xml", content)]


def test_broken_duplicate_and_total():
    good = _package([("_metadata.json", b'{"invoices": []}'), ("%s.xml" % NUMBER, b"<a/>")])
    assert sync.read_package(good) == ([], {NUMBER: b"<a/>"})
    for broken in (b"PK\x03\x04 not a zip", good[:len(good) // 2], b""):
        with pytest.raises(ArchiveInvalid) as info:
            sync.read_package(broken)
        assert info.value.reason == "broken" and "not a readable ZIP" in info.value.message
    twice = _raw_zip([("a.xml", b"\x03\x00", 0, 0), ("a.xml", b"\x03\x00", 0, 0)])
    with pytest.raises(ArchiveInvalid) as info:
        sync.read_package(twice)
    assert info.value.reason == "duplicate"
    data = _package([("%d.xml" % i, bytes(range(256)) * 40) for i in range(5)])
    with pytest.raises(ArchiveTooLarge) as info:
        sync.read_package(data, max_total=30000)
    assert info.value.reason == "total" and info.value.limit == 30000


def test_invalid_utf8_in_an_invoice_of_a_package_is_a_clear_document_error():
    bad = b'<?xml version="1.0" encoding="UTF-8"?><Faktura>Za\xbf\xf3\xb3\xe6</Faktura>'
    metadata, files = sync.read_package(_package([
        ("_metadata.json", b'{"invoices": [{"ksefNumber": "%s"}]}' % NUMBER.encode()),
        ("%s.xml" % NUMBER, bad)]))
    doc = sync.check_document(NUMBER, metadata[0], files[NUMBER])
    assert not doc.ok and "not valid UTF-8" in str(doc.error)
