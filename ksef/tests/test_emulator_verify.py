"""KOD I / KOD II verification pages of the emulator (ksef/emulator/verify.py), over real HTTP:
the links our QR codes carry in the emulator environment open pages like the ministry's."""
import datetime

import pytest
import requests
from cryptography import x509

from ksef import certs, crypto, environments, qr
from ksef.tests.client_support import SELLER_NIP, ClientFactory, sample_invoice, today_in_poland


@pytest.fixture
def connect(emulator, openapi_check):
    factory = ClientFactory(emulator, openapi_check)
    yield factory
    factory.close()


def _sent_invoice(connect, number):
    client = connect(SELLER_NIP)
    session = client.open_online_session()
    xml = sample_invoice(number)
    sent = session.send_invoice(xml)
    status = session.wait_for_invoice(sent.reference_number, timeout=30, poll_interval=0.1)
    assert status.is_success
    return xml, status.ksef_number


def _offline_certificate(connect):
    test_cert = certs.make_test_certificate(nip=SELLER_NIP)
    owner = connect(login=False)
    owner.authenticate_with_certificate(SELLER_NIP, credentials=certs.Credentials(
        test_cert.certificate, test_cert.private_key))
    der, key = owner.enroll_offline_certificate("Odoo offline QR", key_type="ec", timeout=30)
    return x509.load_der_x509_certificate(der, crypto.backend()), key


def _get(url):
    response = requests.get(url, timeout=10)
    assert response.headers["Content-Type"].startswith("text/html")
    return response


def test_emulator_environment_links_point_at_the_emulator(emulator):
    env = environments.custom(emulator.url)
    assert env.qr_url == emulator.url[:-3]
    assert env.qr_url.startswith("http://127.0.0.1:")
    # a custom environment elsewhere keeps the TEST QR host
    assert environments.custom("https://ksef.example.com/v2").qr_url == environments.TEST.qr_url


def test_kod1_of_a_sent_invoice_and_of_an_unknown_hash(emulator, connect):
    xml, number = _sent_invoice(connect, "FV/QR/1")
    env = environments.custom(emulator.url)
    issue = today_in_poland()
    url = qr.invoice_verification_url(env, SELLER_NIP, issue, invoice_xml=xml)
    page = _get(url)
    assert page.status_code == 200
    assert "Faktura jest w KSeF." in page.text and "The invoice is in KSeF." in page.text
    assert number in page.text and SELLER_NIP in page.text
    assert issue.strftime("%d-%m-%Y") in page.text
    # another date in the code than in KSeF: said so
    other_day = qr.invoice_verification_url(env, SELLER_NIP, issue - datetime.timedelta(days=3),
                                            invoice_xml=xml)
    assert "dane z kodu się nie zgadzają" in _get(other_day).text
    unknown = qr.invoice_verification_url(env, SELLER_NIP, issue, invoice_xml=b"<not-sent/>")
    page = _get(unknown)
    assert page.status_code == 200
    assert "nie ma (jeszcze) w KSeF" in page.text and "is in KSeF (yet)" in page.text
    assert number not in page.text
    broken = _get(emulator.url[:-3] + "/invoice/123/xx/<script>")
    assert broken.status_code == 404 and "<script>" not in broken.text


def test_kod2_correct_and_tampered_signature(emulator, connect):
    cert, key = _offline_certificate(connect)
    env = environments.custom(emulator.url)
    xml = b"<Faktura>offline</Faktura>"
    url = qr.certificate_verification_url(env, "Nip", SELLER_NIP, SELLER_NIP, cert, key,
                                          invoice_xml=xml)
    page = _get(url)
    assert page.status_code == 200
    assert "Wystawca zweryfikowany" in page.text, page.text
    assert certs.serial_hex(cert) in page.text and "jeszcze nie / not yet" in page.text
    # one character of the signature changed
    head, sig = url.rsplit("/", 1)
    tampered = head + "/" + ("A" if sig[0] != "A" else "B") + sig[1:]
    page = _get(tampered)
    assert "Nie udało się zweryfikować wystawcy" in page.text
    assert "NIE / NO" in page.text
    # the link of another seller NIP signed with this certificate: the signature holds, the
    # context does not
    other = qr.certificate_verification_url(env, "Nip", "1111111111", "1111111111", cert, key,
                                            invoice_xml=xml)
    assert "Nie udało się zweryfikować wystawcy" in _get(other).text
