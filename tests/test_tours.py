"""User paths walked in a real browser (Odoo tours, headless Chromium).

Each tour is a path README.md describes; the tour clicks what a user clicks and checks what
the user sees. The steps are in static/tests/tours/l10n_pl_ksef_tours.js."""
from unittest.mock import patch

from odoo.tests import HttpCase, tagged
from odoo.tests import common as odoo_test_common

from .common import TEST_NIP, KsefTestCommon


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefTours(KsefTestCommon, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Odoo skips (does not fail) a tour whose Chromium has not opened its devtools port
        # within 10 s; a cold start on a busy 2-core machine can take longer. Wait up to 60 s:
        # a skipped tour proves nothing (scripts/odoo_tests.sh fails the run on one)
        cls.startClassPatcher(patch.object(odoo_test_common, "CHECK_BROWSER_ITERATIONS", 600))

    def config_url(self):
        action = self.env.ref("l10n_pl_ksef.l10n_pl_ksef_config_action")
        return "/odoo/action-%s/%s" % (action.id, self.config.id)

    def test_connect_with_the_local_emulator(self):
        self.assertEqual(self.config.state, "not_connected")
        self.start_tour(self.config_url(), "l10n_pl_ksef_connect_emulator",
                        login=self.manager.login)
        self.config.invalidate_recordset()
        self.assertEqual((self.config.state, self.config.environment), ("connected", "emulator"))

    def test_import_from_the_bills_list(self):
        self.connect_token()
        emu = self.emulator
        cursor = self.env["l10n_pl_ksef.import.cursor"]._l10n_pl_ksef_get(self.company)
        since = emu.advance_hwm()
        cursor.write({"checkpoint": since.isoformat(), "boundary_numbers": False,
                      "next_run_after": False})
        emu.seed_incoming_invoices(TEST_NIP, 3, lines=1, seed=901)
        emu.advance_hwm()
        action = self.env.ref("account.action_move_in_invoice_type")
        self.start_tour("/odoo/action-%s" % action.id, "l10n_pl_ksef_import_from_bills_list",
                        login=self.accountant.login)
        bills = self.env["account.move"].search([("company_id", "=", self.company.id),
                                                 ("l10n_pl_ksef_imported", "=", True)])
        self.assertEqual(len(bills), 3)
