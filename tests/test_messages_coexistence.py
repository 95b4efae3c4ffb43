"""What a Polish user reads (no English fragments, dates with the year, Settings paths as this
Odoo names them) and what Odoo's own l10n_pl_edi shows next to this module."""
from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..ksef import errors as ksef_errors
from ..ksef.i18n import _
from ..ksef.transport import Transport
from ..tools import ksef_i18n
from .test_i18n_errors import KsefPolishCommon


def closed_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@tagged("post_install", "-at_install")
class TestKsefPolishMessages(KsefPolishCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the menus' own Polish names (Settings, Invoicing) come from base and account
        cls.env["ir.module.module"]._load_module_terms(["base", "account"], ["pl_PL"])

    def test_connection_error_has_no_english_fragments(self):
        transport = Transport("http://127.0.0.1:%d/v2" % closed_port(), max_retries=0, timeout=5)
        with self.assertRaises(ksef_errors.KSeFTransportError) as caught:
            transport.request("GET", "/security/public-key-certificates",
                              operation=_("download KSeF public keys"))
        exc = caught.exception
        self.assertIn("download KSeF public keys", exc.message)
        self.assertIn("connection was refused", exc.message)
        text = ksef_i18n.error_message(self.env(context={"lang": "pl_PL"}), exc)
        self.assertIn("pobranie kluczy publicznych KSeF", text)
        self.assertIn("połączenie zostało odrzucone", text)
        for english in ("ConnectionError", "download", "refused", "Error"):
            self.assertNotIn(english, text)

    def test_formatted_operation_in_polish(self):
        from ..ksef.i18n import Text

        exc = ksef_errors.KSeFTransportError(
            "KSeF could not be reached (%(operation)s): %(error)s. Check the network/internet "
            "connection and the KSeF address, then try again; nothing was sent.",
            params={"operation": Text(_("download invoice %(number)s"), {"number": "X-1"}),
                    "error": Text(_("the network connection failed"))})
        text = ksef_i18n.error_message(self.env(context={"lang": "pl_PL"}), exc)
        self.assertIn("pobranie faktury X-1", text)
        self.assertIn("połączenie sieciowe nie powiodło się", text)

    def test_settings_path_as_odoo_shows_it(self):
        self.assertEqual(ksef_i18n.settings_path(self.env(context={"lang": "en_US"})),
                         "Settings > %s > KSeF" % self.env.ref("account.menu_finance")
                         .with_context(lang="en_US").name)
        polish = ksef_i18n.settings_path(self.env(context={"lang": "pl_PL"}))
        self.assertTrue(polish.startswith("Ustawienia > "), polish)
        self.assertNotIn("Accounting", polish)
        self.assertNotIn("Settings", polish)
        # and where a user meets it: a company that is not connected
        config = self.config.with_user(self.manager).with_context(lang="pl_PL")
        with self.assertRaises(UserError) as caught:
            config._l10n_pl_ksef_get_client()
        self.assertIn(polish, str(caught.exception))

    def test_expiry_dates_with_the_year(self):
        self.connect_token()
        valid_to = fields.Datetime.now() + timedelta(days=10)
        self.config.sudo().write({"has_offline_certificate": True, "offline_cert_valid_to": valid_to})
        config = self.config.with_context(lang="pl_PL")
        config.invalidate_recordset()
        expected = valid_to.strftime("%d.%m.%Y")
        self.assertIn(expected, config.warning_message)
        summaries = " ".join(s for s, _note in config._l10n_pl_ksef_expiry_warnings())
        self.assertIn(expected, summaries)
        self.assertNotIn(valid_to.strftime("%Y-%m-%d"), summaries)


@tagged("post_install", "-at_install")
class TestKsefNextToL10nPlEdi(KsefPolishCommon):
    """Odoo's own l10n_pl_edi (auto-installed with l10n_pl): its settings block and its invoice
    fields are out of the way for a company connected here, untouched for the others."""

    def edi_installed(self):
        return "l10n_pl_edi_status" in self.env["account.move"]._fields

    def test_settings_block_hidden_for_connected_companies(self):
        if not self.edi_installed():
            self.skipTest("l10n_pl_edi is not installed in this database")
        arch = self.env["res.config.settings"].get_view(view_type="form")["arch"]
        from lxml import etree

        node = etree.fromstring(arch).xpath("//setting[@id='l10n_pl_edi_register']")
        self.assertTrue(node)
        self.assertIn("l10n_pl_ksef_state == 'connected'", node[0].get("invisible"))
        # the expression is evaluated on the form's record: connected -> hidden
        settings = self.env["res.config.settings"].create({})
        self.assertNotEqual(settings.l10n_pl_ksef_state, "connected")
        self.connect_token()
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.l10n_pl_ksef_state, "connected")

    def test_edi_fields_not_offered_for_search_and_group_by(self):
        if not self.edi_installed():
            self.skipTest("l10n_pl_edi is not installed in this database")
        moves = self.env["account.move"].with_company(self.company)
        before = moves.fields_get(["l10n_pl_edi_number", "l10n_pl_edi_status", "l10n_pl_ksef_number"])
        self.assertTrue(before["l10n_pl_edi_number"]["groupable"])
        self.connect_token()
        after = moves.fields_get(["l10n_pl_edi_number", "l10n_pl_edi_status", "l10n_pl_ksef_number"])
        for name in ("l10n_pl_edi_number", "l10n_pl_edi_status"):
            self.assertFalse(after[name]["groupable"], name)
            self.assertFalse(after[name]["searchable"], name)
        self.assertTrue(after["l10n_pl_ksef_number"]["searchable"])
        # another, unconnected company keeps l10n_pl_edi as Odoo ships it
        other = self.setup_other_company()["company"]
        self.assertTrue(moves.with_company(other).fields_get(
            ["l10n_pl_edi_number"])["l10n_pl_edi_number"]["groupable"])

