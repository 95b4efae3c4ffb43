"""Emulator: auth polling 100 -> 200, permissions (403), IP policy, limits endpoints, CLI, paging."""
import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from ksef.crypto import b64encode, rsa_oaep_encrypt

from .conftest import REPO
from .emulator_support import SAMPLE_NIP, Api, fresh_invoice


@pytest.fixture
def api(emulator, openapi_check):
    return Api(emulator, openapi_check)


def test_auth_status_is_100_until_processed(emulator, api):
    token = emulator.make_ksef_token(SAMPLE_NIP)
    challenge = api.call("POST", "/auth/challenge").json()
    key, _ = api.public_key("KsefTokenEncryption")
    emulator.auth_delay = 0.3
    try:
        init = api.call("POST", "/auth/ksef-token", json={
            "challenge": challenge["challenge"],
            "contextIdentifier": {"type": "Nip", "value": SAMPLE_NIP},
            "encryptedToken": b64encode(rsa_oaep_encrypt(
                key, ("%s|%d" % (token, challenge["timestampMs"])).encode()))}).json()
        auth = init["authenticationToken"]["token"]
        first = api.call("GET", "/auth/%s" % init["referenceNumber"], token=auth).json()
        assert first["status"]["code"] == 100
        early = api.call("POST", "/auth/token/redeem", token=auth)
        assert early.status_code == 400 and early.json()["errors"][0]["code"] == 21301
        time.sleep(0.35)
        assert api.call("GET", "/auth/%s" % init["referenceNumber"], token=auth).json()[
            "status"]["code"] == 200
        # a reused challenge is refused
        again = api.call("POST", "/auth/ksef-token", json={
            "challenge": challenge["challenge"],
            "contextIdentifier": {"type": "Nip", "value": SAMPLE_NIP},
            "encryptedToken": b64encode(b"x" * 256)})
        assert again.json()["errors"][0]["code"] == 21111
    finally:
        emulator.auth_delay = 0.0


def test_missing_permission_is_403(emulator, api):
    api.token_login(SAMPLE_NIP, emulator.make_ksef_token(SAMPLE_NIP, permissions=["InvoiceRead"]))
    response = api.call("POST", "/sessions/online", json={
        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
        "encryption": {"encryptedSymmetricKey": b64encode(b"k" * 256),
                       "initializationVector": b64encode(b"i" * 16)}})
    assert response.status_code == 403
    assert response.json()["reasonCode"] == "missing-permissions"


def test_ip_policy_is_enforced(emulator, api):
    token = emulator.make_ksef_token(SAMPLE_NIP)
    challenge = api.call("POST", "/auth/challenge").json()
    key, _ = api.public_key("KsefTokenEncryption")
    init = api.call("POST", "/auth/ksef-token", json={
        "challenge": challenge["challenge"], "contextIdentifier": {"type": "Nip", "value": SAMPLE_NIP},
        "encryptedToken": b64encode(rsa_oaep_encrypt(
            key, ("%s|%d" % (token, challenge["timestampMs"])).encode())),
        "authorizationPolicy": {"allowedIps": {"ip4Addresses": ["10.1.2.3"]}}}).json()
    api.finish_login(init)
    response = api.call("GET", "/limits/context")
    assert response.status_code == 403 and response.json()["reasonCode"] == "ip-not-allowed"


def test_limits_endpoints(emulator, api):
    api.token_login(SAMPLE_NIP, emulator.make_ksef_token(SAMPLE_NIP))
    context = api.call("GET", "/limits/context").json()
    assert context["onlineSession"]["maxInvoiceSizeInMB"] == 1
    assert context["onlineSession"]["maxInvoices"] == 10000
    assert api.call("GET", "/limits/subject").status_code == 200
    assert api.call("GET", "/certificates/limits").status_code == 200


def test_session_invoice_paging_with_continuation_token(emulator, api):
    api.token_login(SAMPLE_NIP, emulator.make_ksef_token(SAMPLE_NIP))
    session_ref, aes, iv = api.open_session()
    sent = [api.send(session_ref, fresh_invoice(1), aes, iv).json()["referenceNumber"] for _ in range(12)]
    first = api.call("GET", "/sessions/%s/invoices" % session_ref, params={"pageSize": 10}).json()
    assert len(first["invoices"]) == 10 and first["continuationToken"]
    second = api.call("GET", "/sessions/%s/invoices" % session_ref, params={"pageSize": 10},
                      headers={"x-continuation-token": first["continuationToken"]}).json()
    assert [i["referenceNumber"] for i in first["invoices"] + second["invoices"]] == sent
    assert not second.get("continuationToken")
    bad = api.call("GET", "/sessions/%s/invoices" % session_ref,
                   headers={"x-continuation-token": "garbage"})
    assert bad.json()["errors"][0]["code"] == 21418
    unknown = api.call("GET", "/sessions/20250101-SO-0000000000-0000000000-00")
    assert unknown.json()["errors"][0]["code"] == 21173


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_runs_the_emulator(tmp_path):
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.Popen([sys.executable, "-m", "ksef", "emulator", "--port", str(port),
                             "--db", str(tmp_path / "cli.sqlite")], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                response = requests.get("http://127.0.0.1:%d/v2/security/public-key-certificates" % port,
                                        timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert response.status_code == 200 and len(response.json()) == 2
    finally:
        proc.terminate()
        proc.wait(10)
    assert os.path.exists(tmp_path / "cli.sqlite")
