"""Bank statement lines paid with KSeF numbers or collective identifiers (art. 108g).

A statement line whose label holds one of our KSeF numbers is matched with that invoice; one
that holds a collective identifier is resolved through KSeF (which invoices, how much each) and
matched with those invoices.

* ``_l10n_pl_ksef_proposals()``: what each line pays, as {line: Proposal} (journal items to
  reconcile with the amount of each, and the problems found: a mistyped identifier, one KSeF
  does not know, an invoice not in Odoo...). One KSeF query for all the identifiers of the
  selected lines (the core splits it into calls of 10).
* Odoo 19 Community has no reconciliation screen: ``action_l10n_pl_ksef_match`` (a button on
  the statement line and an action on the list) reconciles through the statement line's own
  journal entry, replacing its suspense line by the counterparts of the invoices.
* With OCA's ``account_reconcile_oca`` installed, the same proposals fill its reconciliation
  screen (``_default_reconcile_data``), where the user validates them.
"""
import logging
import re
from dataclasses import dataclass, field

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import html2plaintext

from ..ksef import collective as ksef_collective
from ..ksef import errors as ksef_errors
from ..ksef.ksef_number import is_valid_ksef_number
from .l10n_pl_ksef_collective import failure_message

_logger = logging.getLogger(__name__)

#: anything that looks like a collective identifier, even mistyped (then checked by the core)
_LOOSE_COLLECTIVE_RE = re.compile(r"(?<![0-9A-Za-z])\d{10}-IZ[0-9A-Za-z-]{6,30}", re.IGNORECASE)
_LOOSE_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z])\d{10}-\d{8}-[0-9A-Za-z]{12}-[0-9A-Za-z]{2}(?![0-9A-Za-z])")


@dataclass
class Proposal:
    """What a statement line pays: [(journal item, amount in company currency)], problems."""

    items: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    numbers: list = field(default_factory=list)
    identifiers: list = field(default_factory=list)


class AccountBankStatementLine(models.Model):
    _inherit = "account.bank.statement.line"

    l10n_pl_ksef_match_note = fields.Text(string="KSeF matching", readonly=True, copy=False)

    # --- reading the label ---------------------------------------------------------------------
    def _l10n_pl_ksef_label(self):
        self.ensure_one()
        parts = [self.payment_ref or ""]
        if self.narration:
            parts.append(html2plaintext(self.narration))
        return " ".join(parts)

    def _l10n_pl_ksef_references(self):
        """(KSeF numbers, valid collective identifiers, problems) of the line's label."""
        self.ensure_one()
        _ = self.env._
        label = self._l10n_pl_ksef_label()
        problems = []
        identifiers = []
        for found in _LOOSE_COLLECTIVE_RE.findall(label):
            try:
                number = ksef_collective.check_collective_identifier(found.upper().rstrip("-"))
            except ksef_errors.InvalidCollectiveIdentifierError as exc:
                problems.append(failure_message(self.env, exc))
                continue
            if number not in identifiers:
                identifiers.append(number)
        numbers = []
        for found in _LOOSE_NUMBER_RE.findall(label):
            token = found.upper()
            if not is_valid_ksef_number(token):
                problems.append(_("%(value)s looks like a KSeF number but its checksum is wrong "
                                  "(mistyped?).", value=token))
            elif token not in numbers:
                numbers.append(token)
        return numbers, identifiers, problems

    # --- what the lines pay ----------------------------------------------------------------------
    def _l10n_pl_ksef_open_items(self, move):
        """The open receivable/payable items of ``move`` this line can settle."""
        self.ensure_one()
        sign = 1 if self.amount > 0 else -1
        return move.line_ids.filtered(
            lambda aml: aml.account_id.account_type in ("asset_receivable", "liability_payable")
            and not aml.reconciled and aml.parent_state == "posted"
            and aml.amount_residual * sign > 0
        ).sorted(lambda aml: (aml.date_maturity or aml.date, aml.id))

    def _l10n_pl_ksef_proposals(self):
        """{statement line: Proposal} for the unreconciled lines of ``self``."""
        _ = self.env._
        result = {}
        wanted = {}
        for line in self.filtered(lambda st: not st.is_reconciled):
            numbers, identifiers, problems = line._l10n_pl_ksef_references()
            result[line] = Proposal(problems=problems, numbers=numbers, identifiers=identifiers)
            if identifiers:
                wanted.setdefault(line.company_id, []).extend(identifiers)
        resolved = {}
        for company, identifiers in wanted.items():
            try:
                resolved[company] = self.env["l10n_pl_ksef.collective"]._l10n_pl_ksef_resolve(
                    company, identifiers)
            except (ksef_errors.KSeFError, UserError) as exc:
                message = _("KSeF could not be asked which invoices the collective identifiers "
                            "cover: %(reason)s", reason=failure_message(self.env, exc))
                for line, proposal in result.items():
                    if line.company_id == company and proposal.identifiers:
                        proposal.problems.append(message)
                resolved[company] = None
        Move = self.env["account.move"]
        for line, proposal in result.items():
            targets = []   # (move, amount given by KSeF or None)
            for number in proposal.numbers:
                move = Move.search([("company_id", "=", line.company_id.id),
                                    ("l10n_pl_ksef_number", "=", number),
                                    ("state", "=", "posted")], limit=1)
                if move:
                    targets.append((move, None))
                else:
                    proposal.problems.append(_("No posted invoice in Odoo has the KSeF number "
                                               "%(number)s.", number=number))
            records = resolved.get(line.company_id)
            for identifier in proposal.identifiers:
                if records is None:
                    continue
                record = records.get(identifier)
                if not record:
                    proposal.problems.append(_(
                        "KSeF knows no invoices of the collective identifier %(number)s (or this "
                        "company may not see them).", number=identifier))
                    continue
                for item in record.line_ids:
                    move = item.move_id or Move.search([
                        ("company_id", "=", line.company_id.id),
                        ("l10n_pl_ksef_number", "=", item.ksef_number),
                        ("state", "=", "posted")], limit=1)
                    if not move:
                        proposal.problems.append(_(
                            "The invoice %(number)s of the collective identifier %(identifier)s is "
                            "not in Odoo.", number=item.ksef_number, identifier=identifier))
                        continue
                    amount = None
                    if item.amount_known and item.amount:
                        amount = item.currency_id._convert(
                            item.amount, line.company_currency_id, line.company_id, line.date) \
                            if item.currency_id and item.currency_id != line.company_currency_id \
                            else item.amount
                    targets.append((move, amount))
            left = abs(sum(line._seek_for_lines()[0].mapped("balance")))
            seen = set()
            for move, amount in targets:
                wanted_amount = amount
                for aml in line._l10n_pl_ksef_open_items(move):
                    if aml.id in seen or line.company_currency_id.is_zero(left):
                        continue
                    residual = abs(aml.amount_residual)
                    paid = min(residual, left if wanted_amount is None else min(wanted_amount, left))
                    if line.company_currency_id.is_zero(paid):
                        continue
                    proposal.items.append((aml, line.company_currency_id.round(paid)))
                    seen.add(aml.id)
                    left -= paid
                    if wanted_amount is not None:
                        wanted_amount -= paid
                        if line.company_currency_id.is_zero(wanted_amount):
                            break
                if not line._l10n_pl_ksef_open_items(move) and move:
                    proposal.problems.append(_("%(invoice)s has nothing left to pay.",
                                               invoice=move.display_name))
        return result

    # --- reconciling (Community: the statement line's own entry) ---------------------------------
    def _l10n_pl_ksef_reconcile(self, items):
        """Replace the suspense line of the statement line's entry by counterparts of ``items``
        ([(journal item, amount in company currency)]) and reconcile them; what is left stays
        on the suspense account."""
        self.ensure_one()
        _liquidity, suspense, other = self._seek_for_lines()
        if other or not suspense:
            raise UserError(self.env._("The statement line %(line)s is already reconciled.",
                                       line=self.display_name))
        partners = self.env["res.partner"].concat(*[aml.partner_id for aml, _amount in items])
        if not self.partner_id and len(partners.commercial_partner_id) == 1:
            self.partner_id = partners.commercial_partner_id
            _liquidity, suspense, other = self._seek_for_lines()
        move = self.move_id
        AML = self.env["account.move.line"].with_context(check_move_validity=False,
                                                         skip_invoice_sync=True)
        suspense_vals = suspense.copy_data()[0] if suspense else None
        total = suspense.balance
        pairs = []
        container = {"records": move, "self": move}
        with move._check_balanced(container):
            move.with_context(skip_account_move_synchronization=True, force_delete=True,
                              skip_invoice_sync=True, skip_readonly_check=True).write(
                {"line_ids": [Command.delete(suspense.id)]})
            for aml, amount in items:
                sign = -1 if aml.balance > 0 else 1
                balance = sign * amount
                vals = {"move_id": move.id, "account_id": aml.account_id.id,
                        "partner_id": aml.partner_id.id, "name": self.payment_ref or aml.name,
                        "balance": balance, "currency_id": aml.currency_id.id}
                if aml.currency_id == aml.company_currency_id:
                    vals["amount_currency"] = balance
                else:
                    ratio = amount / abs(aml.amount_residual) if aml.amount_residual else 0
                    vals["amount_currency"] = aml.currency_id.round(
                        sign * abs(aml.amount_residual_currency) * ratio)
                pairs.append(aml + AML.create(vals))
                total -= balance
            if not self.company_currency_id.is_zero(total):
                suspense_vals.update({"move_id": move.id, "balance": total,
                                      "amount_currency": total
                                      if suspense_vals.get("currency_id") == self.company_currency_id.id
                                      else suspense_vals.get("amount_currency", 0) * (
                                          total / suspense.balance if suspense.balance else 0)})
                AML.create(suspense_vals)
        for pair in pairs:
            pair.reconcile()

    def action_l10n_pl_ksef_match(self):
        """Match the selected lines with the invoices their KSeF numbers or collective
        identifiers name, and reconcile them."""
        _ = self.env._
        if not self.env.su and not self.env.user.has_group("account.group_account_basic"):
            group = self.env.ref("account.group_account_basic").sudo()
            raise UserError(_(
                "Reconciling bank statement lines needs the accounting access right "
                "\"%(group)s\" or higher; you have read access only. Ask your administrator to "
                "give it to you (Settings > Users), or ask a colleague who reconciles the bank.",
                group=group.full_name or group.name))
        proposals = self._l10n_pl_ksef_proposals()
        done = self.browse()
        notes = []
        for line, proposal in proposals.items():
            messages = list(proposal.problems)
            if proposal.items:
                line._l10n_pl_ksef_reconcile(proposal.items)
                done |= line
                messages.insert(0, _("Matched with %(invoices)s.", invoices=", ".join(
                    dict.fromkeys(aml.move_id.display_name for aml, _amount in proposal.items))))
            elif not proposal.numbers and not proposal.identifiers and not proposal.problems:
                messages.append(_("The label holds no KSeF number or collective identifier."))
            line.l10n_pl_ksef_match_note = "\n".join(messages) or False
            if messages:
                notes.append("%s: %s" % (line.payment_ref or line.display_name, " ".join(messages)))
        if not proposals:
            notes.append(_("The selected lines are already reconciled."))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("KSeF: %(done)s of %(count)s statement lines matched",
                           done=len(done), count=len(self)),
                "message": "\n".join(notes),
                "type": "success" if done and len(done) == len(self) else "warning",
                "sticky": len(done) != len(self),
                # the list (filtered on "Not reconciled") or the form shows the new state
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    # --- OCA account_reconcile_oca: the proposals in its reconciliation screen -------------------
    def _default_reconcile_data(self):
        """account_reconcile_oca (when installed) builds the screen's lines here: add the KSeF
        proposal when nothing is reconciled yet and the label names KSeF invoices."""
        data = super()._default_reconcile_data()
        try:
            return self._l10n_pl_ksef_oca_data(data)
        except (ksef_errors.KSeFError, UserError):
            _logger.info("KSeF: no proposal for statement line %s", self.id, exc_info=True)
            return data

    def _l10n_pl_ksef_oca_data(self, data):
        if self.is_reconciled or any(item.get("kind") == "other" for item in data.get("data", [])):
            return data
        numbers, identifiers, _problems = self._l10n_pl_ksef_references()
        if not numbers and not identifiers:
            return data
        proposal = self._l10n_pl_ksef_proposals().get(self)
        if not proposal or not proposal.items:
            return data
        liquidity, _suspense, _other = self._seek_for_lines()
        lines = []
        auxiliary = 1
        for aml in liquidity:
            auxiliary, new = self._get_reconcile_line(aml, "liquidity",
                                                      reconcile_auxiliary_id=auxiliary, move=True)
            lines += new
        for aml, amount in proposal.items:
            auxiliary, new = self._get_reconcile_line(
                aml, "other", is_counterpart=True, max_amount=amount * (1 if self.amount > 0 else -1),
                move=True)
            lines += new
        return self._recompute_suspense_line(lines, auxiliary, self.manual_reference)

    @api.model
    def _l10n_pl_ksef_oca_installed(self):
        return "reconcile_data_info" in self._fields
