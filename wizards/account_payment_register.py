"""Register Payment on KSeF vendor bills (VAT act art. 108g).

* one bill with a KSeF number: the memo is its KSeF number (or KSeF number + vendor's invoice
  number, per company), already in the wizard;
* one payment for several KSeF bills of one vendor (grouped payment, also one payment per
  vendor when several vendors are paid at once): KSeF is asked for a collective identifier
  with each bill's KSeF number and the amount paid, **before any payment is created**; it is
  stored on the payment and is its memo;
* a refusal or an unreachable KSeF: nothing is created (savepoint), the wizard opens again with
  the message and a button to pay the bills separately, each with its own KSeF number;
* bills without a KSeF number and VAT-exempt sellers (the act's exceptions): Odoo's usual memo,
  and the payment says why.
"""
from decimal import Decimal

from markupsafe import Markup, escape
from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef import errors as ksef_errors
from ..models.ksef_payment_memo import fit_title
from ..models.l10n_pl_ksef_collective import failure_message


class KsefCollectiveFailure(UserError):
    """No collective identifier could be obtained; nothing was created."""


class AccountPaymentRegister(models.TransientModel):
    _inherit = "account.payment.register"

    l10n_pl_ksef_memo_info = fields.Text(string="KSeF in the memo",
                                         compute="_compute_l10n_pl_ksef_memo_info")
    l10n_pl_ksef_error = fields.Text(string="KSeF problem", readonly=True)

    # --- what a payment of some lines carries --------------------------------------------------
    def _l10n_pl_ksef_plan(self, lines):
        """How one payment of ``lines`` follows art. 108g (see account.move's
        ``_l10n_pl_ksef_payment_plan``), or None."""
        # the batches keep the records of the env that computed them: use the wizard's (language)
        return lines.with_env(self.env).move_id._l10n_pl_ksef_payment_plan()

    @api.model
    def _get_communication(self, lines):
        plan = self._l10n_pl_ksef_plan(lines)
        if plan and plan["kind"] == "number":
            bill = plan["numbered"]
            if not plan["others"]:
                return bill._l10n_pl_ksef_payment_memo()
            return fit_title(bill.l10n_pl_ksef_number,
                             *[m.ref or m.name for m in plan["others"]])
        return super()._get_communication(lines)

    @api.depends("line_ids", "group_payment", "can_edit_wizard")
    def _compute_l10n_pl_ksef_memo_info(self):
        for wizard in self:
            texts = []
            if wizard.can_edit_wizard and (wizard.group_payment or len(wizard.line_ids.move_id) == 1):
                groups = [wizard.line_ids]
            elif not wizard.group_payment:
                groups = [wizard.line_ids.filtered(lambda line, m=move: line.move_id == m)
                          for move in wizard.line_ids.move_id]
            else:
                groups = [batch["lines"] for batch in wizard.batches or []]
            for lines in groups:
                plan = wizard._l10n_pl_ksef_plan(lines)
                if not plan:
                    continue
                if plan["kind"] == "collective":
                    texts.append(wizard.env._(
                        "%(count)s KSeF bills of %(vendor)s in one payment: KSeF will be asked for "
                        "a collective identifier when the payment is created; it becomes the memo.",
                        count=len(plan["numbered"]),
                        vendor=plan["numbered"].commercial_partner_id[:1].display_name))
                texts.extend(plan["notes"])
            wizard.l10n_pl_ksef_memo_info = "\n".join(dict.fromkeys(texts)) or False

    # --- amounts per bill ------------------------------------------------------------------------
    def _l10n_pl_ksef_amounts(self, lines, amount, currency, date):
        """{bill: Decimal amount in ``currency``} that a payment of ``amount`` pays, bills paid
        in the order Odoo reconciles them (due date); the full residual when ``amount`` is None
        or covers everything."""
        company = lines.company_id[:1]
        residual = {}
        for line in lines.sorted(lambda aml: (aml.date_maturity or aml.date, aml.id)):
            if line.currency_id == currency:
                value = abs(line.amount_residual_currency)
            else:
                value = line.company_currency_id._convert(abs(line.amount_residual), currency,
                                                          company, date)
            residual[line.move_id] = residual.get(line.move_id, 0.0) + value
        total = sum(residual.values())
        left = total if amount is None or currency.compare_amounts(amount, total) >= 0 else amount
        result = {}
        for move, value in residual.items():
            paid = min(value, max(left, 0.0))
            left -= paid
            result[move] = Decimal(str(currency.round(paid))).quantize(Decimal("0.01"))
        return result

    # --- creating the payments ---------------------------------------------------------------
    def _l10n_pl_ksef_prepare(self, to_process, edit_mode):  # pylint: disable=missing-return
        """Memo and KSeF values of each payment to create; collective identifiers requested here,
        before anything is created. Raises KsefCollectiveFailure (nothing requested afterwards)."""
        Collective = self.env["l10n_pl_ksef.collective"]
        for vals in to_process:
            lines = vals["to_reconcile"]
            plan = self._l10n_pl_ksef_plan(lines)
            if not plan:
                continue
            create_vals = vals["create_vals"]
            # Odoo's own memo, without our override of _get_communication
            default_memo = super()._get_communication(lines)  # pylint: disable=super-method-mismatch
            user_memo = create_vals.get("memo") or ""
            extra = {"l10n_pl_ksef_memo_kind": plan["kind"],
                     "l10n_pl_ksef_numbers": ", ".join(plan["numbered"].mapped("l10n_pl_ksef_number"))
                     or False,
                     "l10n_pl_ksef_memo_note": "\n".join(plan["notes"]) or False}
            if plan["kind"] == "number":
                required = plan["numbered"].l10n_pl_ksef_number
                if required not in user_memo:
                    create_vals["memo"] = fit_title(
                        plan["numbered"]._l10n_pl_ksef_payment_memo(), user_memo)
            elif plan["kind"] == "collective":
                currency = self.env["res.currency"].browse(create_vals["currency_id"])
                numbered_lines = lines.filtered(lambda aml, bills=plan["numbered"]: aml.move_id in bills)
                amounts = self._l10n_pl_ksef_amounts(
                    numbered_lines, create_vals.get("amount") if edit_mode else None, currency,
                    create_vals.get("date") or fields.Date.context_today(self))
                items = [{"move": move, "ksef_number": move.l10n_pl_ksef_number,
                          "amount": amounts.get(move, Decimal(0)), "currency": currency.name,
                          "description": move.ref or move.name}
                         for move in plan["numbered"]]
                company = plan["numbered"].company_id[:1]
                try:
                    record = Collective._l10n_pl_ksef_request(company, items)
                except (ksef_errors.KSeFError, UserError) as exc:
                    raise KsefCollectiveFailure(self._l10n_pl_ksef_failure_text(
                        plan["numbered"], exc)) from exc
                keep = user_memo if user_memo and user_memo != default_memo else ""
                create_vals["memo"] = fit_title(record.name, keep,
                                                *[m.ref or m.name for m in plan["others"]])
                extra.update({"l10n_pl_ksef_collective_id": record.id,
                              "l10n_pl_ksef_collective_number": record.name})
            create_vals.update(extra)
            vals["l10n_pl_ksef_plan"] = plan

    def _l10n_pl_ksef_failure_text(self, bills, exc):
        _ = self.env._
        reason = failure_message(self.env, exc)
        if isinstance(exc, ksef_errors.KSeFAuthPending):
            what = _("KSeF was still checking the login and gave no collective identifier yet")
        elif isinstance(exc, (ksef_errors.KSeFTransportError, ksef_errors.KSeFServerError)):
            what = _("KSeF could not be reached to get a collective identifier")
        elif isinstance(exc, ksef_errors.KSeFRateLimited):
            what = _("KSeF is limiting requests and gave no collective identifier now")
        else:
            what = _("KSeF refused a collective identifier")
        return _("%(what)s for %(count)s bills of %(vendor)s (%(numbers)s): %(reason)s\n"
                 "No payment was created. Pay the bills separately (each payment then carries "
                 "its bill's KSeF number), or try again later.",
                 what=what, count=len(bills), vendor=bills.commercial_partner_id[:1].display_name,
                 numbers=", ".join(bills.mapped("l10n_pl_ksef_number")), reason=reason)

    def _init_payments(self, to_process, edit_mode=False):
        self._l10n_pl_ksef_prepare(to_process, edit_mode)
        payments = super()._init_payments(to_process, edit_mode=edit_mode)
        for vals in to_process:
            plan = vals.get("l10n_pl_ksef_plan")
            if plan:
                vals["payment"]._l10n_pl_ksef_log_memo(plan)
        return payments

    def action_create_payments(self):
        try:
            with self.env.cr.savepoint():
                return super().action_create_payments()
        except KsefCollectiveFailure as exc:
            # everything of this attempt is rolled back: show why, offer separate payments
            self.env.invalidate_all()
            self.l10n_pl_ksef_error = exc.args[0]
            return {
                "type": "ir.actions.act_window",
                "name": self.env._("Pay"),
                "res_model": self._name,
                "res_id": self.id,
                "view_mode": "form",
                "views": [(False, "form")],
                "target": "new",
                "context": self.env.context,
            }

    def action_l10n_pl_ksef_pay_separately(self):
        """One payment per bill, each with its own KSeF number (no collective identifier)."""
        self.ensure_one()
        self.write({"group_payment": False, "l10n_pl_ksef_error": False})
        return self.action_create_payments()


class AccountPayment(models.Model):
    _inherit = "account.payment"

    def _l10n_pl_ksef_log_memo(self, plan):
        self.ensure_one()
        _ = self.env._
        if plan["kind"] == "collective":
            body = Markup("%s <b>%s</b>%s") % (
                _("KSeF collective identifier for the bills paid by this transfer (its memo):"),
                self.l10n_pl_ksef_collective_number,
                self.l10n_pl_ksef_collective_id._l10n_pl_ksef_summary_html())
        elif plan["kind"] == "number":
            body = Markup("%s <b>%s</b>") % (_("Memo with the bill's KSeF number:"),
                                              plan["numbered"].l10n_pl_ksef_number)
        else:
            body = Markup("")
        if plan["notes"]:
            body += Markup("<p>%s</p>") % _("Without a KSeF number:") + Markup("<ul>%s</ul>") % \
                Markup("").join(Markup("<li>%s</li>") % escape(note) for note in plan["notes"])
        if body:
            self._message_log(body=body)
