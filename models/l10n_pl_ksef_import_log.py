"""Log of KSeF purchase-import runs and the documents that were refused.

A refused document (hostile or broken XML, oversize, an invoice that cannot
be turned into a bill) never disappears silently: it becomes an
``l10n_pl_ksef.import.error`` record, visible to the accountant, with the
reason and what to do, and can be retried once the cause is fixed.
"""
import json
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)


class L10nPlKsefImportRun(models.Model):
    _name = "l10n_pl_ksef.import.run"
    _description = "KSeF import run"
    _order = "id desc"
    _rec_name = "started_at"

    company_id = fields.Many2one("res.company", required=True, index=True, ondelete="cascade")
    cursor_id = fields.Many2one("l10n_pl_ksef.import.cursor", ondelete="set null", index=True)
    subject_type = fields.Char()
    trigger = fields.Selection([("cron", "Scheduled"), ("manual", "Manual")], required=True,
                               default="manual")
    user_id = fields.Many2one("res.users", default=lambda self: self.env.user)
    started_at = fields.Datetime(default=fields.Datetime.now, required=True)
    finished_at = fields.Datetime()
    state = fields.Selection([
        ("running", "Running"),
        ("waiting", "Waiting for KSeF"),
        ("done", "Done"),
        ("partial", "More to fetch"),
        ("skipped", "Skipped"),
        ("rate_limited", "Rate limited"),
        ("failed", "Failed"),
    ], default="running", required=True)
    checkpoint_from = fields.Datetime("Checkpoint before")
    checkpoint_to = fields.Datetime("Checkpoint after")
    increment_count = fields.Integer("Increments")
    document_count = fields.Integer("Documents received")
    created_count = fields.Integer("Bills created")
    duplicate_count = fields.Integer("Already imported")
    error_count = fields.Integer("Refused")
    request_count = fields.Integer("KSeF requests")
    message = fields.Text()
    move_ids = fields.One2many("account.move", "l10n_pl_ksef_import_run_id", string="Bills")
    error_ids = fields.One2many("l10n_pl_ksef.import.error", "run_id", string="Refused documents")

    def action_open_bills(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Bills imported from KSeF"),
            "res_model": "account.move",
            "view_mode": "list,form",
            "domain": [("l10n_pl_ksef_import_run_id", "=", self.id)],
            "context": {"default_move_type": "in_invoice"},
        }


class L10nPlKsefImportError(models.Model):
    _name = "l10n_pl_ksef.import.error"
    _description = "KSeF import: refused document"
    _inherit = ["mail.thread"]
    _order = "id desc"
    _rec_name = "ksef_number"

    company_id = fields.Many2one("res.company", required=True, index=True, ondelete="cascade")
    run_id = fields.Many2one("l10n_pl_ksef.import.run", ondelete="set null", index=True)
    ksef_number = fields.Char("KSeF number", required=True, index=True)
    reason = fields.Selection([
        ("refused", "Refused by the download (hostile, oversize or broken)"),
        ("xml", "Unreadable or hostile XML"),
        ("invalid", "Not a valid FA(3) invoice"),
        ("mapping", "Could not be turned into a bill"),
    ], required=True)
    message = fields.Text(required=True)
    metadata_json = fields.Text("KSeF metadata")
    seller_nip = fields.Char()
    invoice_number = fields.Char()
    state = fields.Selection([("open", "To check"), ("resolved", "Resolved")],
                             default="open", required=True, tracking=True)
    attempt_count = fields.Integer(default=1)
    move_id = fields.Many2one("account.move", string="Bill", ondelete="set null")

    _company_number_unique = models.UniqueIndex(
        "(company_id, ksef_number)",
        "This KSeF document already has an error record.",
    )

    @api.model
    def _l10n_pl_ksef_record(self, company, ksef_number, reason, message, metadata=None, run=None):
        """Create or update the error record of one document; log it clearly."""
        metadata = metadata or {}
        _logger.warning("KSeF import: document %s of company %s refused (%s): %s",
                        ksef_number, company.id, reason, message)
        existing = self.search([("company_id", "=", company.id),
                                ("ksef_number", "=", ksef_number)], limit=1)
        values = {
            "reason": reason,
            "message": message,
            "run_id": run.id if run else False,
            "metadata_json": json.dumps(metadata, indent=1, default=str) if metadata else False,
            "seller_nip": (metadata.get("seller") or {}).get("nip"),
            "invoice_number": metadata.get("invoiceNumber"),
            "state": "open",
        }
        if existing:
            values["attempt_count"] = existing.attempt_count + 1
            existing.write(values)
            return existing
        return self.create(dict(values, company_id=company.id, ksef_number=ksef_number))

    def action_retry(self):
        """Download the document again by its KSeF number and import it."""
        for error in self:
            if error.state == "resolved":
                continue
            cursor = self.env["l10n_pl_ksef.import.cursor"]._l10n_pl_ksef_get(error.company_id)
            cursor._l10n_pl_ksef_retry_document(error)
        return True

    def action_mark_resolved(self):
        self.write({"state": "resolved"})
        return True

    @api.ondelete(at_uninstall=False)
    def _unlink_except_open(self):
        if any(rec.state == "open" for rec in self) and not self.env.is_superuser():
            raise UserError(self.env._("A refused KSeF document must be checked (retried or marked "
                              "resolved) before its record can be deleted."))
