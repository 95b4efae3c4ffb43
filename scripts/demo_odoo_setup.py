"""Fills the Odoo demo database (run by scripts/demo_odoo.sh through `odoo-bin shell`, which
provides ``env``). Idempotent: a database already filled is left as it is.

What it makes, all through the module's normal paths (the buttons' methods, the crons):
- "Demo Sp. z o.o." (NIP 5265877635), a Polish company with Odoo's Polish chart of accounts,
  the admin user's company, connected to the embedded KSeF emulator with a self-signed KSeF
  certificate (the evaluation mode), and an Offline certificate requested from KSeF;
- customers, and invoices sent to KSeF: two online (KSeF number, UPO), one credit note (KOR),
  and one issued offline (offline24: KOD I "OFFLINE" and KOD II "CERTYFIKAT" on its PDF, left
  waiting so that its two codes and its deadline can be seen);
- purchase invoices issued to the company by other sellers in the emulator, imported as draft
  vendor bills by the import.
"""
import os
import time
from datetime import date, timedelta

from odoo import Command
from odoo.addons.l10n_pl_ksef.tools import emulator_service

DEMO_NIP = "5265877635"
DEMO_NAME = "Demo Sp. z o.o."
CUSTOMERS = [
    ("Odbiorca S.A.", "1234563218", "ul. Kwiatowa 5", "30-001", "Kraków"),
    ("Hurtownia Północ sp. z o.o.", "5252248481", "ul. Morska 12", "81-001", "Gdynia"),
]


def say(text):
    print("demo: %s" % text, flush=True)


def ensure_company(env):
    company = env["res.company"].search([("vat", "=", "PL" + DEMO_NIP)], limit=1)
    if company:
        return company, False
    pl = env.ref("base.pl")
    # install_mode: l10n_pl (our dependency) is installed already; do not let the new company
    # pull in every module for Polish companies (account_peppol wants phonenumbers)
    company = env["res.company"].with_context(install_mode=True).create({
        "name": DEMO_NAME, "vat": "PL" + DEMO_NIP, "country_id": pl.id,
        "street": "ul. Prosta 1", "zip": "00-001", "city": "Warszawa",
        "currency_id": env.ref("base.PLN").id,
    })
    env["account.chart.template"].try_loading("pl", company, install_demo=False)
    admin = env.ref("base.user_admin")
    admin.write({"company_ids": [Command.link(company.id)], "company_id": company.id,
                 "group_ids": [Command.link(env.ref("l10n_pl_ksef.group_ksef_manager").id)]})
    return company, True


def connect(env, company):
    config = company._l10n_pl_ksef_get_config()
    if config.state != "connected":
        wizard = env["l10n_pl_ksef.connect.wizard"].create(
            {"config_id": config.id, "environment": "emulator", "auth_method": "certificate"})
        wizard.action_l10n_pl_ksef_use_test_certificate()
        say("connected to the embedded KSeF emulator with a self-signed KSeF certificate")
    if not config.has_offline_certificate:
        for _attempt in range(20):
            if config._l10n_pl_ksef_enroll_offline_certificate("Demo offline") or \
                    config.has_offline_certificate:
                break
            time.sleep(0.5)      # this is a script, not a worker: KSeF issues it in a moment
        say("offline certificate issued by KSeF: %s" % (config.offline_cert_serial or "not yet"))
    return config


def invoice(env, company, partner, lines, name):
    move = env["account.move"].with_company(company).create({
        "move_type": "out_invoice", "partner_id": partner.id, "company_id": company.id,
        "invoice_date": date.today(), "invoice_date_due": date.today() + timedelta(days=14),
        "invoice_line_ids": [Command.create({
            "name": text, "quantity": qty, "price_unit": price,
            "tax_ids": [Command.set(company.account_sale_tax_id.ids)]})   # 23% in the Polish chart
            for text, qty, price in lines],
    })
    move.action_post()
    return move


def sales(env, company):
    moves = env["account.move"].search([("company_id", "=", company.id),
                                        ("move_type", "in", ("out_invoice", "out_refund")),
                                        ("state", "=", "posted")])
    if moves:
        return moves
    pl = env.ref("base.pl")
    partners = [env["res.partner"].create({
        "name": name, "vat": "PL" + nip, "country_id": pl.id, "street": street, "zip": zip_code,
        "city": city, "is_company": True, "company_id": False})
        for name, nip, street, zip_code, city in CUSTOMERS]
    first = invoice(env, company, partners[0], [("Usługa księgowa – listopad", 1, 1500.0),
                                                ("Wysyłka dokumentów", 2, 25.5)], "online 1")
    second = invoice(env, company, partners[1], [("Konsultacja podatkowa", 3, 400.0)], "online 2")
    (first | second).action_l10n_pl_ksef_send()
    reversal = env["account.move.reversal"].with_context(
        active_model="account.move", active_ids=first.ids).create({
            "reason": "Rabat posprzedażowy", "journal_id": first.journal_id.id, "date": date.today()})
    credit = env["account.move"].browse(reversal.refund_moves()["res_id"])
    credit.invoice_line_ids[:1].price_unit = 100.0
    credit.action_post()
    credit.action_l10n_pl_ksef_send()
    offline = invoice(env, company, partners[0], [("Szkolenie KSeF (offline)", 1, 800.0)], "offline")
    offline.action_l10n_pl_ksef_issue_offline()
    moves = first | second | credit | offline
    for move in moves:
        say("%s %s: %s %s" % (move.name, move.partner_id.name, move.l10n_pl_ksef_state,
                              move.l10n_pl_ksef_number or move.l10n_pl_ksef_mode or ""))
    return moves


def purchases(env, company):
    bills = env["account.move"].search([("company_id", "=", company.id),
                                        ("l10n_pl_ksef_imported", "=", True)])
    if bills:
        return bills
    port = emulator_service.get_port(env)
    emulator = emulator_service._emulators.get(port)
    if emulator is not None:        # started by this process: seed invoices from other sellers
        emulator.seed_incoming_invoices(DEMO_NIP, 5, lines=3, seed=2026)
    cursors = env["l10n_pl_ksef.import.cursor"].with_company(company)
    for _attempt in range(30):
        result = cursors._l10n_pl_ksef_get(company)._l10n_pl_ksef_run(trigger="manual")
        if result["state"] != "waiting":
            break
        time.sleep(1)            # KSeF prepares the export package
    say("purchase import: %s" % result["message"])
    return env["account.move"].search([("company_id", "=", company.id),
                                       ("l10n_pl_ksef_imported", "=", True)])


def main(env):
    if os.environ.get("KSEF_DEMO_EMULATOR_PORT"):     # the CI check: a port of its own
        env["ir.config_parameter"].sudo().set_param(emulator_service.PORT_PARAM,
                                                    os.environ["KSEF_DEMO_EMULATOR_PORT"])
    company, created = ensure_company(env)
    env = env(context=dict(env.context, allowed_company_ids=[company.id]))
    company = company.with_env(env)
    if created:
        say("company %s (NIP %s) with the Polish chart of accounts" % (company.name, DEMO_NIP))
    connect(env, company)
    env.cr.commit()
    sales(env, company)
    env.cr.commit()
    bills = purchases(env, company)
    env.cr.commit()
    say("%d vendor bills imported from KSeF" % len(bills))
    say("ready")


main(env)  # noqa: F821 - provided by odoo-bin shell
