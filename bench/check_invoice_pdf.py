"""Visual check of the KSeF QR codes on the real invoice PDF (run inside ``odoo-bin shell``).

wkhtmltopdf loads the report's CSS from ``report.url`` (or ``web.base.url``), so an Odoo HTTP
server must be running on the same database while this script renders. Exact commands (a
throw-away database: the script connects the first Polish company to an in-process emulator and
COMMITS its invoices, like the real sending does):

    cd /tmp && /opt/odoo/venv/bin/python /opt/odoo/odoo/odoo-bin server -d ksef_send2_pdf \\
        --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \\
        -i l10n_pl_ksef --without-demo=all --stop-after-init                      # once
    cd /tmp && /opt/odoo/venv/bin/python /opt/odoo/odoo/odoo-bin server -d ksef_send2_pdf \\
        --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \\
        --http-port=8571 --http-interface=127.0.0.1 &                            # serves the CSS
    cd /tmp && KSEF_REPORT_URL=http://127.0.0.1:8571 /opt/odoo/venv/bin/python \\
        /opt/odoo/odoo/odoo-bin shell -d ksef_send2_pdf --no-http \\
        --addons-path=/opt/odoo/odoo/addons,/opt/odoo/odoo/odoo/addons,/tmp/ksef_addons \\
        < /work/main/bench/check_invoice_pdf.py
    pdftoppm -png -r 80 /tmp/ksef_pdf_online.pdf /tmp/ksef_pdf_online      # etc., then look

It writes /tmp/ksef_pdf_online.pdf (accepted online invoice: KOD I with the KSeF number under it),
/tmp/ksef_pdf_offline.pdf (offline24 invoice before sending: KOD I labelled OFFLINE + KOD II
labelled CERTYFIKAT), /tmp/ksef_pdf_offline_sent.pdf (the same invoice after KSeF accepted it:
KOD I shows the KSeF number, KOD II stays) and /tmp/ksef_pdf_none.pdf (an invoice outside KSeF:
no KSeF block), and prints what each invoice carries.
"""
import os

from odoo import Command
from odoo.addons.l10n_pl_ksef.ksef import certs as ksef_certs
from odoo.addons.l10n_pl_ksef.ksef.emulator import Emulator

env = env  # noqa: F821,PLW0127  (provided by odoo-bin shell)
report_url = os.environ.get("KSEF_REPORT_URL")
if report_url:
    env["ir.config_parameter"].sudo().set_param("report.url", report_url)
emu = Emulator(rate_limits="off")
url = emu.start(host="127.0.0.1", port=0)
port = int(url.rsplit(":", 1)[1].split("/")[0])
env["ir.config_parameter"].sudo().set_param("l10n_pl_ksef.emulator_port", port)
company = env["res.company"].search([("account_fiscal_country_id.code", "=", "PL")], limit=1)
if not company:
    company = env["res.company"].create({"name": "ACME sp. z o.o.", "country_id": env.ref("base.pl").id,
                                         "currency_id": env.ref("base.PLN").id})
    env.user.company_ids |= company
if not company.chart_template:
    env["account.chart.template"].try_loading("pl", company=company, install_demo=False)
nip = "5265877635"
company.write({"name": "ACME sp. z o.o.", "vat": "PL" + nip, "street": "ul. Prosta 1",
               "zip": "00-001", "city": "Warszawa"})
env.user.company_id = company
if not company.external_report_layout_id:
    # normally chosen in the "Configure your document layout" dialog on the first print
    company.external_report_layout_id = env.ref("web.external_layout_standard")
env = env(context=dict(env.context, allowed_company_ids=company.ids))
config = company._l10n_pl_ksef_get_config()
wizard = env["l10n_pl_ksef.connect.wizard"].create({
    "config_id": config.id, "environment": "emulator", "auth_method": "token",
    "token": emu.make_ksef_token(nip)})
wizard.action_l10n_pl_ksef_connect()
cert = ksef_certs.make_test_certificate(cert_type=ksef_certs.OFFLINE, key_type="ec", nip=nip,
                                        key_password="x")  # noqa: S106 (throw-away test key)
creds = ksef_certs.load_credentials(cert.cert_pem, cert.key_pem, "x", expected_type=ksef_certs.OFFLINE)
config._l10n_pl_ksef_store_offline_certificate(creds, "offline", cert.key_pem, "x")
partner = env["res.partner"].create({"name": "Odbiorca S.A.", "vat": "PL1234563218",
                                     "country_id": env.ref("base.pl").id, "street": "ul. Kwiatowa 5",
                                     "city": "Kraków", "zip": "30-001"})
tax = env["account.chart.template"].with_company(company).ref("vs_kraj_23")


def new_invoice():
    move = env["account.move"].create({
        "move_type": "out_invoice", "partner_id": partner.id, "company_id": company.id,
        "invoice_line_ids": [Command.create({"name": "Widget", "price_unit": 100, "quantity": 2,
                                             "tax_ids": [Command.set(tax.ids)]})]})
    move.action_post()
    return move


def render(move, name):
    pdf, _type = env["ir.actions.report"]._render_qweb_pdf("account.account_invoices", move.ids)
    path = "/tmp/ksef_pdf_%s.pdf" % name
    with open(path, "wb") as handle:
        handle.write(pdf)
    print(name, move.name, move.l10n_pl_ksef_state, move.l10n_pl_ksef_mode, move.l10n_pl_ksef_number,
          [(c["name"], c["label"]) for c in move._l10n_pl_ksef_qr_codes()], "->", path)


online = new_invoice()
online.action_l10n_pl_ksef_send()
render(online, "online")
offline = new_invoice()
offline.action_l10n_pl_ksef_issue_offline()
render(offline, "offline")
offline._l10n_pl_ksef_send_now()
render(offline, "offline_sent")
outside = new_invoice()
render(outside, "none")
env.cr.commit()
emu.stop()
