"""Messages of the KSeF core reach Polish users in Polish (template + params, see
tools/ksef_i18n.py), through the same wizard the users connect with."""
from datetime import datetime, timedelta, timezone

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..ksef import certs as ksef_certs
from ..ksef import errors as ksef_errors
from ..ksef import nip as ksef_nip
from ..tools import ksef_i18n, vault
from .common import KEY_PASSWORD, TEST_NIP, WRONG_PASSWORD, KsefTestCommon, b64


class KsefPolishCommon(KsefTestCommon):
    """Polish installed with the module's translations; the KSeF manager works in Polish."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("pl_PL")
        cls.env["ir.module.module"]._load_module_terms(["l10n_pl_ksef"], ["pl_PL"])
        cls.manager.lang = "pl_PL"


@tagged("post_install", "-at_install")
class TestKsefI18nErrors(KsefPolishCommon):

    def polish_wizard(self, **vals):
        return self.wizard(**vals).with_context(lang="pl_PL")

    def test_wrong_key_password_in_polish(self):
        test_cert = self.make_cert()
        wizard = self.polish_wizard(
            auth_method="certificate", auth_cert_file=b64(test_cert.cert_pem),
            auth_cert_filename="ksef.crt", auth_key_file=b64(test_cert.key_pem),
            auth_key_filename="ksef.key", auth_key_password=WRONG_PASSWORD)
        with self.assertRaises(UserError) as caught:
            wizard.action_l10n_pl_ksef_connect()
        text = str(caught.exception)
        self.assertIn("Hasło klucza prywatnego jest nieprawidłowe", text)
        self.assertNotIn("password", text.lower())
        self.assertNothingStored()

    def test_invalid_nip_in_polish(self):
        token = self.emulator.make_ksef_token("5265877635")
        self.company.with_context(no_vat_validation=True).vat = "PL1234567890"
        with self.assertRaises(UserError) as caught:
            self.polish_wizard(token=token).action_l10n_pl_ksef_connect()
        text = str(caught.exception)
        # the parameter ("The company's Tax ID") is translated too; the value is kept
        self.assertIn("NIP firmy 'PL1234567890' nie jest prawidłowym polskim numerem NIP", text)
        self.assertNotIn("is not a valid", text)

    def test_english_unchanged_and_fallbacks(self):
        with self.assertRaises(ksef_errors.InvalidNIPError) as caught:
            ksef_nip.check_nip("123")
        exc = caught.exception
        en = self.env(context={"lang": "en_US"})
        self.assertEqual(ksef_i18n.error_message(en, exc), exc.message)
        pl = self.env(context={"lang": "pl_PL"})
        self.assertIn("nie jest prawidłowym polskim numerem NIP", ksef_i18n.error_message(pl, exc))
        # a plain message (e.g. KSeF's own text) and a foreign exception pass through unchanged
        self.assertEqual(ksef_i18n.error_message(pl, ksef_errors.KSeFError("Tekst z KSeF")),
                         "Tekst z KSeF")
        self.assertEqual(ksef_i18n.error_message(pl, ValueError("boom")), "boom")
        # a broken translation never loses the message
        broken = ksef_errors.KSeFError("x %(a)s", params={"a": 1})
        broken.params = {}
        self.assertEqual(ksef_i18n.error_message(pl, broken), "x %(a)s")

    def test_vault_and_bucket_labels_in_polish(self):
        pl = self.env(context={"lang": "pl_PL"})
        with self.assertRaises(vault.VaultError) as caught:
            vault.decrypt("not-a-secret")
        self.assertIn("Disconnect", caught.exception.message)
        self.assertIn("Odłącz", ksef_i18n.error_message(pl, caught.exception))
        labels = ksef_i18n.bucket_labels(pl)
        self.assertEqual(set(labels), set(ksef_i18n.bucket_labels(self.env(context={"lang": "en_US"}))))
        self.assertIn("odwrotne obciążenie", labels["10"])

    def test_fa3_problems_in_polish(self):
        from types import SimpleNamespace

        from ..ksef.fa3 import codes, schema
        from ..ksef.fa3.schema import Problem

        # a business check with parameters, the VAT bucket label nested in it
        check = Problem("Totals: %(field)s is set but no line has the %(rate)s.",
                        params={"field": "P_13_1", "rate": codes.BUCKET_LABELS["1"]}, code="totals")
        self.assertEqual(str(check), "Totals: P_13_1 is set but no line has the basic rate 23%/22%.")
        # an XSD explanation: element labels in their official Polish form
        xsd = schema.humanize_error(SimpleNamespace(
            message="Element '{%s}P_1': [facet 'maxLength'] The value has a length of '300'; this "
                    "exceeds the allowed maximum length of '256'." % codes.NS, path=None), None)
        self.assertTrue(str(xsd).startswith("The issue date"), str(xsd))
        moves = self.env["account.move"].with_context(lang="pl_PL")
        texts = moves._l10n_pl_ksef_problems_from_error(
            ksef_errors.InvoiceValidationError(problems=[check, xsd, "a plain problem"]))
        self.assertEqual(texts[0], "Podsumowanie: podano P_13_1, ale żadna pozycja nie ma stawki: "
                                   "stawka podstawowa 23%/22%.")
        self.assertIn("wartość za długa (300 znaków; dozwolone najwyżej 256)", texts[1])
        self.assertTrue(texts[1].startswith("Data wystawienia (P_1)"), texts[1])
        self.assertEqual(texts[2], "A plain problem")
        # English users keep the core's text
        en = self.env["account.move"].with_context(lang="en_US")
        self.assertEqual(en._l10n_pl_ksef_problems_from_error(
            ksef_errors.InvoiceValidationError(problems=[check, xsd])), [str(check), str(xsd)])

    def test_token_end_date_in_polish_with_the_year(self):
        self.connect_token()
        config = self.config.with_context(lang="pl_PL")
        config.invalidate_recordset()
        self.assertIn("31.12.2026", config.warning_message)
        self.assertIn("przestają działać po dniu", config.warning_message)
        self.assertNotIn("2026-12-31", config.warning_message)


@tagged("post_install", "-at_install")
class TestKsefBadInputPolish(KsefPolishCommon):
    """The bad-input corpus as a Polish user meets it: each input refused with a clear Polish
    message that says what to do, and nothing half-stored (no credential, no bill)."""

    def refused(self, **vals):
        wizard = self.wizard(**vals).with_context(lang="pl_PL")
        with self.assertRaises(UserError) as caught:
            wizard.action_l10n_pl_ksef_connect()
        self.assertNothingStored()
        self.assertEqual(self.config.state, "not_connected")
        text = str(caught.exception)
        self.assertNotIn("Traceback", text)
        return text

    def certificate(self, test_cert, password=KEY_PASSWORD):
        return {"auth_method": "certificate", "auth_cert_file": b64(test_cert.cert_pem),
                "auth_cert_filename": "ksef.crt", "auth_key_file": b64(test_cert.key_pem),
                "auth_key_filename": "ksef.key", "auth_key_password": password}

    def test_credentials(self):
        self.emulator.reset_counters()
        self.assertIn("To nie jest token KSeF", self.refused(token="skopiowane-zle"))  # noqa: S106
        self.assertIn("To nie jest token KSeF", self.refused(
            token="20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-%s|krotki" % TEST_NIP))
        other = self.emulator.make_ksef_token("7770001111")
        self.assertIn("wygenerowano dla NIP 7770001111", self.refused(token=other))
        self.assertFalse(self.emulator.counters.get("POST /auth/ksef-token"),
                         "refused before contacting KSeF")
        unknown = "20260201-EC-0000000000-0000000000-00|nip-%s|%s" % (TEST_NIP, "0" * 64)
        self.assertIn("KSeF", self.refused(token=unknown))
        now = datetime.now(timezone.utc)
        expired = self.make_cert(valid_from=now - timedelta(days=800),
                                 valid_to=now - timedelta(days=1))
        text = self.refused(**self.certificate(expired))
        self.assertNotIn("expired", text.lower())
        wrong_type = self.make_cert(cert_type=ksef_certs.OFFLINE)
        text = self.refused(**self.certificate(wrong_type))
        self.assertNotIn("certificate", text.lower())

    def test_hostile_and_invalid_incoming_documents(self):
        from .test_import_mapping import Document

        deep = b"<Faktura>" + b"<a>" * 300 + b"</a>" * 300 + b"</Faktura>"
        documents = {
            "XXE": (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                    b"<Faktura>&x;</Faktura>"),
            "laughs": (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                       b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Faktura>&b;</Faktura>'),
            "deep": deep,
            "oversize": b"<Faktura>" + b" " * (4 * 1024 * 1024) + b"</Faktura>",
            "utf8": b'<?xml version="1.0" encoding="UTF-8"?><Faktura>\xff\xfe</Faktura>',
            "xsd": (b'<?xml version="1.0" encoding="UTF-8"?><Faktura xmlns='
                    b'"http://crd.gov.pl/wzor/2025/06/25/13775/"><Naglowek/></Faktura>'),
        }
        Move = self.env["account.move"].with_company(self.company).with_context(lang="pl_PL")
        docs = [Document("%s-20260215-%012X-01" % (TEST_NIP, 0xBAD000 + i), xml)
                for i, xml in enumerate(documents.values())]
        with mute_logger("odoo.addons.l10n_pl_ksef.models.l10n_pl_ksef_import_log"):
            stats = Move._l10n_pl_ksef_import_documents(self.company, docs)
        self.assertEqual((stats["created_count"], stats["error_count"]), (0, len(docs)))
        errors = self.env["l10n_pl_ksef.import.error"].search(
            [("ksef_number", "in", [d.ksef_number for d in docs])])
        self.assertEqual(len(errors), len(docs), "none is skipped")
        english = ("refused", "is not", "invoice", "The ")
        for error in errors:
            self.assertFalse(any(word in error.message for word in english),
                             "%s: %s" % (error.ksef_number, error.message))
        self.assertFalse(self.env["account.move"].search(
            [("l10n_pl_ksef_number", "in", [d.ksef_number for d in docs])]))

    def test_archives(self):
        import io
        import zipfile

        from ..ksef import sync as ksef_sync

        pl = self.env(context={"lang": "pl_PL"})
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for number in range(20):                      # a zip bomb under each file's limit
                archive.writestr("b%d.xml" % number, b"0" * 2_500_000)
        for data in (buffer.getvalue(), b"PK\x03\x04 not a zip", b""):
            with self.assertRaises(ksef_errors.KSeFError) as caught:
                ksef_sync.read_package(data)
            text = ksef_i18n.error_message(pl, caught.exception)
            self.assertFalse(text.startswith("The "), text)
            self.assertIn("paczka faktur KSeF", text)
