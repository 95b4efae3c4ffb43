"""KSeF tokens, certificate enrollment and the TEST token bootstrap, against the emulator."""
import time

import pytest
from cryptography import x509

from ksef import certs, crypto, errors
from ksef.bootstrap import obtain_test_token
from ksef.tests.client_support import SELLER_NIP, ClientFactory, make_client


@pytest.fixture
def connect(emulator, openapi_check):
    factory = ClientFactory(emulator, openapi_check)
    yield factory
    factory.close()


def _certificate_login(connect, nip=SELLER_NIP):
    test_cert = certs.make_test_certificate(nip=nip)
    client = connect(login=False)
    client.authenticate_with_certificate(nip, credentials=certs.Credentials(
        test_cert.certificate, test_cert.private_key))
    return client


def test_obtain_test_token_then_log_in_with_it(emulator, openapi_check):
    token = obtain_test_token(emulator.url, SELLER_NIP)
    assert token.count("|") == 2
    client = make_client(emulator.url, openapi_check)
    try:
        client.authenticate_with_token(SELLER_NIP, token)
        assert client.open_online_session().reference_number
    finally:
        client.close()


def test_token_lifecycle_generate_list_status_revoke(emulator, connect):
    owner = _certificate_login(connect)
    reference, token = owner.generate_ksef_token(["InvoiceWrite", "InvoiceRead"], "Odoo test token 1")
    info = owner.wait_for_ksef_token(reference, timeout=10, poll_interval=0.1)
    assert info.is_active and set(info.permissions) == {"InvoiceWrite", "InvoiceRead"}
    assert reference in [t.reference_number for t in owner.list_ksef_tokens()]
    assert owner.ksef_token_status(reference).description == "Odoo test token 1"

    user = connect(SELLER_NIP, token=token)        # the new token works
    assert user.tokens.access_token
    owner.revoke_ksef_token(reference)
    assert owner.ksef_token_status(reference).status in ("Revoking", "Revoked")
    with pytest.raises(errors.KSeFAuthError) as info:
        connect(SELLER_NIP, token=token)
    assert info.value.status_code == 450


def test_enroll_offline_certificate_query_and_revoke(connect):
    owner = _certificate_login(connect)
    limits = owner.get_certificate_limits()
    assert limits["canRequest"] is True
    der, private_key = owner.enroll_offline_certificate("Odoo offline 1", key_type="ec", timeout=30)
    cert = x509.load_der_x509_certificate(der, crypto.backend())
    assert certs.certificate_type(cert) == certs.OFFLINE
    assert cert.public_key().public_numbers() == private_key.public_key().public_numbers()
    serial = certs.serial_hex(cert)
    listed = owner.query_certificates(cert_type="Offline")
    assert serial in [c.serial_number for c in listed]
    assert owner.retrieve_certificates([serial])[0].certificate_der == der
    owner.revoke_certificate(serial, "Superseded")
    assert owner.query_certificates(serial_number=serial)[0].status == "Revoked"


def test_enrollment_with_token_login_is_refused(connect):
    client = connect(SELLER_NIP)
    with pytest.raises((errors.KSeFForbidden, errors.KSeFBadRequest)) as info:
        client.enroll_offline_certificate("Odoo offline 2")
    assert "certificate" in info.value.message or "signature" in info.value.message


def test_enrollment_resumes_in_another_process_without_waiting(emulator, connect):
    """begin/poll: no sleep; the pending request (with its new key) survives to_dict/from_dict
    and the certificate KSeF issues later matches that key."""
    from ksef.client import PendingEnrollment

    owner = _certificate_login(connect)
    slept = []
    owner.sleep = slept.append
    saved, emulator.enrollment_delay = emulator.enrollment_delay, 1.0
    try:
        pending = owner.begin_certificate_enrollment("Odoo offline resumable")
        assert owner.poll_certificate_enrollment(pending) is None
        resumed = PendingEnrollment.from_dict(pending.to_dict())
        assert resumed.private_key_pem == pending.private_key_pem
        der = None
        while der is None and resumed.age() < 10:
            time.sleep(0.2)                                  # the test's own pause
            der = owner.poll_certificate_enrollment(resumed)
    finally:
        emulator.enrollment_delay = saved
    assert slept == []
    credentials = certs.load_credentials(der, resumed.private_key_pem, None,
                                         expected_type=certs.OFFLINE)
    assert credentials.serial
    with pytest.raises(errors.KSeFConfigError):
        PendingEnrollment.from_dict({"name": "x"})
