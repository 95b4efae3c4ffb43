"""Emulator over real HTTP: keys, token/XAdES login, sending invoices, statuses, UPO, numbers."""
import base64
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from ksef.crypto import b64decode, backend, sha256_b64
from ksef.ksef_number import is_valid_ksef_number

from .conftest import SHARED
from .emulator_support import SAMPLE_NIP, Api, fresh_invoice

UPO_XSD = SHARED + "/schemas/UPO/upo-v4-3.xsd"


@pytest.fixture
def api(emulator, openapi_check):
    return Api(emulator, openapi_check)


@pytest.fixture
def logged_in(emulator, api):
    token = emulator.make_ksef_token(SAMPLE_NIP)
    api.token_login(SAMPLE_NIP, token)
    return api


def upo_schema():
    return etree.XMLSchema(etree.parse(UPO_XSD))


def test_public_key_certificates(api):
    response = api.call("GET", "/security/public-key-certificates")
    assert response.status_code == 200
    items = response.json()
    assert sorted(u for item in items for u in item["usage"]) == ["KsefTokenEncryption",
                                                                   "SymmetricKeyEncryption"]
    key_ids = set()
    for item in items:
        der = b64decode(item["certificate"])
        cert = x509.load_der_x509_certificate(der, backend())
        assert cert.public_key().key_size == 2048
        assert item["certificateId"] == sha256_b64(der)
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        assert item["publicKeyId"] == sha256_b64(spki)
        key_ids.add(item["publicKeyId"])
    assert len(key_ids) == 2  # two different keys


def test_token_login_by_hand_then_refresh_and_logout(emulator, api):
    token = emulator.make_ksef_token(SAMPLE_NIP)
    assert token.split("|")[1] == "nip-%s" % SAMPLE_NIP
    tokens = api.token_login(SAMPLE_NIP, token)
    assert tokens["accessToken"]["token"].count(".") == 2
    # the authentication token may be redeemed only once
    again = api.call("POST", "/auth/token/redeem", token=tokens["authenticationToken"])
    assert again.status_code == 400
    assert again.json()["errors"][0]["code"] == 21301
    refreshed = api.call("POST", "/auth/token/refresh", token=tokens["refreshToken"]["token"])
    assert refreshed.status_code == 200
    assert refreshed.json()["accessToken"]["token"] != tokens["accessToken"]["token"]
    listing = api.call("GET", "/auth/sessions").json()
    assert any(item["isCurrent"] for item in listing["items"])
    assert api.call("DELETE", "/auth/sessions/current").status_code == 204
    after = api.call("POST", "/auth/token/refresh", token=tokens["refreshToken"]["token"])
    assert after.status_code == 401


def test_bad_tokens_end_with_status_450_or_415(emulator, api):
    api.token_login(SAMPLE_NIP, "20250101-EC-0000000000-0000000000-00|nip-%s|%s" % (
        SAMPLE_NIP, "0" * 64), expect_status=450)
    revoked = emulator.make_ksef_token(SAMPLE_NIP)
    emulator.revoke_ksef_token(revoked)
    status = api.token_login(SAMPLE_NIP, revoked, expect_status=450)
    assert status["status"]["details"] == ["Token unieważniony"]
    other = emulator.make_ksef_token("5265877635")
    api.token_login(SAMPLE_NIP, other, expect_status=415)


def test_wrong_challenge_is_21111(api):
    key, _ = api.public_key("KsefTokenEncryption")
    from ksef.crypto import b64encode, rsa_oaep_encrypt
    body = {"challenge": "20250101-CR-0000000000-0000000000-00",
            "contextIdentifier": {"type": "Nip", "value": SAMPLE_NIP},
            "encryptedToken": b64encode(rsa_oaep_encrypt(key, b"x|1"))}
    response = api.call("POST", "/auth/ksef-token", json=body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == 21111
    # default format (no X-Error-Format header): ExceptionResponse
    plain = requests.post(api.url + "/auth/ksef-token", json=body, timeout=10)
    assert plain.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21111


def test_missing_and_expired_access_token_give_401(emulator, logged_in):
    missing = logged_in.call("GET", "/sessions", token="", params={"sessionType": "Online"},
                             validate_request=False)
    assert missing.status_code == 401
    assert missing.headers["Content-Type"].startswith("application/problem+json")
    assert logged_in.call("GET", "/sessions", params={"sessionType": "Online"}).status_code == 200
    emulator.expire_access_tokens()
    expired = logged_in.call("GET", "/sessions", params={"sessionType": "Online"})
    assert expired.status_code == 401


def test_send_invoice_full_flow_with_upo(emulator, logged_in):
    api = logged_in
    session_ref, aes, iv = api.open_session()
    xml = fresh_invoice(1)
    sent = api.send(session_ref, xml, aes, iv)
    assert sent.status_code == 202, sent.text
    inv_ref = sent.json()["referenceNumber"]
    status = api.invoice_status(session_ref, inv_ref)
    assert status["status"]["code"] == 200, status
    number = status["ksefNumber"]
    assert is_valid_ksef_number(number) and number.startswith(SAMPLE_NIP + "-")
    assert status["invoiceHash"] == sha256_b64(xml)
    assert status["invoicingMode"] == "Online"
    assert emulator.state.invoices_by_ksef_number[number]["invoiceNumber"].startswith("EMU/")
    # per-invoice UPO, by reference, by KSeF number and by the pre-signed link (no auth)
    upo = api.call("GET", "/sessions/%s/invoices/%s/upo" % (session_ref, inv_ref))
    assert upo.status_code == 200
    assert upo.headers["x-ms-meta-hash"] == sha256_b64(upo.content)
    doc = etree.fromstring(upo.content)
    assert upo_schema().validate(doc), upo_schema().error_log
    assert doc.findtext("{*}Dokument/{*}NumerKSeFDokumentu") == number
    assert doc.findtext("{*}Dokument/{*}SkrotDokumentu") == sha256_b64(xml)
    by_number = api.call("GET", "/sessions/%s/invoices/ksef/%s/upo" % (session_ref, number))
    assert by_number.content == upo.content
    linked = requests.get(status["upoDownloadUrl"], timeout=10)
    assert linked.status_code == 200 and linked.content == upo.content
    # close -> session UPO
    assert api.call("POST", "/sessions/online/%s/close" % session_ref).status_code == 204
    session = api.call("GET", "/sessions/%s" % session_ref).json()
    assert session["status"]["code"] == 200
    assert session["successfulInvoiceCount"] == 1 and session["invoiceCount"] == 1
    page = session["upo"]["pages"][0]
    session_upo = api.call("GET", "/sessions/%s/upo/%s" % (session_ref, page["referenceNumber"]))
    doc = etree.fromstring(session_upo.content)
    assert upo_schema().validate(doc), upo_schema().error_log
    assert doc.findtext("{*}OpisPotwierdzenia/{*}CalkowitaLiczbaDokumentow") == "1"
    assert requests.get(page["downloadUrl"], timeout=10).content == session_upo.content
    # listing
    listing = api.call("GET", "/sessions", params={"sessionType": "Online"}).json()
    assert session_ref in [s["referenceNumber"] for s in listing["sessions"]]
    invoices = api.call("GET", "/sessions/%s/invoices" % session_ref).json()
    assert [i["referenceNumber"] for i in invoices["invoices"]] == [inv_ref]
    # the stored invoice can be downloaded and queried
    downloaded = api.call("GET", "/invoices/ksef/%s" % number)
    assert downloaded.content == xml
    query = api.call("POST", "/invoices/query/metadata", params={"pageSize": 10}, json={
        "subjectType": "Subject1", "dateRange": {"dateType": "PermanentStorage",
                                                 "from": status["acquisitionDate"]},
        "ksefNumber": number})
    assert [i["ksefNumber"] for i in query.json()["invoices"]] == [number]


def test_invalid_invoice_430_duplicate_440_and_wrong_seller_410(emulator, logged_in):
    api = logged_in
    session_ref, aes, iv = api.open_session()
    bad = fresh_invoice(1).replace(b"<KodWaluty>PLN</KodWaluty>", b"<KodWaluty>XYZ</KodWaluty>")
    ref = api.send(session_ref, bad, aes, iv).json()["referenceNumber"]
    status = api.invoice_status(session_ref, ref)
    assert status["status"]["code"] == 430
    assert any("KodWaluty" in d for d in status["status"]["details"])
    first = fresh_invoice(2)
    ok_ref = api.send(session_ref, first, aes, iv).json()["referenceNumber"]
    original = api.invoice_status(session_ref, ok_ref)
    assert original["status"]["code"] == 200
    dup_ref = api.send(session_ref, first, aes, iv).json()["referenceNumber"]
    dup = api.invoice_status(session_ref, dup_ref)
    assert dup["status"]["code"] == 440
    assert dup["status"]["extensions"] == {"originalSessionReferenceNumber": session_ref,
                                           "originalKsefNumber": original["ksefNumber"]}
    foreign = fresh_invoice(1).replace(b"<NIP>%s</NIP>" % SAMPLE_NIP.encode(), b"<NIP>5265877635</NIP>", 1)
    foreign_ref = api.send(session_ref, foreign, aes, iv).json()["referenceNumber"]
    assert api.invoice_status(session_ref, foreign_ref)["status"]["code"] == 410
    failed = api.call("GET", "/sessions/%s/invoices/failed" % session_ref).json()
    assert {i["status"]["code"] for i in failed["invoices"]} == {430, 440, 410}
    api.call("POST", "/sessions/online/%s/close" % session_ref)
    session = api.call("GET", "/sessions/%s" % session_ref).json()
    assert (session["status"]["code"], session["failedInvoiceCount"]) == (200, 3)


def test_hash_and_size_mismatch_and_oversize(logged_in):
    api = logged_in
    session_ref, aes, iv = api.open_session()
    xml = fresh_invoice(1)
    body = api.invoice_body(xml, aes, iv)
    body["invoiceSize"] += 1
    response = api.call("POST", "/sessions/online/%s/invoices" % session_ref, json=body)
    assert response.json()["errors"][0]["code"] == 21402
    body = api.invoice_body(xml, aes, iv, invoiceHash=sha256_b64(b"other"))
    response = api.call("POST", "/sessions/online/%s/invoices" % session_ref, json=body)
    assert response.json()["errors"][0]["code"] == 21403
    body = api.invoice_body(xml, aes, iv, encryptedInvoiceSize=5)
    response = api.call("POST", "/sessions/online/%s/invoices" % session_ref, json=body)
    assert response.json()["errors"][0]["code"] == 21402
    big = xml.replace(b"</Faktura>", b"<!--" + b"x" * 1000001 + b"--></Faktura>")
    response = api.send(session_ref, big, aes, iv)
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == 21405


def test_offline_modes_and_technical_correction(logged_in):
    api = logged_in
    session_ref, aes, iv = api.open_session()
    declared = api.send(session_ref, fresh_invoice(1), aes, iv, offlineMode=True).json()
    assert api.invoice_status(session_ref, declared["referenceNumber"])["invoicingMode"] == "Offline"
    yesterday = fresh_invoice(1, p1="2026-01-02")
    automatic = api.send(session_ref, yesterday, aes, iv).json()
    assert api.invoice_status(session_ref, automatic["referenceNumber"])["invoicingMode"] == "Offline"
    # technical correction of a rejected offline invoice
    rejected = fresh_invoice(1).replace(b"<KodWaluty>PLN</KodWaluty>", b"<KodWaluty>XYZ</KodWaluty>")
    ref = api.send(session_ref, rejected, aes, iv, offlineMode=True).json()["referenceNumber"]
    assert api.invoice_status(session_ref, ref)["status"]["code"] == 430
    fixed = fresh_invoice(1)
    not_offline = api.send(session_ref, fixed, aes, iv, hashOfCorrectedInvoice=sha256_b64(rejected))
    assert not_offline.status_code == 400 and not_offline.json()["errors"][0]["code"] == 21405
    corr = api.send(session_ref, fixed, aes, iv, offlineMode=True,
                    hashOfCorrectedInvoice=sha256_b64(rejected))
    assert corr.status_code == 202
    assert api.invoice_status(session_ref, corr.json()["referenceNumber"])["status"]["code"] == 200
    again = api.send(session_ref, fresh_invoice(1), aes, iv, offlineMode=True,
                     hashOfCorrectedInvoice=sha256_b64(rejected))
    assert again.json()["errors"][0]["code"] == 21166
    of_valid = api.send(session_ref, fresh_invoice(1), aes, iv, offlineMode=True,
                        hashOfCorrectedInvoice=sha256_b64(fixed))
    assert of_valid.json()["errors"][0]["code"] == 21167


def test_bad_session_key_gives_session_415(logged_in):
    api = logged_in
    body = {"formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
            "encryption": {"encryptedSymmetricKey": base64.b64encode(b"\0" * 256).decode(),
                           "initializationVector": base64.b64encode(b"\0" * 16).decode()}}
    response = api.call("POST", "/sessions/online", json=body)
    assert response.status_code == 201
    ref = response.json()["referenceNumber"]
    assert api.call("GET", "/sessions/%s" % ref).json()["status"]["code"] == 415
    sent = api.call("POST", "/sessions/online/%s/invoices" % ref,
                    json=api.invoice_body(fresh_invoice(1), b"\0" * 32, b"\0" * 16))
    assert sent.json()["errors"][0]["code"] == 21180


def test_empty_session_is_cancelled_440(logged_in):
    api = logged_in
    session_ref, _aes, _iv = api.open_session()
    api.call("POST", "/sessions/online/%s/close" % session_ref)
    status = api.call("GET", "/sessions/%s" % session_ref).json()["status"]
    assert status["code"] == 440 and status["details"] == ["Nie przesłano faktur"]


def test_processing_delay_shows_150_then_200(emulator, logged_in):
    api = logged_in
    emulator.processing_delay = 0.3
    try:
        session_ref, aes, iv = api.open_session()
        ref = api.send(session_ref, fresh_invoice(1), aes, iv).json()["referenceNumber"]
        assert api.invoice_status(session_ref, ref)["status"]["code"] == 150
        api.call("POST", "/sessions/online/%s/close" % session_ref)
        assert api.call("GET", "/sessions/%s" % session_ref).json()["status"]["code"] == 170
        time.sleep(0.4)
        assert api.invoice_status(session_ref, ref)["status"]["code"] == 200
        assert api.call("GET", "/sessions/%s" % session_ref).json()["status"]["code"] == 200
    finally:
        emulator.processing_delay = 0.0


def test_token_management(emulator, logged_in):
    api = logged_in
    created = api.call("POST", "/tokens", json={"permissions": ["InvoiceRead"],
                                                "description": "Read-only token"})
    assert created.status_code == 202
    ref = created.json()["referenceNumber"]
    assert api.call("GET", "/tokens/%s" % ref).json()["status"] == "Active"
    # a token-authenticated caller cannot give a token rights it lacks
    beyond = api.call("POST", "/tokens", json={"permissions": ["CredentialsManage"],
                                               "description": "More than I have"})
    assert beyond.json()["errors"][0]["code"] == 26001
    assert api.call("DELETE", "/tokens/%s" % ref).status_code == 204
    assert api.call("GET", "/tokens/%s" % ref).json()["status"] == "Revoked"
    listing = api.call("GET", "/tokens", params={"pageSize": 10}).json()
    assert "tokens" in listing
