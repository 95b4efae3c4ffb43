"""The KSeF option of Odoo's Send wizard (account.move.send).

For a company connected to KSeF through this module, the wizard offers
"KSeF (l10n_pl_ksef)", ticked by default. Sending queues the invoice (FA(3)
built, validated, stored with its hash) and sends it at once, before the PDF
is rendered, so an accepted invoice's PDF already shows KOD I with its KSeF
number. Problems are shown as a blocking alert in the wizard (the readable
list from the mapping checks), never as a traceback.

Coexistence with l10n_pl_edi: for connected companies Odoo's own option
``pl_ksef`` ("by KSeF (e-Faktura)") is not applicable and is dropped from the
sending data even when passed explicitly, so l10n_pl_edi never sends their
invoices; this module in turn never sends an invoice l10n_pl_edi has sent.
"""
from odoo import api, models

EDI_KEY = "l10n_pl_ksef"
ODOO_EDI_KEY = "pl_ksef"   # l10n_pl_edi's option


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    @api.model
    def _get_all_extra_edis(self):
        res = super()._get_all_extra_edis()
        res[EDI_KEY] = {
            "label": self.env._("KSeF (send to the Polish National e-Invoice System)"),
            "is_applicable": lambda move: move._l10n_pl_ksef_is_applicable()
            and move.l10n_pl_ksef_state in (False, "queued", "sent", "rejected"),
            "help": self.env._("Send the FA(3) invoice to KSeF; the PDF gets the KSeF QR code."),
        }
        if ODOO_EDI_KEY in res:
            original = res[ODOO_EDI_KEY]["is_applicable"]
            # ours first: for a connected company l10n_pl_edi's test is never evaluated. Its test
            # reads res.company.l10n_pl_edi_register, computed from a field only administrators
            # may read: for any other user (an accountant) Odoo's Send wizard failed with "You
            # do not have enough rights to access the field l10n_pl_edi_certificate"; sudo: that
            # flag only says whether l10n_pl_edi has a certificate, nothing secret is returned
            res[ODOO_EDI_KEY] = dict(
                res[ODOO_EDI_KEY],
                is_applicable=lambda move: not move.company_id._l10n_pl_ksef_is_connected()
                and original(move.sudo()))
        return res

    @api.model
    def _get_alerts(self, moves, moves_data):
        alerts = super()._get_alerts(moves, moves_data)
        ksef_moves = moves.filtered(lambda m: EDI_KEY in moves_data[m]["extra_edis"]
                                    and m.l10n_pl_ksef_state in (False, "rejected"))
        problems = []
        for move in ksef_moves:
            for problem in move._l10n_pl_ksef_check_invoice():
                problems.append("%s: %s" % (move.name, problem))
        if problems:
            alerts["l10n_pl_ksef_invalid"] = {
                "level": "danger",
                "message": self.env._("Fix these before sending to KSeF:\n%s", "\n".join(problems)),
                "action_text": self.env._("View invoice(s)") if len(ksef_moves) > 1 else False,
                "action": ksef_moves._get_records_action(name=self.env._("Check invoices"))
                if len(ksef_moves) > 1 else False,
            }
        return alerts

    @api.model
    def _l10n_pl_ksef_strip_odoo_edi(self, invoices_data):
        for move, data in invoices_data.items():
            edis = data.get("extra_edis")
            if edis and ODOO_EDI_KEY in edis and move.company_id._l10n_pl_ksef_is_connected():
                data["extra_edis"] = set(edis) - {ODOO_EDI_KEY}

    @api.model
    def _call_web_service_before_invoice_pdf_render(self, invoices_data):
        # this override runs before l10n_pl_edi's (loaded later in the MRO): make sure Odoo's
        # own KSeF sending never sees the invoices of a company connected here
        self._l10n_pl_ksef_strip_odoo_edi(invoices_data)
        super()._call_web_service_before_invoice_pdf_render(invoices_data)
        to_send = self.env["account.move"]
        for move, data in invoices_data.items():
            if EDI_KEY in (data.get("extra_edis") or ()) and move._l10n_pl_ksef_is_applicable() \
                    and move.l10n_pl_ksef_state in (False, "queued", "sent", "rejected"):
                to_send |= move
        if not to_send:
            return
        to_send.filtered(lambda m: m.l10n_pl_ksef_state == "rejected")._l10n_pl_ksef_clear()
        for move in to_send:
            if move.l10n_pl_ksef_state:
                continue
            queued = move._l10n_pl_ksef_enqueue(raise_on_problems=False)
            if not queued:
                invoices_data[move]["error"] = {
                    "error_title": self.env._("The invoice cannot be sent to KSeF:"),
                    "errors": (move.l10n_pl_ksef_message or "").split("\n"),
                }
        to_send = to_send.filtered(lambda m: m.l10n_pl_ksef_state in ("queued", "sent"))
        to_send._l10n_pl_ksef_send_now()
        for move in to_send.filtered(lambda m: m.l10n_pl_ksef_state == "rejected"):
            invoices_data[move]["error"] = {
                "error_title": self.env._("KSeF rejected the invoice:"),
                "errors": [move.l10n_pl_ksef_message or ""],
            }

    @api.model
    def _link_invoice_documents(self, invoices_data):
        self._l10n_pl_ksef_strip_odoo_edi(invoices_data)
        return super()._link_invoice_documents(invoices_data)
