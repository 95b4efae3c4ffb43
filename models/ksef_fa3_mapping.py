"""account.move -> FA(3): the mapping of Odoo invoices to the core's data classes.

Extension hook
--------------
Everything KSeF receives comes from ONE method::

    account.move._l10n_pl_ksef_prepare_fa3_invoice() -> ksef.fa3.Invoice

It returns the core's plain data object (``ksef/fa3/model.py``); the XML is
built from it by the core (``ksef.fa3.build_invoice_xml``) and validated
against the official XSD. To add or change data (a ``DodatkowyOpis`` entry,
a third party in ``Podmiot3``, a contract number, a footer text, ...)
override it in your module, call ``super()`` and modify the object::

    class AccountMove(models.Model):
        _inherit = "account.move"

        def _l10n_pl_ksef_prepare_fa3_invoice(self):
            invoice = super()._l10n_pl_ksef_prepare_fa3_invoice()
            invoice.additional_info.append(fa3.AdditionalInfo("Projekt", self.ref or "-"))
            return invoice

Smaller hooks: ``_l10n_pl_ksef_get_vat_code(tax)`` (a tax -> FA(3) ``P_12``
code) and ``_l10n_pl_ksef_prepare_fa3_line(line, index, sign)``.

Tax mapping (Polish chart of accounts, l10n_pl)
-----------------------------------------------
The FA(3) rate code of a line comes from, in this order: the tax's explicit
"KSeF VAT code" (field ``l10n_pl_ksef_vat_code``, for custom taxes), the tax
report tags of its base repartition line (the JPK_V7 fields K_10..K_31 that
l10n_pl puts on its taxes), then the percentage of a percent tax (23, 22, 8,
7, 5, 4, 3). A 0% tax without a tag or a code cannot be classified (0 KR,
WDT, export, exempt, np...) and is reported as something to fix.
"""
import re
from datetime import datetime, timezone
from decimal import Decimal

from odoo import api, fields, models
from odoo.tools import float_is_zero, float_repr, html2plaintext

from ..ksef.errors import InvoiceValidationError, SchemaUnavailableError
from ..ksef.fa3 import codes as fa3_codes
from ..ksef.fa3 import model as fa3
from ..ksef.fa3.builder import build_invoice_xml
from ..ksef.fa3.checks import vat_in_pln
from ..ksef.fa3.codes import PERCENT_CODES, VAT_CODE_SELECTION
from ..ksef.nip import is_valid_nip, normalize_nip
from ..tools import ksef_i18n

#: JPK_V7 tax-report fields (tags of the base repartition line) -> FA(3) P_12 code.
#: Order matters: the first tag found wins (K_12 before K_11: np II services carry both).
TAG_CODES = (
    ("K_31", "oo"),
    ("K_21", "0 WDT"),
    ("K_22", "0 EX"),
    ("K_12", "np II"),
    ("K_11", "np I"),
    ("K_10", "zw"),
    ("K_13", "0 KR"),
    ("K_14", "0 KR"),
)
#: tags whose code depends on the percentage (basic / reduced rates)
RATE_TAGS = {"K_19": ("23", "22"), "K_17": ("8", "7"), "K_15": ("5",)}
LINE_PROCEDURE_TAGS = ("I_42", "I_63")
#: codes for which the buyer settles the VAT (Adnotacje/P_18 = 1)
REVERSE_CHARGE_CODES = {"oo", "np II"}
TWO = Decimal("0.01")


def _dec(value, digits=2):
    """Float -> Decimal rounded to ``digits`` decimals (no binary noise)."""
    return Decimal(float_repr(value or 0.0, digits))


def _price(value):
    """Unit price (TKwotowy2, up to 8 decimals) without useless trailing zeros."""
    number = Decimal(float_repr(value or 0.0, 8)).normalize()
    if number.as_tuple().exponent > -2:
        number = number.quantize(TWO)
    return number


def _qty(value):
    number = Decimal(float_repr(value or 0.0, 6)).normalize()
    return number.quantize(Decimal(1)) if number == number.to_integral() else number


def _text(value, limit=256):
    value = re.sub(r"\s+", " ", value or "").strip()
    return value[:limit] or None


def _tag_names(tags):
    return {re.sub(r"^[+-]", "", name or "") for name in tags.with_context(lang="en_US").mapped("name")}


class AccountTax(models.Model):
    _inherit = "account.tax"

    l10n_pl_ksef_vat_code = fields.Selection(
        VAT_CODE_SELECTION, string="KSeF VAT code",
        help="FA(3) rate code (P_12) of this tax on invoices sent to KSeF. Leave empty for the "
             "Polish chart's taxes: the code is derived from their tax report tags (K_10..K_31) "
             "or their percentage. Needed for custom 0% taxes.")

    @api.model
    def _round_tax_details_tax_amounts(self, base_lines, company, mode="mixed"):
        """Polish companies, documents in a foreign currency: the VAT booked in PLN per rate is
        the document's VAT of that rate (rounded to the cent) converted at the document's
        rate, rounded to the grosz (VAT act art. 106e ust. 11, art. 31a; FA(3) P_14_xW =
        P_14_x x KursWaluty).

        Odoo itself converts the unrounded VAT of each tax, which can differ by a grosz or two
        from the amount printed on the invoice; the difference is put on the line with the
        largest VAT of the rate, as Odoo distributes its own rounding differences."""
        super()._round_tax_details_tax_amounts(base_lines, company, mode=mode)
        if company.account_fiscal_country_id.code != "PL":
            return
        Move = self.env["account.move"]
        groups = {}
        for base_line in base_lines:
            currency, rate = base_line["currency_id"], base_line["rate"]
            if not rate or currency == company.currency_id:
                continue
            for tax_data in base_line["tax_details"]["taxes_data"]:
                if tax_data.get("is_reverse_charge"):
                    continue
                tax = tax_data["tax"]
                bucket = fa3_codes.RATE_BUCKET.get(Move._l10n_pl_ksef_get_vat_code(tax)) or \
                    "tax-%s" % tax.id
                key = (bucket, currency.id, base_line["is_refund"],
                       base_line.get("computation_key"), rate)
                groups.setdefault(key, []).append(tax_data)
        rounding = company.currency_id
        for key, taxes_data in groups.items():
            rate = key[-1]
            in_currency = sum(tax_data["tax_amount_currency"] for tax_data in taxes_data)
            target = rounding.round(float(vat_in_pln(
                _dec(in_currency), Decimal(float_repr(1.0 / rate, 6)))))
            delta = rounding.round(target - sum(tax_data["tax_amount"] for tax_data in taxes_data))
            if not rounding.is_zero(delta):
                largest = max(taxes_data, key=lambda tax_data: abs(tax_data["tax_amount_currency"]))
                largest["tax_amount"] += delta


class AccountMove(models.Model):
    _inherit = "account.move"

    l10n_pl_ksef_split_payment = fields.Boolean(
        string="Split payment (MPP)", copy=False,
        help="Mandatory split payment mechanism (mechanizm podzielonej płatności): written as "
             "Adnotacje/P_18A=1 in the FA(3) invoice sent to KSeF.")

    # ------------------------------------------------------------------ helpers
    def _l10n_pl_ksef_sign(self):
        """+1 for invoices, -1 for credit notes (FA(3) KOR amounts are differences)."""
        return -1 if self.move_type == "out_refund" else 1

    def _l10n_pl_ksef_get_vat_tax(self, line):
        """The VAT tax of a line (one per line; withholding-like non-VAT taxes are not allowed)."""
        return line.tax_ids.flatten_taxes_hierarchy()

    @api.model
    def _l10n_pl_ksef_get_vat_code(self, tax):
        """FA(3) P_12 code of an account.tax, or None when it cannot be determined."""
        if tax.l10n_pl_ksef_vat_code:
            return tax.l10n_pl_ksef_vat_code
        tags = _tag_names(tax.invoice_repartition_line_ids.filtered(
            lambda r: r.repartition_type == "base").tag_ids)
        for tag, code in TAG_CODES:
            if tag in tags:
                return code
        whole = tax.amount_type == "percent" and tax.amount == int(tax.amount)
        percent = str(int(tax.amount)) if whole else None
        for tag, codes in RATE_TAGS.items():
            if tag in tags and percent in codes:
                return percent
        if percent in PERCENT_CODES:
            return percent
        return None

    def _l10n_pl_ksef_kind(self):
        """RodzajFaktury: VAT, KOR, ZAL, ROZ, KOR_ZAL, KOR_ROZ."""
        self.ensure_one()
        if self.move_type == "out_refund":
            origin = self.reversed_entry_id
            base = origin._l10n_pl_ksef_kind() if origin else "VAT"
            return {"ZAL": "KOR_ZAL", "ROZ": "KOR_ROZ"}.get(base, "KOR")
        lines = self.invoice_line_ids.filtered(lambda line: line.display_type == "product")
        dp_lines = lines.filtered(lambda line: line._get_downpayment_lines())
        if dp_lines:
            if dp_lines == lines and self._is_downpayment():
                return "ZAL"
            if any(line.price_subtotal < 0 for line in dp_lines):
                return "ROZ"
        return "VAT"

    def _l10n_pl_ksef_product_lines(self):
        return self.invoice_line_ids.filtered(lambda line: line.display_type == "product")

    # ------------------------------------------------------------------ parties
    def _l10n_pl_ksef_prepare_seller(self):
        company = self.company_id
        partner = company.partner_id
        seller = fa3.Seller(
            nip=normalize_nip(company.vat or "") if company.vat else None,
            name=_text(company.name, 512),
            address=self._l10n_pl_ksef_prepare_address(partner),
        )
        contact = fa3.Contact(email=_text(company.email, 255),
                                   phone=_text(re.sub(r"[^\d+]", "", company.phone or ""), 16))
        if contact.email or contact.phone:
            seller.contacts = [contact]
        return seller

    def _l10n_pl_ksef_prepare_address(self, partner):
        line1 = ", ".join(p for p in (partner.street, partner.street2) if p)
        line2 = " ".join(p for p in (partner.zip, partner.city) if p)
        if not line1 and not line2:
            return None
        return fa3.Address(country=partner.country_id.code or "PL",
                                line1=_text(line1 or line2, 512), line2=_text(line2 if line1 else None, 512))

    def _l10n_pl_ksef_buyer_kind(self, partner):
        """'nip' | 'eu' | 'foreign' | 'consumer' for the commercial partner."""
        country = partner.country_id.code or "PL"
        vat = (partner.vat or "").replace(" ", "").upper()
        if not vat or vat in ("/", "-"):
            return "consumer"
        if country == "PL":
            return "nip"
        eu = self.env.ref("base.europe", raise_if_not_found=False)
        if eu and partner.country_id in eu.country_ids:
            return "eu"
        return "foreign"

    def _l10n_pl_ksef_prepare_buyer(self):
        partner = self.commercial_partner_id
        kind = self._l10n_pl_ksef_buyer_kind(partner)
        name = _text(partner.name, 512)
        address = self._l10n_pl_ksef_prepare_address(partner)
        vat = (partner.vat or "").replace(" ", "").upper()
        if kind == "nip":
            buyer = fa3.Buyer(nip=normalize_nip(vat), name=name)
        elif kind == "eu":
            code = partner.country_id.code
            # Greece uses EL in VAT numbers
            prefix = "EL" if code == "GR" else code
            buyer = fa3.Buyer.eu(prefix, vat, name=name)
        elif kind == "foreign":
            buyer = fa3.Buyer.foreign(partner.country_id.code, vat, name=name)
        else:
            buyer = fa3.Buyer.consumer(name)
        buyer.address = address
        if partner.email:
            buyer.contacts = [fa3.Contact(email=_text(partner.email, 255))]
        return buyer

    # ------------------------------------------------------------------ lines
    def _l10n_pl_ksef_prepare_fa3_line(self, line, index, sign):
        """One FaWiersz from an invoice line (``sign`` is -1 for credit notes)."""
        tax = self._l10n_pl_ksef_get_vat_tax(line)[:1]
        code = self._l10n_pl_ksef_get_vat_code(tax) if tax else None
        quantity = line.quantity or 0.0
        # the net value as booked (in the invoice's currency): with price-included taxes Odoo
        # puts its rounding difference on a line's booked base, so the booked nets (not
        # price_subtotal) are what add up to the invoice's net total per rate (P_13_x)
        net = -line.amount_currency * sign if line.amount_currency else line.price_subtotal
        unit_net = line.price_unit
        gross_priced = bool(tax and tax.price_include and quantity)
        if gross_priced:
            # price_unit is gross: give KSeF the net unit price before discount
            unit_net = line.price_subtotal / quantity / (1 - (line.discount or 0.0) / 100.0) \
                if line.discount != 100 else 0.0
        values = dict(
            number=index,
            uuid="odoo-%s" % line.id,
            name=_text((line.name or line.product_id.display_name or "").split("\n")[0], 512)
            or _text(line.product_id.display_name, 512),
            unit=_text(line.product_uom_id.name, 256) or "szt.",
            quantity=_qty(quantity * sign),
            unit_price_net=_price(unit_net),
            net_amount=_dec(net * sign),
            vat_rate=code,
            index=_text(line.product_id.default_code, 50),
            gtin=_text(line.product_id.barcode, 20) if line.product_id.barcode and
            line.product_id.barcode.isdigit() and len(line.product_id.barcode) in (8, 12, 13, 14) else None,
        )
        if gross_priced:
            # gross prices (VAT act art. 106e ust. 7-8): P_9B as entered; P_11A = the line's
            # booked net + its share of the booked VAT, so that a rate's P_11A add up to
            # P_13_x + P_14_x exactly (price_total is rounded line by line, the VAT is not)
            vat_map = self.env.context.get("l10n_pl_ksef_line_vat")
            if vat_map is None:
                vat_map = self._l10n_pl_ksef_booked_line_vat()
            values["unit_price_gross"] = _price(line.price_unit)
            values["gross_amount"] = _dec(net * sign) + vat_map.get(line.id, Decimal(0)) * sign
        if line.discount:
            values["discount"] = _dec(abs(unit_net * quantity - line.price_subtotal))
        template = line.product_id.product_tmpl_id
        gtu = template.l10n_pl_vat_gtu if "l10n_pl_vat_gtu" in template._fields else None
        if gtu:
            values["gtu"] = gtu
        tags = _tag_names(line.tax_tag_ids)
        procedure = next((p for p in LINE_PROCEDURE_TAGS if p in tags), None)
        if procedure:
            values["procedure"] = procedure
        if self.currency_id != self.company_id.currency_id and self.invoice_currency_rate:
            values["exchange_rate"] = self._l10n_pl_ksef_exchange_rate()
        return fa3.InvoiceLine(**values)

    # ------------------------------------------------------------------ totals
    def _l10n_pl_ksef_prepare_totals(self, lines_codes):
        """P_13_x / P_14_x / P_14_xW / P_15 from Odoo's own amounts (its rounding, not ours)."""
        sign = -1  # out_invoice: revenue and tax lines are credits (negative amount_currency)
        totals = fa3.Totals()
        nets, vats, vats_pln = {}, {}, {}
        for line, code in lines_codes:
            bucket = fa3_codes.RATE_BUCKET.get(code)
            if bucket is None:
                continue
            nets[bucket] = nets.get(bucket, Decimal(0)) + _dec(sign * line.amount_currency)
        for tax_line in self.line_ids.filtered(lambda line: line.display_type == "tax"):
            code = self._l10n_pl_ksef_get_vat_code(tax_line.tax_line_id)
            bucket = fa3_codes.RATE_BUCKET.get(code)
            if bucket is None:
                continue
            vats[bucket] = vats.get(bucket, Decimal(0)) + _dec(sign * tax_line.amount_currency)
            vats_pln[bucket] = vats_pln.get(bucket, Decimal(0)) + _dec(sign * tax_line.balance)
        foreign = self.currency_id != self.company_id.currency_id
        rate = self._l10n_pl_ksef_exchange_rate() if foreign else None
        for bucket, net in nets.items():
            setattr(totals, "p_13_" + bucket, net)
            if bucket in fa3_codes.VAT_BUCKETS:
                vat = vats.get(bucket, Decimal("0.00"))
                setattr(totals, "p_14_" + bucket, vat)
                if foreign and bucket != "5" and rate:
                    # the printed VAT at the printed rate (art. 106e ust. 11); Odoo books the
                    # same amount in PLN (account.tax._round_tax_details_tax_amounts)
                    setattr(totals, "p_14_%sw" % bucket, vat_in_pln(vat, rate))
        totals.p_15 = _dec(self.amount_total * self._l10n_pl_ksef_sign())
        return totals

    def _l10n_pl_ksef_booked_line_vat(self):
        """{invoice line id: its share of the booked VAT (Decimal, invoice currency, unsigned)}:
        Odoo's own tax details of the posted invoice, rounded from its tax lines."""
        self.ensure_one()
        base_lines, _tax_lines = self._get_rounded_base_and_tax_lines()
        shares = {}
        for base_line in base_lines:
            record = base_line.get("record")
            if not record or not getattr(record, "_name", None) == "account.move.line":
                continue
            vat = sum(tax_data["tax_amount_currency"]
                      for tax_data in base_line["tax_details"]["taxes_data"]
                      if not tax_data.get("is_reverse_charge"))
            shares[record.id] = shares.get(record.id, Decimal(0)) + _dec(vat)
        return shares

    def _l10n_pl_ksef_exchange_rate(self):
        """KursWaluty of the invoice (PLN per unit of its currency), as printed."""
        return _qty(1.0 / self.invoice_currency_rate) if self.invoice_currency_rate else None

    # ------------------------------------------------------------------ payment
    def _l10n_pl_ksef_prepare_payment(self):
        if self.move_type != "out_invoice":
            return None
        payment = fa3.Payment()
        if self.invoice_date_due and self.invoice_date_due >= (self.invoice_date or self.invoice_date_due):
            payment.terms = [fa3.PaymentTerm(due_date=self.invoice_date_due)]
        bank = self.partner_bank_id
        if bank and bank.acc_number:
            number = re.sub(r"\s", "", bank.acc_number)
            if 10 <= len(number) <= 34:
                payment.bank_accounts = [fa3.BankAccount(
                    number=number, swift=_text(bank.bank_bic, 11), bank_name=_text(bank.bank_name, 256))]
                payment.form = 6
        if not payment.terms and not payment.bank_accounts:
            return None
        return payment

    # ------------------------------------------------------------------ the hook
    def _l10n_pl_ksef_prepare_fa3_invoice(self):
        """Return the ``ksef.fa3.Invoice`` KSeF will receive for this invoice.

        THE extension point for integrators: override, call super(), adjust the
        returned object (see the module docstring). Must not write to the database.
        """
        self.ensure_one()
        sign = self._l10n_pl_ksef_sign()
        kind = self._l10n_pl_ksef_kind()
        product_lines = self._l10n_pl_ksef_product_lines()
        if kind == "ROZ":
            regular = product_lines.filtered(lambda line: not line._get_downpayment_lines())
        else:
            regular = product_lines
        lines, lines_codes, codes_used = [], [], set()
        mapper = self
        if any(tax.price_include for tax in regular.tax_ids):
            mapper = self.with_context(l10n_pl_ksef_line_vat=self._l10n_pl_ksef_booked_line_vat())
        for index, line in enumerate(regular, start=1):
            fa_line = mapper._l10n_pl_ksef_prepare_fa3_line(line, index, sign)
            lines.append(fa_line)
            codes_used.add(fa_line.vat_rate)
        for line in product_lines:
            tax = self._l10n_pl_ksef_get_vat_tax(line)[:1]
            lines_codes.append((line, self._l10n_pl_ksef_get_vat_code(tax) if tax else None))

        annotations = fa3.Annotations(
            reverse_charge=bool(codes_used & REVERSE_CHARGE_CODES),
            split_payment=self.l10n_pl_ksef_split_payment,
            simplified_triangular="Triangular Sale" in _tag_names(product_lines.tax_tag_ids),
        )
        if "zw" in codes_used:
            annotations.exemption = self._l10n_pl_ksef_exemption_basis(product_lines)
        invoice = fa3.Invoice(
            number=self.name,
            issue_date=self.invoice_date,
            seller=self._l10n_pl_ksef_prepare_seller(),
            buyer=self._l10n_pl_ksef_prepare_buyer(),
            created_at=datetime.now(timezone.utc).replace(microsecond=0),
            system_info="Odoo (l10n_pl_ksef)",
            kind=kind,
            currency=self.currency_id.name,
            sale_date=self.taxable_supply_date
            if "taxable_supply_date" in self._fields and self.taxable_supply_date
            and self.taxable_supply_date != self.invoice_date else None,
            annotations=annotations,
            payment=self._l10n_pl_ksef_prepare_payment(),
        )
        invoice.totals = self._l10n_pl_ksef_prepare_totals(lines_codes)
        if kind == "ZAL":
            invoice.order = self._l10n_pl_ksef_prepare_order(lines)
            invoice.lines = []
        else:
            invoice.lines = lines
        if kind == "ROZ":
            invoice.advance_invoices = [
                fa3.AdvanceInvoiceRef(ksef_number=move.l10n_pl_ksef_number or None,
                                           number=None if move.l10n_pl_ksef_number else move.name)
                for move in self._l10n_pl_ksef_advance_invoices()]
        if kind in fa3_codes.CORRECTION_KINDS:
            origin = self.reversed_entry_id
            reason = self.ref or ""
            reason = re.sub(r"^(Reversal of|Odwrócenie)[^,]*,?\s*", "", reason).strip()
            invoice.correction = fa3.Correction(
                reason=_text(reason, 256),
                invoices=[fa3.CorrectedInvoice(
                    issue_date=origin.invoice_date, number=origin.name,
                    ksef_number=origin.l10n_pl_ksef_number or None)] if origin else [],
            )
        if self.currency_id != self.company_id.currency_id and kind == "ZAL" and self.invoice_currency_rate:
            invoice.advance_exchange_rate = _qty(1.0 / self.invoice_currency_rate)
        return invoice

    def _l10n_pl_ksef_exemption_basis(self, lines):
        taxes = lines.tax_ids.filtered(lambda t: self._l10n_pl_ksef_get_vat_code(t) == "zw")
        notes = [html2plaintext(t.invoice_legal_notes or "").strip() for t in taxes
                 if "invoice_legal_notes" in t._fields]
        notes = [n for n in notes if n]
        return _text("; ".join(dict.fromkeys(notes)), 256) if notes else None

    def _l10n_pl_ksef_advance_invoices(self):
        moves = self.env["account.move"]
        for line in self._l10n_pl_ksef_product_lines():
            moves |= line._get_downpayment_lines().move_id
        return moves.filtered(lambda m: m != self and m.state == "posted" and m.move_type == "out_invoice")

    def _l10n_pl_ksef_prepare_order(self, dp_fa_lines):
        """Zamowienie of an advance invoice (ZAL): the sale order's lines when sale is installed."""
        orders = self._l10n_pl_ksef_product_lines().sale_line_ids.order_id \
            if "sale_line_ids" in self.env["account.move.line"]._fields else None
        order_lines = []
        total = Decimal(0)
        if orders:
            for index, sol in enumerate(orders.order_line.filtered(
                    lambda sol: not sol.is_downpayment and not sol.display_type), start=1):
                tax = sol.tax_ids.flatten_taxes_hierarchy()[:1] if "tax_ids" in sol._fields \
                    else sol.tax_id.flatten_taxes_hierarchy()[:1]
                order_lines.append(fa3.OrderLine(
                    number=index, name=_text(sol.name.split("\n")[0], 512),
                    unit=_text(sol.product_uom_id.name) or "szt.",
                    quantity=_qty(sol.product_uom_qty), unit_price_net=_price(sol.price_unit),
                    net_amount=_dec(sol.price_subtotal), vat_amount=_dec(sol.price_tax),
                    vat_rate=self._l10n_pl_ksef_get_vat_code(tax) if tax else None))
                total += _dec(sol.price_total)
        else:
            for line in dp_fa_lines:
                vat = _dec(self.amount_tax) if len(dp_fa_lines) == 1 else None
                order_lines.append(fa3.OrderLine(
                    number=line.number, name=line.name, unit=line.unit, quantity=line.quantity,
                    unit_price_net=line.unit_price_net, net_amount=line.net_amount,
                    vat_amount=vat, vat_rate=line.vat_rate))
            total = _dec(self.amount_total)
        return fa3.Order(total=total, lines=order_lines)

    # ------------------------------------------------------------------ checks
    def _l10n_pl_ksef_check_invoice(self):
        """Readable list of what to fix before this invoice can go to KSeF ([] = fine).

        Business checks only; the XSD check happens when the XML is built.
        """
        self.ensure_one()
        problems = []
        company = self.company_id
        if self.move_type not in ("out_invoice", "out_refund"):
            problems.append(self.env._("Only customer invoices and credit notes are sent to KSeF."))
            return problems
        if self.state != "posted":
            problems.append(self.env._("Confirm (post) the invoice first."))
        if not company.vat or not is_valid_nip(normalize_nip(company.vat or "") or ""):
            problems.append(self.env._(
                "Company %(company)s: set its Polish tax id (NIP, 10 digits) in the company settings.",
                company=company.name))
        partner = company.partner_id
        if not (partner.street and partner.city and partner.country_id):
            problems.append(self.env._(
                "Company %(company)s: complete its address (street, city, country).", company=company.name))
        buyer = self.commercial_partner_id
        if not buyer.name:
            problems.append(self.env._("The customer has no name."))
        elif self._l10n_pl_ksef_buyer_kind(buyer) == "nip":
            nip = normalize_nip(buyer.vat or "")
            if not nip or not is_valid_nip(nip):
                problems.append(self.env._(
                    "Customer %(partner)s: the tax id %(vat)s is not a valid Polish NIP (10 digits with a "
                    "check digit). Correct it, or clear it for a consumer without a NIP.",
                    partner=buyer.name, vat=buyer.vat))
        elif self._l10n_pl_ksef_buyer_kind(buyer) in ("eu", "foreign") and not buyer.country_id:
            problems.append(self.env._("Customer %(partner)s: set the country.", partner=buyer.name))
        elif self._l10n_pl_ksef_buyer_kind(buyer) == "consumer" and buyer.is_company \
                and (buyer.country_id.code or "PL") == "PL":
            # a Polish company without a NIP would go to KSeF as a buyer without a tax id
            # (BrakID): the buyer would never find the invoice in KSeF
            problems.append(self.env._(
                "Customer %(partner)s is a company in Poland but has no NIP: KSeF would receive "
                "the invoice without the buyer's tax id (BrakID) and the buyer would not find it "
                "in KSeF. Enter the customer's NIP, or, if the customer is a private person, "
                "set the contact to \"Person\".", partner=buyer.name))
        if not self.invoice_date:
            problems.append(self.env._("Set the invoice date."))
        lines = self._l10n_pl_ksef_product_lines()
        if not lines:
            problems.append(self.env._("The invoice has no lines."))
        for line in lines:
            taxes = self._l10n_pl_ksef_get_vat_tax(line)
            label = (line.name or line.product_id.display_name or "").split("\n")[0][:60]
            if not taxes:
                problems.append(self.env._(
                    "Line \"%(line)s\": set a VAT tax (use an exempt or 'not subject' tax if no VAT "
                    "applies).",
                    line=label))
            elif len(taxes) > 1:
                problems.append(self.env._(
                    "Line \"%(line)s\": KSeF accepts one VAT rate per line; keep a single tax.", line=label))
            elif not self._l10n_pl_ksef_get_vat_code(taxes):
                problems.append(self.env._(
                    "Line \"%(line)s\": the tax \"%(tax)s\" cannot be translated to a KSeF rate (0 KR, "
                    "0 WDT, 0 EX, zw, np...). Set its \"KSeF VAT code\" in Accounting > Configuration > "
                    "Taxes.",
                    line=label, tax=taxes.name))
            elif (self._l10n_pl_ksef_get_vat_code(taxes) == "zw"
                  and not self._l10n_pl_ksef_exemption_basis(line)):
                problems.append(self.env._(
                    "Line \"%(line)s\": the tax \"%(tax)s\" is an exemption; KSeF needs its legal basis "
                    "(e.g. \"art. 43 ust. 1 pkt 37 ustawy o VAT\"). Put it in the tax's Legal Notes.",
                    line=label, tax=taxes.name))
            if float_is_zero(line.quantity, precision_digits=6):
                problems.append(self.env._("Line \"%(line)s\": the quantity is zero.", line=label))
        if self.move_type == "out_refund":
            origin = self.reversed_entry_id
            if not origin:
                problems.append(self.env._(
                    "This credit note does not say which invoice it corrects: create it with "
                    "\"Credit Note\" on the original invoice (KSeF corrections must reference it)."))
            elif origin.l10n_pl_ksef_state in ("queued", "sent"):
                problems.append(self.env._(
                    "The corrected invoice %(name)s is still waiting for its KSeF number; send the "
                    "correction once it is accepted.", name=origin.name))
        problems.extend(self._l10n_pl_ksef_check_booked_vat_pln())
        return problems

    def _l10n_pl_ksef_check_booked_vat_pln(self):
        """A foreign-currency invoice's VAT booked in PLN must be the VAT printed on it (P_14_xW,
        the VAT at the invoice's rate): not so for invoices confirmed before this module was
        installed, or whose rate changed afterwards."""
        if self.currency_id == self.company_id.currency_id or not self.invoice_currency_rate \
                or self.state != "posted":
            return []
        rate = self._l10n_pl_ksef_exchange_rate()
        sign = -1
        booked, printed = {}, {}
        for tax_line in self.line_ids.filtered(lambda line: line.display_type == "tax"):
            bucket = fa3_codes.RATE_BUCKET.get(self._l10n_pl_ksef_get_vat_code(tax_line.tax_line_id))
            if bucket not in ("1", "2", "3", "4"):
                continue
            booked[bucket] = booked.get(bucket, Decimal(0)) + _dec(sign * tax_line.balance)
            printed[bucket] = printed.get(bucket, Decimal(0)) + _dec(sign * tax_line.amount_currency)
        problems = []
        for bucket, vat in printed.items():
            expected = vat_in_pln(vat, rate)
            if booked[bucket] != expected:
                problems.append(self.env._(
                    "The VAT booked in PLN (%(booked)s) differs from the VAT the invoice shows in "
                    "PLN (%(vat)s %(currency)s at %(rate)s = %(expected)s). Reset the invoice to "
                    "draft and confirm it again: Odoo then books the VAT the invoice shows.",
                    booked=abs(booked[bucket]), vat=abs(vat), currency=self.currency_id.name,
                    rate=rate, expected=abs(expected)))
        return problems

    def _l10n_pl_ksef_build_xml(self, invoice=None):
        """FA(3) bytes of this invoice (XSD-validated). Raises InvoiceValidationError."""
        self.ensure_one()
        invoice = invoice or self._l10n_pl_ksef_prepare_fa3_invoice()
        try:
            return build_invoice_xml(invoice)
        except SchemaUnavailableError:
            return build_invoice_xml(invoice, validate="if-available")

    def _l10n_pl_ksef_problems_from_error(self, error):
        """Readable problems out of a core InvoiceValidationError, in the user's language."""
        problems = list(getattr(error, "problems", None) or [])
        return ([ksef_i18n.problem_message(self.env, p) for p in problems]
                or [ksef_i18n.error_message(self.env, error)])

    def _l10n_pl_ksef_validate(self):
        """(xml_bytes or None, problems) — business checks, then building + XSD."""
        self.ensure_one()
        problems = self._l10n_pl_ksef_check_invoice()
        if problems:
            return None, problems
        try:
            return self._l10n_pl_ksef_build_xml(), []
        except InvoiceValidationError as error:
            return None, self._l10n_pl_ksef_problems_from_error(error)
