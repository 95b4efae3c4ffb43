"""FA(3) files through Odoo's own EDI door (models/account_move_edi.py): the bills list's
Upload (account.journal.create_document_from_attachment, what the button calls), a file posted
on a bill, the purchase journal's mail gateway (message_process); then the KSeF import of the
same invoice from the emulator adds the KSeF number to that bill instead of a second one."""
import base64
import random
import textwrap
import uuid

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..models.account_move_edi import fa3_file_hash
from .common import TEST_NIP
from .test_import_emulator import ImportEmulatorCase, other_nip
from .test_tours import KsefTourMixin, install_polish


@tagged("post_install", "-at_install")
class TestKsefEdiDoor(ImportEmulatorCase):

    def setUp(self):
        super().setUp()
        self.journal = self.company_data["default_journal_purchase"]

    # --- helpers ------------------------------------------------------------------
    def seeded_xml(self, seed):
        """One invoice to our company stored in the emulator: (KSeF number, its FA(3) bytes)."""
        number = self.seed(1, lines=2, seed=seed)[0]
        with self.emulator.lock:
            row = next(row for row in self.emulator.state.table("invoices").values()
                       if row["ksefNumber"] == number)
        return number, base64.b64decode(row["content"])

    def upload(self, name, raw):
        attachment = self.env["ir.attachment"].create(
            {"name": name, "raw": raw, "mimetype": "application/xml"})
        action = self.journal.with_context(default_move_type="in_invoice") \
            .create_document_from_attachment(attachment.ids)
        return self.env["account.move"].browse(action["res_id"])

    def same_invoice_bills(self, ref):
        return self.env["account.move"].search([("company_id", "=", self.company.id),
                                                ("ref", "=", ref),
                                                ("move_type", "in", ("in_invoice", "in_refund"))])

    def chatter(self, move):
        return " ".join(move.message_ids.mapped("body"))

    # --- tests ------------------------------------------------------------------------
    def test_upload_with_number_then_ksef_import(self):
        number, xml = self.seeded_xml(seed=801)
        bill = self.upload("%s.xml" % number, xml)
        self.assertEqual(bill.move_type, "in_invoice")
        self.assertEqual(bill.l10n_pl_ksef_number, number)
        self.assertEqual(bill.l10n_pl_ksef_invoice_hash, fa3_file_hash(xml))
        self.assertTrue(bill.invoice_line_ids)
        self.assertTrue(bill.partner_id.vat)
        self.assertEqual(bill.l10n_pl_ksef_xml_id.raw, xml)
        ref = bill.ref
        self.run_import()
        bills = self.same_invoice_bills(ref)
        self.assertEqual(bills, bill, "the KSeF import made a second bill")
        # the same bill the KSeF import makes: compare with a plain import of another copy
        self.assertEqual(bill.l10n_pl_ksef_number, number)

    def test_upload_without_number_matched_by_hash(self):
        number, xml = self.seeded_xml(seed=802)
        bill = self.upload("faktura od dostawcy.xml", xml)
        self.assertFalse(bill.l10n_pl_ksef_number)
        self.assertTrue(bill.invoice_line_ids)
        self.assertIn("not known yet", self.chatter(bill))
        total = bill.amount_total
        self.run_import()
        bills = self.same_invoice_bills(bill.ref)
        self.assertEqual(bills, bill, "the KSeF import made a second bill")
        self.assertEqual(bill.l10n_pl_ksef_number, number)
        self.assertTrue(bill.l10n_pl_ksef_acquisition_date)
        self.assertEqual(bill.amount_total, total)
        self.assertIn(number, self.chatter(bill))
        self.assertFalse(self.errors())

    def test_same_file_twice_and_the_import_first(self):
        number, xml = self.seeded_xml(seed=803)
        self.run_import()
        imported = self.bills().filtered(lambda m: m.l10n_pl_ksef_number == number)
        self.assertEqual(len(imported), 1)
        again = self.upload("kopia.xml", xml)
        self.assertFalse(again.invoice_line_ids)
        self.assertIn("already in Odoo", self.chatter(again))
        self.assertEqual(self.same_invoice_bills(imported.ref), imported)
        self.assertFalse(again.l10n_pl_ksef_invoice_hash)

    def test_message_post_on_bill_and_mail_gateway(self):
        number, xml = self.seeded_xml(seed=804)
        bill = self.env["account.move"].create(
            {"move_type": "in_invoice", "journal_id": self.journal.id})
        attachment = self.env["ir.attachment"].create(
            {"name": "%s.xml" % number, "raw": xml, "mimetype": "application/xml"})
        bill.message_post(message_type="comment", attachment_ids=attachment.ids)
        self.assertEqual(bill.l10n_pl_ksef_number, number)
        self.assertTrue(bill.invoice_line_ids)

        number2, xml2 = self.seeded_xml(seed=805)
        email = textwrap.dedent(f"""\
            MIME-Version: 1.0
            Date: Fri, 26 Nov 2021 16:27:45 +0100
            Message-ID: {uuid.uuid4()}
            Subject: Faktura
            From: Dostawca <biuro@dostawca.example.com>
            To: {self.journal.alias_id.display_name or "bills@example.com"}
            Content-Type: multipart/mixed; boundary="000000000000a47519057e029630"

            --000000000000a47519057e029630
            Content-Type: text/plain; charset="UTF-8"

            W zalaczniku faktura.
            --000000000000a47519057e029630
            Content-Type: text/plain
            Content-Transfer-Encoding: base64
            Content-Disposition: attachment; filename="faktura.xml"

            {base64.b64encode(xml2).decode()}
            --000000000000a47519057e029630--
        """)
        move_id = self.env["mail.thread"].message_process(
            "account.move", email,
            custom_values={"move_type": "in_invoice", "journal_id": self.journal.id,
                           "company_id": self.company.id})
        mailed = self.env["account.move"].browse(move_id)
        self.assertTrue(mailed.invoice_line_ids, self.chatter(mailed))
        self.assertFalse(mailed.l10n_pl_ksef_number)
        self.run_import()
        self.assertEqual(mailed.l10n_pl_ksef_number, number2)
        self.assertEqual(self.same_invoice_bills(mailed.ref), mailed)
        self.assertEqual(self.same_invoice_bills(bill.ref), bill)

    def test_invalid_fa3_clear_message_no_bill_content(self):
        _number, xml = self.seeded_xml(seed=806)
        broken = xml.replace(b"<P_2>", b"<P_2x>", 1).replace(b"</P_2>", b"</P_2x>", 1)
        with mute_logger("odoo.addons.account.models.account_document_import_mixin"):
            bill = self.upload("zla.xml", broken)
        self.assertFalse(bill.invoice_line_ids)
        self.assertFalse(bill.partner_id)
        self.assertIn("not a valid FA(3) invoice", self.chatter(bill))
        hostile = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                   b'<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">&x;</Faktura>')
        bill2 = self.upload("xxe.xml", hostile)
        self.assertFalse(bill2.invoice_line_ids)
        self.assertIn("not a valid FA(3) invoice", self.chatter(bill2))
        self.assertNotIn("root:", self.chatter(bill2))

    def test_invoice_of_another_buyer_refused(self):
        _number, xml = self.seeded_xml(seed=807)
        nip = other_nip(random.Random(807))
        bill = self.upload("obca.xml", xml.replace(TEST_NIP.encode(), nip.encode()))
        self.assertFalse(bill.invoice_line_ids)
        self.assertIn("addressed to NIP %s" % nip, self.chatter(bill))

    def test_messages_in_polish(self):
        self.env["res.lang"]._activate_lang("pl_PL")
        self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])
        _number, xml = self.seeded_xml(seed=808)
        broken = xml.replace(b"<P_2>", b"<P_2x>", 1).replace(b"</P_2>", b"</P_2x>", 1)
        self.env = self.env(context=dict(self.env.context, lang="pl_PL"))
        self.journal = self.journal.with_env(self.env)
        with mute_logger("odoo.addons.account.models.account_document_import_mixin"):
            bill = self.upload("zla.xml", broken)
        self.assertIn("plik nie jest poprawną fakturą FA(3)", self.chatter(bill))
        good = self.upload("dobra.xml", xml)
        self.assertIn("Jej numer KSeF nie jest jeszcze znany", self.chatter(good))


@tagged("post_install", "-at_install")
class TestKsefEdiDoorTour(ImportEmulatorCase, KsefTourMixin):
    """The bills list's Upload button in a real browser, for an accountant who works in ``LANG``
    (static/tests/tours/l10n_pl_ksef_edi_tour.js)."""

    LANG = "en_US"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.LANG == "pl_PL":
            install_polish(cls.env)
        cls.accountant.lang = cls.LANG

    seeded_xml = TestKsefEdiDoor.seeded_xml

    def test_upload_fa3_on_the_bills_list(self):
        number, xml = self.seeded_xml(seed=821)
        self.env["ir.attachment"].with_user(self.accountant).create(
            {"name": "l10n_pl_ksef_tour_fa3.xml", "raw": xml, "mimetype": "application/xml"})
        action = self.env.ref("account.action_move_in_invoice_type")
        self.start_tour("/odoo/action-%s" % action.id, "l10n_pl_ksef_upload_fa3_on_bills_list",
                        login=self.accountant.login)
        bill = self.env["account.move"].search([("company_id", "=", self.company.id),
                                                ("l10n_pl_ksef_invoice_hash", "=",
                                                 fa3_file_hash(xml))])
        self.assertEqual(len(bill), 1)
        self.assertTrue(bill.invoice_line_ids)
        self.assertFalse(bill.l10n_pl_ksef_number)
        self.run_import()
        self.assertEqual(bill.l10n_pl_ksef_number, number)


@tagged("post_install", "-at_install")
class TestKsefEdiDoorTourPolish(TestKsefEdiDoorTour):
    """The same path for an accountant who works in Polish (the tour reads Polish)."""

    LANG = "pl_PL"

    def test_upload_fa3_on_the_bills_list_in_polish(self):
        self.test_upload_fa3_on_the_bills_list()
