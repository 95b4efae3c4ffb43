"""Visual check of the KSeF QR codes on the invoice PDF (run inside ``odoo-bin shell``).

wkhtmltopdf cannot render reports inside the test runner (it fetches its CSS from the
blocked test server), so the PDF is checked here, in a normal Odoo process::

    cd /tmp && /opt/odoo/venv/bin/python /opt/odoo/odoo/odoo-bin shell -d <db with l10n_pl_ksef> \\
        --addons-path=... --http-port=8269 < /work/main/bench/check_invoice_pdf.py

It connects the first Polish company to a local emulator (in this process), posts an
invoice, sends it (online: KOD I + KSeF number), issues a second one offline24 (KOD I
"OFFLINE" + KOD II "CERTYFIKAT"), writes /tmp/ksef_pdf_online.pdf and /tmp/ksef_pdf_offline.pdf
and rolls everything back. Convert with ``pdftoppm -png`` (or ``gs -sDEVICE=png16m``) and look.
"""
from datetime import date  # noqa: F401

from odoo import Command
from odoo.addons.l10n_pl_ksef.ksef import certs as ksef_certs
from odoo.addons.l10n_pl_ksef.ksef.emulator import Emulator

env = env  # noqa: F821,PLW0127  (provided by odoo-bin shell)
emu = Emulator(rate_limits="off")
url = emu.start(host="127.0.0.1", port=0)
port = int(url.rsplit(":", 1)[1].split("/")[0])
env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.emulator_port", port)
company = env["res.company"].search([("account_fiscal_country_id.code", "=", "PL")], limit=1)
if not company:
    company = env["res.company"].create({"name": "ACME sp. z o.o.", "country_id": env.ref("base.pl").id,
                                         "currency_id": env.ref("base.PLN").id})
    env.user.company_ids |= company
    env["account.chart.template"].try_loading("pl", company=company, install_demo=False)
nip = "5265877635"
company.write({"vat": "PL" + nip, "street": "ul. Prosta 1", "zip": "00-001", "city": "Warszawa"})
env = env(context=dict(env.context, allowed_company_ids=company.ids))
config = company._l10n_pl_ksef_get_config()
config._compute_nip()
wizard = env["l10n_pl_ksef.connect.wizard"].create({
    "config_id": config.id, "environment": "emulator", "auth_method": "token",
    "token": emu.make_ksef_token(nip)})
wizard.action_l10n_pl_ksef_connect()
cert = ksef_certs.make_test_certificate(cert_type=ksef_certs.OFFLINE, key_type="ec", nip=nip,
                                        key_password="x")  # noqa: S106 (throw-away test key)
creds = ksef_certs.load_credentials(cert.cert_pem, cert.key_pem, "x", expected_type=ksef_certs.OFFLINE)
config._l10n_pl_ksef_store_offline_certificate(creds, "offline", cert.key_pem, "x")
partner = env["res.partner"].create({"name": "Odbiorca S.A.", "vat": "PL1234563218",
                                     "country_id": env.ref("base.pl").id, "street": "Kwiatowa 5",
                                     "city": "Kraków", "zip": "30-001"})
tax = env["account.chart.template"].with_company(company).ref("vs_kraj_23")
for name in ("online", "offline"):
    move = env["account.move"].create({
        "move_type": "out_invoice", "partner_id": partner.id, "company_id": company.id,
        "invoice_line_ids": [Command.create({"name": "Widget", "price_unit": 100, "quantity": 2,
                                             "tax_ids": [Command.set(tax.ids)]})]})
    move.action_post()
    if name == "online":
        move.action_l10n_pl_ksef_send()
    else:
        move.action_l10n_pl_ksef_issue_offline()
    print(name, move.name, move.l10n_pl_ksef_state, move.l10n_pl_ksef_number,
          [c["label"] for c in move._l10n_pl_ksef_qr_codes()])
    pdf, _t = env["ir.actions.report"]._render_qweb_pdf("account.account_invoices", move.ids)
    with open("/tmp/ksef_pdf_%s.pdf" % name, "wb") as handle:
        handle.write(pdf)
env.cr.rollback()
emu.stop()
