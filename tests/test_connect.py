import os
import time
from datetime import date, datetime, timedelta, timezone

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools.misc import format_date

from ..tools import vault
from .common import KEY_PASSWORD, TEST_NIP, WRONG_PASSWORD, KsefTestCommon, b64


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefConnect(KsefTestCommon):

    def test_connect_by_token(self):
        token = self.connect_token()
        config = self.config
        self.assertEqual(config.state, "connected")
        self.assertEqual(config.auth_method, "token")
        self.assertEqual(config.environment, "emulator")
        self.assertEqual(config.connected_nip, TEST_NIP)
        self.assertTrue(config.has_token)
        self.assertTrue(config.last_contact)
        self.assertEqual(config.token_valid_until, date(2026, 12, 31))
        self.assertIn(format_date(self.env, date(2026, 12, 31)), config.warning_message)
        # stored encrypted: ciphertext only, and it decrypts to the token
        row = self.raw_row()
        self.assertTrue(row["token_encrypted"].startswith("ksef1:"))
        self.assertNotIn(token, str(row))
        self.assertEqual(vault.decrypt(row["token_encrypted"]).decode(), token)
        self.assertTrue(row["session_encrypted"])
        # the wizard kept no secret either
        wizard_rows = self.env["l10n_pl_ksef.connect.wizard"].sudo().search(
            [("config_id", "=", config.id)])
        self.assertFalse(wizard_rows.token_vault)

    def test_connect_while_ksef_is_still_checking_the_login(self):
        """The wizard pauses once, then says to click again; the second click continues the
        same login (no second token login), and only then the credential is stored."""
        emu = self.emulator
        self.addCleanup(setattr, emu, "auth_delay", emu.auth_delay)
        emu.auth_delay = 2.5
        emu.reset_counters()
        token = emu.make_ksef_token(TEST_NIP)
        wizard = self.wizard(token=token)
        with self.assertRaises(UserError) as caught:
            wizard.action_l10n_pl_ksef_connect()
        self.assertIn("still checking the login", str(caught.exception))
        self.assertEqual(self.config.state, "not_connected")
        self.assertFalse(self.raw_row()["token_encrypted"])
        time.sleep(2.0)
        self.wizard(token=token).action_l10n_pl_ksef_connect()
        self.assertEqual(self.config.state, "connected")
        self.assertEqual(emu.counters.get("POST /auth/ksef-token"), 1)

    def test_wizard_secrets_are_write_only(self):
        token = self.emulator.make_ksef_token(TEST_NIP)
        wizard = self.wizard(token=token)
        self.assertFalse(wizard.token)
        self.assertTrue(wizard.has_token_input)
        self.assertNotIn(token, str(wizard.read()))
        self.env.flush_all()
        self.env.cr.execute("SELECT token_vault FROM l10n_pl_ksef_connect_wizard WHERE id = %s",
                            [wizard.id])
        stored = self.env.cr.fetchone()[0]
        self.assertTrue(stored.startswith("ksef1:"))
        self.assertNotIn(token, stored)
        wizard.action_l10n_pl_ksef_connect()
        self.assertEqual(self.config.state, "connected")

    def test_client_helper_reuses_and_renews_session(self):
        self.connect_token()
        self.emulator.reset_counters()
        client = self.company._l10n_pl_ksef_get_client()
        self.assertTrue(client.tokens.access_token)
        self.assertFalse(self.emulator.counters.get("POST /auth/ksef-token"),
                         "the stored session must be reused, not a new login")
        # access tokens expired on the server side: a refresh or a new login gets new ones
        self.emulator.expire_access_tokens()
        self.config.sudo().session_encrypted = False
        client = self.company._l10n_pl_ksef_get_client()
        self.assertTrue(client.tokens.access_token)
        self.assertEqual(self.emulator.counters.get("POST /auth/ksef-token"), 1)
        with self.config._l10n_pl_ksef_client() as client:
            self.assertTrue(client.tokens)

    def test_wrong_token(self):
        bad = "20260201-EC-0000000000-0000000000-00|nip-%s|%s" % (TEST_NIP, "0" * 64)
        with self.assertRaises(UserError) as caught:
            self.wizard(token=bad).action_l10n_pl_ksef_connect()
        self.assertNotIn("Traceback", str(caught.exception))
        self.assertNothingStored()

    def test_revoked_token(self):
        token = self.emulator.make_ksef_token(TEST_NIP)
        self.emulator.revoke_ksef_token(token)
        with self.assertRaises(UserError):
            self.wizard(token=token).action_l10n_pl_ksef_connect()
        self.assertNothingStored()

    def test_missing_token(self):
        with self.assertRaises(UserError):
            self.wizard().action_l10n_pl_ksef_connect()
        self.assertNothingStored()

    def test_bad_nip(self):
        token = self.emulator.make_ksef_token(TEST_NIP)
        # a wrong checksum (stored while VAT validation was switched off), then no Tax ID at all
        for vat in ("PL1234567890", False):
            self.company.with_context(no_vat_validation=True).vat = vat
            self.assertFalse(self.config.nip_valid)
            with self.assertRaises(UserError) as caught:
                self.wizard(token=token).action_l10n_pl_ksef_connect()
            self.assertIn("NIP", str(caught.exception))
            self.assertNothingStored()
            with self.assertRaises(UserError):
                self.wizard().action_l10n_pl_ksef_use_emulator()
            self.assertNothingStored()

    def test_connect_by_certificate(self):
        test_cert = self.connect_certificate()
        config = self.config
        self.assertEqual(config.state, "connected")
        self.assertEqual(config.auth_method, "certificate")
        self.assertEqual(config.auth_cert_serial, test_cert.serial)
        self.assertTrue(config.auth_cert_valid_to > datetime.now())
        self.assertFalse(config.has_token)
        row = self.raw_row()
        self.assertNotIn(KEY_PASSWORD, str(row))
        self.assertNotIn(test_cert.key_pem.decode(), str(row))
        self.assertTrue(row["auth_key_encrypted"].startswith("ksef1:"))
        client = self.company._l10n_pl_ksef_get_client()
        self.assertTrue(client.tokens.access_token)

    def test_wrong_key_password(self):
        with self.assertRaises(UserError) as caught:
            self.connect_certificate(test_cert=self.make_cert(), password=WRONG_PASSWORD)
        self.assertIn("password", str(caught.exception).lower())
        self.assertNothingStored()

    def test_expired_certificate(self):
        now = datetime.now(timezone.utc)
        expired = self.make_cert(valid_from=now - timedelta(days=800), valid_to=now - timedelta(days=1))
        with self.assertRaises(UserError):
            self.connect_certificate(test_cert=expired)
        self.assertNothingStored()

    def test_wrong_certificate_type(self):
        offline = self.make_cert(cert_type="Offline")
        with self.assertRaises(UserError) as caught:
            self.connect_certificate(test_cert=offline)
        self.assertIn("Offline", str(caught.exception))
        self.assertNothingStored()

    def test_key_of_another_certificate(self):
        first, second = self.make_cert(), self.make_cert()
        with self.assertRaises(UserError):
            self.wizard(auth_method="certificate", auth_cert_file=b64(first.cert_pem),
                        auth_key_file=b64(second.key_pem),
                        auth_key_password=KEY_PASSWORD).action_l10n_pl_ksef_connect()
        self.assertNothingStored()

    def test_disconnect_and_connect_again(self):
        self.connect_token()
        self.config.with_user(self.manager).action_l10n_pl_ksef_disconnect()
        self.assertNothingStored()
        with self.assertRaises(UserError):
            self.company._l10n_pl_ksef_get_client()
        self.connect_certificate()
        self.assertEqual(self.config.state, "connected")
        self.assertEqual(self.config.auth_method, "certificate")

    def test_evaluation_mode(self):
        wizard = self.wizard(environment="test")
        wizard.action_l10n_pl_ksef_use_emulator()
        self.assertEqual(self.config.environment, "emulator")
        self.assertEqual(self.config.state, "connected")
        self.assertEqual(wizard.step, "offline")
        self.assertTrue(self.company._l10n_pl_ksef_get_client().tokens)

    def test_self_signed_test_certificate(self):
        self.wizard(auth_method="certificate").action_l10n_pl_ksef_use_test_certificate()
        self.assertEqual(self.config.auth_method, "certificate")
        with self.assertRaises(UserError):
            self.wizard(environment="prod", confirm_production=True,
                        auth_method="certificate").action_l10n_pl_ksef_use_test_certificate()

    def test_production_needs_confirmation(self):
        token = self.emulator.make_ksef_token(TEST_NIP)
        with self.assertRaises(UserError):
            self.wizard(environment="prod", token=token).action_l10n_pl_ksef_connect()
        self.assertNothingStored()
        self.assertEqual(self.config.environment, "test")
        with self.assertRaises(UserError):
            self.config.write({"environment": "prod"})

    def test_default_environment_is_test(self):
        company = self.env["res.company"].create({"name": "Nowa sp. z o.o."})
        self.assertEqual(company._l10n_pl_ksef_get_config().environment, "test")
        self.assertEqual(company.l10n_pl_ksef_state, "not_connected")

    def test_emulator_started_in_process(self):
        """Evaluation mode with nothing on the port: Odoo starts its own emulator (SQLite state)."""
        import shutil
        import socket
        import tempfile

        from ..tools import emulator_service

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        directory = tempfile.mkdtemp(prefix="l10n_pl_ksef_emu_")
        self.addCleanup(shutil.rmtree, directory, True)
        url = emulator_service.ensure_running(port, directory=directory)
        self.addCleanup(emulator_service.stop, port)
        self.assertTrue(emulator_service.is_listening(port))
        self.assertEqual(emulator_service.ensure_running(port), url)  # reused, not restarted
        self.env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.emulator_port", port)
        self.wizard().action_l10n_pl_ksef_use_emulator()
        self.assertEqual(self.config.state, "connected")
        self.assertTrue(os.path.exists(os.path.join(directory, "emulator.sqlite")))

    def test_emulator_port_held_by_a_busy_process(self):
        """Another process holds the emulator's port and is too busy to answer the probe (its
        listen backlog is full): Odoo uses it instead of failing with "could not be started"."""
        import socket

        from ..tools import emulator_service

        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen(0)          # never accepts: connections wait, then time out
        port = busy.getsockname()[1]
        waiting = []
        for _attempt in range(8):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
            waiting.append(client)
            self.addCleanup(client.close)
        self.assertFalse(emulator_service.is_listening(port, timeout=0.2))  # the probe fails
        self.assertEqual(emulator_service.ensure_running(port), emulator_service.emulator_url(port))
        self.assertNotIn(port, emulator_service._emulators)   # nothing started here

    def test_token_end_date_is_a_system_parameter(self):
        """The token end date is data (the ministry proposed to extend it): every warning and
        the activity follow the parameter; a malformed value falls back to the regulation's."""
        self.connect_token()
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(params.get_param("l10n_pl_ksef.token_end_date"), "2026-12-31")
        params.set_param("l10n_pl_ksef.token_end_date", "2027-06-30")
        self.config.invalidate_recordset()
        self.assertEqual(self.config.token_valid_until, date(2027, 6, 30))
        self.assertIn(format_date(self.env, date(2027, 6, 30)), self.config.warning_message)
        self.assertEqual(self.wizard().token_horizon, date(2027, 6, 30))
        # 30 days ahead of the new date: the managers' warning names it
        self.assertFalse(self.config._l10n_pl_ksef_expiry_warnings(today=date(2027, 5, 1)))
        warnings = self.config._l10n_pl_ksef_expiry_warnings(today=date(2027, 6, 10))
        self.assertEqual(len(warnings), 1)
        self.assertIn(format_date(self.env, date(2027, 6, 30)), warnings[0][0])
        params.set_param("l10n_pl_ksef.token_end_date", "end of 2027")
        self.config.invalidate_recordset()
        self.assertEqual(self.config.token_valid_until, date(2026, 12, 31))
