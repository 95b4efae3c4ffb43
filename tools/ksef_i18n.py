"""Show the KSeF core's messages in the user's language.

The core (``ksef/``) cannot import Odoo. Its errors keep the English message
(``exc.message``) plus the untranslated template (``exc.template``, a msgid
marked with ``ksef.i18n._`` and exported into ``i18n/*.pot``) and its
parameters (``exc.params``). :func:`error_message` translates the template
with this module's translations in the environment's language and formats it.
Parameters that are themselves translatable (``ksef.i18n.Text`` or another
core error) are translated the same way; plain string parameters are looked
up too, so marked phrases passed as parameters (e.g. "The company NIP (KSeF
context)") come out translated while anything else (numbers, NIPs, KSeF's own
descriptions) stays as it is.

Anything unexpected (no template, a translation with a broken placeholder)
falls back to the English ``exc.message``: a message is never lost.
"""
import logging

from odoo.tools.translate import get_translation

_logger = logging.getLogger(__name__)

MODULE = "l10n_pl_ksef"


def translate(env, text):
    """A msgid of this module in ``env``'s language (``text`` itself if untranslated)."""
    if not text or not isinstance(text, str):
        return text
    try:
        return get_translation(MODULE, env.lang or "en_US", text, ())
    except Exception:  # noqa: BLE001 - a translation problem must never hide the message
        _logger.debug("KSeF: no translation for %r", text, exc_info=True)
        return text


def _param(env, value, depth):
    polish = getattr(value, "polish", None)
    if polish and isinstance(value, str):
        # an FA(3) element label (ksef.fa3.codes.Label): the schema's own Polish term
        return polish if (env.lang or "").startswith("pl") else str(value)
    if hasattr(value, "template") and hasattr(value, "params") and depth < 5:
        return _render(env, value, depth + 1)
    if isinstance(value, str):
        return translate(env, value)
    return value


def _render(env, obj, depth=0):
    english = getattr(obj, "message", None) or str(obj)
    template = getattr(obj, "template", None)
    if not template or not isinstance(template, str):
        return english
    params = getattr(obj, "params", None) or {}
    translated = translate(env, template)
    if not params:
        return translated
    try:
        return translated % {key: _param(env, value, depth) for key, value in params.items()}
    except (KeyError, ValueError, TypeError):
        _logger.warning("KSeF: translation of %r does not fit its parameters", template)
        return english


def error_message(env, exc):
    """The message of a core error (or VaultError) in ``env``'s language.

    Works with any exception: without ``template``/``params`` it returns
    ``exc.message`` or ``str(exc)``.
    """
    try:
        return _render(env, exc)
    except Exception:  # noqa: BLE001 - never lose the message because of translation
        _logger.exception("KSeF: cannot translate an error message")
        return getattr(exc, "message", None) or str(exc)


def problem_message(env, problem):
    """One FA(3) problem (``ksef.fa3.Problem`` or a plain string) in ``env``'s language.

    A ``Problem`` carries its template and parameters like a core error; a
    plain string is looked up as it is (English when it is not a msgid).
    """
    if problem is None:
        return ""
    if getattr(problem, "template", None):
        text = error_message(env, problem)
    else:
        text = translate(env, str(problem))
    # XSD explanations start with a lowercase sentence when no location precedes it
    return text[:1].upper() + text[1:] if isinstance(text, str) else text


def bucket_labels(env):
    """``ksef.fa3.codes.BUCKET_LABELS`` (VAT bucket -> label) in ``env``'s language."""
    from ..ksef.fa3.codes import BUCKET_LABELS

    return {bucket: translate(env, label) for bucket, label in BUCKET_LABELS.items()}


def settings_path(env):
    """Where the KSeF settings block is, named as this Odoo shows it: "Settings > Invoicing > KSeF"
    in Community ("Accounting" where an installed app renames the menu), in ``env``'s language."""
    names = []
    for xmlid, fallback in (("base.menu_administration", "Settings"), ("account.menu_finance", "Invoicing")):
        menu = env.ref(xmlid, raise_if_not_found=False)
        names.append(menu.sudo().with_context(lang=env.lang or "en_US").name if menu else fallback)
    return " > ".join(names + ["KSeF"])
