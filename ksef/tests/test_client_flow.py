"""Online sending over real HTTP against the emulator: the full flow and invoice-level failures."""
import pytest

from ksef import crypto, errors
from ksef.ksef_number import is_valid_ksef_number
from ksef.tests.client_support import (
    SELLER_NIP,
    ClientFactory,
    assert_valid_upo,
    count,
    invalid_invoice,
    sample_invoice,
)

SEND = "/sessions/online/{referenceNumber}/invoices"
UPO_NS = "{http://upo.schematy.mf.gov.pl/KSeF/v4-3}"


@pytest.fixture
def connect(emulator, openapi_check):
    factory = ClientFactory(emulator, openapi_check)
    yield factory
    factory.close()


def test_full_flow_token_login_send_upo_close(emulator, connect):
    client = connect(SELLER_NIP)
    assert client.tokens.context_nip == SELLER_NIP
    session = client.open_online_session()
    assert session.reference_number and session.is_usable()
    invoice = sample_invoice("FV/FLOW/1")
    sent = session.send_invoice(invoice)
    assert sent.invoice_hash == crypto.sha256_b64(invoice) and sent.invoice_size == len(invoice)
    assert sent.encrypted_invoice_size == (len(invoice) // 16 + 1) * 16

    status = session.wait_for_invoice(sent.reference_number, timeout=30, poll_interval=0.1)
    assert status.raise_for_rejection() is status
    assert status.is_success and is_valid_ksef_number(status.ksef_number)
    assert status.ksef_number.startswith(SELLER_NIP + "-")
    assert status.invoice_number == "FV/FLOW/1" and status.invoice_hash == sent.invoice_hash
    assert status.acquisition_date is not None and status.invoicing_mode == "Online"

    upo = client.get_invoice_upo(session.reference_number, invoice_ref=sent.reference_number)
    doc = assert_valid_upo(upo)
    assert doc.findtext(".//%sNumerKSeFDokumentu" % UPO_NS) == status.ksef_number
    assert doc.findtext(".//%sSkrotDokumentu" % UPO_NS) == sent.invoice_hash
    assert client.get_invoice_upo(session.reference_number, ksef_number=status.ksef_number) == upo

    assert client.download_invoice(status.ksef_number) == invoice     # byte-identical copy

    session.close()
    final = session.wait_until_processed(timeout=30, poll_interval=0.1)
    assert final.code == 200, final
    assert (final.invoice_count, final.successful_invoice_count) == (1, 1)
    pages = client.get_session_upos(session.reference_number)
    assert pages and all(assert_valid_upo(page) is not None for page in pages)
    client.logout()
    assert client.tokens is None
    served = sum(emulator.counters.values())
    assert client.checked >= 15 and client.checked <= served    # every exchange was OpenAPI-checked


def test_schema_invalid_invoice_is_rejected_with_details(connect):
    client = connect(SELLER_NIP)
    session = client.open_online_session()
    sent = session.send_invoice(invalid_invoice())
    status = session.wait_for_invoice(sent.reference_number, timeout=30, poll_interval=0.1)
    assert status.is_final and not status.is_success and status.code == 430
    assert status.details and status.ksef_number is None
    with pytest.raises(errors.KSeFInvoiceRejected) as info:
        status.raise_for_rejection()
    assert info.value.status_code == 430 and info.value.details == status.details
    assert "Correct the invoice" in info.value.message


def test_oversized_invoice_is_refused_before_sending(emulator, connect):
    client = connect(SELLER_NIP)
    session = client.open_online_session()
    emulator.reset_counters()
    huge = sample_invoice().replace(b"</Faktura>", b"<!--" + b"x" * 1000000 + b"--></Faktura>")
    with pytest.raises(errors.InvoiceTooLargeError):
        session.send_invoice(huge)
    assert count(emulator, "POST", SEND) == 0


def test_duplicate_is_reported_with_the_original_ksef_number(connect):
    client = connect(SELLER_NIP)
    session = client.open_online_session()
    invoice = sample_invoice()
    first = session.wait_for_invoice(session.send_invoice(invoice).reference_number, timeout=30,
                                     poll_interval=0.1)
    assert first.is_success
    second = session.wait_for_invoice(session.send_invoice(invoice).reference_number, timeout=30,
                                      poll_interval=0.1)
    assert second.code == 440 and second.original_ksef_number == first.ksef_number
    with pytest.raises(errors.KSeFDuplicateInvoice) as info:
        second.raise_for_rejection()
    assert info.value.original_ksef_number == first.ksef_number
    assert first.ksef_number in info.value.message
    found = client.find_invoice(first.invoice_hash, [session.reference_number])
    assert found.is_success and found.held_ksef_number == first.ksef_number


def test_session_and_tokens_resume_in_another_client(connect):
    first = connect(SELLER_NIP)
    session = first.open_online_session()
    saved_session, saved_tokens = session.to_dict(), first.tokens.to_dict()
    first.close()

    second = connect(login=False)
    second.use_tokens(saved_tokens)
    resumed = second.resume_online_session(saved_session)
    sent = resumed.send_invoice(sample_invoice())
    status = resumed.wait_for_invoice(sent.reference_number, timeout=30, poll_interval=0.1)
    assert status.is_success, status        # same AES key and IV: KSeF could decrypt it


def test_offline_mode_flag_and_find_invoice(connect):
    client = connect(SELLER_NIP)
    session = client.open_online_session()
    invoice = sample_invoice()
    sent = session.send_invoice(invoice, offline_mode=True)
    status = session.wait_for_invoice(sent.reference_number, timeout=30, poll_interval=0.1)
    assert status.is_success and status.invoicing_mode == "Offline"
    found = client.find_invoice(crypto.sha256_b64(invoice), [session.reference_number])
    assert found.ksef_number == status.ksef_number
    assert client.find_invoice(crypto.sha256_b64(b"never sent"), [session.reference_number]) is None
