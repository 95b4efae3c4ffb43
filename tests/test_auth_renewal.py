"""Renewing the KSeF authentication certificate from Odoo (issue 12), against the emulator; the
tour renews the offline certificate as well (its own tests: test_offline_renewal.py)."""
import time
from datetime import datetime, timedelta, timezone

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..ksef import certs as ksef_certs
from .common import KEY_PASSWORD, KsefTestCommon, b64
from .test_tours import KsefTourMixin

ENROLL = "POST /certificates/enrollments"


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefAuthRenewal(KsefTestCommon):

    def setUp(self):
        super().setUp()
        emu = self.emulator
        self.addCleanup(setattr, emu, "enrollment_delay", emu.enrollment_delay)
        emu.enrollment_delay = 0.0

    def short_lived(self, days=10):
        now = datetime.now(timezone.utc)
        return self.make_cert(valid_from=now - timedelta(days=700), valid_to=now + timedelta(days=days))

    def assertConnects(self):
        self.config.invalidate_recordset()
        self.config.sudo().session_encrypted = False          # a real XAdES login, not the tokens
        result = self.config.with_user(self.manager).action_l10n_pl_ksef_test_connection()
        self.assertEqual(result["params"]["type"], "success")

    def revoke_in_ksef(self, reference):
        """KSeF revokes the certificate it has just issued (a login with it then fails: 460)."""
        emu = self.emulator
        with emu.lock:
            serial = emu.state.get("enrollments", reference)["certificateSerialNumber"]
            cert = emu.state.get("certs", serial)
            cert["status"] = "Revoked"
            emu.state.put("certs", serial, cert)

    # --- the button ----------------------------------------------------------------------

    def test_button_renews_after_a_test_login(self):
        old = self.connect_certificate(self.short_lived(days=200))
        config = self.config
        old_to = config.auth_cert_valid_to
        self.emulator.reset_counters()
        result = config.with_user(self.manager).action_l10n_pl_ksef_renew_auth_certificate()
        self.assertEqual(result["params"]["type"], "success")
        self.assertEqual(self.emulator.counters.get(ENROLL), 1)
        self.assertNotEqual(config.auth_cert_serial, old.serial)
        self.assertGreater(config.auth_cert_valid_to, old_to)
        self.assertFalse(config.auth_renew_reference)
        self.assertEqual(config.state, "connected")
        # the new key is the vault's ciphertext, no password, nothing in clear
        row = self.raw_row()
        self.assertTrue(row["auth_key_encrypted"].startswith("ksef1:"))
        self.assertFalse(row["auth_renew_encrypted"])
        self.assertNotIn("PRIVATE KEY", str(row))
        cert = ksef_certs.load_certificate(row["auth_cert_pem"].encode())
        self.assertTrue(ksef_certs.is_ksef_issued(cert))
        self.assertEqual(ksef_certs.certificate_type(cert), ksef_certs.AUTHENTICATION)
        # chatter: old and new serial, validity
        body = config.message_ids[0].body
        self.assertIn("renewed", body)
        self.assertIn(old.serial, body)
        self.assertIn(config.auth_cert_serial, body)
        # the old one is not revoked by Odoo (another program may use it): the manager is told
        self.assertIn("does not revoke the previous certificate", body)
        self.assertConnects()                                  # the new one logs in

    def test_button_issued_later_old_certificate_in_use_until_then(self):
        old = self.connect_certificate()
        config = self.config
        self.emulator.enrollment_delay = 2.0
        result = config.with_user(self.manager).action_l10n_pl_ksef_renew_auth_certificate()
        self.assertEqual(result["params"]["type"], "info")
        self.assertIn(config.auth_renew_reference, result["params"]["message"])
        self.assertEqual(config.auth_cert_serial, old.serial)
        self.assertTrue(self.raw_row()["auth_renew_encrypted"].startswith("ksef1:"))
        self.assertNotIn("PRIVATE KEY", str(self.raw_row()))
        self.assertConnects()                                  # the old one still works
        Config = self.env["l10n_pl_ksef.config"]
        Config._cron_l10n_pl_ksef_certificates()               # KSeF still working
        self.assertEqual(config.auth_cert_serial, old.serial)
        self.assertTrue(config.auth_renew_reference)
        time.sleep(2.2)                                        # the test waits for the emulator
        Config._cron_l10n_pl_ksef_certificates()
        self.assertNotEqual(config.auth_cert_serial, old.serial)
        self.assertFalse(config.auth_renew_reference)
        self.assertFalse(self.raw_row()["auth_renew_encrypted"])
        self.assertConnects()

    def test_failure_keeps_the_old_certificate_and_says_why(self):
        old = self.connect_certificate()
        config = self.config
        self.emulator.enrollment_delay = 2.0
        config.with_user(self.manager).action_l10n_pl_ksef_renew_auth_certificate()
        reference = config.auth_renew_reference
        self.revoke_in_ksef(reference)
        time.sleep(2.2)
        self.env["l10n_pl_ksef.config"]._cron_l10n_pl_ksef_certificates()
        self.assertEqual(config.auth_cert_serial, old.serial)
        self.assertFalse(config.auth_renew_reference)
        self.assertFalse(self.raw_row()["auth_renew_encrypted"])
        self.assertIn(reference, config.auth_renew_message)
        self.assertIn("test login", config.auth_renew_message)
        self.assertIn(old.serial, config.auth_renew_message)
        activity = config.activity_ids.filtered(lambda a: "not renewed" in a.summary)
        self.assertEqual(activity.user_id, self.manager)
        self.assertConnects()                                  # the old one is still in use

    def test_refused_request_keeps_the_old_certificate_in_polish(self):
        self.env["res.lang"]._activate_lang("pl_PL")
        self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])
        old = self.connect_certificate()
        config = self.config
        self.emulator.enrollment_delay = 60.0
        config.with_user(self.manager).action_l10n_pl_ksef_renew_auth_certificate()
        with self.emulator.lock:                               # KSeF lost the request
            self.emulator.state.delete("enrollments", config.auth_renew_reference)
        result = config.with_user(self.manager).with_context(
            lang="pl_PL").action_l10n_pl_ksef_renew_auth_certificate()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("pozostaje w użyciu", result["params"]["message"])
        self.assertIn(old.serial, result["params"]["message"])
        self.assertEqual(config.auth_cert_serial, old.serial)
        self.assertFalse(config.auth_renew_reference)
        self.assertConnects()

    # --- the daily cron (opt-in) ---------------------------------------------------------

    def test_cron_renews_30_days_ahead_when_opted_in(self):
        old = self.connect_certificate(self.short_lived(days=10))
        config = self.config
        Config = self.env["l10n_pl_ksef.config"]
        self.emulator.reset_counters()
        Config._cron_l10n_pl_ksef_check_expiry()               # not opted in: nothing happens
        self.assertEqual(config.auth_cert_serial, old.serial)
        self.assertFalse(config.auth_renew_reference)
        self.assertFalse(self.emulator.counters.get(ENROLL))
        self.assertTrue(config.activity_ids.filtered(
            lambda a: "authentication certificate expires" in a.summary))
        config.with_user(self.manager).auth_renew_auto = True
        Config._cron_l10n_pl_ksef_check_expiry()
        self.assertEqual(self.emulator.counters.get(ENROLL), 1)
        self.assertNotEqual(config.auth_cert_serial, old.serial)
        self.assertGreater(config.auth_cert_valid_to, datetime.now() + timedelta(days=700))
        self.assertIn(old.serial, config.message_ids[0].body)
        Config._cron_l10n_pl_ksef_check_expiry()               # valid for 2 years: nothing to do
        self.assertEqual(self.emulator.counters.get(ENROLL), 1)
        self.assertConnects()

    def test_cron_leaves_certificates_far_from_expiry(self):
        old = self.connect_certificate()                       # valid for a year and more
        self.config.with_user(self.manager).auth_renew_auto = True
        self.emulator.reset_counters()
        self.env["l10n_pl_ksef.config"]._cron_l10n_pl_ksef_check_expiry()
        self.assertEqual(self.config.auth_cert_serial, old.serial)
        self.assertFalse(self.emulator.counters.get(ENROLL))

    def test_cron_failure_keeps_the_old_certificate(self):
        old = self.connect_certificate(self.short_lived(days=10))
        config = self.config
        config.with_user(self.manager).auth_renew_auto = True
        self.emulator.enrollment_delay = 2.0
        Config = self.env["l10n_pl_ksef.config"]
        Config._cron_l10n_pl_ksef_check_expiry()
        self.assertTrue(config.auth_renew_reference)
        self.revoke_in_ksef(config.auth_renew_reference)
        time.sleep(2.2)
        Config._cron_l10n_pl_ksef_certificates()
        self.assertEqual(config.auth_cert_serial, old.serial)
        self.assertIn("test login", config.auth_renew_message)

    # --- who may -------------------------------------------------------------------------

    def test_token_company_cannot_renew(self):
        self.connect_token()
        with self.assertRaises(UserError):
            self.config.with_user(self.manager).action_l10n_pl_ksef_renew_auth_certificate()
        self.config.auth_renew_auto = True
        self.emulator.reset_counters()
        self.env["l10n_pl_ksef.config"]._cron_l10n_pl_ksef_check_expiry()
        self.assertFalse(self.emulator.counters.get(ENROLL))

    def test_secrets_and_button_are_for_managers(self):
        self.connect_certificate()
        self.emulator.enrollment_delay = 60.0
        self.config.with_user(self.manager).action_l10n_pl_ksef_renew_auth_certificate()
        config = self.config.with_user(self.accountant)
        with self.assertRaises(AccessError):
            config.read(["auth_renew_encrypted"])
        self.assertNotIn("auth_renew_encrypted", config.read()[0])
        with self.assertRaises(UserError):
            config.action_l10n_pl_ksef_renew_auth_certificate()
        with self.assertRaises(AccessError):
            config.write({"auth_renew_auto": True})


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefAuthRenewalTour(KsefTestCommon, KsefTourMixin):
    """The manager clicks "Renew authentication certificate", then "Renew offline certificate" on
    the KSeF settings."""

    LANG = "en_US"

    def setUp(self):
        super().setUp()
        emu = self.emulator
        self.addCleanup(setattr, emu, "enrollment_delay", emu.enrollment_delay)
        emu.enrollment_delay = 0.0
        if self.LANG != "en_US":
            self.env["res.lang"]._activate_lang(self.LANG)
            self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], [self.LANG])
        self.manager.lang = self.LANG

    def test_renew_from_the_settings(self):
        now = datetime.now(timezone.utc)
        old = self.connect_certificate(self.make_cert(valid_from=now - timedelta(days=700),
                                                      valid_to=now + timedelta(days=20)))
        old_offline = self.make_cert(cert_type=ksef_certs.OFFLINE, valid_from=now - timedelta(days=700),
                                     valid_to=now + timedelta(days=20))
        self.wizard(step="offline", offline_source="upload", offline_cert_name="Odoo offline",
                    offline_cert_file=b64(old_offline.cert_pem),
                    offline_key_file=b64(old_offline.key_pem),
                    offline_key_password=KEY_PASSWORD).action_l10n_pl_ksef_save_offline()
        self.assertEqual(self.config.offline_cert_serial, old_offline.serial)
        action = self.env.ref("l10n_pl_ksef.l10n_pl_ksef_config_action")
        self.start_tour("/odoo/action-%s/%s" % (action.id, self.config.id),
                        "l10n_pl_ksef_renew_auth_certificate", login=self.manager.login)
        self.config.invalidate_recordset()
        self.assertNotEqual(self.config.auth_cert_serial, old.serial)
        self.assertGreater(self.config.auth_cert_valid_to.date(), (now + timedelta(days=20)).date())
        self.assertEqual(self.config.state, "connected")
        # the offline certificate too, issued after a login with the renewed one, and tested
        self.assertNotEqual(self.config.offline_cert_serial, old_offline.serial)
        self.assertGreater(self.config.offline_cert_valid_to.date(), (now + timedelta(days=20)).date())
        self.assertEqual(self.config._l10n_pl_ksef_get_offline_credentials().serial,
                         self.config.offline_cert_serial)


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefAuthRenewalTourPolish(TestKsefAuthRenewalTour):
    LANG = "pl_PL"

    def test_renew_from_the_settings_in_polish(self):
        self.test_renew_from_the_settings()
