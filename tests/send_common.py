"""Shared setup of the sending tests: Polish taxes, customers, invoices, golden files."""
import itertools
import os
import time
from datetime import date, timedelta
from unittest.mock import patch

from lxml import etree
from odoo import Command

from ..ksef.ksef_number import make_ksef_number
from .common import OTHER_NIP, TEST_NIP, KsefTestCommon, schema_dir

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
#: elements that legitimately differ between runs
IGNORED = ("DataWytworzeniaFa", "UU_ID")
INVOICE_DATE = date(2026, 2, 2)
_NUMBERS = itertools.count(int(time.time()) % 100000 * 10)


def canonical(xml_bytes):
    """FA(3) bytes -> canonical text without the run-dependent elements."""
    parser = etree.XMLParser(remove_blank_text=True)
    root = etree.fromstring(xml_bytes, parser)
    for name in IGNORED:
        for node in root.iter("{*}%s" % name):
            node.getparent().remove(node)
    return etree.tostring(root, method="c14n").decode()


class KsefSendCommon(KsefTestCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.timeout", "1.5")
        if schema_dir():
            # validate against the official XSD of shared/ (no download during tests)
            cls.startClassPatcher(patch.dict(os.environ, {"KSEF_SCHEMA_DIR": schema_dir()}))
        cls.company.partner_id.write({"street": "ul. Prosta 1", "zip": "00-001", "city": "Warszawa"})
        cls.company.name = "ACME sp. z o.o."
        Chart = cls.env["account.chart.template"].with_company(cls.company)
        cls.tax = {key: Chart.ref(xmlid) for key, xmlid in {
            "23": "vs_kraj_23", "8": "vs_kraj_8", "5": "vs_kraj_5", "0": "vs_kraj_0",
            "zw": "vs_kraj_zw", "oo": "vs_stal", "wdt": "vs_unia", "np2": "vs_dostu",
        }.items()}
        cls.tax["zw"].invoice_legal_notes = "art. 43 ust. 1 pkt 37 ustawy o VAT"
        pl = cls.env.ref("base.pl")
        cls.buyer = cls.env["res.partner"].create({
            "name": "Odbiorca S.A.", "vat": "PL" + OTHER_NIP, "country_id": pl.id,
            "street": "ul. Kwiatowa 5", "zip": "30-001", "city": "Kraków", "is_company": True})
        cls.eu_buyer = cls.env["res.partner"].create({
            "name": "Kunde GmbH", "vat": "DE123456788", "country_id": cls.env.ref("base.de").id,
            "street": "Hauptstr. 1", "zip": "10115", "city": "Berlin", "is_company": True})
        cls.consumer = cls.env["res.partner"].create({"name": "Jan Kowalski", "country_id": pl.id})
        cls.product = cls.env["product.product"].create({"name": "Widget", "default_code": "W-1",
                                                         "lst_price": 100.0})
        cls.eur = cls.env.ref("base.EUR")
        cls.eur.active = True
        cls.env["res.currency.rate"].create({"name": "2026-01-01", "rate": 0.25,
                                             "currency_id": cls.eur.id, "company_id": cls.company.id})

    # --- builders -----------------------------------------------------------
    def make_invoice(self, lines=None, partner=None, move_type="out_invoice", post=True, name=None,
                     **vals):
        lines = lines or [(100.0, 1, "23")]
        move = self.env["account.move"].create({
            "move_type": move_type,
            "partner_id": (partner or self.buyer).id,
            "invoice_date": INVOICE_DATE,
            "date": INVOICE_DATE,
            "invoice_date_due": INVOICE_DATE + timedelta(days=14),
            "invoice_line_ids": [Command.create({
                "product_id": self.product.id, "name": "Item %s" % (i + 1),
                "price_unit": price, "quantity": qty,
                "tax_ids": [Command.set(self.tax[tax].ids)] if tax else [Command.clear()],
            }) for i, (price, qty, tax) in enumerate(lines)],
            **vals,
        })
        # unique numbers: the emulator outlives each test's rollback, and KSeF refuses a second
        # invoice with the same seller + type + number as a duplicate (440)
        move.name = name or "FV/2026/T%05d" % next(_NUMBERS)
        if post:
            move.action_post()
        return move

    def make_credit_note(self, invoice, ksef_number=True, name=None):
        if ksef_number:
            invoice.l10n_pl_ksef_number = make_ksef_number(TEST_NIP, INVOICE_DATE, "0A1B2C3D4E5F")
        wizard = self.env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=invoice.ids).create({
                "reason": "Zwrot towaru", "journal_id": invoice.journal_id.id,
                "date": INVOICE_DATE})
        action = wizard.refund_moves()
        refund = self.env["account.move"].browse(action["res_id"])
        refund.invoice_date = INVOICE_DATE
        refund.name = name or "KOR/2026/T%05d" % next(_NUMBERS)
        refund.action_post()
        return refund

    def assertGolden(self, move, golden_name):
        xml = move._l10n_pl_ksef_build_xml()
        path = os.path.join(GOLDEN_DIR, golden_name)
        if os.environ.get("KSEF_UPDATE_GOLDEN") or not os.path.exists(path):
            with open(path, "wb") as handle:
                handle.write(xml)
            if not os.environ.get("KSEF_UPDATE_GOLDEN"):
                self.fail("golden file %s was missing and has been written; check it and rerun"
                          % golden_name)
        with open(path, "rb") as handle:
            expected = handle.read()
        self.assertEqual(canonical(xml), canonical(expected),
                         "FA(3) of %s differs from tests/golden/%s" % (move.name, golden_name))
        return xml
