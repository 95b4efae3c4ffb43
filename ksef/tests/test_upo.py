"""Reading UPO receipts: the official samples and a hostile file."""
import glob
import os

import pytest

from ksef import upo
from ksef.errors import XMLSecurityError

SAMPLES = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "..", "shared",
                       "ksef", "samples", "upo")


def test_official_upo_samples_list_their_documents():
    files = sorted(glob.glob(os.path.join(SAMPLES, "*.xml")))
    assert files, "official UPO samples not found"
    for path in files:
        with open(path, "rb") as handle:
            documents = upo.upo_documents(handle.read())
        assert documents, path
        for number, fields in documents.items():
            assert fields["NumerKSeFDokumentu"] == number
            assert len(fields["SkrotDokumentu"]) == 44
            assert "NumerKSeFDokumentu: %s" % number in upo.format_document(fields)


def test_hostile_upo_is_refused():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<Potwierdzenie>&b;</Potwierdzenie>")
    with pytest.raises(XMLSecurityError):
        upo.upo_documents(bomb)
