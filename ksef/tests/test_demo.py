"""The README's demo: test token, token login, online send, KSeF number, UPO."""
from ksef import demo, ksef_number, xmlsafe


def test_demo_sends_sample_and_saves_upo(tmp_path):
    result = demo.run(out_dir=str(tmp_path))
    number = result["ksef_number"]
    assert ksef_number.is_valid_ksef_number(number)
    assert number.startswith("9999999999-")
    upo = xmlsafe.parse(open(result["upo_path"], "rb").read())
    ns = {"u": "http://upo.schematy.mf.gov.pl/KSeF/v4-3"}
    assert upo.findtext("u:Dokument/u:NumerKSeFDokumentu", namespaces=ns) == number
    assert upo.findtext("u:Dokument/u:TrybWysylki", namespaces=ns) == "Online"


def test_demo_cli_refuses_production(capsys):
    try:
        demo.main(["--url", "https://api.ksef.mf.gov.pl/v2"])
    except SystemExit as exc:
        assert exc.code == 2
    else:  # pragma: no cover
        raise AssertionError("the demo must refuse production")
