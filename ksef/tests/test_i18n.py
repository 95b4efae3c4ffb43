"""Translatable core messages: template + params on KSeFError, named placeholders only."""
import ast
import pathlib
import re

import pytest

from ksef import errors, nip
from ksef.i18n import Text
from ksef.i18n import _ as mark  # not "_(": keep test strings out of the .pot

ROOT = pathlib.Path(__file__).resolve().parents[1]
POSITIONAL = re.compile(r"%[-#0+]?\d*(?:\.\d+)?[sdrifx]")   # %s, %d, %r... (not "%(name)s", "23%")


def _marked_literals():
    for path in sorted(ROOT.rglob("*.py")):
        if {"tests", "emulator"} & set(path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_":
                yield path.name, node.args[0]


def test_marker_is_identity():
    assert mark("abc %(x)s") == "abc %(x)s"


def test_marked_templates_are_literals_with_named_placeholders():
    found = list(_marked_literals())
    assert len(found) > 100
    for name, arg in found:
        assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), (name, ast.dump(arg))
        assert not POSITIONAL.search(arg.value), (name, arg.value)


def test_plain_message_still_works():
    exc = errors.KSeFConfigError("plain 100% text")
    assert exc.message == str(exc) == exc.template == "plain 100% text"
    assert exc.params == {}
    assert errors.KSeFTransportError().template == errors.KSeFTransportError.default_message


def test_template_and_params_are_kept():
    with pytest.raises(errors.InvalidNIPError) as info:
        nip.check_nip("123", "Seller NIP")
    exc = info.value
    assert exc.message == ("Seller NIP '123' is not a valid Polish NIP (10 digits with a correct "
                           "checksum). Correct the Tax ID and try again.")
    assert exc.template.startswith("%(what)s %(value)s is not a valid Polish NIP")
    assert exc.params == {"what": "Seller NIP", "value": "'123'"}


def test_bad_params_fall_back_to_template():
    exc = errors.KSeFError("needs %(x)s", params={"y": 1})
    assert exc.message == "needs %(x)s"


def test_nested_text_and_api_error_defaults():
    exc = errors.KSeFError("a %(hint)s", params={"hint": Text("b %(n)s", {"n": 7})})
    assert exc.message == "a b 7"
    api = errors.KSeFAPIError(http_status=502)
    assert (api.template, api.params, api.message) == (
        "KSeF returned an error (HTTP %(status)s).", {"status": 502}, "KSeF returned an error (HTTP 502).")
    bad = errors.InvoiceValidationError(problems=["x", "y"])
    assert bad.message == "The invoice is not valid for KSeF:\n- x\n- y"
    assert bad.params == {"problems": "- x\n- y"}


def test_fa3_problems_keep_template_and_params():
    from ksef.fa3 import check_invoice
    from ksef.fa3.schema import Problem

    from .fa3_helpers import make_invoice

    inv = make_invoice()
    inv.number = None
    inv.seller.nip = "1234567890"
    inv.kind = "XYZ"
    problems = check_invoice(inv)
    assert len(problems) >= 3
    for problem in problems:
        assert isinstance(problem, Problem) and problem.template and problem.code
        assert not POSITIONAL.search(problem.template), problem.template
        assert str(problem) == problem.message == errors.format_message(problem.template,
                                                                        problem.params)
    nip_problem = next(p for p in problems if p.code == "nip")
    assert nip_problem.params == {"nip": "1234567890"}
    assert "%(nip)s" in nip_problem.template and "1234567890" in nip_problem


def test_xsd_explanation_is_a_template_with_polish_labels():
    from types import SimpleNamespace

    from ksef.fa3 import codes, schema

    error = SimpleNamespace(path=None, message=(
        "Element '{%s}P_2': [facet 'minLength'] The value has a length of '0'; this underruns "
        "the allowed minimum length of '1'." % codes.NS))
    problem = schema.humanize_error(error, None)
    assert str(problem) == ("The invoice number (numer faktury, P_2) is empty; fill it in or "
                            "leave it out.")
    assert problem.template == "%(sentence)s."
    sentence = problem.params["sentence"]
    assert sentence.template == "the %(what)s is empty; fill it in or leave it out"
    label = sentence.params["what"]
    assert label == codes.label("P_2") and label.polish == "numer faktury (P_2)"
