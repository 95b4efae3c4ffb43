"""The office cockpit: one row per company the user may access, with its KSeF health."""
from datetime import date, timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..models.l10n_pl_ksef_config import AUTH_METHODS
from .common import TEST_NIP
from .send_common import KsefSendCommon
from .test_tours import KsefTourMixin, install_polish

#: valid Polish NIPs of the client companies
CLIENT_NIPS = ("7740001454", "5213017228", "9542583988")


class KsefCockpitCommon(KsefSendCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        pl = cls.env.ref("base.pl")
        cls.clients = cls.env["res.company"].with_context(install_mode=True).create([
            {"name": "Klient %s sp. z o.o." % letter, "vat": "PL" + nip, "country_id": pl.id}
            for letter, nip in zip("BCD", CLIENT_NIPS)])
        for client in cls.clients:
            # shown as connected (the cockpit reads the settings; no KSeF needed here)
            client._l10n_pl_ksef_get_config().write({
                "state": "connected", "auth_method": "certificate", "connected_nip": client.vat[2:],
                "auth_cert_valid_to": "2027-06-30 12:00:00", "has_auth_certificate": True})
        cls.Cockpit = cls.env["l10n_pl_ksef.cockpit"]

    def row(self, company, user=None):
        cockpit = self.Cockpit.with_user(user) if user else self.Cockpit
        return cockpit.search([("company_id", "=", company.id)])


@tagged("post_install", "-at_install")
class TestKsefCockpit(KsefCockpitCommon):

    def test_a_company_as_the_office_sees_it(self):
        self.connect_token()
        self.env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.token_end_date", "2027-03-31")
        queued = self.make_invoice() | self.make_invoice()
        for move in queued:
            move._l10n_pl_ksef_queue(b"<Faktura/>", "online")
        offline = self.make_invoice()
        offline._l10n_pl_ksef_queue(b"<Faktura/>", "offline24")
        rejected = self.make_invoice()
        rejected._l10n_pl_ksef_queue(b"<Faktura/>", "online")
        rejected._l10n_pl_ksef_reject(450, "Błąd weryfikacji semantyki", log=False)
        row = self.row(self.company)
        self.assertEqual(len(row), 1)
        self.assertEqual((row.nip, row.environment, row.auth_method, row.state),
                         (TEST_NIP, "emulator", "token", "connected"))
        # the token's end follows the system parameter (the config's _l10n_pl_ksef_token_end_date)
        self.assertEqual(row.credential_valid_until, date(2027, 3, 31))
        self.assertEqual((row.queued_count, row.rejected_count, row.offline_count), (3, 1, 1))
        self.assertTrue(offline.l10n_pl_ksef_deadline)
        self.assertEqual(row.offline_deadline, offline.l10n_pl_ksef_deadline)
        self.assertEqual(row.health, "problem")        # a rejected invoice needs action
        # cron problems of the company are on its row
        self.config._l10n_pl_ksef_send_health("KSeF refused the login")
        cursor = self.env["l10n_pl_ksef.import.cursor"]._l10n_pl_ksef_get(self.company)
        cursor.write({"last_error": "Import stopped", "last_run_at": "2026-12-01 10:00:00"})
        self.env.invalidate_all()
        row = self.row(self.company)
        self.assertEqual((row.send_error, row.import_error), ("KSeF refused the login",
                                                             "Import stopped"))
        self.assertEqual(str(row.last_import_at), "2026-12-01 10:00:00")
        # filters and group by work in SQL
        Cockpit = self.Cockpit
        self.assertIn(self.company.id, Cockpit.search([("rejected_count", ">", 0)]).company_id.ids)
        self.assertIn(self.company.id, Cockpit.search([("send_error", "!=", False)]).company_id.ids)
        groups = Cockpit.formatted_read_group([], ["auth_method"], ["queued_count:sum"])
        by_method = {g["auth_method"]: g["queued_count:sum"] for g in groups}
        self.assertEqual(by_method["token"], 3)
        self.assertEqual(by_method["certificate"], 0)
        # one click into it: the queue, the rejected invoices, the settings, in that company
        action = row.action_open_queue()
        self.assertEqual((action["tag"], action["params"]["company_id"]),
                         ("l10n_pl_ksef_open_in_company", self.company.id))
        moves = self.env["account.move"]
        self.assertEqual(moves.search(action["params"]["action"]["domain"]), queued | offline)
        self.assertEqual(moves.search(row.action_open_rejected()["params"]["action"]["domain"]),
                         rejected)
        self.assertEqual(moves.search(row.action_open_offline()["params"]["action"]["domain"]),
                         offline)
        self.assertEqual(row.action_open_settings()["params"]["action"]["res_id"], self.config.id)

    def test_healthy_expiring_expired(self):
        client = self.clients[0]
        config = client._l10n_pl_ksef_get_config()
        self.assertEqual(self.row(client).health, "ok")
        today = fields.Datetime.now()
        config.auth_cert_valid_to = today + timedelta(days=10)
        self.env.invalidate_all()
        self.assertEqual(self.row(client).health, "attention")
        self.assertIn(client, self.Cockpit.search([("health", "=", "attention")]).company_id)
        config.auth_cert_valid_to = today - timedelta(days=2)
        self.env.invalidate_all()
        self.assertEqual(self.row(client).health, "problem")

    def test_users_see_the_companies_allowed_to_them(self):
        b, c, d = self.clients
        user = new_test_user(
            self.env, login="office_accountant",
            groups="account.group_account_invoice,l10n_pl_ksef.group_ksef_user",
            company_id=self.company.id, company_ids=[(6, 0, (self.company | b | c).ids)])
        # only the company it works in is active; the cockpit shows every company allowed
        Cockpit = self.Cockpit.with_user(user).with_context(allowed_company_ids=self.company.ids)
        self.assertEqual(set(Cockpit.search([]).company_id.ids), {self.company.id, b.id, c.id})
        self.assertEqual(Cockpit.search_count([]), 3)
        groups = Cockpit.formatted_read_group([], ["state"], ["__count"])
        self.assertEqual(sum(g["__count"] for g in groups), 3)
        self.assertFalse(Cockpit.search([("company_id", "=", d.id)]))
        with self.assertRaises(AccessError):
            Cockpit.browse(d.id).read(["state"])
        # the manager of the office sees all four
        self.assertEqual(self.Cockpit.search_count([("company_id", "in", (self.company | self.clients).ids)]),
                         4)

    def test_a_new_authentication_method_appears_by_itself(self):
        Config = type(self.env["l10n_pl_ksef.config"])
        office = AUTH_METHODS + [("office", "Through the accounting office")]
        with patch.object(Config._fields["auth_method"], "selection", office):
            selection = dict(self.Cockpit.fields_get(["auth_method"])["auth_method"]["selection"])
            self.assertEqual(selection["office"], "Through the accounting office")
            self.env.cr.execute("UPDATE l10n_pl_ksef_config SET auth_method = 'office' "
                                "WHERE company_id = %s", [self.clients[0].id])
            self.env.invalidate_all()
            self.assertEqual(self.row(self.clients[0]).auth_method, "office")

    def test_the_query_count_does_not_grow_with_the_companies(self):
        def queries(companies):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.Cockpit.search_read([("company_id", "in", companies.ids)],
                                     ["company_id", "health", "queued_count", "credential_valid_until",
                                      "auth_method", "last_import_state"])
            return self.env.cr.sql_log_count - before
        queries(self.clients)      # warm caches (rules, fields)
        self.assertEqual(queries(self.clients[:1]), queries(self.clients | self.company))


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefCockpitTour(KsefCockpitCommon, KsefTourMixin):
    """The office's manager, who works in ``LANG``, opens the cockpit and one company
    (static/tests/tours/l10n_pl_ksef_tours_cockpit.js)."""

    LANG = "en_US"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.LANG == "pl_PL":
            install_polish(cls.env)

    def test_open_the_cockpit_and_a_company(self):
        b = self.clients[0]
        user = new_test_user(
            self.env, login="office_manager",
            groups="account.group_account_manager,l10n_pl_ksef.group_ksef_manager",
            company_id=self.company.id, company_ids=[(6, 0, (self.company | b).ids)])
        user.lang = self.LANG
        self.assertTrue(user)
        self.start_tour("/odoo/action-l10n_pl_ksef.l10n_pl_ksef_cockpit_action",
                        "l10n_pl_ksef_cockpit", login="office_manager")


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefCockpitTourPolish(TestKsefCockpitTour):
    """The same path for an office manager who works in Polish (the tour reads Polish)."""

    LANG = "pl_PL"

    def test_open_the_cockpit_and_a_company_in_polish(self):
        self.test_open_the_cockpit_and_a_company()


@tagged("post_install", "-at_install")
class TestKsefCockpitPolish(KsefCockpitCommon):

    def test_labels_and_actions_in_polish(self):
        self.env["res.lang"]._activate_lang("pl_PL")
        self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])
        Cockpit = self.Cockpit.with_context(lang="pl_PL")
        fields_pl = Cockpit.fields_get(["queued_count", "health", "credential_valid_until"])
        self.assertEqual(fields_pl["queued_count"]["string"], "Czeka na wysłanie")
        self.assertEqual(fields_pl["credential_valid_until"]["string"], "Poświadczenie ważne do")
        self.assertIn(("problem", "Wymaga działania"), fields_pl["health"]["selection"])
        row = Cockpit.search([("company_id", "=", self.clients[0].id)])
        self.assertEqual(row.action_open_queue()["params"]["action"]["name"],
                         "Klient B sp. z o.o.: Kolejka KSeF")
        arch = Cockpit.get_views([(False, "search")])["views"]["search"]["arch"]
        self.assertIn("Wymaga działania", arch)
        self.assertEqual(self.env.ref("l10n_pl_ksef.l10n_pl_ksef_cockpit_action").with_context(
            lang="pl_PL").name, "Kokpit biura rachunkowego KSeF")
