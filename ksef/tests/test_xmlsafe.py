"""ksef.xmlsafe refuses hostile XML: XXE (general, parameter, external DTD), billion laughs,
deep nesting, oversize (before parsing), bytes that are not UTF-8; it never reads a file or the
network and never expands an entity."""
import time
import tracemalloc

import pytest

from ksef import xmlsafe
from ksef.errors import XMLSecurityError


def _refused(data, reason, **kwargs):
    with pytest.raises(XMLSecurityError) as info:
        xmlsafe.parse(data, **kwargs)
    assert info.value.reason == reason, info.value.message
    assert info.value.template and "%(what)s" in info.value.template
    return info.value


def test_xxe_variants(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    url = ("file://%s" % secret).encode()
    general = b'<!DOCTYPE a [<!ENTITY x SYSTEM "%s">]><a>&x;</a>' % url
    parameter = b'<!DOCTYPE a [<!ENTITY % p SYSTEM "' + url + b'"> %p;]><a/>'
    external = b'<!DOCTYPE a SYSTEM "' + url + b'"><a/>'
    network = b'<!DOCTYPE a [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]><a>&x;</a>'
    for data in (general, parameter, external, network):
        try:
            xmlsafe.parse(data)
        except XMLSecurityError as exc:
            assert exc.reason in ("dtd", "malformed") and "TOP SECRET" not in exc.message
        else:  # pragma: no cover
            pytest.fail("accepted: %r" % data)
    _refused(general, "dtd")


def test_billion_laughs_is_refused_quickly_without_expansion():
    entities = b"".join(b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 10))
    data = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY l0 "lol">' + entities + b"]><a>&l9;</a>"
    tracemalloc.start()
    start = time.perf_counter()
    try:
        _refused(data, "dtd")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1 and peak < 5 * 1024 * 1024


def test_deep_nesting_is_refused():
    exc = _refused(b"<a>" * 10000 + b"</a>" * 10000, "depth")
    assert "deeper than 256 levels" in exc.message
    assert xmlsafe.parse(b"<a>" * 200 + b"</a>" * 200) is not None


def test_oversize_is_refused_before_parsing():
    exc = _refused(b"<a>" + b"x" * 2000 + b"</a>", "oversize", max_bytes=1000, what="invoice XML")
    assert exc.params == {"what": "invoice XML", "size": 2007, "limit": 1000}
    _refused(b" " * (xmlsafe.DEFAULT_MAX_BYTES + 1), "oversize")


def test_invalid_utf8_is_refused_with_its_position():
    exc = _refused(b'<?xml version="1.0" encoding="UTF-8"?><a>Za\xbf\xf3\xb3\xe6</a>', "encoding")
    assert "not valid UTF-8 text (byte 0xBF at position 43)" in exc.message
    _refused(b"<a>\xc3\x28</a>", "encoding")
    # other declared encodings and UTF-16 with a BOM are decoded by libxml2
    text = "<a>Zażółć</a>"
    latin2 = ('<?xml version="1.0" encoding="ISO-8859-2"?>' + text).encode("iso-8859-2")
    assert xmlsafe.parse(latin2).text == "Zażółć"
    assert xmlsafe.parse(text.encode("utf-16")).text == "Zażółć"
    assert xmlsafe.parse(b"\xef\xbb\xbf" + text.encode()).text == "Zażółć"


def test_malformed_is_refused():
    _refused(b"<a><b></a>", "malformed")
    _refused(b"", "malformed")
