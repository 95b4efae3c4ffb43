import time
from datetime import datetime, timedelta, timezone

from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import KEY_PASSWORD, WRONG_PASSWORD, KsefTestCommon, b64


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefOfflineCertificate(KsefTestCommon):

    def upload(self, test_cert, password=KEY_PASSWORD, name="Odoo offline"):
        wizard = self.wizard(step="offline", offline_source="upload", offline_cert_name=name,
                             offline_cert_file=b64(test_cert.cert_pem),
                             offline_key_file=b64(test_cert.key_pem),
                             offline_key_password=password)
        wizard.action_l10n_pl_ksef_save_offline()
        return wizard

    def test_upload_offline_certificate(self):
        test_cert = self.make_cert(cert_type="Offline")
        wizard = self.upload(test_cert)
        config = self.config
        self.assertTrue(config.has_offline_certificate)
        self.assertEqual(config.offline_cert_serial, test_cert.serial)
        self.assertEqual(config.offline_cert_name, "Odoo offline")
        self.assertEqual(config.offline_cert_state, "valid")
        self.assertGreater(config.offline_cert_days_left, 700)
        self.assertIn(test_cert.serial, wizard.result_message)
        row = self.raw_row()
        self.assertNotIn(KEY_PASSWORD, str(row))
        self.assertTrue(row["offline_key_encrypted"].startswith("ksef1:"))
        credentials = config._l10n_pl_ksef_get_offline_credentials()
        self.assertEqual(credentials.serial, test_cert.serial)

    def test_offline_certificate_expiring_soon(self):
        now = datetime.now(timezone.utc)
        test_cert = self.make_cert(cert_type="Offline", valid_from=now - timedelta(days=700),
                                   valid_to=now + timedelta(days=20))
        self.upload(test_cert)
        self.assertEqual(self.config.offline_cert_state, "expiring")
        self.assertIn("offline certificate expires", self.config.warning_message)

    def test_offline_upload_refuses_authentication_certificate(self):
        with self.assertRaises(UserError):
            self.upload(self.make_cert(cert_type="Authentication"))
        self.assertFalse(self.raw_row()["offline_key_encrypted"])

    def test_offline_upload_wrong_password(self):
        with self.assertRaises(UserError):
            self.upload(self.make_cert(cert_type="Offline"), password=WRONG_PASSWORD)
        self.assertFalse(self.config.has_offline_certificate)

    def test_offline_upload_expired(self):
        now = datetime.now(timezone.utc)
        with self.assertRaises(UserError):
            self.upload(self.make_cert(cert_type="Offline", valid_from=now - timedelta(days=800),
                                       valid_to=now - timedelta(days=2)))
        self.assertFalse(self.config.has_offline_certificate)

    def test_generate_offline_certificate(self):
        self.connect_certificate()
        wizard = self.wizard(step="offline", offline_source="generate",
                             offline_cert_name="Odoo offline 1")
        wizard.action_l10n_pl_ksef_save_offline()
        config = self.config
        self.assertTrue(config.has_offline_certificate)
        self.assertEqual(config.offline_cert_state, "valid")
        self.assertTrue(config.offline_cert_serial)
        credentials = config._l10n_pl_ksef_get_offline_credentials()
        self.assertEqual(credentials.cert_type, "Offline")

    def test_generate_offline_certificate_needs_certificate_login(self):
        self.connect_token()
        with self.assertRaises(UserError) as caught:
            self.wizard(step="offline", offline_source="generate",
                        offline_cert_name="Odoo offline 1").action_l10n_pl_ksef_save_offline()
        self.assertIn("certificate", str(caught.exception))
        self.assertFalse(self.config.has_offline_certificate)

    def test_remove_offline_certificate(self):
        self.upload(self.make_cert(cert_type="Offline"))
        self.config.with_user(self.manager).action_l10n_pl_ksef_remove_offline_certificate()
        self.assertEqual(self.config.offline_cert_state, "none")
        self.assertFalse(self.raw_row()["offline_key_encrypted"])

    def test_expiry_activity_for_managers(self):
        now = datetime.now(timezone.utc)
        self.upload(self.make_cert(cert_type="Offline", valid_from=now - timedelta(days=700),
                                   valid_to=now + timedelta(days=10)))
        Config = self.env["l10n_pl_ksef.config"]
        Config._cron_l10n_pl_ksef_check_expiry()
        activities = self.config.activity_ids.filtered(lambda a: "offline certificate" in a.summary)
        self.assertEqual(len(activities), 1)
        self.assertEqual(activities.user_id, self.manager)
        Config._cron_l10n_pl_ksef_check_expiry()  # no duplicate
        self.assertEqual(len(self.config.activity_ids.filtered(
            lambda a: "offline certificate" in a.summary)), 1)
        self.assertIn("Offline certificate", self.config.message_ids[0].body)

    # --- requests KSeF answers later: nothing waits, the scheduled action stores them --------
    def test_generate_offline_certificate_issued_later(self):
        self.connect_certificate()
        emu = self.emulator
        self.addCleanup(setattr, emu, "enrollment_delay", emu.enrollment_delay)
        emu.enrollment_delay = 2.0
        cron = self.env.ref("l10n_pl_ksef.ir_cron_l10n_pl_ksef_certificates")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        wizard = self.wizard(step="offline", offline_source="generate",
                             offline_cert_name="Odoo offline later")
        wizard.action_l10n_pl_ksef_save_offline()
        config = self.config
        self.assertIn("KSeF is issuing the offline certificate", wizard.result_message)
        self.assertTrue(config.offline_enroll_reference)
        self.assertIn(config.offline_enroll_reference, wizard.result_message)
        self.assertFalse(config.has_offline_certificate)
        row = self.raw_row()
        self.assertTrue(row["offline_enroll_encrypted"].startswith("ksef1:"))
        self.assertNotIn("PRIVATE KEY", str(row))
        self.assertGreater(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]),
                           triggers)
        Config = self.env["l10n_pl_ksef.config"]
        Config._cron_l10n_pl_ksef_certificates()          # KSeF still working
        self.assertFalse(config.has_offline_certificate)
        self.assertTrue(config.offline_enroll_reference)
        time.sleep(2.2)                                   # the test waits for the emulator
        Config._cron_l10n_pl_ksef_certificates()
        self.assertTrue(config.has_offline_certificate)
        self.assertEqual(config.offline_cert_name, "Odoo offline later")
        self.assertFalse(config.offline_enroll_reference)
        self.assertFalse(self.raw_row()["offline_enroll_encrypted"])
        self.assertEqual(config._l10n_pl_ksef_get_offline_credentials().serial,
                         config.offline_cert_serial)

    def test_request_unknown_to_ksef_ends_with_a_message(self):
        self.connect_certificate()
        emu = self.emulator
        self.addCleanup(setattr, emu, "enrollment_delay", emu.enrollment_delay)
        emu.enrollment_delay = 60.0
        wizard = self.wizard(step="offline", offline_source="generate",
                             offline_cert_name="Odoo offline lost")
        wizard.action_l10n_pl_ksef_save_offline()
        config = self.config
        reference = config.offline_enroll_reference
        self.assertTrue(reference)
        with emu.lock:                                    # KSeF lost the request
            emu.state.delete("enrollments", reference)
        self.env["l10n_pl_ksef.config"]._cron_l10n_pl_ksef_certificates()
        self.assertFalse(config.offline_enroll_reference)
        self.assertFalse(config.has_offline_certificate)
        self.assertIn(reference, config.offline_enroll_message)
        activity = config.activity_ids.filtered(lambda a: "did not issue" in a.summary)
        self.assertEqual(activity.user_id, self.manager)

    def test_offline_certificate_renewed_before_it_expires(self):
        self.connect_certificate()
        now = datetime.now(timezone.utc)
        old = self.make_cert(cert_type="Offline", valid_from=now - timedelta(days=700),
                             valid_to=now + timedelta(days=20))
        self.upload(old, name="Odoo offline")
        config = self.config
        config.with_user(self.manager).offline_renew_auto = True     # opt-in
        Config = self.env["l10n_pl_ksef.config"]
        Config._cron_l10n_pl_ksef_certificates()
        self.assertNotEqual(config.offline_cert_serial, old.serial)
        self.assertEqual(config.offline_cert_state, "valid")
        self.assertGreater(config.offline_cert_days_left, 700)
        self.assertTrue(config.offline_cert_name.startswith("Odoo offline "))
        self.assertFalse(config.offline_enroll_reference)
        self.assertIn("offline certificate renewed", config.message_ids[0].body)
        self.assertIn(old.serial, config.message_ids[0].body)
        serial = config.offline_cert_serial
        Config._cron_l10n_pl_ksef_certificates()          # valid for 2 years: nothing to do
        self.assertEqual(config.offline_cert_serial, serial)

    def test_offline_certificate_not_renewed_without_the_opt_in(self):
        self.connect_certificate()
        now = datetime.now(timezone.utc)
        old = self.make_cert(cert_type="Offline", valid_from=now - timedelta(days=700),
                             valid_to=now + timedelta(days=20))
        self.upload(old)
        self.assertFalse(self.config.offline_renew_auto)             # off by default
        self.emulator.reset_counters()
        self.env["l10n_pl_ksef.config"]._cron_l10n_pl_ksef_certificates()
        self.assertEqual(self.config.offline_cert_serial, old.serial)
        self.assertFalse(self.config.offline_enroll_reference)
        self.assertFalse(self.emulator.counters.get("POST /certificates/enrollments"))

    def test_token_company_is_not_renewed_automatically(self):
        self.connect_token()
        now = datetime.now(timezone.utc)
        old = self.make_cert(cert_type="Offline", valid_from=now - timedelta(days=700),
                             valid_to=now + timedelta(days=20))
        self.upload(old)
        self.config.with_user(self.manager).offline_renew_auto = True  # opted in, yet a token
        self.emulator.reset_counters()
        self.env["l10n_pl_ksef.config"]._cron_l10n_pl_ksef_certificates()
        self.assertEqual(self.config.offline_cert_serial, old.serial)
        self.assertFalse(self.emulator.counters.get("POST /certificates/enrollments"))
