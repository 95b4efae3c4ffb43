"""FA(3) -> draft vendor bill: the ministry's sample invoices, duplicates, corrections,
hostile input, the learnt vendor mapping and the readable visualisation."""
import os
from dataclasses import dataclass, field
from unittest.mock import patch

import psycopg2
from odoo import Command
from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.tests import tagged
from odoo.tools import mute_logger

from .time_guard import KsefTimeGuard

SAMPLES = os.path.normpath(os.path.join(
    os.path.dirname(os.path.realpath(__file__)), "..", "..", "shared", "ksef", "samples", "fa3"))
ORIGINAL_NUMBER = "9999999999-20230908-8BEF280C8D35-4D"   # corrected by samples 2, 3, 5...


def sample(number, prefix="FA"):
    with open(os.path.join(SAMPLES, "%s_3_Przykład_%s.xml" % (prefix, number)), "rb") as handle:
        return handle.read()


@dataclass
class Document:
    """What ksef.sync hands over for one invoice (same attributes as IncomingInvoice)."""

    ksef_number: str
    xml: bytes = None
    metadata: dict = field(default_factory=dict)
    error: str = None


@tagged("post_install", "-at_install")
class TestKsefImportMapping(KsefTimeGuard, AccountTestInvoicingCommon):

    @classmethod
    @AccountTestInvoicingCommon.setup_country("pl")
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_data["company"]
        # the buyer of the ministry's samples
        cls.company.write({"vat": "PL1111111111", "country_id": cls.env.ref("base.pl").id})
        cls.Move = cls.env["account.move"].with_company(cls.company)
        cls.ChartTemplate = cls.env["account.chart.template"].with_company(cls.company)
        cls.tax_23 = cls.ChartTemplate.ref("vz_kraj_23")
        cls.tax_8 = cls.ChartTemplate.ref("vz_kraj_8")
        cls.tax_5 = cls.ChartTemplate.ref("vz_kraj_5")

    def import_docs(self, *docs):
        return self.Move._l10n_pl_ksef_import_documents(self.company, list(docs),
                                                        responsible=self.env.user)

    def bill(self, number):
        return self.Move.search([("company_id", "=", self.company.id),
                                 ("l10n_pl_ksef_number", "=", number)])

    # ------------------------------------------------------------------
    def test_sample_1_becomes_draft_bill(self):
        metadata = {"acquisitionDate": "2026-02-15T10:11:12.123+00:00",
                    "invoiceHash": "abc=", "seller": {"nip": "9999999999"}}
        stats = self.import_docs(Document("9999999999-20260215-000000000001-01", sample(1),
                                          metadata))
        self.assertEqual(stats["created_count"], 1)
        move = self.bill("9999999999-20260215-000000000001-01")
        self.assertRecordValues(move, [{
            "move_type": "in_invoice", "state": "draft", "ref": "FV2026/02/150",
            "l10n_pl_ksef_imported": True, "l10n_pl_ksef_paid": True,
            "amount_untaxed": 1667.62, "amount_total": 2051.00,   # + the rounding line of P_15
            "l10n_pl_ksef_invoice_hash": "abc=",
        }])
        self.assertEqual(str(move.invoice_date), "2026-02-15")
        self.assertEqual(str(move.l10n_pl_ksef_paid_date), "2026-01-27")
        self.assertEqual(str(move.l10n_pl_ksef_acquisition_date), "2026-02-15 10:11:12")
        self.assertEqual(move.currency_id.name, "PLN")
        partner = move.partner_id
        self.assertEqual(partner.name, "ABC AGD sp. z o. o.")
        self.assertEqual(partner.vat, "PL9999999999")
        self.assertTrue(partner.l10n_pl_ksef_created_by_import)
        self.assertEqual(partner.city, "Warszawa")
        rounding = move.invoice_line_ids.filtered(lambda line: not line.tax_ids)
        self.assertAlmostEqual(rounding.price_subtotal, 0.01)   # P_15 is a grosz above
        lines = move.invoice_line_ids - rounding
        self.assertEqual(lines.mapped("name"), ["lodówka Zimnotech mk1", "wniesienie sprzętu",
                                                "promocja lodówka pełna mleka"])
        self.assertEqual(lines.mapped("quantity"), [1.0, 1.0, 1.0])
        self.assertEqual(lines.mapped("price_unit"), [1626.01, 40.65, 0.95])
        self.assertEqual([line.tax_ids for line in lines], [self.tax_23, self.tax_23, self.tax_5])
        self.assertTrue(all(line.account_id for line in lines))
        # the sample's own P_15 (2051) is rounded: the accountant is told
        self.assertIn("rounding line", move.l10n_pl_ksef_import_warning)
        # original XML attached, chatter message, activity for the accountant
        self.assertEqual(move.l10n_pl_ksef_xml_id.raw, sample(1))
        self.assertIn(move.l10n_pl_ksef_xml_id, move.message_ids.attachment_ids)
        self.assertTrue(any("Received from KSeF" in (m.body or "") for m in move.message_ids))
        self.assertEqual(move.activity_ids.user_id, self.env.user)

    def test_reimport_never_duplicates(self):
        doc = Document("9999999999-20260215-000000000002-01", sample(1))
        self.import_docs(doc)
        stats = self.import_docs(doc, doc)
        self.assertEqual((stats["created_count"], stats["duplicate_count"]), (0, 2))
        self.assertEqual(len(self.bill(doc.ksef_number)), 1)
        # the same document twice in one increment
        other = Document("9999999999-20260215-000000000003-01", sample(1))
        stats = self.import_docs(other, other)
        self.assertEqual((stats["created_count"], stats["duplicate_count"]), (1, 1))

    @mute_logger("odoo.sql_db")
    def test_unique_index_company_number_type(self):
        self.import_docs(Document("9999999999-20260215-000000000004-01", sample(1)))
        with self.assertRaises(psycopg2.errors.UniqueViolation), self.env.cr.savepoint():
            self.Move.create({"move_type": "in_invoice", "partner_id": self.partner_a.id,
                              "l10n_pl_ksef_number": "9999999999-20260215-000000000004-01"})
            self.env.flush_all()

    def test_existing_vendor_matched_by_nip(self):
        vendor = self.env["res.partner"].create({"name": "ABC (ours)", "vat": "PL9999999999",
                                                 "country_id": self.env.ref("base.pl").id})
        self.import_docs(Document("9999999999-20260215-000000000005-01", sample(1)))
        move = self.bill("9999999999-20260215-000000000005-01")
        self.assertEqual(move.partner_id, vendor)
        self.assertFalse(vendor.l10n_pl_ksef_created_by_import)

    def test_foreign_currency(self):
        self.import_docs(Document("9999999999-20260215-000000000006-01",
                                  sample(20, prefix="Fa")))
        move = self.bill("9999999999-20260215-000000000006-01")
        self.assertEqual(move.currency_id.name, "EUR")
        self.assertAlmostEqual(move.amount_total, 16678.80, places=2)

    def test_correction_linked_to_original_as_refund(self):
        self.import_docs(Document(ORIGINAL_NUMBER, sample(1)))
        original = self.bill(ORIGINAL_NUMBER)
        self.import_docs(Document("9999999999-20260301-000000000007-01", sample(2)))
        correction = self.bill("9999999999-20260301-000000000007-01")
        self.assertRecordValues(correction, [{
            "move_type": "in_refund", "state": "draft",
            "l10n_pl_ksef_corrected_number": ORIGINAL_NUMBER,
            "l10n_pl_ksef_corrected_move_id": original.id,
            "reversed_entry_id": original.id,
        }])
        self.assertAlmostEqual(correction.amount_total, 200.0, places=2)
        self.assertEqual(original.l10n_pl_ksef_correction_ids, correction)

    def test_correction_arriving_before_its_original_is_linked_later(self):
        self.import_docs(Document("9999999999-20260301-000000000008-01", sample(3)))
        correction = self.bill("9999999999-20260301-000000000008-01")
        self.assertFalse(correction.l10n_pl_ksef_corrected_move_id)
        self.import_docs(Document(ORIGINAL_NUMBER, sample(1)))
        self.assertEqual(correction.l10n_pl_ksef_corrected_move_id, self.bill(ORIGINAL_NUMBER))

    def test_correction_and_original_in_one_batch(self):
        correction_number = "9999999999-20260301-000000000009-01"
        stats = self.import_docs(Document(correction_number, sample(2)),
                                 Document(ORIGINAL_NUMBER, sample(1)))
        self.assertEqual(stats["created_count"], 2)
        original, correction = self.bill(ORIGINAL_NUMBER), self.bill(correction_number)
        self.assertRecordValues(correction, [{
            "move_type": "in_refund", "l10n_pl_ksef_corrected_move_id": original.id,
            "reversed_entry_id": original.id}])
        for move in original | correction:
            self.assertEqual(move.l10n_pl_ksef_xml_id.res_id, move.id)
            self.assertIn(move.l10n_pl_ksef_xml_id, move.message_ids.attachment_ids)
            self.assertEqual(move.activity_ids.user_id, self.env.user)

    @mute_logger("odoo.sql_db", "odoo.addons.l10n_pl_ksef.models.account_move_import")
    def test_concurrent_insert_in_a_batch_falls_back_to_one_by_one(self):
        numbers = ["9999999999-20260215-0000000000%02d-01" % n for n in (40, 41, 42)]
        Move = type(self.Move)
        real_prepare = Move._l10n_pl_ksef_prepare_bill

        def prepare(this, company, doc, cache, run=None):
            result = real_prepare(this, company, doc, cache, run)
            if doc.ksef_number == numbers[1]:
                # another run stores the same invoice between our look-up and our insert
                self.Move.create({"move_type": "in_invoice", "partner_id": self.partner_a.id,
                                  "l10n_pl_ksef_number": doc.ksef_number})
            return result

        with patch.object(Move, "_l10n_pl_ksef_prepare_bill", prepare):
            stats = self.import_docs(*(Document(number, sample(1)) for number in numbers))
        self.assertEqual((stats["created_count"], stats["duplicate_count"],
                          stats["error_count"]), (2, 1, 0))
        for number in (numbers[0], numbers[2]):
            move = self.bill(number)
            self.assertTrue(move.l10n_pl_ksef_imported)
            self.assertEqual(move.l10n_pl_ksef_xml_id.raw, sample(1))
            self.assertTrue(any("Received from KSeF" in (m.body or "")
                                for m in move.message_ids))
        other = self.bill(numbers[1])
        self.assertEqual(len(other), 1)
        self.assertFalse(other.l10n_pl_ksef_imported)

    def test_every_sample_imports_or_is_recorded(self):
        names = sorted(n for n in os.listdir(SAMPLES) if n.endswith(".xml"))
        docs = [Document("9999999999-20260101-%012d-AA" % i, open(os.path.join(SAMPLES, n),
                                                                  "rb").read())
                for i, n in enumerate(names)]
        stats = self.import_docs(*docs)
        self.assertEqual(stats["created_count"], len(docs), self.env[
            "l10n_pl_ksef.import.error"].search([]).mapped("message"))
        moves = self.Move.search([("l10n_pl_ksef_number", "in", [d.ksef_number for d in docs])])
        self.assertEqual(len(moves), len(docs))
        self.assertEqual(set(moves.mapped("state")), {"draft"})

    def test_totals_only_invoice(self):
        """An advance invoice (ZAL) without lines: one line per VAT bucket."""
        self.import_docs(Document("9999999999-20260215-000000000009-01", sample(10)))
        move = self.bill("9999999999-20260215-000000000009-01")
        self.assertTrue(move.invoice_line_ids)
        self.assertAlmostEqual(move.amount_total, 20000.0, places=2)
        self.assertTrue(move.l10n_pl_ksef_import_warning)

    # ------------------------------------------------------------------
    @mute_logger("odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_import_log")
    def test_hostile_documents_are_recorded_not_skipped(self):
        xxe = (b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               b'<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">&x;</Faktura>')
        bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Faktura>&b;</Faktura>')
        oversize = b"<Faktura>" + b" " * (6 * 1024 * 1024) + b"</Faktura>"
        docs = [
            Document("9999999999-20260215-00000000000A-01", xxe),
            Document("9999999999-20260215-00000000000B-01", bomb),
            Document("9999999999-20260215-00000000000C-01", oversize),
            Document("9999999999-20260215-00000000000D-01", b"<Faktura><Fa>"),
            Document("9999999999-20260215-00000000000E-01", None,
                     {"invoiceNumber": "X/1", "seller": {"nip": "9999999999"}},
                     "The export part could not be decrypted (broken archive)."),
            Document("9999999999-20260215-00000000000F-01", sample(1)),
        ]
        stats = self.import_docs(*docs)
        self.assertEqual((stats["created_count"], stats["error_count"]), (1, 5))
        errors = self.env["l10n_pl_ksef.import.error"].search(
            [("company_id", "=", self.company.id)])
        self.assertEqual(sorted(errors.mapped("ksef_number")),
                         sorted(d.ksef_number for d in docs[:5]))
        by_number = {e.ksef_number: e for e in errors}
        self.assertEqual(by_number[docs[0].ksef_number].reason, "xml")
        self.assertIn("DOCTYPE", by_number[docs[0].ksef_number].message)
        self.assertEqual(by_number[docs[2].ksef_number].reason, "xml")
        self.assertIn("too large", by_number[docs[2].ksef_number].message)
        self.assertEqual(by_number[docs[4].ksef_number].reason, "refused")
        self.assertEqual(by_number[docs[4].ksef_number].invoice_number, "X/1")
        self.assertEqual(set(errors.mapped("state")), {"open"})
        self.assertFalse(self.bill(docs[0].ksef_number))
        # seen again (e.g. the next run): the same record, one more attempt, still visible
        self.import_docs(docs[0])
        self.assertEqual(by_number[docs[0].ksef_number].attempt_count, 2)
        # fixed later (a clean copy arrives): resolved and linked to the bill
        self.import_docs(Document(docs[3].ksef_number, sample(1)))
        self.assertEqual(by_number[docs[3].ksef_number].state, "resolved")
        self.assertEqual(by_number[docs[3].ksef_number].move_id, self.bill(docs[3].ksef_number))

    @mute_logger("odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_import_log")
    def test_xsd_invalid_invoice_is_an_error_not_a_bill(self):
        """No P_2, an unknown P_12 code and a foreign element: refused with every reason."""
        xml = sample(1).decode()
        start, end = xml.index("<P_2>"), xml.index("</P_2>") + len("</P_2>")
        xml = xml[:start] + xml[end:]
        xml = xml.replace("<P_12>23</P_12>", "<P_12>99</P_12>", 1)
        xml = xml.replace("</Fa>", "<Obcy>x</Obcy></Fa>", 1)
        number = "9999999999-20260215-000000000099-01"
        stats = self.import_docs(Document(number, xml.encode()))
        self.assertEqual((stats["created_count"], stats["error_count"]), (0, 1))
        self.assertFalse(self.bill(number))
        error = self.env["l10n_pl_ksef.import.error"].search([("ksef_number", "=", number)])
        self.assertEqual((error.reason, error.state), ("invalid", "open"))
        for reason in ("P_2", "99", "Obcy"):
            self.assertIn(reason, error.message)

    # ------------------------------------------------------------------
    def test_mapping_learnt_on_second_bill_from_same_vendor(self):
        product = self.env["product.product"].create({"name": "Lodówka (our catalogue)",
                                                      "type": "consu"})
        account = self.company_data["default_account_expense"].copy({"code": "402199"})
        self.import_docs(Document("9999999999-20260215-000000000010-01", sample(1)))
        first = self.bill("9999999999-20260215-000000000010-01")
        line = first.invoice_line_ids[0]
        self.assertFalse(line.product_id)
        # the accountant corrects the first line, as in the form (x2many update command)
        first.write({"invoice_line_ids": [Command.update(line.id, {
            "product_id": product.id, "account_id": account.id,
            "tax_ids": [Command.set(self.tax_8.ids)]})]})
        maps = self.env["l10n_pl_ksef.import.product.map"].search(
            [("partner_id", "=", first.partner_id.id)])
        self.assertEqual(maps.mapped("key"), ["lodówka zimnotech mk1"])
        # the next bill of the same vendor comes out as corrected
        self.import_docs(Document("9999999999-20260315-000000000011-01", sample(1)))
        second = self.bill("9999999999-20260315-000000000011-01")
        self.assertEqual(second.partner_id, first.partner_id)
        learnt, other, _third = second.invoice_line_ids.filtered("tax_ids")   # + rounding line
        self.assertEqual(learnt.product_id, product)
        self.assertEqual(learnt.account_id, account)
        self.assertEqual(learnt.tax_ids, self.tax_8)
        self.assertEqual(learnt.price_unit, 1626.01)
        self.assertEqual(learnt.name, "lodówka Zimnotech mk1")
        self.assertFalse(other.product_id)
        self.assertEqual(other.tax_ids, self.tax_23)
        self.assertEqual(maps.used_count, 1)

    def test_product_found_by_vendor_code(self):
        self.import_docs(Document("9999999999-20260215-000000000012-01", sample(1)))
        vendor = self.bill("9999999999-20260215-000000000012-01").partner_id
        product = self.env["product.product"].create({"name": "Fridge"})
        self.env["product.supplierinfo"].create({
            "partner_id": vendor.id, "product_tmpl_id": product.product_tmpl_id.id,
            "product_code": "ZIM-MK1"})
        xml = sample(1).replace(b"<P_7>lod\xc3\xb3wka Zimnotech mk1</P_7>",
                                b"<P_7>lod\xc3\xb3wka Zimnotech mk1</P_7><Indeks>ZIM-MK1</Indeks>")
        self.assertIn(b"<Indeks>", xml)
        self.import_docs(Document("9999999999-20260215-000000000013-01", xml))
        line = self.bill("9999999999-20260215-000000000013-01").invoice_line_ids[0]
        self.assertEqual(line.product_id, product)
        self.assertEqual(line.l10n_pl_ksef_vendor_code, "ZIM-MK1")

    def test_visualisation(self):
        self.import_docs(Document("9999999999-20260215-000000000014-01", sample(1)))
        move = self.bill("9999999999-20260215-000000000014-01")
        action = move.action_l10n_pl_ksef_open_visualisation()
        self.assertEqual(action["type"], "ir.actions.report")
        self.assertEqual(action["report_name"], "l10n_pl_ksef.report_ksef_invoice_visualisation")
        html, _type = self.env["ir.actions.report"]._render_qweb_html(
            "l10n_pl_ksef.report_ksef_invoice_visualisation", move.ids)
        html = html.decode()
        for text in ("9999999999-20260215-000000000014-01", "FV2026/02/150",
                     "ABC AGD sp. z o. o.", "lodówka Zimnotech mk1", "2051", "F.H.U. Jan Kowalski"):
            self.assertIn(text, html)
        self.assertVisualisationColumns(html)
        # in Polish: the rate labels too
        self.env["res.lang"]._activate_lang("pl_PL")
        self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])
        html_pl, _type = self.env["ir.actions.report"].with_context(lang="pl_PL")._render_qweb_html(
            "l10n_pl_ksef.report_ksef_invoice_visualisation", move.ids)
        html_pl = html_pl.decode()
        self.assertIn("stawka podstawowa", html_pl)
        self.assertNotIn("basic rate", html_pl)
        self.assertVisualisationColumns(html_pl)

    def assertVisualisationColumns(self, html):
        """Every line of the table has one cell per heading, each under its heading: the
        quantity under Ilość, the rate under VAT (an empty optional element keeps its cell)."""
        from lxml import html as lxml_html

        tree = lxml_html.fromstring(html)
        table = tree.xpath("//table[thead/tr/th[contains(., 'Lp.')]]")[0]
        headings = [" ".join(th.text_content().split()) for th in table.xpath("thead/tr/th")]
        rows = table.xpath("tbody/tr")
        self.assertTrue(rows)
        for row in rows:
            cells = [" ".join(td.text_content().split()) for td in row.xpath("td")]
            self.assertEqual(len(cells), len(headings), (headings, cells))
            # Lp., name, Indeks, quantity, unit, unit price, net, VAT (headings may be translated)
            self.assertTrue(cells[0].isdigit(), (headings, cells))
            self.assertEqual(cells[2], "", (headings, cells))   # sample 1 has no Indeks
            self.assertRegex(cells[3], r"^\d", (headings, cells))
            self.assertTrue(cells[7], (headings, cells))
