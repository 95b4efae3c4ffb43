"""Emulator: XAdES login with self-signed certificates, certificate enrollment, Offline/expired certs."""
import datetime

import pytest
from cryptography import x509

from ksef import certs
from ksef.crypto import b64decode, b64encode, backend

from .emulator_support import SAMPLE_NIP, Api, fresh_invoice

OTHER_NIP = "5265877635"


@pytest.fixture(scope="module")
def seal():
    return certs.make_test_certificate(nip=SAMPLE_NIP)


@pytest.fixture
def api(emulator, openapi_check):
    return Api(emulator, openapi_check)


def test_xades_login_owner_can_send_and_create_tokens(emulator, api, seal):
    tokens = api.xades_login(SAMPLE_NIP, seal.certificate, seal.private_key)
    status = api.call("GET", "/auth/%s" % tokens["referenceNumber"], token=tokens["authenticationToken"])
    assert status.json()["authenticationMethodInfo"]["category"] == "XadesSignature"
    created = api.call("POST", "/tokens", json={"permissions": ["InvoiceWrite", "InvoiceRead"],
                                                "description": "Odoo integration"})
    assert created.status_code == 202
    token = created.json()["token"]
    assert token.startswith(created.json()["referenceNumber"] + "|nip-%s|" % SAMPLE_NIP)
    # the new token works for a login, the UPO of its session names the token
    token_api = Api(emulator, api.check)
    token_api.token_login(SAMPLE_NIP, token)
    session_ref, aes, iv = token_api.open_session()
    ref = token_api.send(session_ref, fresh_invoice(1), aes, iv).json()["referenceNumber"]
    upo = token_api.call("GET", "/sessions/%s/invoices/%s/upo" % (session_ref, ref)).content
    assert created.json()["referenceNumber"].encode() in upo


def test_xades_login_without_permissions_in_context_is_415(api, seal):
    api.xades_login(SAMPLE_NIP, seal.certificate, seal.private_key, context_nip=OTHER_NIP,
                    expect_status=415)


def test_permissions_granted_through_testdata_allow_login(api, seal):
    grant = api.call("POST", "/testdata/permissions", json={
        "contextIdentifier": {"type": "Nip", "value": "1111111111"},
        "authorizedIdentifier": {"type": "Nip", "value": SAMPLE_NIP},
        "permissions": [{"permissionType": "InvoiceRead", "description": "read invoices"}]})
    assert grant.status_code == 200
    api.xades_login(SAMPLE_NIP, seal.certificate, seal.private_key, context_nip="1111111111")


def test_expired_and_offline_certificates_are_refused_with_460(api):
    expired = certs.make_test_certificate(
        nip=SAMPLE_NIP, valid_from=datetime.datetime(2020, 1, 1), valid_to=datetime.datetime(2021, 1, 1))
    status = api.xades_login(SAMPLE_NIP, expired.certificate, expired.private_key, expect_status=460)
    assert status["status"]["details"] == ["Nieważny certyfikat"]
    offline = certs.make_test_certificate(nip=SAMPLE_NIP, cert_type=certs.OFFLINE)
    api.xades_login(SAMPLE_NIP, offline.certificate, offline.private_key, expect_status=460)


def test_broken_signature_is_rejected_with_9105(api, seal):
    from ksef import xades
    challenge = api.call("POST", "/auth/challenge").json()["challenge"]
    signed = xades.sign_xades(xades.build_auth_token_request(challenge, "Nip", SAMPLE_NIP),
                              seal.certificate, seal.private_key)
    tampered = signed.replace(SAMPLE_NIP.encode(), OTHER_NIP.encode(), 1)
    response = api.call("POST", "/auth/xades-signature", data=tampered,
                        headers={"Content-Type": "application/xml"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] in (9101, 9105)


def test_offline_certificate_enrollment_and_revocation(emulator, api, seal):
    api.xades_login(SAMPLE_NIP, seal.certificate, seal.private_key)
    limits = api.call("GET", "/certificates/limits").json()
    assert limits["canRequest"] is True
    data = api.call("GET", "/certificates/enrollments/data").json()
    assert data["organizationIdentifier"] == "VATPL-%s" % SAMPLE_NIP
    key = certs.new_private_key("ec")
    csr = certs.make_csr(data, key)
    enrolled = api.call("POST", "/certificates/enrollments", json={
        "certificateName": "Odoo offline", "certificateType": "Offline", "csr": b64encode(csr)})
    assert enrolled.status_code == 202
    status = api.call("GET", "/certificates/enrollments/%s" % enrolled.json()["referenceNumber"]).json()
    assert status["status"]["code"] == 200
    serial = status["certificateSerialNumber"]
    got = api.call("POST", "/certificates/retrieve", json={"certificateSerialNumbers": [serial]}).json()
    cert = x509.load_der_x509_certificate(b64decode(got["certificates"][0]["certificate"]), backend())
    assert certs.certificate_type(cert) == certs.OFFLINE
    assert certs.serial_hex(cert) == serial and len(serial) == 16
    assert (certs.valid_to(cert) - certs.valid_from(cert)).days == 730
    assert certs.certificate_nip(cert) == SAMPLE_NIP
    # a CSR whose subject differs from the enrollment data is refused
    wrong = certs.make_csr(dict(data, commonName="Somebody else"), key)
    refused = api.call("POST", "/certificates/enrollments", json={
        "certificateName": "Wrong name", "certificateType": "Offline", "csr": b64encode(wrong)})
    assert refused.json()["errors"][0]["code"] == 25003
    listed = api.call("POST", "/certificates/query", json={"type": "Offline"}).json()
    assert serial in [c["certificateSerialNumber"] for c in listed["certificates"]]
    assert api.call("POST", "/certificates/%s/revoke" % serial,
                    json={"revocationReason": "Superseded"}).status_code == 204
    again = api.call("POST", "/certificates/%s/revoke" % serial, json={})
    assert again.json()["errors"][0]["code"] == 25009


def test_authentication_certificate_issued_by_the_emulator_logs_in(api, seal):
    api.xades_login(SAMPLE_NIP, seal.certificate, seal.private_key)
    data = api.call("GET", "/certificates/enrollments/data").json()
    key = certs.new_private_key("rsa")
    enrolled = api.call("POST", "/certificates/enrollments", json={
        "certificateName": "Odoo login", "certificateType": "Authentication",
        "csr": b64encode(certs.make_csr(data, key))}).json()
    serial = api.call("GET", "/certificates/enrollments/%s" % enrolled["referenceNumber"]).json()[
        "certificateSerialNumber"]
    der = api.call("POST", "/certificates/retrieve", json={"certificateSerialNumbers": [serial]}).json()[
        "certificates"][0]["certificate"]
    cert = x509.load_der_x509_certificate(b64decode(der), backend())
    fresh = Api(api.emu, api.check)
    tokens = fresh.xades_login(SAMPLE_NIP, cert, key)
    info = fresh.call("GET", "/auth/%s" % tokens["referenceNumber"],
                      token=tokens["authenticationToken"]).json()
    assert info["authenticationMethod"] == "InternalCertificate"
    api.call("POST", "/certificates/%s/revoke" % serial, json={})
    Api(api.emu, api.check).xades_login(SAMPLE_NIP, cert, key, expect_status=460)


def test_token_authenticated_caller_cannot_enroll(emulator, api):
    api.token_login(SAMPLE_NIP, emulator.make_ksef_token(SAMPLE_NIP))
    response = api.call("GET", "/certificates/enrollments/data")
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == 25001
