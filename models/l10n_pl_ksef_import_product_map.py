"""Per-vendor product mapping for bills imported from KSeF, learnt from the accountant.

A vendor's invoice line is identified by the vendor's own product code
(``Indeks``), its GTIN, or its description (``P_7``). When the accountant
changes the product, the expense account or the taxes of a line of an imported
bill, the choice is remembered under each of these keys for that vendor, and
the next bill from the same vendor comes out the same way.
"""
import re

from odoo import api, fields, models

KEY_TYPES = [
    ("index", "Vendor product code (Indeks)"),
    ("gtin", "GTIN"),
    ("name", "Line description"),
]
#: lookup order: the most specific key first
KEY_PRIORITY = ("index", "gtin", "name")


def normalize_key(key_type, value):
    """Key as stored: stripped; descriptions also lower-cased with single spaces."""
    if not value:
        return False
    value = str(value).strip()
    if key_type == "name":
        value = re.sub(r"\s+", " ", value).lower()[:512]
    return value or False


class L10nPlKsefImportProductMap(models.Model):
    _name = "l10n_pl_ksef.import.product.map"
    _description = "KSeF import: vendor line mapping (learnt)"
    _order = "partner_id, key_type, key"
    _rec_name = "key"

    company_id = fields.Many2one("res.company", required=True, index=True,
                                 default=lambda self: self.env.company, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", string="Vendor", required=True, index=True,
                                 ondelete="cascade")
    key_type = fields.Selection(KEY_TYPES, required=True)
    key = fields.Char(required=True, help="The vendor's code, the GTIN or the (normalised) "
                                          "line description this mapping applies to.")
    product_id = fields.Many2one("product.product", ondelete="set null",
                                 check_company=True)
    account_id = fields.Many2one("account.account", string="Expense account",
                                 ondelete="set null", check_company=True)
    tax_ids = fields.Many2many("account.tax", string="Taxes", check_company=True,
                               domain=[("type_tax_use", "=", "purchase")])
    learnt_count = fields.Integer("Times learnt", default=0, readonly=True)
    used_count = fields.Integer("Times applied", default=0, readonly=True)
    last_learnt = fields.Datetime(readonly=True)
    active = fields.Boolean(default=True)

    _vendor_key_unique = models.UniqueIndex(
        "(company_id, partner_id, key_type, key)",
        "There is already a mapping for this vendor and key.",
    )

    @api.model
    def _l10n_pl_ksef_line_keys(self, index=None, gtin=None, name=None):
        """[(key_type, normalised key)] of a line, most specific first."""
        raw = {"index": index, "gtin": gtin, "name": name}
        keys = []
        for key_type in KEY_PRIORITY:
            key = normalize_key(key_type, raw[key_type])
            if key:
                keys.append((key_type, key))
        return keys

    @api.model
    def _l10n_pl_ksef_load(self, company, partners):
        """All active mappings of these vendors: {(partner_id, key_type, key): record}."""
        records = self.search([("company_id", "=", company.id),
                               ("partner_id", "in", partners.ids)])
        return {(rec.partner_id.id, rec.key_type, rec.key): rec for rec in records}

    @api.model
    def _l10n_pl_ksef_find(self, cache, partner, keys):
        """The first mapping matching ``keys`` (see _l10n_pl_ksef_line_keys) or an empty record."""
        for key_type, key in keys:
            rec = cache.get((partner.id, key_type, key))
            if rec:
                return rec
        return self.browse()

    @api.model
    def _l10n_pl_ksef_learn(self, lines):
        """Remember product/account/taxes of imported bill lines, for their vendor."""
        for line in lines:
            move = line.move_id
            partner = move.commercial_partner_id
            keys = self._l10n_pl_ksef_line_keys(line.l10n_pl_ksef_vendor_code,
                                                line.l10n_pl_ksef_gtin,
                                                line.l10n_pl_ksef_source_name)
            if not partner or not keys:
                continue
            values = {
                "product_id": line.product_id.id or False,
                "account_id": line.account_id.id or False,
                "tax_ids": [fields.Command.set(line.tax_ids.ids)],
                "last_learnt": fields.Datetime.now(),
            }
            for key_type, key in keys:
                existing = self.with_context(active_test=False).search([
                    ("company_id", "=", move.company_id.id), ("partner_id", "=", partner.id),
                    ("key_type", "=", key_type), ("key", "=", key)], limit=1)
                if existing:
                    existing.write(dict(values, active=True,
                                        learnt_count=existing.learnt_count + 1))
                else:
                    self.create(dict(values, company_id=move.company_id.id,
                                     partner_id=partner.id, key_type=key_type, key=key,
                                     learnt_count=1))
