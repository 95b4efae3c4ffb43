"""Acting for clients with the accounting office's own credential (issue 12), against the
emulator: the office's certificate is stored once (l10n_pl_ksef.office) and each client company
logs in with it in its own context; KSeF (the emulator) lets it in only where the client granted
the office InvoiceWrite / InvoiceRead."""
import time

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..ksef import certs as ksef_certs
from ..models.l10n_pl_ksef_office import OFFICE_SECRET_FIELDS
from ..tools import vault
from .common import KEY_PASSWORD, OTHER_NIP, TEST_NIP, KsefTestCommon, b64
from .send_common import KsefSendCommon
from .test_tours import KsefTourMixin, install_polish

OFFICE_NIP = "7251801126"
BOTH = ["InvoiceWrite", "InvoiceRead"]


class KsefOfficeCommon(KsefTestCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.office_cert = ksef_certs.make_test_certificate(
            nip=OFFICE_NIP, cert_type=ksef_certs.AUTHENTICATION, key_type="ec",
            key_password=KEY_PASSWORD)

    def setUp(self):
        super().setUp()
        self.started = time.time()
        # grants live in the emulator, which outlives each test's rollback
        for nip in (TEST_NIP, OTHER_NIP):
            self.revoke(nip)
            self.addCleanup(self.revoke, nip)

    # --- KSeF side: what the client does in the taxpayer application -------------------
    def grant(self, nip, permissions=tuple(BOTH)):
        self.emulator.grant_permissions(nip, "Nip", OFFICE_NIP, list(permissions))

    def grant_through_api(self, nip, permissions=tuple(BOTH)):
        """The client, logged in in its own context with its own seal, grants the office
        through KSeF's permissions API (POST /permissions/entities/grants)."""
        from ..ksef.client import KSeFClient

        seal = ksef_certs.make_test_certificate(nip=nip, cert_type=ksef_certs.AUTHENTICATION,
                                                key_type="ec")
        with KSeFClient(self.emulator_url, timeout=10) as client:
            client.authenticate_with_certificate(nip, seal.cert_pem, seal.key_pem)
            answer = client.call("POST", "/permissions/entities/grants", json={
                "subjectIdentifier": {"type": "Nip", "value": OFFICE_NIP},
                "permissions": [{"type": p} for p in permissions],
                "description": "Biuro rachunkowe", "subjectDetails": {"fullName": "Biuro"}})
            status = client.call("GET", "/permissions/operations/%s"
                                 % answer.json()["referenceNumber"]).json()
        self.assertEqual(status["status"]["code"], 200)

    def revoke(self, nip, permissions=None):
        self.emulator.revoke_permissions(nip, "Nip", OFFICE_NIP, permissions)

    # --- Odoo side ------------------------------------------------------------------------
    def connect_new_office(self, config=None, user=None, name="Biuro Rachunkowe Liczydło"):
        wizard = self.office_wizard(config, user, office_mode="new", new_office_name=name,
                                    new_office_nip=OFFICE_NIP,
                                    office_cert_file=b64(self.office_cert.cert_pem),
                                    office_cert_filename="biuro.crt",
                                    office_key_file=b64(self.office_cert.key_pem),
                                    office_key_filename="biuro.key",
                                    office_key_password=KEY_PASSWORD)
        wizard.action_l10n_pl_ksef_connect()
        return wizard

    def office_wizard(self, config=None, user=None, **vals):
        user = user or self.manager
        config = config or self.config
        values = {"config_id": config.id, "environment": "emulator", "auth_method": "office"}
        values.update(vals)
        return self.env["l10n_pl_ksef.connect.wizard"].with_user(user).create(values)

    def office(self):
        return self.env["l10n_pl_ksef.office"].sudo().with_context(active_test=False).search(
            [("nip", "=", OFFICE_NIP)])

    def office_logins(self, context_nip):
        """The emulator's logins of the office's certificate in ``context_nip`` (this test's)."""
        return [op for op in self.emulator.state.table("auth").values()
                if op.get("context") == {"type": "Nip", "value": context_nip}
                and op.get("startDate", 0) >= self.started
                and op.get("subject") == {"type": "Nip", "value": OFFICE_NIP}]

    def expire_session(self, config=None):
        """Forget the company's stored KSeF session: the next use logs in anew."""
        (config or self.config).sudo().session_encrypted = False


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefOfficeSend(KsefOfficeCommon, KsefSendCommon):

    def cron(self):
        # a refused company is logged as a warning by the send cron (expected here)
        with mute_logger("odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_submission"):
            self.env["account.move"]._cron_l10n_pl_ksef_send()

    def queue(self):
        move = self.make_invoice()
        move._l10n_pl_ksef_enqueue()
        self.assertEqual(move.l10n_pl_ksef_state, "queued")
        return move

    def test_connect_through_office_and_send(self):
        self.grant_through_api(TEST_NIP)
        self.connect_new_office()
        config, office = self.config.sudo(), self.office()
        self.assertEqual(len(office), 1)
        self.assertEqual((config.state, config.auth_method, config.office_id, config.connected_nip),
                         ("connected", "office", office, TEST_NIP))
        self.assertEqual(office.company_ids, self.company)
        self.assertEqual(office.environment, "emulator")
        self.assertTrue(office.has_auth_certificate)
        self.assertEqual(office.auth_cert_serial, ksef_certs.serial_hex(self.office_cert.certificate))
        # the company itself stores no credential; the office's key is ciphertext only
        row = self.raw_row()
        self.assertFalse(row["token_encrypted"] or row["auth_key_encrypted"] or row["auth_cert_pem"])
        self.assertTrue(row["session_encrypted"])
        self.env.cr.execute("SELECT auth_key_encrypted, auth_key_password_encrypted "
                            "FROM l10n_pl_ksef_office WHERE id = %s", [office.id])
        key_ct, password_ct = self.env.cr.fetchone()
        self.assertTrue(key_ct.startswith("ksef1:") and password_ct.startswith("ksef1:"))
        self.assertNotIn(b"PRIVATE KEY", key_ct.encode())
        self.assertEqual(vault.decrypt(key_ct), self.office_cert.key_pem)
        self.assertEqual(vault.decrypt(password_ct).decode(), KEY_PASSWORD)
        # the office logged in with its own certificate in the client's context
        self.assertEqual(len(self.office_logins(TEST_NIP)), 1)
        self.assertIn("through the accounting office", config.message_ids[0].body)
        # and sends as the client
        move = self.queue()
        self.cron()
        self.assertEqual(move.l10n_pl_ksef_state, "accepted", move.l10n_pl_ksef_message)
        held = [inv for inv in self.emulator.state.invoices.values()
                if inv.get("invoiceHash") == move.l10n_pl_ksef_invoice_hash]
        self.assertEqual(len(held), 1)
        self.assertTrue(move.l10n_pl_ksef_number.startswith(TEST_NIP))
        # a fresh login (no stored session) uses the office's credential again
        self.expire_session()
        with config._l10n_pl_ksef_client() as client:
            self.assertEqual(client.nip, TEST_NIP)
        self.assertEqual(len(self.office_logins(TEST_NIP)), 2)
        # disconnecting the company keeps the office's credential (its other clients use it)
        self.config.with_user(self.manager).action_l10n_pl_ksef_disconnect()
        self.assertEqual((config.state, config.auth_method, config.office_id),
                         ("not_connected", False, office.browse()))
        self.assertIn("the office's credential is kept", config.message_ids[0].body)
        self.assertTrue(office.has_auth_certificate and office.auth_key_encrypted)

    def test_without_grant_the_message_says_what_the_client_grants(self):
        with self.assertRaises(UserError) as caught:
            self.connect_new_office()
        text = str(caught.exception)
        for part in ("InvoiceWrite", "InvoiceRead", "Aplikacja Podatnika KSeF > Uprawnienia",
                     OFFICE_NIP, TEST_NIP, "Biuro Rachunkowe Liczydło"):
            self.assertIn(part, text)
        self.assertIn("send invoices", text)
        self.assertIn("import purchase invoices", text)
        # nothing stored: neither the company's connection nor the office's credential
        self.assertNothingStored()
        self.assertFalse(self.office())

    def test_revoked_grant_keeps_invoices_queued_and_says_why(self):
        self.grant(TEST_NIP)
        self.connect_new_office()
        first = self.queue()
        self.cron()
        self.assertEqual(first.l10n_pl_ksef_state, "accepted")
        # the client revokes the office's permissions in KSeF: KSeF invalidates the tokens of
        # the office's login in that context, Odoo logs in anew and KSeF says 415
        self.revoke(TEST_NIP)
        move = self.queue()
        self.cron()
        self.assertEqual(move.l10n_pl_ksef_state, "queued", "nothing is lost")
        self.assertEqual(self.config.state, "error")
        for text in (self.config.last_error, move.l10n_pl_ksef_message):
            self.assertIn("InvoiceWrite", text)
            self.assertIn(OFFICE_NIP, text)
        # the button says the same (and keeps the invoice queued)
        with self.assertRaises(UserError) as caught:
            move.action_l10n_pl_ksef_send()
        self.assertIn("Aplikacja Podatnika KSeF > Uprawnienia", str(caught.exception))
        self.assertEqual(move.l10n_pl_ksef_state, "queued")
        # granted again: the queue is sent
        self.grant(TEST_NIP)
        self.cron()
        self.assertEqual(move.l10n_pl_ksef_state, "accepted", move.l10n_pl_ksef_message)
        self.assertEqual(self.config.state, "connected")

    def test_invoicewrite_taken_back_during_a_session(self):
        self.grant(TEST_NIP)
        self.connect_new_office()
        self.revoke(TEST_NIP, ["InvoiceWrite"])      # InvoiceRead stays: the session stays
        move = self.queue()
        self.cron()
        self.assertEqual(move.l10n_pl_ksef_state, "queued")
        self.assertIn("may not send invoices", move.l10n_pl_ksef_message)
        self.grant(TEST_NIP, ["InvoiceWrite"])
        self.cron()
        self.assertEqual(move.l10n_pl_ksef_state, "accepted", move.l10n_pl_ksef_message)

    def test_read_only_grant_says_invoicewrite_is_missing(self):
        self.grant(TEST_NIP, ["InvoiceRead"])
        self.connect_new_office()        # a login needs one permission in the context
        move = self.queue()
        self.cron()
        self.assertEqual(move.l10n_pl_ksef_state, "queued")
        note = move.l10n_pl_ksef_message
        self.assertIn("may not send invoices", note)
        self.assertIn("InvoiceWrite", note)
        self.assertNotIn("InvoiceRead", note)


class KsefOfficeImportMixin:

    def prepare_import(self, company, nip):
        emu = self.emulator
        with emu.lock:
            stored = [row.get("permanentStorageTs") or 0
                      for row in emu.state.table("invoices").values()]
        last = max(stored + [emu.hwm_fixed or 0, time.time() - 30]) + 0.001
        time.sleep(max(0.0, last + 1.0 - time.time()))
        since = emu.advance_hwm(last)
        cursor = self.env["l10n_pl_ksef.import.cursor"]._l10n_pl_ksef_get(company)
        cursor.write({"checkpoint": since.isoformat(), "boundary_numbers": False,
                      "next_run_after": False})
        return cursor

    def seed(self, nip, count, seed):
        numbers = self.emulator.seed_incoming_invoices(nip, count, lines=1, seed=seed)
        self.emulator.advance_hwm()
        return set(numbers)

    def imported(self, company):
        return set(self.env["account.move"].search([
            ("company_id", "=", company.id), ("l10n_pl_ksef_imported", "=", True)]).mapped(
                "l10n_pl_ksef_number"))


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefOfficeClients(KsefOfficeImportMixin, KsefOfficeCommon):
    """Two client companies share one office credential, each in its own context."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param(
            "l10n_pl_ksef.import_max_increments_per_run", "100")
        cls.company2 = cls.setup_other_company(name="Klient Drugi sp. z o.o.")["company"]
        cls.company2.write({"vat": "PL" + OTHER_NIP, "country_id": cls.env.ref("base.pl").id})
        cls.config2 = cls.company2._l10n_pl_ksef_get_config()
        cls.manager.company_ids = [(4, cls.company2.id)]

    def connect_second(self, user=None):
        office = self.office()
        self.office_wizard(self.config2, user, office_mode="existing",
                           office_id=office.id).action_l10n_pl_ksef_connect()

    def test_two_clients_one_credential_each_in_its_own_context(self):
        self.grant(TEST_NIP)
        self.grant(OTHER_NIP)
        self.connect_new_office()
        self.connect_second()
        office = self.office()
        self.assertEqual(len(office), 1, "the office's credential is stored once")
        self.assertEqual(office.company_ids, self.company | self.company2)
        self.assertEqual(office.config_ids, self.config | self.config2)
        self.assertEqual(office.client_count, 2)
        self.assertEqual(self.config2.sudo().office_id, office)
        self.assertEqual((self.config2.auth_method, self.config2.connected_nip, self.config2.state),
                         ("office", OTHER_NIP, "connected"))
        self.assertEqual(len(self.office_logins(TEST_NIP)), 1)
        self.assertEqual(len(self.office_logins(OTHER_NIP)), 1)
        # each company keeps its own KSeF session (access tokens of its own context)
        sessions = {self.raw_row(c)["session_encrypted"] for c in (self.config, self.config2)}
        self.assertEqual(len(sessions), 2)
        for config, nip in ((self.config, TEST_NIP), (self.config2, OTHER_NIP)):
            with config._l10n_pl_ksef_client() as client:
                self.assertEqual(client.nip, nip)
        # each imports its own purchase invoices, in its own context
        for company, nip, count in ((self.company, TEST_NIP, 2), (self.company2, OTHER_NIP, 3)):
            cursor = self.prepare_import(company, nip)
            expected = self.seed(nip, count, 7100 + count)
            result = cursor._l10n_pl_ksef_run()
            self.assertEqual(result["state"], "done", result["message"])
            self.assertEqual(self.imported(company), expected)
        # one client revokes: only that one is refused (its tokens are invalidated), naming
        # that client; the other goes on with its own session
        self.revoke(OTHER_NIP)
        cursor2 = self.prepare_import(self.company2, OTHER_NIP)
        with mute_logger("odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_import_cursor"):
            result = cursor2._l10n_pl_ksef_run()
        self.assertEqual(result["state"], "failed")
        self.assertIn(OTHER_NIP, result["message"])
        self.assertIn("InvoiceRead", result["message"])
        with self.assertRaises(UserError) as caught:
            self.config2.action_l10n_pl_ksef_test_connection()
        self.assertIn("Aplikacja Podatnika KSeF > Uprawnienia", str(caught.exception))
        logins = len(self.office_logins(TEST_NIP))
        cursor1 = self.prepare_import(self.company, TEST_NIP)
        self.assertEqual(cursor1._l10n_pl_ksef_run()["state"], "done")
        self.assertEqual(len(self.office_logins(TEST_NIP)), logins, "its session was reused")

    def test_write_only_grant_says_invoiceread_is_missing_for_the_import(self):
        self.grant(TEST_NIP, ["InvoiceWrite"])
        self.connect_new_office()
        cursor = self.prepare_import(self.company, TEST_NIP)
        self.seed(TEST_NIP, 1, 7103)
        with mute_logger("odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_import_cursor"):
            result = cursor._l10n_pl_ksef_run()
        self.assertEqual(result["state"], "failed")
        self.assertIn("may not import purchase invoices", result["message"])
        self.assertIn("InvoiceRead", result["message"])
        self.assertFalse(self.imported(self.company))
        # granted: the same cursor imports it, nothing skipped
        self.grant(TEST_NIP, ["InvoiceRead"])     # effective in the same session
        cursor.next_run_after = False
        self.assertEqual(cursor._l10n_pl_ksef_run()["state"], "done")
        self.assertEqual(len(self.imported(self.company)), 1)

    def test_credential_is_hidden_from_a_user_of_only_some_of_its_companies(self):
        self.grant(TEST_NIP)
        self.grant(OTHER_NIP)
        self.connect_new_office()
        office = self.office()
        Office = self.env["l10n_pl_ksef.office"]
        # serving only company 1: a manager of company 1 sees it
        one_company_manager = new_test_user(
            self.env, login="ksef_manager_one", groups="l10n_pl_ksef.group_ksef_manager",
            company_id=self.company.id, company_ids=[(6, 0, self.company.ids)])
        self.assertEqual(Office.with_user(one_company_manager).search([]), office)
        # once it also serves company 2, only managers of both companies see or choose it
        self.connect_second()
        self.assertEqual(office.company_ids, self.company | self.company2)
        self.assertFalse(Office.with_user(one_company_manager).search([]))
        with self.assertRaises(AccessError):
            office.with_user(one_company_manager).read(["name"])
        self.assertEqual(Office.with_user(self.manager).search([]), office)
        with self.assertRaises(AccessError):
            self.office_wizard(user=one_company_manager, office_mode="existing",
                               office_id=office.id).action_l10n_pl_ksef_connect()
        # a company connected through it stays one of its client companies
        with self.assertRaises(ValidationError):
            office.with_user(self.manager).write({"company_ids": [(3, self.company2.id)]})

    def test_secrets_are_for_managers_only_and_rotate_with_the_key(self):
        self.grant(TEST_NIP)
        self.connect_new_office()
        office = self.office()
        # a KSeF user (accountant) sees which office connects the company, nothing of its secret
        config = self.config.with_user(self.accountant)
        self.assertEqual(config.auth_method, "office")
        self.assertIn(OFFICE_NIP, config.office_name)
        with self.assertRaises(AccessError):
            config.read(["office_id"])
        with self.assertRaises(AccessError):
            office.with_user(self.accountant).read(["name"])
        with self.assertRaises(AccessError):
            self.env["l10n_pl_ksef.office"].with_user(self.accountant).search([])
        with self.assertRaises(UserError):       # AccessError is a UserError
            office.with_user(self.accountant).write({"name": "X"})
        # a manager reads ciphertext only; the fields are never offered to others
        data = office.with_user(self.manager).read(list(OFFICE_SECRET_FIELDS))[0]
        self.assertTrue(all(data[name].startswith("ksef1:") for name in OFFICE_SECRET_FIELDS))
        self.assertNotIn("auth_key_encrypted", self.env["l10n_pl_ksef.office"].with_user(
            self.accountant).fields_get())
        # the key rotation re-encrypts the office's secrets too, and they still log in
        self.env.flush_all()
        before = office.sudo().auth_key_encrypted
        self.env["l10n_pl_ksef.config"]._l10n_pl_ksef_rotate_master_key()
        office.invalidate_recordset()
        after = office.sudo().auth_key_encrypted
        self.assertNotEqual(before.split(":")[1], after.split(":")[1])
        self.assertEqual(after.split(":")[1], vault.key_id(vault.current_key()))
        self.assertEqual(vault.decrypt(after), self.office_cert.key_pem)
        self.expire_session()
        with self.config._l10n_pl_ksef_client() as client:
            self.assertEqual(client.nip, TEST_NIP)

    def test_offline_step_says_the_client_needs_its_own_certificate(self):
        self.grant(TEST_NIP)
        wizard = self.connect_new_office()
        self.assertEqual(wizard.step, "offline")
        self.assertIn("Offline certificate", wizard.result_message)
        self.assertIn("KOD II", wizard.result_message)
        # KSeF would issue an Offline certificate to the office, not the client: not offered
        with self.assertRaises(UserError):
            self.config._l10n_pl_ksef_enroll_offline_certificate("Odoo offline")


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefOfficePolish(KsefOfficeCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("pl_PL")
        cls.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])
        cls.manager.lang = "pl_PL"

    def test_without_grant_in_polish(self):
        with self.assertRaises(UserError) as caught:
            self.office_wizard(office_mode="new", new_office_name="Biuro", new_office_nip=OFFICE_NIP,
                               office_cert_file=b64(self.office_cert.cert_pem),
                               office_key_file=b64(self.office_cert.key_pem),
                               office_key_password=KEY_PASSWORD).with_context(
                lang="pl_PL").action_l10n_pl_ksef_connect()
        text = str(caught.exception)
        self.assertIn("nie nadał biuru żadnych uprawnień", text)
        self.assertIn("Aplikacja Podatnika KSeF > Uprawnienia", text)
        self.assertIn("InvoiceWrite", text)
        self.assertIn(OFFICE_NIP, text)
        self.assertNotIn("has not granted", text)


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefOfficeTour(KsefOfficeCommon, KsefTourMixin):
    """A client company connected through its accounting office, walked in a real browser by a
    KSeF manager who works in ``LANG`` (static/tests/tours/l10n_pl_ksef_tours_office.js)."""

    LANG = "en_US"
    #: what the manager must find in the company's chatter, per language (i18n/pl.po)
    CONNECTED = {"en_US": "through the accounting office Biuro Rachunkowe Liczydło",
                 "pl_PL": "przez biuro rachunkowe Biuro Rachunkowe Liczydło"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.LANG == "pl_PL":
            install_polish(cls.env)
        cls.manager.lang = cls.LANG

    def test_connect_through_the_accounting_office(self):
        self.grant(TEST_NIP)
        credentials = ksef_certs.load_credentials(self.office_cert.cert_pem, self.office_cert.key_pem,
                                                  KEY_PASSWORD)
        office = self.env["l10n_pl_ksef.office"].sudo().create({
            "name": "Biuro Rachunkowe Liczydło", "nip": OFFICE_NIP, "environment": "emulator",
            "company_ids": [(6, 0, self.company.ids)]})
        office._l10n_pl_ksef_store_certificate(credentials, self.office_cert.key_pem, KEY_PASSWORD)
        action = self.env.ref("l10n_pl_ksef.l10n_pl_ksef_config_action")
        self.start_tour("/odoo/action-%s/%s" % (action.id, self.config.id),
                        "l10n_pl_ksef_connect_office", login=self.manager.login)
        self.config.invalidate_recordset()
        self.assertEqual((self.config.state, self.config.auth_method, self.config.sudo().office_id),
                         ("connected", "office", office))
        self.assertEqual(len(self.office_logins(TEST_NIP)), 1)
        # the chatter keeps who connected it and how, in the manager's language
        self.assertIn(self.CONNECTED[self.LANG], "\n".join(self.config.message_ids.mapped("body")))


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefOfficeTourPolish(TestKsefOfficeTour):
    """The same path for a KSeF manager who works in Polish (the tour reads Polish)."""

    LANG = "pl_PL"

    def test_connect_through_the_accounting_office_in_polish(self):
        self.test_connect_through_the_accounting_office()
