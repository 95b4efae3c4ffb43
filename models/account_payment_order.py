"""OCA payment orders (``account_payment_order`` + ``account_banking_sepa_credit_transfer``,
when installed; l10n_pl_ksef does not depend on them): every transfer of the bank file carries
the KSeF number of the bill it pays, or the collective identifier of the bills it pays together,
in its remittance information (VAT act art. 108g).

* one bill per transfer: the payment line's communication is the bill's KSeF number
  (``account.move._get_payment_order_communication_direct`` in ``ksef_payment_memo.py``);
* the payment mode groups several KSeF bills of one vendor into one transfer: when the order is
  confirmed, OCA creates one ``account.payment`` per transfer; before it is created, KSeF is
  asked for a collective identifier (KSeF numbers + amounts of the lines) and the transfer's
  ``payment_reference`` (the file's ``RmtInf/Ustrd``) becomes that identifier. When KSeF
  refuses or cannot be reached, the confirmation fails as a whole (nothing is half-made) with a
  message saying what happened and how to pay the bills separately.
"""
from decimal import Decimal

from odoo import api, models
from odoo.exceptions import UserError

from ..ksef import errors as ksef_errors
from .ksef_payment_memo import fit_title
from .l10n_pl_ksef_collective import failure_message


def _ids_of(commands):
    """Record ids of a x2many value written as commands ((6, 0, ids), (4, id), ids)."""
    ids = []
    for command in commands or ():
        if isinstance(command, int):
            ids.append(command)
        elif isinstance(command, (list, tuple)) and command:
            if command[0] == 6:
                ids.extend(command[2])
            elif command[0] == 4:
                ids.append(command[1])
    return ids


class AccountPayment(models.Model):
    _inherit = "account.payment"

    @api.model_create_multi
    def create(self, vals_list):
        if "account.payment.line" in self.env:
            for vals in vals_list:
                if vals.get("payment_order_id") and vals.get("payment_line_ids"):
                    self._l10n_pl_ksef_payment_order_vals(vals)
        payments = super().create(vals_list)
        for payment in payments:
            if payment.l10n_pl_ksef_memo_kind and "payment_order_id" in payment._fields \
                    and payment.payment_order_id:
                plan = payment.payment_line_ids.move_line_id.move_id._l10n_pl_ksef_payment_plan()
                if plan:
                    payment._l10n_pl_ksef_log_memo(plan)
        return payments

    @api.model
    def _l10n_pl_ksef_payment_order_vals(self, vals):
        """Fill the KSeF values of one transfer of a payment order (``vals`` changed)."""
        paylines = self.env["account.payment.line"].browse(_ids_of(vals["payment_line_ids"]))
        bills = paylines.move_line_id.move_id
        plan = bills._l10n_pl_ksef_payment_plan() if bills else None
        if not plan:
            return
        vals.update({
            "l10n_pl_ksef_memo_kind": plan["kind"],
            "l10n_pl_ksef_numbers": ", ".join(plan["numbered"].mapped("l10n_pl_ksef_number"))
            or False,
            "l10n_pl_ksef_memo_note": "\n".join(plan["notes"]) or False,
        })
        if plan["kind"] != "collective":
            return
        items = []
        for bill in plan["numbered"]:
            lines = paylines.filtered(lambda pl, b=bill: pl.move_line_id.move_id == b)
            items.append({
                "move": bill, "ksef_number": bill.l10n_pl_ksef_number,
                "amount": Decimal(str(lines[:1].currency_id.round(
                    sum(lines.mapped("amount_currency"))))).quantize(Decimal("0.01")),
                "currency": lines[:1].currency_id.name,
                "description": bill.ref or bill.name})
        company = plan["numbered"].company_id[:1]
        try:
            record = self.env["l10n_pl_ksef.collective"]._l10n_pl_ksef_request(company, items)
        except (ksef_errors.KSeFError, UserError) as exc:
            order = paylines.order_id[:1]
            raise UserError(self.env._(
                "KSeF gave no collective identifier for the %(count)s bills of %(vendor)s grouped "
                "in one transfer of the payment order %(order)s (%(numbers)s): %(reason)s\n"
                "The payment order was not confirmed. To pay each bill with its own KSeF number, "
                "remove \"Group Transactions in Payment Orders\" from the payment mode "
                "%(mode)s, or confirm again later.",
                count=len(plan["numbered"]), vendor=plan["numbered"].commercial_partner_id[:1]
                .display_name, order=order.display_name,
                numbers=", ".join(plan["numbered"].mapped("l10n_pl_ksef_number")),
                reason=failure_message(self.env, exc),
                mode=order.payment_mode_id.display_name)) from exc
        others = [line.communication for line in paylines
                  if line.move_line_id.move_id in plan["others"] and line.communication]
        vals.update({
            "payment_reference": fit_title(record.name, *others),
            "l10n_pl_ksef_collective_id": record.id,
            "l10n_pl_ksef_collective_number": record.name,
        })
