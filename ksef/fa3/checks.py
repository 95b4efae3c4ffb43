"""Totals from lines, and the business checks the XSD cannot do.

Public API::

    compute_totals(invoice_or_lines, *, currency=None, exchange_rate=None,
                   margin=None) -> Totals
    check_invoice(invoice, *, strict=True, tolerance=None) -> list[Problem]

``compute_totals`` sums the lines per VAT bucket (P_12 -> P_13_x/P_14_x; see
``codes.RATE_BUCKET``). Lines marked ``before_correction`` (StanPrzed) count
negatively, so a KOR with before/after pairs yields the differences. Per bucket
the VAT is the sum of the lines' ``vat_amount`` when every line has one, otherwise
computed on the bucket's sum (net x rate, or gross x rate / (100 + rate) for
gross-priced lines), rounded half-up to 0.01. For a foreign currency,
``P_14_xW`` = VAT x ``exchange_rate`` (default: the lines' common ``KursWaluty``).
``P_15`` = all nets + all VAT. Advance invoices (ZAL) carry the advance received,
not the order: set their totals yourself.

``check_invoice`` returns readable problems (empty list when fine): totals
consistent with lines within rounding (one grosz per line of a bucket), P_15 set
and equal to the sum of the buckets, a KOR has its corrected-invoice
reference(s), a ROZ references its advance invoices, lines 'zw' need an exemption
basis and lines 'oo' the reverse-charge flag (P_18), foreign-currency VAT also in PLN,
no float amounts; and with ``strict`` (production rules; KSeF TEST
accepts random numbers, PROD does not) the check digits of the NIPs (seller, buyer,
third parties) and of referenced KSeF numbers.
"""
from decimal import ROUND_HALF_UP, Decimal

from ..errors import InvoiceValidationError
from ..i18n import Text, _
from ..ksef_number import is_valid_ksef_number
from ..nip import is_valid_nip, normalize_nip
from . import codes
from .model import Invoice, Totals
from .schema import Problem

CENT = Decimal("0.01")
_ZERO = Decimal("0")


def _round(value):
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def vat_in_pln(vat, exchange_rate):
    """VAT of a foreign-currency invoice in PLN: the printed VAT at the invoice's rate, rounded
    half-up to the grosz (VAT act art. 106e ust. 11 with art. 31a; FA(3) P_14_xW)."""
    return _round(Decimal(vat) * Decimal(exchange_rate))


def _line_bucket(line, margin):
    if line.oss_rate is not None:
        return "5"
    if line.vat_rate in codes.RATE_BUCKET:
        return codes.RATE_BUCKET[line.vat_rate]
    if line.vat_rate is None and margin:
        return "11"
    return None


def _no_floats(lines):
    for i, line in enumerate(lines, 1):
        for name in ("net_amount", "gross_amount", "vat_amount", "exchange_rate", "oss_rate"):
            if isinstance(getattr(line, name), float):
                raise InvoiceValidationError(problems=[Problem(
                    _("Line %(line)s: '%(field)s' is a float (%(value)r); amounts must be "
                      "Decimal."),
                    params={"line": line.number or i, "field": name,
                            "value": getattr(line, name)}, code="float")])


def compute_totals(invoice_or_lines, *, currency=None, exchange_rate=None, margin=None):
    """Per-rate totals (P_13_x, P_14_x, P_14_xW) and P_15 computed from lines.

    Raises InvoiceValidationError when a line amount is a float.
    """
    if isinstance(invoice_or_lines, Invoice):
        inv = invoice_or_lines
        lines = inv.lines
        currency = currency or inv.currency
        margin = bool(inv.annotations.margin) if margin is None else margin
    else:
        lines = list(invoice_or_lines)
    currency = currency or "PLN"
    _no_floats(lines)
    # per rate code: [net, gross, vat_sum, all_have_vat, gross_based]
    acc = {}
    rates = set()
    for line in lines:
        bucket = _line_bucket(line, margin)
        if bucket is None:
            continue
        sign = -1 if line.before_correction else 1
        key = (bucket, line.vat_rate if bucket != "5" else "oss:%s" % line.oss_rate)
        slot = acc.setdefault(key, [_ZERO, _ZERO, _ZERO, True, False])
        if line.net_amount is not None:
            slot[0] += sign * line.net_amount
        elif line.gross_amount is not None:
            slot[1] += sign * line.gross_amount
            slot[4] = True
        if line.vat_amount is not None:
            slot[2] += sign * line.vat_amount
        else:
            slot[3] = False
        if line.exchange_rate is not None:
            rates.add(line.exchange_rate)
    if exchange_rate is None and len(rates) == 1:
        exchange_rate = rates.pop()
    buckets = {}
    for (bucket, rate_code), (net, gross, vat_sum, all_vat, gross_based) in sorted(acc.items()):
        if bucket == "5":
            pct = Decimal(rate_code.split(":", 1)[1])
        else:
            pct = codes.RATE_PERCENT.get(rate_code, _ZERO)
        if bucket == "11":
            net_total, vat = net + gross, _ZERO
        elif all_vat:
            vat = vat_sum
            net_total = net + (gross - vat_sum if gross_based else _ZERO)
        else:
            vat_net = _round(net * pct / 100) if net else _ZERO
            vat_gross = _round(gross * pct / (100 + pct)) if gross else _ZERO
            vat = vat_net + vat_gross
            net_total = net + gross - vat_gross
        cur = buckets.setdefault(bucket, [_ZERO, _ZERO])
        cur[0] += net_total
        cur[1] += vat
    totals = Totals()
    p15 = _ZERO
    for bucket, (net_sum, vat_sum) in buckets.items():
        net = _round(net_sum)
        setattr(totals, "p_13_" + bucket, net)
        p15 += net
        if bucket in codes.VAT_BUCKETS:
            vat = _round(vat_sum)
            setattr(totals, "p_14_" + bucket, vat)
            p15 += vat
            if bucket != "5" and currency != "PLN" and exchange_rate is not None:
                setattr(totals, "p_14_%sw" % bucket, vat_in_pln(vat, exchange_rate))
    totals.p_15 = _round(p15)
    return totals


def _amount_fields(obj, where, problems):
    for name, value in vars(obj).items():
        if isinstance(value, float):
            problems.append(Problem(
                _("%(where)s: '%(field)s' is a float (%(value)r); amounts must be Decimal."),
                params={"where": where, "field": name, "value": value}, path=name, code="float"))


def check_invoice(invoice, *, strict=True, tolerance=None):
    """Business checks the XSD cannot do; returns a list of readable ``Problem``."""
    inv = invoice
    problems = []

    def add(text, code, path=None, **params):
        problems.append(Problem(text, path=path, code=code, params=params))

    if not inv.number:
        add(_("The invoice number (P_2) is missing."), "number", "number")
    if inv.created_at is None:
        add(_("The creation date and time (DataWytworzeniaFa) is missing: set "
              "Invoice.created_at."),
            "created_at", "created_at")
    # NIPs
    seller_nip = normalize_nip(inv.seller.nip) if inv.seller.nip else ""
    if not seller_nip:
        add(_("Seller: the NIP (Polish tax id) is missing; KSeF requires the seller's NIP."),
            "nip", "seller.nip")
    elif strict and not is_valid_nip(seller_nip):
        add(_("Seller: NIP %(nip)s is not a valid Polish NIP (10 digits with a correct "
              "checksum); KSeF production rejects it. Correct the company's Tax ID."), "nip",
            "seller.nip", nip=inv.seller.nip)
    buyer = inv.buyer
    ids = [bool(buyer.nip), bool(buyer.eu_code or buyer.eu_vat), bool(buyer.foreign_id),
           bool(buyer.no_id)]
    if sum(ids) > 1:
        add(_("Buyer: give only one identification (Polish NIP, EU VAT number, foreign tax id "
              "or 'no tax id'), not several."), "buyer_id", "buyer")
    if buyer.nip and strict and not is_valid_nip(buyer.nip):
        add(_("Buyer: NIP %(nip)s is not a valid Polish NIP (10 digits with a correct "
              "checksum). For a foreign customer use the EU VAT number or a foreign tax id."),
            "nip", "buyer.nip", nip=buyer.nip)
    if (buyer.eu_code is None) != (buyer.eu_vat is None):
        add(_("Buyer: an EU VAT number needs both the country code (KodUE) and the number "
              "(NrVatUE)."), "buyer_id", "buyer")
    for i, party in enumerate(inv.third_parties, 1):
        if party.nip and strict and not is_valid_nip(party.nip):
            add(_("Third party %(number)s: NIP %(nip)s is not a valid Polish NIP."), "nip",
                "third_parties[%d].nip" % (i - 1), number=i, nip=party.nip)
        if party.role is None and not party.other_role:
            add(_("Third party %(number)s: give its role (1-11) or a description of another "
                  "role."), "role", "third_parties[%d]" % (i - 1), number=i)
    # dates
    if inv.sale_date is not None and (inv.period_from or inv.period_to):
        add(_("Give either the delivery date (P_6) or a period (P_6_Od/P_6_Do), not both."),
            "dates")
    if (inv.period_from is None) != (inv.period_to is None):
        add(_("The invoicing period needs both a start (P_6_Od) and an end (P_6_Do)."), "dates")
    # floats
    for i, line in enumerate(inv.lines, 1):
        _amount_fields(line, Text(_("Line %(line)s"), {"line": line.number or i}), problems)
    if inv.totals is not None:
        _amount_fields(inv.totals, _("Totals"), problems)
    # kind-specific
    if inv.kind not in codes.INVOICE_KINDS:
        add(_("The invoice type '%(kind)s' is not one KSeF accepts (%(allowed)s)."), "kind",
            "kind", kind=inv.kind, allowed=", ".join(codes.INVOICE_KINDS))
    if inv.is_correction:
        if inv.correction is None or not inv.correction.invoices:
            add(_("A correction invoice (%(kind)s) must name the invoice it corrects: its issue "
                  "date, number and KSeF number (or say it was issued outside KSeF)."),
                "correction", "correction", kind=inv.kind)
        else:
            for i, ref in enumerate(inv.correction.invoices, 1):
                if strict and ref.ksef_number and not is_valid_ksef_number(ref.ksef_number):
                    add(_("Corrected invoice %(number)s: '%(ksef_number)s' is not a valid KSeF "
                          "number (check digits do not match)."), "ksef_number",
                        "correction.invoices[%d]" % (i - 1), number=i,
                        ksef_number=ref.ksef_number)
                if not ref.number or ref.issue_date is None:
                    add(_("Corrected invoice %(number)s: its number and issue date are "
                          "required."), "correction", "correction.invoices[%d]" % (i - 1),
                        number=i)
    elif inv.correction is not None:
        add(_("Only a correction invoice (KOR, KOR_ZAL, KOR_ROZ) may carry corrected-invoice "
              "data; this one is '%(kind)s'."), "correction", "correction", kind=inv.kind)
    if inv.kind in ("ROZ", "KOR_ROZ") and not inv.advance_invoices:
        add(_("A settlement invoice (ROZ) must reference the advance invoices it settles "
              "(FakturaZaliczkowa)."), "advance", "advance_invoices")
    for i, ref in enumerate(inv.advance_invoices, 1):
        if strict and ref.ksef_number and not is_valid_ksef_number(ref.ksef_number):
            add(_("Advance invoice %(number)s: '%(ksef_number)s' is not a valid KSeF number."),
                "ksef_number", "advance_invoices[%d]" % (i - 1), number=i,
                ksef_number=ref.ksef_number)
        if not ref.ksef_number and not ref.number:
            add(_("Advance invoice %(number)s: give its KSeF number, or its number when it was "
                  "issued outside KSeF."), "advance", "advance_invoices[%d]" % (i - 1), number=i)
    rates = {line.vat_rate for line in inv.lines}
    if "zw" in rates and not inv.annotations.exemption:
        add(_("Lines with the VAT rate 'zw' (exempt) need the legal basis of the exemption "
              "(Annotations.exemption: P_19A/P_19B/P_19C)."), "exemption",
            "annotations.exemption")
    if inv.annotations.exemption and "zw" not in rates and inv.lines:
        add(_("An exemption basis is given but no line has the VAT rate 'zw'."), "exemption",
            "annotations.exemption")
    if "oo" in rates and not inv.annotations.reverse_charge:
        add(_("Lines with 'oo' (domestic reverse charge) require the reverse-charge annotation "
              "(P_18=1, 'odwrotne obciążenie')."), "reverse_charge", "annotations.reverse_charge")
    # totals
    totals = inv.totals
    if totals is not None:
        if totals.p_15 is None:
            add(_("The total amount due (P_15) is missing."), "totals", "totals.p_15")
        buckets = totals.by_bucket()
        for bucket, (_net, vat, vat_pln) in buckets.items():
            if bucket in ("1", "2", "3", "4") and vat is None:
                add(_("Totals: the VAT amount P_14_%(bucket)s is missing for the net amount "
                      "P_13_%(bucket)s."), "totals", "totals.p_14_" + bucket, bucket=bucket)
            if (inv.currency != "PLN" and bucket in ("1", "2", "3", "4") and vat_pln is None
                    and inv.kind not in ("ZAL", "KOR_ZAL")):
                add(_("Totals: the invoice is in %(currency)s, so the VAT of the %(rate)s "
                      "(P_14_%(bucket)s) must also be given in PLN (P_14_%(bucket)sW)."),
                    "totals", "totals.p_14_%sw" % bucket, currency=inv.currency,
                    rate=codes.BUCKET_LABELS[bucket], bucket=bucket)
        rates = {line.exchange_rate for line in inv.lines if line.exchange_rate is not None}
        if inv.currency != "PLN" and len(rates) == 1:
            exchange_rate = rates.pop()
            for bucket, (_net, vat, vat_pln) in buckets.items():
                if vat is None or vat_pln is None:
                    continue
                expected = vat_in_pln(vat, exchange_rate)
                if vat_pln != expected:
                    add(_("Totals: the VAT in PLN of the %(rate)s (P_14_%(bucket)sW) is %(given)s, "
                          "but the VAT %(vat)s %(currency)s at the exchange rate %(exchange)s is "
                          "%(expected)s PLN (VAT act art. 106e ust. 11)."), "totals",
                        "totals.p_14_%sw" % bucket, rate=codes.BUCKET_LABELS[bucket],
                        bucket=bucket, given=vat_pln, vat=vat, currency=inv.currency,
                        exchange=exchange_rate, expected=expected)
        if totals.p_15 is not None and buckets and inv.kind in ("VAT", "KOR", "UPR"):
            expected = sum((net + (vat or _ZERO) for net, vat, _w in buckets.values()), _ZERO)
            # one grosz allowed: in the ministry's own sample FA_3_Przyklad_1 (gross prices)
            # P_15 is the sum of the gross values, 0.01 above P_13_x + P_14_x
            if abs(expected - totals.p_15) > CENT:
                add(_("Totals: the total amount due P_15 = %(total)s, but the net and VAT totals "
                      "add up to %(expected)s."), "totals", "totals.p_15", total=totals.p_15,
                    expected=expected)
        if inv.lines and inv.kind in ("VAT", "KOR", "UPR") and not any(
                p.code == "float" for p in problems):
            problems.extend(_compare_with_lines(inv, totals, tolerance))
    return problems


#: total field prefix -> (total missing, total differs from the lines)
_TOTAL_MESSAGES = {
    "p_13_": (
        _("Totals: lines have the %(rate)s but the net total %(field)s is missing (expected "
          "%(expected)s)."),
        _("Totals: the net total of the %(rate)s (%(field)s) is %(given)s, but the lines add up "
          "to %(expected)s."),
    ),
    "p_14_": (
        _("Totals: lines have the %(rate)s but the VAT total %(field)s is missing (expected "
          "%(expected)s)."),
        _("Totals: the VAT total of the %(rate)s (%(field)s) is %(given)s, but the lines add up "
          "to %(expected)s."),
    ),
}


def _compare_with_lines(inv, totals, tolerance):
    problems = []
    computed = compute_totals(inv)
    counts = {}
    priced = [line for line in inv.lines
              if line.net_amount is not None or line.gross_amount is not None]
    if not priced:
        return problems   # lines without amounts (UPR, rebate corrections): nothing to compare
    for line in priced:
        bucket = _line_bucket(line, bool(inv.annotations.margin))
        if bucket is None:
            if line.vat_rate is None:
                problems.append(Problem(
                    _("Line %(line)s: the VAT rate (P_12) is missing."),
                    params={"line": line.number or inv.lines.index(line) + 1},
                    code="rate", path="lines"))
            continue
        counts[bucket] = counts.get(bucket, 0) + 1
    net_priced = {}
    for line in priced:
        bucket = _line_bucket(line, bool(inv.annotations.margin))
        net_priced[bucket] = net_priced.get(bucket, True) and line.net_amount is not None
    for bucket, n in counts.items():
        allowed = tolerance if tolerance is not None else CENT * max(1, n)
        for prefix, (missing_msg, differs_msg) in _TOTAL_MESSAGES.items():
            if prefix == "p_14_" and bucket not in codes.VAT_BUCKETS:
                continue
            # the net total of lines that give their net value is their exact sum; only the VAT
            # (per-line or per-total rounding) and nets derived from gross values may differ
            limit = _ZERO if prefix == "p_13_" and net_priced.get(bucket) else allowed
            given = getattr(totals, prefix + bucket)
            expected = getattr(computed, prefix + bucket)
            if given is None:
                problems.append(Problem(
                    missing_msg, params={"rate": codes.BUCKET_LABELS[bucket],
                                         "field": prefix.upper() + bucket, "expected": expected},
                    code="totals", path="totals." + prefix + bucket))
            elif expected is not None and abs(given - expected) > limit:
                problems.append(Problem(
                    differs_msg, params={"rate": codes.BUCKET_LABELS[bucket],
                                         "field": prefix.upper() + bucket, "given": given,
                                         "expected": expected},
                    code="totals", path="totals." + prefix + bucket))
    for bucket in totals.by_bucket():
        if bucket not in counts:
            problems.append(Problem(
                _("Totals: %(field)s is set but no line has the %(rate)s."),
                params={"field": "P_13_" + bucket, "rate": codes.BUCKET_LABELS[bucket]},
                code="totals", path="totals.p_13_" + bucket))
    return problems
