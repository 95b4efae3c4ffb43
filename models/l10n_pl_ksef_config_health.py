"""KSeF settings: how the send cron fared for the company (shown in the office cockpit).

The send cron works company by company, each in its own transaction; an error of any kind in
one company (KSeF's answer, a bug, a serialization failure) is logged, written here and never
stops the others. The import keeps its own on the company's import cursor
(``l10n_pl_ksef.import.cursor.last_error``). Written without waiting for a row another runner
holds (the import locks this row while it imports the company): the log has it then.
"""
import logging

import psycopg2.errors
from odoo import fields, models

_logger = logging.getLogger(__name__)


class L10nPlKsefConfig(models.Model):
    _inherit = "l10n_pl_ksef.config"

    send_error = fields.Text(
        string="Last sending problem", readonly=True, copy=False,
        help="What stopped the last turn of the scheduled sending for this company; cleared "
             "when a turn succeeds. The other companies are not affected.")
    send_error_at = fields.Datetime(string="Sending problem at", readonly=True, copy=False)

    def _l10n_pl_ksef_write_quietly(self, vals):
        """Write ``vals`` on these settings unless another runner holds the row (then nothing
        is written, the caller logs); never an error for the log, never a wait."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                self.env.cr.execute("SELECT id FROM l10n_pl_ksef_config WHERE id = %s "
                                    "FOR NO KEY UPDATE NOWAIT", [self.id], log_exceptions=False)
                self.sudo().write(vals)
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.SerializationFailure):
            self.invalidate_recordset()
            return False
        return True

    def _l10n_pl_ksef_send_health(self, problem):
        """Record (``problem``: the message) or clear (False) the send cron's problem."""
        self.ensure_one()
        if not problem and not self.send_error:
            return True
        vals = {"send_error": problem or False,
                "send_error_at": fields.Datetime.now() if problem else False}
        if not self._l10n_pl_ksef_write_quietly(vals) and problem:
            _logger.info("KSeF: %s: the sending problem could not be recorded now (settings "
                         "busy): %s", self.company_id.name, problem)
        return True
