"""Renewing the KSeF offline certificate from Odoo (issue 12), against the emulator: a button for
KSeF managers and an opt-in automatic renewal 30 days ahead; the new certificate replaces the old
one only once KSeF has issued it and a test KOD II signature with it verified."""
import base64
import time
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..ksef import certs as ksef_certs
from ..ksef import qr as ksef_qr
from ..ksef.emulator.handlers import certificates as emulator_certificates
from .common import KEY_PASSWORD, TEST_NIP, KsefTestCommon, b64

ENROLL = "POST /certificates/enrollments"
LOGGER = "odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_config_certificates"


class KsefOfflineRenewalCommon(KsefTestCommon):

    def setUp(self):
        super().setUp()
        emu = self.emulator
        self.addCleanup(setattr, emu, "enrollment_delay", emu.enrollment_delay)
        emu.enrollment_delay = 0.0

    def upload_offline(self, days=20, name="Odoo offline"):
        """An offline certificate of the company, expiring in ``days`` days."""
        now = datetime.now(timezone.utc)
        test_cert = self.make_cert(cert_type=ksef_certs.OFFLINE, valid_from=now - timedelta(days=700),
                                   valid_to=now + timedelta(days=days))
        self.wizard(step="offline", offline_source="upload", offline_cert_name=name,
                    offline_cert_file=b64(test_cert.cert_pem), offline_key_file=b64(test_cert.key_pem),
                    offline_key_password=KEY_PASSWORD).action_l10n_pl_ksef_save_offline()
        self.assertEqual(self.config.offline_cert_serial, test_cert.serial)
        return test_cert

    def renew(self, lang=None):
        config = self.config.with_user(self.manager)
        if lang:
            config = config.with_context(lang=lang)
        return config.action_l10n_pl_ksef_renew_offline_certificate()

    def assertSignsKod2(self, serial):
        """The stored offline certificate is ``serial`` and signs a KOD II that verifies."""
        self.config.invalidate_recordset()
        credentials = self.config._l10n_pl_ksef_get_offline_credentials()
        self.assertEqual(credentials.serial, serial)
        url = ksef_qr.certificate_verification_url(
            "TEST", "Nip", TEST_NIP, TEST_NIP, credentials.certificate, credentials.private_key,
            invoice_xml=b"<Faktura/>")
        self.assertTrue(ksef_qr.verify_certificate_url(url, credentials.certificate))

    def refuse_in_ksef(self, reference):
        """KSeF refuses the request it had accepted (status 400)."""
        emu = self.emulator
        with emu.lock:
            record = emu.state.get("enrollments", reference)
            record["status"] = {"code": 400, "description": "Wniosek odrzucony",
                                "details": ["Wniosek odrzucony przez test."]}
            record["certificateSerialNumber"] = None
            emu.state.put("enrollments", reference, record)
        emu.enrollment_delay = 0.0

    def issue_as_authentication(self, reference):
        """KSeF issues the request's key, but as an Authentication certificate (KSeF's CA)."""
        emu = self.emulator
        with emu.lock:
            serial = emu.state.get("enrollments", reference)["certificateSerialNumber"]
            record = emu.state.get("certs", serial)
            issued = ksef_certs.load_certificate(base64.b64decode(record["certificate"]))
            builder = (x509.CertificateBuilder().subject_name(issued.subject)
                       .issuer_name(issued.issuer).public_key(issued.public_key())
                       .serial_number(issued.serial_number)
                       .not_valid_before(issued.not_valid_before)
                       .not_valid_after(issued.not_valid_after)
                       .add_extension(x509.KeyUsage(
                           digital_signature=True, content_commitment=False, key_encipherment=False,
                           data_encipherment=False, key_agreement=False, key_cert_sign=False,
                           crl_sign=False, encipher_only=False, decipher_only=False), critical=True))
            cert = builder.sign(emu.keys.private_key("CA"), hashes.SHA256())
            record["certificate"] = b64(ksef_certs.certificate_to_der(cert)).decode()
            emu.state.put("certs", serial, record)
        emu.enrollment_delay = 0.0

    def swap_issued_certificate(self, reference):
        """KSeF hands out a certificate that is not the one of the request's key."""
        emu = self.emulator
        other = self.make_cert(cert_type=ksef_certs.OFFLINE)
        with emu.lock:
            serial = emu.state.get("enrollments", reference)["certificateSerialNumber"]
            cert = emu.state.get("certs", serial)
            cert["certificate"] = b64(ksef_certs.certificate_to_der(other.certificate)).decode()
            emu.state.put("certs", serial, cert)
        emu.enrollment_delay = 0.0


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefOfflineRenewal(KsefOfflineRenewalCommon):

    # --- the button ----------------------------------------------------------------------

    def test_expiry_warnings_point_to_the_renewal(self):
        """30 days before expiry the managers' warning says where the renewal is (a company
        logged in with a certificate), in their language; a token company is told to upload."""
        self.connect_certificate()
        self.upload_offline(days=20)
        self.config.auth_cert_valid_to = datetime.now() + timedelta(days=10)
        notes = dict(self.config._l10n_pl_ksef_expiry_warnings())
        self.assertEqual(len(notes), 2)
        offline, auth = (next(n for s, n in notes.items() if key in s)
                         for key in ("offline", "authentication"))
        self.assertIn("Renew offline certificate", offline)
        self.assertIn("Renew automatically 30 days before it expires", offline)
        self.assertIn("Renew authentication certificate", auth)
        self.env["res.lang"]._activate_lang("pl_PL")
        self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])
        polish = dict(self.config.with_context(lang="pl_PL")._l10n_pl_ksef_expiry_warnings())
        self.assertTrue(any("Odnów certyfikat offline" in note for note in polish.values()))
        self.assertTrue(any("Odnów certyfikat uwierzytelniający" in note for note in polish.values()))
        # a token company cannot renew from Odoo (KSeF issues certificates after a
        # certificate login only): the upload is what it is told
        self.connect_token()
        notes = dict(self.config._l10n_pl_ksef_expiry_warnings())
        note = next(n for s, n in notes.items() if "offline" in s)
        self.assertNotIn("Renew offline certificate", note)
        self.assertIn("Offline certificate button", note)

    def test_button_renews_after_a_test_signature(self):
        self.connect_certificate()
        old = self.upload_offline(days=200)
        config = self.config
        old_to = config.offline_cert_valid_to
        self.emulator.reset_counters()
        result = self.renew()
        self.assertEqual(result["params"]["type"], "success")
        self.assertEqual(result["params"]["next"]["tag"], "soft_reload")
        self.assertEqual(self.emulator.counters.get(ENROLL), 1)
        self.assertNotEqual(config.offline_cert_serial, old.serial)
        self.assertIn(config.offline_cert_serial, result["params"]["message"])
        self.assertGreater(config.offline_cert_valid_to, old_to)
        self.assertEqual(config.offline_cert_state, "valid")
        self.assertTrue(config.offline_cert_name.startswith("Odoo offline "))
        self.assertFalse(config.offline_enroll_reference)
        self.assertFalse(config.offline_renew_tried_on)        # the button is no automatic try
        # the new key is the vault's ciphertext, no password, nothing in clear
        row = self.raw_row()
        self.assertTrue(row["offline_key_encrypted"].startswith("ksef1:"))
        self.assertFalse(row["offline_enroll_encrypted"])
        self.assertNotIn("PRIVATE KEY", str(row))
        cert = ksef_certs.load_certificate(row["offline_cert_pem"].encode())
        self.assertTrue(ksef_certs.is_ksef_issued(cert))
        self.assertEqual(ksef_certs.certificate_type(cert), ksef_certs.OFFLINE)
        # chatter: the old and the new serial, and the test that was made
        body = config.message_ids[0].body
        self.assertIn("renewed", body)
        self.assertIn(old.serial, body)
        self.assertIn(config.offline_cert_serial, body)
        self.assertIn("KOD II", body)
        # never revoked: invoices issued offline carry KOD II signed with it (KSeF checks that
        # the certificate is not revoked when their QR is scanned)
        self.assertIn("previous certificate is not revoked", body)
        self.assertSignsKod2(config.offline_cert_serial)

    def test_button_issued_later_old_certificate_in_use_until_then(self):
        self.connect_certificate()
        old = self.upload_offline()
        config = self.config
        self.emulator.enrollment_delay = 2.0
        result = self.renew()
        self.assertEqual(result["params"]["type"], "info")
        reference = config.offline_enroll_reference
        self.assertTrue(reference)
        self.assertIn(reference, result["params"]["message"])
        self.assertIn(old.serial, config.message_ids[0].body)   # "... stays in use"
        self.assertTrue(self.raw_row()["offline_enroll_encrypted"].startswith("ksef1:"))
        self.assertNotIn("PRIVATE KEY", str(self.raw_row()))
        self.assertSignsKod2(old.serial)                       # the old one still signs
        Config = self.env["l10n_pl_ksef.config"]
        Config._cron_l10n_pl_ksef_certificates()               # KSeF still working
        self.assertEqual(config.offline_cert_serial, old.serial)
        self.assertEqual(config.offline_enroll_reference, reference)
        time.sleep(2.2)                                        # the test waits for the emulator
        Config._cron_l10n_pl_ksef_certificates()
        self.assertNotEqual(config.offline_cert_serial, old.serial)
        self.assertFalse(config.offline_enroll_reference)
        self.assertFalse(self.raw_row()["offline_enroll_encrypted"])
        self.assertIn(old.serial, config.message_ids[0].body)
        self.assertSignsKod2(config.offline_cert_serial)

    def test_button_again_looks_at_the_pending_request(self):
        self.connect_certificate()
        old = self.upload_offline()
        self.emulator.enrollment_delay = 60.0
        self.renew()
        reference = self.config.offline_enroll_reference
        self.emulator.reset_counters()
        result = self.renew()                                  # no second request
        self.assertEqual(result["params"]["type"], "info")
        self.assertFalse(self.emulator.counters.get(ENROLL))
        self.assertEqual(self.config.offline_enroll_reference, reference)
        self.assertEqual(self.config.offline_cert_serial, old.serial)

    def test_refused_request_keeps_the_old_certificate_and_says_why(self):
        self.connect_certificate()
        old = self.upload_offline()
        config = self.config
        self.emulator.enrollment_delay = 60.0
        self.renew()
        reference = config.offline_enroll_reference
        self.refuse_in_ksef(reference)
        result = self.renew()                                  # collects: refused
        self.assertEqual(result["params"]["type"], "danger")
        self.assertTrue(result["params"]["sticky"])
        message = result["params"]["message"]
        self.assertIn(reference, message)
        self.assertIn("stays in use", message)
        self.assertIn(old.serial, message)
        self.assertIn("Renew offline certificate", message)
        self.assertEqual(config.offline_cert_serial, old.serial)
        self.assertFalse(config.offline_enroll_reference)
        self.assertFalse(self.raw_row()["offline_enroll_encrypted"])
        self.assertEqual(config.offline_enroll_message, message)
        self.assertIn(reference, config.message_ids[0].body)
        activity = config.activity_ids.filtered(lambda a: "not renewed" in a.summary)
        self.assertEqual(activity.user_id, self.manager)
        self.assertSignsKod2(old.serial)

    def test_certificate_not_matching_the_key_is_not_used(self):
        self.connect_certificate()
        old = self.upload_offline()
        config = self.config
        self.emulator.enrollment_delay = 60.0
        self.renew()
        reference = config.offline_enroll_reference
        self.swap_issued_certificate(reference)
        result = self.renew()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("does not belong to this certificate", result["params"]["message"])
        self.assertEqual(config.offline_cert_serial, old.serial)
        self.assertFalse(config.offline_enroll_reference)
        self.assertIn(reference, config.offline_enroll_message)
        self.assertSignsKod2(old.serial)

    def test_certificate_of_another_type_is_not_used(self):
        self.connect_certificate()
        old = self.upload_offline()
        config = self.config
        self.emulator.enrollment_delay = 60.0
        self.renew()
        reference = config.offline_enroll_reference
        self.issue_as_authentication(reference)
        result = self.renew()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("Offline", result["params"]["message"])
        self.assertIn("stays in use", result["params"]["message"])
        self.assertEqual(config.offline_cert_serial, old.serial)
        self.assertFalse(config.offline_enroll_reference)
        self.assertSignsKod2(old.serial)

    def test_refused_request_in_polish(self):
        self.env["res.lang"]._activate_lang("pl_PL")
        self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])
        self.connect_certificate()
        old = self.upload_offline()
        config = self.config
        self.emulator.enrollment_delay = 60.0
        self.renew(lang="pl_PL")
        with self.emulator.lock:                               # KSeF lost the request
            self.emulator.state.delete("enrollments", config.offline_enroll_reference)
        result = self.renew(lang="pl_PL")
        self.assertEqual(result["params"]["type"], "danger")
        message = result["params"]["message"]
        self.assertIn("pozostaje w użyciu", message)
        self.assertIn("Odnów certyfikat offline", message)
        self.assertIn(old.serial, message)
        self.assertEqual(config.offline_cert_serial, old.serial)

    def test_renewed_in_polish(self):
        self.env["res.lang"]._activate_lang("pl_PL")
        self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])
        self.connect_certificate()
        old = self.upload_offline()
        result = self.renew(lang="pl_PL")
        self.assertEqual(result["params"]["type"], "success")
        self.assertIn("Certyfikat offline został odnowiony", result["params"]["message"])
        self.emulator.enrollment_delay = 60.0
        result = self.renew(lang="pl_PL")
        self.assertIn("KSeF wystawia nowy certyfikat offline", result["params"]["message"])
        self.assertNotEqual(self.config.offline_cert_serial, old.serial)

    # --- who may -------------------------------------------------------------------------

    def test_token_company_is_told_to_connect_with_a_certificate(self):
        self.connect_token()
        old = self.upload_offline()
        self.emulator.reset_counters()
        with self.assertRaises(UserError) as caught:
            self.renew()
        self.assertIn("only to callers authenticated with a certificate", str(caught.exception))
        self.assertIn("Connect to KSeF with your KSeF certificate", str(caught.exception))
        self.env["res.lang"]._activate_lang("pl_PL")
        self.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])
        with self.assertRaises(UserError) as caught:
            self.renew(lang="pl_PL")
        self.assertIn("tylko podmiotom uwierzytelnionym certyfikatem", str(caught.exception))
        self.assertFalse(self.emulator.counters.get(ENROLL))
        self.assertEqual(self.config.offline_cert_serial, old.serial)

    def test_nothing_to_renew(self):
        self.connect_certificate()
        with self.assertRaises(UserError) as caught:
            self.renew()
        self.assertIn("no offline certificate to renew", str(caught.exception))

    def test_button_and_opt_in_are_for_managers(self):
        self.connect_certificate()
        self.upload_offline()
        config = self.config.with_user(self.accountant)
        with self.assertRaises(UserError):
            config.action_l10n_pl_ksef_renew_offline_certificate()
        with self.assertRaises(AccessError):
            config.write({"offline_renew_auto": True})
        self.emulator.enrollment_delay = 60.0
        self.renew()
        with self.assertRaises(AccessError):
            config.read(["offline_enroll_encrypted"])

    # --- the scheduled action (opt-in) ---------------------------------------------------

    def test_cron_renews_only_when_opted_in(self):
        self.connect_certificate()
        old = self.upload_offline(days=20)
        config = self.config
        Config = self.env["l10n_pl_ksef.config"]
        self.emulator.reset_counters()
        Config._cron_l10n_pl_ksef_certificates()               # not opted in: nothing happens
        self.assertEqual(config.offline_cert_serial, old.serial)
        self.assertFalse(config.offline_enroll_reference)
        self.assertFalse(config.offline_renew_tried_on)
        self.assertFalse(self.emulator.counters.get(ENROLL))
        config.with_user(self.manager).offline_renew_auto = True
        Config._cron_l10n_pl_ksef_certificates()
        self.assertEqual(self.emulator.counters.get(ENROLL), 1)
        self.assertNotEqual(config.offline_cert_serial, old.serial)
        self.assertGreater(config.offline_cert_days_left, 700)
        self.assertIn(old.serial, config.message_ids[0].body)
        self.assertEqual(config.offline_renew_tried_on, fields.Date.context_today(config))
        Config._cron_l10n_pl_ksef_certificates()               # valid for 2 years: nothing to do
        self.assertEqual(self.emulator.counters.get(ENROLL), 1)
        self.assertSignsKod2(config.offline_cert_serial)

    def test_cron_refusal_is_said_once_and_tried_once_a_day(self):
        self.connect_certificate()
        old = self.upload_offline(days=20)
        config = self.config
        config.with_user(self.manager).offline_renew_auto = True
        Config = self.env["l10n_pl_ksef.config"]
        self.emulator.reset_counters()
        limits = {"Nip": 0, "Pesel": 0, "Fingerprint": 0}      # KSeF: enrollment limit reached
        with patch.dict(emulator_certificates.ENROLLMENT_LIMIT, limits), \
                self.assertLogs(LOGGER, "WARNING") as logs:
            Config._cron_l10n_pl_ksef_certificates()
            self.assertEqual(self.emulator.counters.get(ENROLL), 1)
            self.assertEqual(config.offline_cert_serial, old.serial)
            self.assertIn("stays in use", config.offline_enroll_message)
            self.assertIn(old.serial, config.offline_enroll_message)
            messages = len(config.message_ids)
            activities = len(config.activity_ids)
            Config._cron_l10n_pl_ksef_certificates()           # the same day: not again
            self.assertEqual(self.emulator.counters.get(ENROLL), 1)
            config.offline_renew_tried_on = fields.Date.context_today(config) - timedelta(days=1)
            Config._cron_l10n_pl_ksef_certificates()           # the next day: tried, said once
            self.assertEqual(self.emulator.counters.get(ENROLL), 2)
            self.assertEqual(len(config.message_ids), messages)
            self.assertEqual(len(config.activity_ids), activities)
        self.assertEqual(len(logs.output), 2)
        self.assertIn("KSeFBadRequest", logs.output[0])
        config.offline_renew_tried_on = fields.Date.context_today(config) - timedelta(days=1)
        Config._cron_l10n_pl_ksef_certificates()               # KSeF accepts it again
        self.assertNotEqual(config.offline_cert_serial, old.serial)
        self.assertFalse(config.offline_enroll_message)

    def test_cron_unreachable_ksef_is_tried_again_in_silence(self):
        self.connect_certificate()
        old = self.upload_offline(days=20)
        config = self.config
        config.with_user(self.manager).offline_renew_auto = True
        self.addCleanup(self.emulator.faults.clear)
        self.emulator.faults.add("http503", path="/certificates/enrollments", method="POST",
                                 count=None)
        messages = len(config.message_ids)
        with self.assertLogs(LOGGER, "WARNING") as logs:
            self.env["l10n_pl_ksef.config"]._cron_l10n_pl_ksef_certificates()
        self.assertIn("KSeFUnavailable", logs.output[0])
        self.assertEqual(config.offline_cert_serial, old.serial)
        self.assertFalse(config.offline_enroll_message)
        self.assertEqual(len(config.message_ids), messages)
        self.assertTrue(config.offline_renew_tried_on)
