"""Shared setup of the payment tests (VAT act art. 108g): vendors whose invoices are in the
emulator's KSeF, vendor bills carrying those KSeF numbers, the Register Payment wizard."""
import itertools
import time
from datetime import date

from odoo import Command

from ..ksef import nip as ksef_nip
from .common import TEST_NIP, KsefTestCommon

BILL_DATE = date(2026, 11, 2)
_REFS = itertools.count(int(time.time()) % 100000 * 10)


def nip_from(seed):
    return ksef_nip.make_nip(str(seed))


class KsefPaymentCommon(KsefTestCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.timeout", "5")
        pl = cls.env.ref("base.pl")
        cls.vendor_nip = nip_from(777000111)
        cls.vendor2_nip = nip_from(777000222)
        cls.vendor = cls.env["res.partner"].create({
            "name": "Dostawca Alfa sp. z o.o.", "vat": "PL" + cls.vendor_nip, "country_id": pl.id,
            "is_company": True})
        cls.vendor2 = cls.env["res.partner"].create({
            "name": "Dostawca Beta S.A.", "vat": "PL" + cls.vendor2_nip, "country_id": pl.id,
            "is_company": True})
        cls.foreign_vendor = cls.env["res.partner"].create({
            "name": "Lieferant GmbH", "vat": "DE123456788", "country_id": cls.env.ref("base.de").id,
            "is_company": True})
        cls.person = cls.env["res.partner"].create({"name": "Jan Nowak", "country_id": pl.id})
        cls.bank_journal = cls.company_data["default_journal_bank"]

    def setUp(self):
        super().setUp()
        self.addCleanup(self.emulator.faults.clear)
        self.addCleanup(self.emulator.set_unavailable, False)
        self.connect_token()

    # --- builders ---------------------------------------------------------------------------
    def ksef_numbers(self, seller_nip, count):
        """``count`` invoices of ``seller_nip`` to our company, stored in the emulator's KSeF."""
        return self.emulator.seed_incoming_invoices(TEST_NIP, count, sellers=[seller_nip])

    def make_bill(self, partner, amount=100.0, ksef_number=None, ref=None, move_type="in_invoice"):
        bill = self.env["account.move"].create({
            "move_type": move_type,
            "partner_id": partner.id,
            "invoice_date": BILL_DATE,
            "date": BILL_DATE,
            "ref": ref or "FV/%s/%05d" % (partner.id, next(_REFS)),
            "l10n_pl_ksef_number": ksef_number or False,
            "invoice_line_ids": [Command.create({
                "name": "Usługa", "price_unit": amount, "quantity": 1, "tax_ids": [Command.clear()],
            })],
        })
        bill.action_post()
        return bill

    def ksef_bills(self, partner, count, amount=100.0, seller_nip=None):
        numbers = self.ksef_numbers(seller_nip or ksef_nip.normalize_nip(partner.vat), count)
        return self.env["account.move"].concat(*[
            self.make_bill(partner, amount + index, number) for index, number in enumerate(numbers)])

    def register(self, bills, **vals):
        vals.setdefault("journal_id", self.bank_journal.id)
        return self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=bills.ids).create(vals)

    def pay(self, bills, **vals):
        """Register one payment (grouped) of ``bills``; returns (wizard, action, payments)."""
        wizard = self.register(bills, **vals)
        before = self.env["account.payment"].search([])
        action = wizard.action_create_payments()
        return wizard, action, self.env["account.payment"].search([]) - before

    def ksef_client(self):
        return self.company._l10n_pl_ksef_get_client()
