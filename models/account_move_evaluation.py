"""Evaluation mode: invoices of a company connected to the local KSeF emulator.

Their KOD I / KOD II point at the emulator itself (``ksef.environments.custom`` on loopback),
which serves verification pages like the ministry's (``ksef/emulator/verify.py``), and their PDF
says at the top that they have no legal effect (report/report_invoice.xml).
"""
from odoo import models

from ..ksef import environments
from ..tools import emulator_service


class AccountMove(models.Model):
    _inherit = "account.move"

    def _l10n_pl_ksef_is_evaluation(self):
        """True for an invoice of a company using the local emulator (no legal effect)."""
        self.ensure_one()
        # no settings record is created for a company that has none (PDF of any invoice)
        return self.company_id.sudo().l10n_pl_ksef_environment == "emulator"

    def _l10n_pl_ksef_qr_environment(self):
        # EXTENDS account_move.py: the emulator is its own QR host
        if self._l10n_pl_ksef_is_evaluation():
            try:
                port = emulator_service.get_port(self.env)
            except ValueError:
                return super()._l10n_pl_ksef_qr_environment()
            return environments.custom(emulator_service.emulator_url(port))
        return super()._l10n_pl_ksef_qr_environment()
