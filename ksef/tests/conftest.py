"""Shared pytest fixtures: a running KSeF emulator and OpenAPI validation of real HTTP traffic.

* ``emulator`` (module scope): ``Emulator(schema_dir=<repo>/../shared/ksef/schemas/FA)`` on a
  free 127.0.0.1 port; faults, unavailability and rate limits are reset after every test.
* ``openapi_check(response)``: validates the request that produced a ``requests`` response and
  the response itself against the official OpenAPI (openapi-core), mapping the emulator URL
  onto the spec's server ``https://api-test.ksef.mf.gov.pl/v2``. Responses from URLs outside
  /v2 (pre-signed download links) are not in the spec and are skipped, and so is the body of
  5xx answers (the spec describes none). Returns the response.
* ``openapi_spec``: the loaded ``openapi_core.OpenAPI`` (session scope), or skip if unavailable.

The shared OpenAPI file is API 2.6.0. ``load_openapi_document()`` adds the official API 2.7
definitions our code uses (collective identifiers, PUT /testdata/certificates/{serialNumber},
the 2.7 permission and rate-limit enums) from ``openapi/ksef-api-2.7-additions.json`` (a fragment
of the ministry's open-api.json, see its ``x-source``), so those operations are validated too.
"""
import json
import os
import urllib.parse

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "ksef")
OPENAPI_FILE = os.path.join(SHARED, "openapi", "ksef-api-v2.openapi.json")
FA_SCHEMA_DIR = os.path.join(SHARED, "schemas", "FA")
SPEC_HOST = "https://api-test.ksef.mf.gov.pl"
OPENAPI_ADDITIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi",
                                 "ksef-api-2.7-additions.json")


def load_openapi_document():
    """The shared 2.6.0 OpenAPI document with the official 2.7 additions merged in: their paths
    are added (a path already there gets the new methods) and their schemas replace or extend
    ``components.schemas``."""
    with open(OPENAPI_FILE, encoding="utf-8") as handle:
        document = json.load(handle)
    with open(OPENAPI_ADDITIONS, encoding="utf-8") as handle:
        additions = json.load(handle)
    for path, item in additions["paths"].items():
        document["paths"].setdefault(path, {}).update(item)
    document["components"]["schemas"].update(additions["components"]["schemas"])
    return document


@pytest.fixture(scope="module")
def emulator():
    from ksef.emulator import Emulator
    schema_dir = FA_SCHEMA_DIR if os.path.isdir(FA_SCHEMA_DIR) else None
    emu = Emulator(schema_dir=schema_dir)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(autouse=True)
def _reset_emulator_between_tests(request):
    """Clear per-test emulator settings (faults, unavailability, rate limits) after each test."""
    yield
    if "emulator" in request.fixturenames:
        emu = request.getfixturevalue("emulator")
        emu.faults.clear()
        emu.set_unavailable(False)
        emu.set_rate_limits("off")
        emu.rate_limiter.overrides.clear()


@pytest.fixture(scope="session")
def openapi_spec():
    try:
        from openapi_core import Config, OpenAPI
    except ImportError:  # pragma: no cover
        pytest.skip("openapi-core is not installed")
    if not os.path.exists(OPENAPI_FILE):  # pragma: no cover
        pytest.skip("official OpenAPI file not found at %s" % OPENAPI_FILE)
    # problem+json bodies are JSON too (openapi-core only knows application/json by default);
    # XML bodies (UPO, invoices, AuthTokenRequest) are declared as plain strings in the spec
    config = Config(extra_media_type_deserializers={
        "application/problem+json": json.loads,
        "application/xml": lambda data: data.decode("utf-8") if isinstance(data, bytes) else data})
    return OpenAPI.from_dict(load_openapi_document(), config=config)


def _mapped_request(prepared):
    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    class _Mapped(RequestsOpenAPIRequest):
        @property
        def host_url(self):
            return SPEC_HOST

    return _Mapped(prepared)


def check_against_openapi(spec, response, validate_request=True):
    """Validate ``response`` (and its request) of the emulator; raise on any mismatch."""
    from openapi_core.contrib.requests import RequestsOpenAPIResponse
    path = urllib.parse.urlsplit(response.request.url).path
    if not path.startswith("/v2/"):
        return response
    request = _mapped_request(response.request)
    if validate_request:
        spec.validate_request(request)
    if response.status_code >= 500:  # 5xx answers are not described by the official OpenAPI
        return response
    spec.validate_response(request, RequestsOpenAPIResponse(response))
    return response


@pytest.fixture
def openapi_check(openapi_spec):
    """``openapi_check(response, validate_request=True)`` -> response, raising on a mismatch."""
    def check(response, validate_request=True):
        return check_against_openapi(openapi_spec, response, validate_request)
    return check
