"""Methods the API does not define on a path get 405 with an Allow header; unknown paths 404."""
import http.client
import urllib.parse

import pytest


def _raw(emulator, method, path):
    parts = urllib.parse.urlsplit(emulator.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request(method, parts.path + path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "HEAD", "PATCH", "PUT", "FOO"])
def test_undefined_method_on_a_path_is_405_with_allow(emulator, method):
    status, headers, body = _raw(emulator, method, "/tokens")
    assert status == 405 and headers["Allow"] == "GET, POST"
    assert body == b"" if method == "HEAD" else b"Method Not Allowed" in body
    status, headers, _body = _raw(emulator, method, "/sessions/20250101-SO-0000000000-0000000000-00")
    assert status == 405 and headers["Allow"] == "GET"


def test_more_specific_paths_and_unknown_paths(emulator):
    status, headers, _body = _raw(emulator, "DELETE", "/sessions/online")
    assert status == 405 and headers["Allow"] == "POST"
    status, headers, _body = _raw(emulator, "TRACE", "/auth/sessions/current")
    assert status == 405 and headers["Allow"] == "DELETE"
    for method in ("GET", "TRACE"):
        status, headers, _body = _raw(emulator, method, "/no/such/path")
        assert status == 404 and "Allow" not in headers
