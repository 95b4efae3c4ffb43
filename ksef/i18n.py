"""Translation marker of the KSeF core.

The core must not import Odoo, yet its messages reach users. ``_()`` returns
its argument unchanged: it only marks a literal so that Odoo's translation
exporter (which extracts ``_()`` calls from every ``.py`` file of the addon,
``ksef/`` included) puts it into ``i18n/l10n_pl_ksef.pot``. Errors keep the
untranslated template and its parameters (``KSeFError.template`` /
``KSeFError.params``); the Odoo layer translates them when it shows them.

Templates use named placeholders only (``%(name)s``) so that translators can
reorder them.
"""


def _(text):
    """Mark ``text`` for translation; return it unchanged."""
    return text


class Text:
    """A translatable text with its parameters, for use as a parameter of another message.

    ``str()`` gives the English text; the Odoo layer translates ``template`` and
    formats it with ``params`` (nested ``Text`` values are translated too).
    """

    __slots__ = ("template", "params")

    def __init__(self, template, params=None):
        self.template = template
        self.params = dict(params or {})

    def __str__(self):
        if not self.params:
            return self.template
        try:
            return self.template % self.params
        except (KeyError, ValueError, TypeError):
            return self.template

    def __repr__(self):
        return "Text(%r)" % str(self)
