import os

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from ..models.l10n_pl_ksef_config import SECRET_FIELDS
from ..tools import vault
from .common import OTHER_NIP, KsefTestCommon


@tagged("post_install", "-at_install", "post_install_l10n")
class TestKsefSecurity(KsefTestCommon):

    def test_accountant_sees_state_not_secrets(self):
        token = self.connect_token()
        config = self.config.with_user(self.accountant)
        self.assertEqual(config.state, "connected")
        self.assertEqual(config.auth_method, "token")
        self.assertTrue(config.has_token)
        data = config.read()[0]
        for name in SECRET_FIELDS + ("auth_cert_pem", "offline_cert_pem"):
            self.assertNotIn(name, data)
        self.assertNotIn(token, str(data))
        self.assertNotIn("token_encrypted", config.fields_get())
        for name in SECRET_FIELDS:
            with self.assertRaises(AccessError):
                config.read([name])
        with self.assertRaises(AccessError):
            config.search_read([], ["token_encrypted"])
        # an accountant cannot change the connection nor open the wizard
        with self.assertRaises(AccessError):
            config.write({"state": "not_connected"})
        with self.assertRaises(UserError):
            self.wizard(user=self.accountant)
        with self.assertRaises(UserError):
            config.action_l10n_pl_ksef_disconnect()
        self.assertEqual(self.config.state, "connected")

    def test_invoicing_user_without_ksef_group_sees_state(self):
        user = new_test_user(self.env, login="plain_invoicing", groups="account.group_account_invoice",
                             company_id=self.company.id, company_ids=[(6, 0, self.company.ids)])
        config = self.config.with_user(user)
        self.assertEqual(config.state, "not_connected")
        with self.assertRaises(AccessError):
            config.read(["session_encrypted"])

    def test_company_cannot_see_other_company_settings(self):
        other = self.setup_other_company()["company"]
        other.vat = "PL" + OTHER_NIP
        other_config = other._l10n_pl_ksef_get_config()
        Config = self.env["l10n_pl_ksef.config"]
        for user in (self.accountant, self.manager):
            visible = Config.with_user(user).search([])
            self.assertIn(self.config, visible)
            self.assertNotIn(other_config, visible)
            with self.assertRaises(AccessError):
                other_config.with_user(user).read(["state"])
        # a manager of company A cannot open the wizard on company B's settings
        with self.assertRaises(AccessError):
            self.env["l10n_pl_ksef.connect.wizard"].with_user(self.manager).create(
                {"config_id": other_config.id, "environment": "emulator"}).action_l10n_pl_ksef_connect()

    def test_master_key_rotation(self):
        token = self.connect_token()
        before = self.raw_row()["token_encrypted"]
        old_id = before.split(":")[1]
        self.env["l10n_pl_ksef.config"]._l10n_pl_ksef_rotate_master_key()
        after = self.raw_row()["token_encrypted"]
        self.assertNotEqual(after.split(":")[1], old_id)
        self.assertEqual(vault.decrypt(after).decode(), token)
        self.assertEqual(vault.key_id(vault.current_key()), after.split(":")[1])
        old_files = [n for n in os.listdir(self.key_dir) if n.startswith("master.key.old-")]
        self.assertTrue(old_files)
        # the client still authenticates with the re-encrypted secrets
        self.config.sudo().session_encrypted = False
        self.assertTrue(self.company._l10n_pl_ksef_get_client().tokens)
        # non-administrators cannot rotate
        with self.assertRaises(UserError):
            self.env["l10n_pl_ksef.config"].with_user(self.manager)._l10n_pl_ksef_rotate_master_key()

    def test_foreign_ciphertext_is_refused_clearly(self):
        self.connect_token()
        ciphertext = self.raw_row()["token_encrypted"]
        forged = "ksef1:000000000000:" + ciphertext.split(":", 2)[2]
        with self.assertRaises(vault.VaultError) as caught:
            vault.decrypt(forged)
        self.assertIn("key", caught.exception.message)
