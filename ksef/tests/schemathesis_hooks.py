"""Schemathesis hooks for run_schemathesis.sh (loaded with SCHEMATHESIS_HOOKS; never by pytest).

Harness, not leniency:
* tokens: KSeF's operations take three kinds of bearer token (access; refresh for
  /auth/token/refresh; the authentication token for /auth/{referenceNumber} and
  /auth/token/redeem). Each comes from a pool minted for real by the script (KSEF_ST_TOKENS);
  a 401 (e.g. after schemathesis itself called DELETE /auth/sessions/current, or redeemed an
  authentication token) takes the next one.
* POST /testdata/rate-limits (and the other /testdata limit operations) with generated limits
  would throttle every later operation of that context to 429, leaving them untested: those
  operations run with tokens of a second context (pool "limits").
* ksef_positive_data_acceptance replaces schemathesis' positive_data_acceptance (ST202). The
  built-in check takes 2xx/3xx/401/403/404/409/429/5xx as the answers to a schema-valid
  request. The official KSeF OpenAPI defines no 404 anywhere: an unknown reference number,
  KSeF number, key id, certificate serial or a broken continuation token are a 400 whose
  exception code the operation documents in its ``responses.400.description`` table (e.g.
  GET /sessions/{referenceNumber}: 21173 "Brak sesji o wskazanym numerze referencyjnym.").
  This check accepts such a 400 only when every exception code of the answer is in that
  operation's own table, and never when the emulator's schema validator (details starting with
  ``$`` / ``query.`` / ``path.`` / ``header.``, ksef/emulator/contract.py) rejected a value
  schemathesis generated as valid: that disagreement with the spec is still a failure.
  One more precise exception: the operation's own request example (``requestBody.content.
  application/json.example``) when that example breaks its own schema (a ``format: byte``
  value that is not Base64): POST /auth/ksef-token (encryptedToken) and
  POST /sessions/online/{referenceNumber}/invoices (encryptedInvoiceContent "...").
"""
import base64
import json
import os
import re

import schemathesis
from schemathesis.specs.openapi.checks import (
    RejectedPositiveData,
    _openapi_positive_data_acceptance,
)

BASE = os.environ["KSEF_ST_URL"]
with open(os.environ["KSEF_ST_TOKENS"], encoding="utf-8") as _handle:
    POOLS = json.load(_handle)
with open(os.environ["KSEF_ST_SPEC"], encoding="utf-8") as _handle:
    SPEC = json.load(_handle)

_SCHEMA_PROBLEM = re.compile(r"^(\$|query\.|path\.|header\.)\S*: ")
REFRESH_PATHS = ("/auth/token/refresh",)
AUTHENTICATION_PATHS = ("/auth/{referenceNumber}", "/auth/token/redeem")
LIMIT_PATHS = ("/testdata/rate-limits", "/testdata/rate-limits/production",
               "/testdata/limits/context/session", "/testdata/limits/subject/certificate")


#: codes the ministry documents outside the OpenAPI file's tables (shared/ksef/API-2.7-2.9.md;
#: the same list as EXTRA_CODES in ksef/emulator/contract.py)
EXTRA_CODES = {"POST /collective-identifiers": {71004, 71005}}


def _documented_codes(method, path):
    op = SPEC["paths"].get(path, {}).get(method.lower(), {})
    text = op.get("responses", {}).get("400", {}).get("description") or ""
    codes = {int(code) for code in re.findall(r"^\|\s*(\d+)\s*\|", text, re.M)}
    return codes | EXTRA_CODES.get("%s %s" % (method, path), set())


def _resolve(schema):
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _bad_byte_values(schema, value, where=()):
    """[(key path, value)] of ``format: byte`` strings in ``value`` that are not Base64."""
    schema = _resolve(schema)
    found = []
    for sub in schema.get("allOf") or []:
        found += _bad_byte_values(sub, value, where)
    if isinstance(value, str) and schema.get("format") == "byte":
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            found.append((where, value))
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, item in value.items():
            if key in props:
                found += _bad_byte_values(props[key], item, where + (key,))
    return found


def _self_contradicting_example_values(method, path):
    """The non-Base64 ``format: byte`` values of the operation's own request example."""
    op = SPEC["paths"].get(path, {}).get(method.lower(), {})
    media = (op.get("requestBody") or {}).get("content", {}).get("application/json") or {}
    if "example" not in media:
        return []
    return _bad_byte_values(media.get("schema") or {}, media["example"])


def _at(value, where):
    for key in where:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


class _Pool:
    kind = "access"

    def get(self, case, context):
        pool = POOLS[self.kind]
        return pool.pop(0) if len(pool) > 1 else pool[0]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = "Bearer %s" % data


@schemathesis.auth().skip_for(path=list(REFRESH_PATHS + AUTHENTICATION_PATHS + LIMIT_PATHS))
class AccessToken(_Pool):
    kind = "access"


@schemathesis.auth().apply_to(path=list(REFRESH_PATHS))
class RefreshToken(_Pool):
    kind = "refresh"


@schemathesis.auth().apply_to(path=list(AUTHENTICATION_PATHS))
class AuthenticationToken(_Pool):
    kind = "authentication"


@schemathesis.auth().apply_to(path=list(LIMIT_PATHS))
class LimitsContextToken(_Pool):
    kind = "limits"


@schemathesis.check
def ksef_positive_data_acceptance(ctx, response, case):
    try:
        return _openapi_positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code != 400:
            raise
        method, path = case.method.upper(), case.operation.path
        bad = _self_contradicting_example_values(method, path)
        if bad and all(_at(case.body, where) == value for where, value in bad):
            return None
        try:
            details = response.json()["exception"]["exceptionDetailList"]
        except (ValueError, KeyError, TypeError):
            raise
        documented = _documented_codes(method, path)
        codes = {item.get("exceptionCode") for item in details}
        texts = [t for item in details for t in (item.get("details") or [])]
        if codes and codes <= documented and not any(_SCHEMA_PROBLEM.match(t) for t in texts):
            return None
        raise
