"""What Odoo's own l10n_pl_edi shows next to this module, for connected companies.

Odoo 19 auto-installs l10n_pl_edi with l10n_pl. For a company connected to KSeF through
l10n_pl_ksef, its "Allow KSeF integration" settings block and its invoice fields ("KSeF
Number", "KSeF Status", ...) in the search panel's custom filters and group-by would stand
next to ours under the same names and lead a user to the wrong module. They are hidden there;
companies not connected here keep l10n_pl_edi exactly as Odoo ships it. The sending side of the
coexistence is in account_move_send.py and account_move.py.

l10n_pl_ksef does not depend on l10n_pl_edi, so its view cannot be inherited in XML: the
settings block is found in the combined arch (when l10n_pl_edi is installed) and made invisible
by an expression the web client evaluates on the form's current company.
"""
from odoo import api, models

EDI_FIELD_PREFIX = "l10n_pl_edi_"
EDI_SETTING_ID = "l10n_pl_edi_register"
HIDE_WHEN = "l10n_pl_ksef_state == 'connected'"


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    @api.model
    def _get_view(self, view_id=None, view_type="form", **options):
        arch, view = super()._get_view(view_id, view_type, **options)
        if view_type == "form":
            for node in arch.xpath("//setting[@id='%s']" % EDI_SETTING_ID):
                current = node.get("invisible")
                node.set("invisible", "(%s) or (%s)" % (current, HIDE_WHEN) if current else HIDE_WHEN)
        return arch, view


class AccountMove(models.Model):
    _inherit = "account.move"

    @api.model
    def fields_get(self, allfields=None, attributes=None):
        res = super().fields_get(allfields, attributes)
        if self.env.company.sudo()._l10n_pl_ksef_is_connected():
            for name, description in res.items():
                if name.startswith(EDI_FIELD_PREFIX):
                    # not offered in "Add Custom Filter" / "Add Custom Group" / sorting; views
                    # that name these fields still load (they stay in the result)
                    for key in ("searchable", "groupable", "sortable"):
                        if key in description:
                            description[key] = False
        return res
