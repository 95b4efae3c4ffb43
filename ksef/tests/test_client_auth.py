"""Authentication against the emulator: KSeF token, XAdES certificate, refresh, logout, bad input."""
import datetime as dt
import secrets
import time

import pytest

from ksef import certs, errors
from ksef.nip import make_nip
from ksef.tests.client_support import SELLER_NIP, ClientFactory, count, make_client

OTHER_NIP = make_nip("526000125") or make_nip("526000126")
REFRESH = "/auth/token/refresh"


@pytest.fixture
def connect(emulator, openapi_check):
    factory = ClientFactory(emulator, openapi_check)
    yield factory
    factory.close()


def _no_request_was_sent(emulator):
    return sum(emulator.counters.values()) == 0


def test_token_login_gives_tokens(connect):
    client = connect(SELLER_NIP)
    tokens = client.tokens
    assert tokens.access_token and tokens.refresh_token and tokens.reference_number
    assert tokens.access_valid_until < tokens.refresh_valid_until
    assert not tokens.access_expires_within(60) and client.is_authenticated


def test_wrong_token_is_refused_with_advice(emulator, connect):
    client = connect(login=False)
    fake = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-%s|%s" % (SELLER_NIP, secrets.token_hex(32))
    with pytest.raises(errors.KSeFAuthError) as info:
        client.authenticate_with_token(SELLER_NIP, fake)
    assert info.value.status_code == 450
    assert "generate a new token in the KSeF taxpayer application" in info.value.message
    assert fake not in info.value.message and client.tokens is None


def test_token_of_another_company_is_refused(emulator, connect):
    client = connect(login=False)
    foreign = emulator.make_ksef_token(OTHER_NIP)
    # our client names both NIPs before contacting KSeF
    emulator.reset_counters()
    with pytest.raises(errors.KSeFConfigError) as info:
        client.authenticate_with_token(SELLER_NIP, foreign)
    assert OTHER_NIP in info.value.message and SELLER_NIP in info.value.message
    assert not emulator.counters.get("POST /auth/ksef-token")
    # and KSeF (the emulator) refuses it as well when it does get it
    from ksef import auth
    reference, auth_token = auth.init_token_auth(client.transport, client.key_store, SELLER_NIP,
                                                 foreign)
    with pytest.raises(errors.KSeFAuthError) as info:
        auth.wait_for_auth(client.transport, reference, auth_token, SELLER_NIP, timeout=10,
                           sleep=lambda seconds: None)
    assert info.value.status_code in (415, 450)
    assert "KSeF" in info.value.message and "again" in info.value.message


def test_revoked_token_is_refused(emulator, connect):
    token = emulator.make_ksef_token(SELLER_NIP)
    emulator.revoke_ksef_token(token)
    with pytest.raises(errors.KSeFAuthError) as info:
        connect(SELLER_NIP, token=token)
    assert info.value.status_code == 450


def test_certificate_login_pem_and_der(connect):
    test_cert = certs.make_test_certificate(nip=SELLER_NIP, key_password="s3cret")
    client = connect(login=False)
    client.authenticate_with_certificate(SELLER_NIP, test_cert.cert_pem, test_cert.key_pem, "s3cret")
    assert client.tokens.access_token
    other = connect(login=False)
    other.authenticate_with_certificate(SELLER_NIP, test_cert.cert_der, test_cert.key_pem, "s3cret")
    assert other.tokens.access_token


def test_certificate_of_another_company_has_no_permissions(connect):
    test_cert = certs.make_test_certificate(nip=OTHER_NIP)
    client = connect(login=False)
    with pytest.raises(errors.KSeFAuthError) as info:
        client.authenticate_with_certificate(SELLER_NIP, test_cert.cert_pem, test_cert.key_pem, None)
    assert info.value.status_code == 415
    assert "NIP %s" % SELLER_NIP in info.value.message and "grant" in info.value.message


@pytest.mark.parametrize("case", ["wrong_password", "expired", "offline_type", "invalid_nip"])
def test_bad_local_input_is_refused_before_any_request(emulator, connect, case):
    client = connect(login=False)
    nip = SELLER_NIP
    password = "Xy7-secret"
    if case == "expired":
        past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)
        test_cert = certs.make_test_certificate(nip=nip, key_password=password, valid_from=past,
                                                valid_to=past + dt.timedelta(days=365))
        expected = errors.CertificateExpiredError
    elif case == "offline_type":
        test_cert = certs.make_test_certificate(nip=nip, cert_type=certs.OFFLINE, key_password=password)
        expected = errors.CertificateTypeError
    else:
        test_cert = certs.make_test_certificate(nip=nip, key_password=password)
        expected = errors.KeyPasswordError
    if case == "wrong_password":
        password = "Zq9-secret"
    if case == "invalid_nip":
        nip, expected = "9999999990", errors.InvalidNIPError
    emulator.reset_counters()
    with pytest.raises(expected) as info:
        client.authenticate_with_certificate(nip, test_cert.cert_pem, test_cert.key_pem, password)
    assert len(info.value.message) > 30 and password not in info.value.message
    assert _no_request_was_sent(emulator) and client.tokens is None


def test_expired_access_token_is_refreshed_once_and_call_succeeds(emulator, connect):
    client = connect(SELLER_NIP)
    session = client.open_online_session()
    old_access = client.tokens.access_token
    emulator.expire_access_tokens()
    emulator.reset_counters()
    assert session.status().code == 100
    assert count(emulator, "POST", REFRESH) == 1
    assert client.tokens.access_token != old_access


def test_access_token_near_expiry_is_refreshed_before_the_call(emulator, connect):
    client = connect(SELLER_NIP)
    client.tokens.access_valid_until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    emulator.reset_counters()
    client.open_online_session()
    assert count(emulator, "POST", REFRESH) == 1
    assert not client.tokens.access_expires_within(60)


def test_after_logout_the_refresh_token_is_dead_and_401_is_raised(emulator, connect):
    client = connect(SELLER_NIP)
    session = client.open_online_session()
    saved = client.tokens.to_dict()
    client.logout()
    assert client.tokens is None
    other = connect(login=False)
    other.use_tokens(saved)
    emulator.expire_access_tokens()
    with pytest.raises((errors.KSeFUnauthorized, errors.KSeFBadRequest)) as info:
        other.session_status(session.reference_number)
    assert "again" in info.value.message


def test_public_key_refreshed_once_on_unknown_key_id(emulator, connect):
    client = connect(login=False)
    for key in client.key_store.certificates():
        key.public_key_id = "A" * 43 + "="           # a withdrawn key id
    emulator.reset_counters()
    client.authenticate_with_token(SELLER_NIP, emulator.make_ksef_token(SELLER_NIP))
    assert count(emulator, "GET", "/security/public-key-certificates") == 1
    assert count(emulator, "POST", "/auth/ksef-token") == 2


def test_login_with_grace_pauses_once_then_resumes(emulator, openapi_check):
    """auth_grace: look, one pause, look; KSeF still checking -> KSeFAuthPending (no loop);
    resume_login finishes it later without a new login."""
    saved, emulator.auth_delay = emulator.auth_delay, 1.0
    try:
        client = make_client(emulator.url, openapi_check)
        client.auth_grace = 0.1
        slept = []
        client.sleep = slept.append
        nip = "5265877635"
        with pytest.raises(errors.KSeFAuthPending) as caught:
            client.authenticate_with_token(nip, emulator.make_ksef_token(nip))
        assert slept == [0.1], "exactly one pause"
        pending = caught.value.pending
        assert pending.nip == nip and pending.authentication_token not in repr(pending)
        assert client.tokens is None
        time.sleep(1.0)                                   # the test waits, not the client
        tokens = client.resume_login(pending)
        assert tokens.access_token and client.nip == nip
        assert slept == [0.1]
        # a login KSeF has already checked needs no pause at all
        emulator.auth_delay = 0.0
        other = make_client(emulator.url, openapi_check)
        other.auth_grace = 5.0
        other.sleep = slept.append
        other.authenticate_with_token(nip, emulator.make_ksef_token(nip))
        assert other.tokens and slept == [0.1]
    finally:
        emulator.auth_delay = saved
