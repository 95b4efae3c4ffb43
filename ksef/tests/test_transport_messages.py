"""Connection failures are told in words a user can act on (and translate), never as a Python
class name; the operation is a marked msgid or a Text with its parameters."""
import socket

import pytest

from ksef import errors
from ksef.i18n import Text
from ksef.transport import Transport


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def failure(url, path="/security/public-key-certificates"):
    with pytest.raises(errors.KSeFTransportError) as caught:
        Transport(url, max_retries=0, timeout=2).request("GET", path, operation="download KSeF public keys")
    return caught.value


def test_refused_connection_is_named_and_nothing_was_sent():
    exc = failure("http://127.0.0.1:%d/v2" % closed_port())
    assert exc.sent is False
    assert isinstance(exc.params["error"], Text)
    assert "connection was refused" in exc.message
    assert "ConnectionError" not in exc.message
    assert "download KSeF public keys" in exc.message


def test_invalid_address_is_named():
    exc = failure("http://[::1/v2")
    assert "not a valid URL" in exc.message
    assert "Error" not in str(exc.params["error"])


def test_every_operation_is_marked_for_translation():
    """No call site passes an unmarked English operation: each is ``_("...")`` or a ``Text``."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    unmarked = []
    for path in root.glob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r'operation="[^"]', line):
                unmarked.append("%s:%d" % (path.name, number))
    assert not unmarked, unmarked
