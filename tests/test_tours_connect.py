"""Connecting a company to KSeF, walked in a real browser in English and in Polish.

The paths of README.md ("Using it": connecting a company, the offline certificate, outages,
disconnecting) as a KSeF manager meets them; the steps are in
static/tests/tours/l10n_pl_ksef_tours_connect.js. The same tours run for an English and for a
Polish user: they find fields and buttons by name and look for the messages in the user's
language; here the outcome is checked in the database (and the messages Odoo keeps, in the
user's language).

The TEST environment the user chooses in the wizard is served by the embedded emulator
(``_l10n_pl_ksef_api_target`` redirected), so the wizard's token and certificate paths run over
real HTTP with real cryptography, as against KSeF's TEST.
"""
import json
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from ..ksef import certs as ksef_certs
from .common import KEY_PASSWORD, OTHER_NIP, TEST_NIP, WRONG_PASSWORD
from .send_common import KsefSendCommon
from .test_tours import KsefTourMixin

TOUR_DATA = "l10n_pl_ksef_tour_connect.json"

#: what the user must find in the records Odoo keeps, per language (the Polish of i18n/pl.po)
EXPECTED = {
    "en_US": {
        "connected_token": "with a token for NIP %s" % TEST_NIP,
        "connected_certificate": "Connected to KSeF – Test (TEST), NIP %s – with: KSeF certificate"
                                 % TEST_NIP,
        "offline_stored": "is stored",
        "disconnected": "Disconnected from KSeF by",
        "emergency": "KSeF failure (emergency mode)",
        "connected_emulator": "Connected to the local KSeF emulator",
    },
    "pl_PL": {
        "connected_token": "tokenem dla NIP %s" % TEST_NIP,
        "connected_certificate": "Połączono z KSeF – Testowe (TEST), NIP %s – metodą: Certyfikat KSeF"
                                 % TEST_NIP,
        "offline_stored": "został zapisany",
        "disconnected": "Rozłączono z KSeF",
        "emergency": "Awaria KSeF (tryb awaryjny)",
        "connected_emulator": "Połączono z lokalnym emulatorem KSeF",
    },
}


class KsefConnectTourCase(KsefSendCommon, KsefTourMixin):
    """The KSeF manager works in ``LANG``; the TEST environment is the embedded emulator."""

    LANG = "en_US"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.LANG != "en_US":
            cls.env["res.lang"]._activate_lang(cls.LANG)
            cls.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], [cls.LANG])
        cls.manager.lang = cls.LANG
        emulator_url = cls.emulator_url
        config_class = type(cls.env["l10n_pl_ksef.config"])
        api_target = config_class._l10n_pl_ksef_api_target

        def test_is_the_emulator(self, environment=None):
            if (environment or self.environment) == "test":
                return emulator_url
            return api_target(self, environment)

        cls.startClassPatcher(patch.object(config_class, "_l10n_pl_ksef_api_target",
                                           test_is_the_emulator))

    def expected(self, key):
        return EXPECTED[self.LANG][key]

    def config_url(self):
        action = self.env.ref("l10n_pl_ksef.l10n_pl_ksef_config_action")
        return "/odoo/action-%s/%s" % (action.id, self.config.id)

    def leave_tour_data(self, **data):
        """The credentials the tour types and uploads, readable by the manager only."""
        data.setdefault("key_password", KEY_PASSWORD)
        data.setdefault("wrong_password", WRONG_PASSWORD)
        self.env["ir.attachment"].with_user(self.manager).create(
            {"name": TOUR_DATA, "raw": json.dumps(data).encode(), "mimetype": "application/json"})

    def wizard_messages(self):
        wizards = self.env["l10n_pl_ksef.connect.wizard"].sudo().search(
            [("config_id", "=", self.config.id)])
        return "\n".join(wizards.mapped("result_message") or [""])

    def chatter(self):
        return "\n".join(self.config.message_ids.mapped("body"))


class KsefConnectTourPaths:
    """The paths; run by the English and the Polish class below."""

    # Odoo collects only the test methods a class defines itself unless told otherwise
    allow_inherited_tests_method = True

    # --- 1: evaluation mode: the local emulator ---------------------------------------------
    def test_connect_to_the_local_emulator(self):
        self.start_tour(self.config_url(), "l10n_pl_ksef_connect_local_emulator",
                        login=self.manager.login)
        config = self.config
        config.invalidate_recordset()
        self.assertEqual((config.state, config.environment, config.auth_method),
                         ("connected", "emulator", "token"))
        self.assertIn(self.expected("connected_emulator"), self.wizard_messages())

    # --- 1 + 3: token, after a malformed token, a token of another NIP and a refused token ------
    def test_connect_with_a_token_after_wrong_tokens(self):
        emu = self.emulator
        token = emu.make_ksef_token(TEST_NIP)
        revoked = emu.make_ksef_token(TEST_NIP)
        emu.revoke_ksef_token(revoked)
        other = emu.make_ksef_token(OTHER_NIP)
        self.leave_tour_data(token=token, token_cut=token[:40], token_other_nip=other,
                             token_revoked=revoked)
        emu.reset_counters()
        self.start_tour("/odoo", "l10n_pl_ksef_connect_token",
                        login=self.manager.login)
        config = self.config
        config.invalidate_recordset()
        self.assertEqual((config.state, config.environment, config.auth_method),
                         ("connected", "test", "token"))
        self.assertEqual(config.connected_nip, TEST_NIP)
        self.assertTrue(config.has_token)
        # the malformed and the foreign token never reached KSeF: two token logins in all
        self.assertEqual(emu.counters.get("POST /auth/ksef-token"), 2, emu.counters)
        self.assertIn(self.expected("connected_token"), self.wizard_messages())
        # the stored token is the right one, encrypted
        self.assertEqual(config._l10n_pl_ksef_secret("token_encrypted").decode(), token)
        self.assertNotIn(token.rsplit("|", 1)[1], json.dumps(self.raw_row(), default=str))

    # --- 2 + 4 + 5b: certificate after a wrong key password; KSeF issues the offline one ---
    def test_connect_with_a_certificate_then_request_offline_certificate(self):
        test_cert = self.make_cert()
        self.leave_tour_data(auth_cert=test_cert.cert_pem.decode(),
                             auth_key=test_cert.key_pem.decode())
        self.emulator.reset_counters()
        self.start_tour(self.config_url(), "l10n_pl_ksef_connect_certificate",
                        login=self.manager.login)
        config = self.config
        config.invalidate_recordset()
        self.assertEqual((config.state, config.environment, config.auth_method),
                         ("connected", "test", "certificate"))
        self.assertEqual(config.auth_cert_serial, test_cert.serial)
        self.assertEqual(config.auth_cert_subject, "NIP %s" % TEST_NIP)
        # the wrong password was refused before contacting KSeF: one XAdES login
        self.assertEqual(self.emulator.counters.get("POST /auth/xades-signature"), 1,
                         self.emulator.counters)
        self.assertTrue(config.has_offline_certificate)
        self.assertEqual(config.offline_cert_state, "valid")
        self.assertEqual(config.offline_cert_name, "Odoo offline tour")
        self.assertEqual(config._l10n_pl_ksef_get_offline_credentials().cert_type, "Offline")
        self.assertIn(self.expected("connected_certificate"), self.chatter())
        self.assertIn(self.expected("offline_stored"), self.wizard_messages())

    # --- 5a: upload the offline certificate --------------------------------------------------
    def test_upload_offline_certificate(self):
        self.connect_token()
        offline = self.make_cert(cert_type="Offline")
        self.leave_tour_data(offline_cert=offline.cert_pem.decode(),
                             offline_key=offline.key_pem.decode())
        self.start_tour(self.config_url(), "l10n_pl_ksef_offline_certificate_upload",
                        login=self.manager.login)
        config = self.config
        config.invalidate_recordset()
        self.assertTrue(config.has_offline_certificate)
        self.assertEqual(config.offline_cert_serial, offline.serial)
        self.assertEqual(config.offline_cert_state, "valid")
        self.assertEqual(config._l10n_pl_ksef_get_offline_credentials().serial, offline.serial)
        self.assertIn(self.expected("offline_stored"), self.wizard_messages())

    # --- 6: record a failure announced by the ministry and its end; end an unavailability ---
    def test_record_and_end_an_outage(self):
        self.connect_token()
        offline = self.make_cert(cert_type=ksef_certs.OFFLINE)
        self.config._l10n_pl_ksef_store_offline_certificate(
            ksef_certs.load_credentials(offline.cert_pem, offline.key_pem, KEY_PASSWORD,
                                        expected_type=ksef_certs.OFFLINE),
            "offline", offline.key_pem, KEY_PASSWORD)
        Outage = self.env["l10n_pl_ksef.outage"]
        # KSeF could not be reached: Odoo recorded an unavailability, an invoice waits offline
        unavailable = Outage._l10n_pl_ksef_start_automatic(self.company, "KSeF unreachable")
        move = self.make_invoice()
        move._l10n_pl_ksef_enqueue(mode="offline")
        self.assertEqual(move.l10n_pl_ksef_outage_id, unavailable)
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "pending")
        before = Outage.search([])
        self.start_tour("/odoo", "l10n_pl_ksef_record_outage", login=self.manager.login)
        failure = Outage.search([]) - before
        self.assertEqual(len(failure), 1)
        self.assertEqual((failure.kind, failure.company_id, failure.note, failure.automatic),
                         ("emergency", self.company, "BIP MF tour", False))
        self.assertTrue(failure.date_end)
        self.assertGreaterEqual(failure.date_end, failure.date_start)
        self.assertIn(self.expected("emergency"),
                      failure.with_context(lang=self.LANG).display_name)
        # the end of the unavailability, recorded by hand, gives the waiting invoice its deadline
        self.assertTrue(unavailable.date_end)
        self.assertEqual(move.l10n_pl_ksef_deadline_status, "due")
        self.assertGreaterEqual(move.l10n_pl_ksef_deadline, fields.Date.context_today(move))

    # --- 7: disconnect ------------------------------------------------------------------------
    def test_disconnect(self):
        self.connect_token()
        self.start_tour(self.config_url(), "l10n_pl_ksef_disconnect", login=self.manager.login)
        self.config.invalidate_recordset()
        self.assertNothingStored()
        self.assertIn(self.expected("disconnected"), self.chatter())


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefConnectTours(KsefConnectTourPaths, KsefConnectTourCase):
    """In English."""


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefConnectToursPolish(KsefConnectTourPaths, KsefConnectTourCase):
    """The same tours for a KSeF manager who works in Polish."""

    LANG = "pl_PL"

