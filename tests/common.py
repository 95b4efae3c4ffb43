import base64
import os
import shutil
import tempfile
from unittest.mock import patch

from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.tests import new_test_user
from odoo.tools import config

from ..ksef import certs as ksef_certs
from .time_guard import KsefTimeGuard

TEST_NIP = "5265877635"
KEY_PASSWORD = "haslo-123"  # noqa: S105 - test data
WRONG_PASSWORD = "zle-haslo"  # noqa: S105 - test data
OTHER_NIP = "1234563218"


def schema_dir():
    # realpath: Odoo may load the addon through a symlinked addons folder
    addon_dir = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    path = os.path.normpath(os.path.join(addon_dir, "..", "shared", "ksef", "schemas", "FA"))
    return path if os.path.isdir(path) else None


def b64(data):
    return base64.b64encode(data)


class KsefTestCommon(KsefTimeGuard, AccountTestInvoicingCommon):
    """A Polish company, KSeF users, and a KSeF emulator started in-process on a free port."""

    @classmethod
    @AccountTestInvoicingCommon.setup_country("pl")
    def setUpClass(cls):
        super().setUpClass()
        from ..ksef.emulator import Emulator

        # keep the master key of these tests out of the real data directory
        cls.key_dir = tempfile.mkdtemp(prefix="l10n_pl_ksef_keys_")
        cls.addClassCleanup(shutil.rmtree, cls.key_dir, True)
        cls.startClassPatcher(patch.dict(config.options, {"l10n_pl_ksef_key_dir": cls.key_dir}))

        cls.emulator = Emulator(schema_dir=schema_dir(), rate_limits="off")
        cls.emulator_url = cls.emulator.start(host="127.0.0.1", port=0)
        cls.addClassCleanup(cls.emulator.stop)
        port = int(cls.emulator_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        cls.env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.emulator_port", port)

        cls.company = cls.company_data["company"]
        cls.company.write({"vat": "PL" + TEST_NIP, "country_id": cls.env.ref("base.pl").id})
        cls.config = cls.company._l10n_pl_ksef_get_config()

        cls.manager = new_test_user(
            cls.env, login="ksef_manager",
            groups="account.group_account_manager,l10n_pl_ksef.group_ksef_manager",
            company_id=cls.company.id, company_ids=[(6, 0, cls.company.ids)])
        cls.accountant = new_test_user(
            cls.env, login="ksef_accountant",
            groups="account.group_account_invoice,l10n_pl_ksef.group_ksef_user",
            company_id=cls.company.id, company_ids=[(6, 0, cls.company.ids)])

    # --- helpers ---------------------------------------------------------------

    def wizard(self, user=None, **vals):
        user = user or self.manager
        config = self.config.with_user(user)
        values = {"config_id": config.id, "environment": "emulator", "auth_method": "token"}
        values.update(vals)
        return self.env["l10n_pl_ksef.connect.wizard"].with_user(user).create(values)

    def connect_token(self, token=None):
        token = token or self.emulator.make_ksef_token(TEST_NIP)
        self.wizard(token=token).action_l10n_pl_ksef_connect()
        return token

    def make_cert(self, cert_type=ksef_certs.AUTHENTICATION, password=KEY_PASSWORD, **kwargs):
        kwargs.setdefault("nip", TEST_NIP)
        return ksef_certs.make_test_certificate(cert_type=cert_type, key_type="ec",
                                                key_password=password, **kwargs)

    def connect_certificate(self, test_cert=None, password=KEY_PASSWORD):
        test_cert = test_cert or self.make_cert(password=password)
        self.wizard(auth_method="certificate", auth_cert_file=b64(test_cert.cert_pem),
                    auth_cert_filename="ksef.crt", auth_key_file=b64(test_cert.key_pem),
                    auth_key_filename="ksef.key",
                    auth_key_password=password).action_l10n_pl_ksef_connect()
        return test_cert

    def raw_row(self, config=None):
        config = config or self.config
        self.env.flush_all()
        self.env.cr.execute("SELECT * FROM l10n_pl_ksef_config WHERE id = %s", [config.id])
        columns = [d[0] for d in self.env.cr.description]
        return dict(zip(columns, self.env.cr.fetchone()))

    def assertNothingStored(self, config=None):
        row = self.raw_row(config)
        for column in ("token_encrypted", "auth_key_encrypted", "auth_key_password_encrypted",
                       "auth_cert_pem", "session_encrypted"):
            self.assertFalse(row[column], "%s must stay empty" % column)
        self.assertEqual(row["state"], "not_connected")
        self.assertFalse(row["auth_method"])
