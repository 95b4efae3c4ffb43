"""Plain data classes of an FA(3) invoice (no XML, no Odoo).

Every amount is a ``decimal.Decimal`` (never float; the builder refuses floats).
Dates are ``datetime.date``; ``Invoice.created_at`` (``DataWytworzeniaFa``) is a
``datetime`` the caller supplies (the builder never reads the clock).
The FA(3) element that each attribute becomes is given in the comments.

Minimal example (a domestic 23% invoice)::

    from decimal import Decimal as D
    from datetime import date, datetime, timezone
    from ksef.fa3 import (Invoice, Seller, Buyer, Address, InvoiceLine, Payment,
                          compute_totals, build_invoice_xml)

    inv = Invoice(
        number="FV/1/2026", issue_date=date(2026, 2, 1), sale_date=date(2026, 2, 1),
        created_at=datetime(2026, 2, 1, 10, 0, tzinfo=timezone.utc),
        seller=Seller(nip="5265877635", name="ACME sp. z o.o.",
                      address=Address("PL", "ul. Prosta 1", "00-001 Warszawa")),
        buyer=Buyer(nip="1111111111", name="Kowalski"),
        lines=[InvoiceLine(name="Widget", unit="szt.", quantity=D("2"),
                           unit_price_net=D("10.00"), net_amount=D("20.00"), vat_rate="23")],
    )
    inv.totals = compute_totals(inv)      # or set Totals(...) yourself (e.g. Odoo's tax amounts)
    xml_bytes = build_invoice_xml(inv)    # validated against the FA(3) XSD

Buyer identification (``Podmiot2/DaneIdentyfikacyjne``), exactly one of:
``nip`` (Polish NIP) | ``eu_code`` + ``eu_vat`` (EU VAT number without the country
prefix) | ``foreign_id`` (+ optional ``foreign_country``) | ``no_id=True``
(consumer without NIP). ``Buyer.consumer(name)``, ``Buyer.eu(code, number, name)``,
``Buyer.foreign(country, tax_id, name)`` are shortcuts.

Totals: ``Invoice.totals`` is a ``Totals`` whose attributes are named like the
FA(3) fields (``p_13_1``, ``p_14_1``, ``p_14_1w`` ... ``p_13_11``, ``p_15``). When it
is None the builder computes it from the lines (``ksef.fa3.compute_totals``).

Elements this model does not break down are kept as raw XML (``RawXml``) on the
object that owns them, so nothing read by the parser is silently lost:
``Invoice.authorized_party_xml`` (PodmiotUpowazniony), ``Annotations.new_transport_xml``
(NoweSrodkiTransportu with P_22), ``Correction.seller_before_xml`` / ``buyer_before_xml``
(Podmiot1K / Podmiot2K), ``TransactionTerms.transport_xml`` (Transport),
``Invoice.attachment_xml`` (Zalacznik), and ``Invoice.unknown_xml`` (elements the
parser did not recognise at all; normally empty).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass
class RawXml:
    """An XML fragment kept verbatim (serialized element, FA(3) namespace).

    ``xml`` is the element's bytes (``lxml.etree.tostring``); ``name`` its local name.
    The builder re-inserts it unchanged at its place in the schema order.
    """

    name: str
    xml: bytes


@dataclass
class Address:
    """``Adres`` / ``AdresKoresp``: KodKraju, AdresL1, AdresL2, GLN."""

    country: str = "PL"          # KodKraju
    line1: str = ""              # AdresL1 (street, number)
    line2: str | None = None     # AdresL2 (postcode, city)
    gln: str | None = None       # GLN


@dataclass
class Contact:
    """``DaneKontaktowe`` (at most 3 per party)."""

    email: str | None = None     # Email (EmailPU for the authorised party)
    phone: str | None = None     # Telefon (max 16 characters)


@dataclass
class Party:
    """Fields shared by seller, buyer and third parties."""

    name: str | None = None                      # DaneIdentyfikacyjne/Nazwa
    nip: str | None = None                       # DaneIdentyfikacyjne/NIP
    address: Address | None = None               # Adres
    correspondence_address: Address | None = None  # AdresKoresp
    contacts: list = field(default_factory=list)   # DaneKontaktowe[] (Contact)
    eori: str | None = None                      # NrEORI


@dataclass
class Seller(Party):
    """``Podmiot1``: the seller (a Polish NIP is mandatory)."""

    vat_prefix: str | None = None        # PrefiksPodatnika ("PL") for intra-EU cases
    taxpayer_status: int | None = None   # StatusInfoPodatnika 1..4


@dataclass
class Buyer(Party):
    """``Podmiot2``: the buyer. Identification: nip | eu_code+eu_vat | foreign_id | no_id."""

    eu_code: str | None = None           # KodUE (e.g. "DE")
    eu_vat: str | None = None            # NrVatUE (number without the country prefix)
    foreign_country: str | None = None   # KodKraju inside DaneIdentyfikacyjne
    foreign_id: str | None = None        # NrID
    no_id: bool = False                  # BrakID=1 (consumer / no tax id)
    customer_number: str | None = None   # NrKlienta
    buyer_id: str | None = None          # IDNabywcy
    jst: bool = False                    # JST: 1 when a local-government sub-unit is concerned, else 2
    gv: bool = False                     # GV: 1 when a VAT-group member is concerned, else 2

    @classmethod
    def consumer(cls, name=None, **kw):
        """A buyer without a tax id (BrakID=1)."""
        return cls(name=name, no_id=True, **kw)

    @classmethod
    def eu(cls, country_code, vat_number, name=None, **kw):
        """An EU VAT-registered buyer; a leading country prefix in ``vat_number`` is removed."""
        number = str(vat_number).replace(" ", "").upper()
        if number.startswith(country_code.upper()):
            number = number[len(country_code):]
        return cls(name=name, eu_code=country_code.upper(), eu_vat=number, **kw)

    @classmethod
    def foreign(cls, country_code, tax_id, name=None, **kw):
        """A non-EU buyer identified by its own tax id (NrID)."""
        return cls(name=name, foreign_country=country_code, foreign_id=tax_id, **kw)


@dataclass
class ThirdParty(Buyer):
    """``Podmiot3``: factor, recipient, payer, additional buyer, JST/VAT-group unit, ...

    ``role`` is the code 1..11 (see ``codes.THIRD_PARTY_ROLES``) or None with
    ``other_role`` (RolaInna=1 + OpisRoli). ``share`` is Udzial (% for role 4).
    ``internal_id`` is IDWew (NIP-nnnnn). ``jst``/``gv`` are not used here.
    """

    internal_id: str | None = None       # IDWew
    role: int | None = None              # Rola
    other_role: str | None = None        # RolaInna=1 + OpisRoli
    share: Decimal | None = None         # Udzial


@dataclass
class InvoiceLine:
    """``FaWiersz``: one invoice line. Give net prices (P_9A/P_11) or gross (P_9B/P_11A)."""

    name: str | None = None                  # P_7
    quantity: Decimal | None = None          # P_8B
    unit: str | None = None                  # P_8A
    unit_price_net: Decimal | None = None    # P_9A
    unit_price_gross: Decimal | None = None  # P_9B
    discount: Decimal | None = None          # P_10 (amount)
    net_amount: Decimal | None = None        # P_11
    gross_amount: Decimal | None = None      # P_11A
    vat_amount: Decimal | None = None        # P_11Vat
    vat_rate: str | None = None              # P_12: "23", "8", "0 KR", "zw", "oo", "np I", ...
    oss_rate: Decimal | None = None          # P_12_XII (OSS procedure rate)
    annex15: bool = False                    # P_12_Zal_15
    excise_amount: Decimal | None = None     # KwotaAkcyzy
    gtu: str | None = None                   # GTU ("GTU_01".."GTU_13")
    procedure: str | None = None             # Procedura
    exchange_rate: Decimal | None = None     # KursWaluty
    before_correction: bool = False          # StanPrzed=1 (line shows the state before a correction)
    number: int | None = None                # NrWierszaFa (default: position, 1-based)
    uuid: str | None = None                  # UU_ID
    date: date | None = None                 # P_6A (line delivery date)
    index: str | None = None                 # Indeks (internal product code)
    gtin: str | None = None                  # GTIN
    pkwiu: str | None = None                 # PKWiU
    cn: str | None = None                    # CN
    pkob: str | None = None                  # PKOB


@dataclass
class Totals:
    """Tax totals of ``Fa``: net ``p_13_x``, VAT ``p_14_x``, VAT in PLN ``p_14_xw``, ``p_15``.

    Only groups that are not None are written. ``by_bucket()`` gives a compact view.
    """

    p_13_1: Decimal | None = None
    p_14_1: Decimal | None = None
    p_14_1w: Decimal | None = None
    p_13_2: Decimal | None = None
    p_14_2: Decimal | None = None
    p_14_2w: Decimal | None = None
    p_13_3: Decimal | None = None
    p_14_3: Decimal | None = None
    p_14_3w: Decimal | None = None
    p_13_4: Decimal | None = None
    p_14_4: Decimal | None = None
    p_14_4w: Decimal | None = None
    p_13_5: Decimal | None = None
    p_14_5: Decimal | None = None
    p_13_6_1: Decimal | None = None
    p_13_6_2: Decimal | None = None
    p_13_6_3: Decimal | None = None
    p_13_7: Decimal | None = None
    p_13_8: Decimal | None = None
    p_13_9: Decimal | None = None
    p_13_10: Decimal | None = None
    p_13_11: Decimal | None = None
    p_15: Decimal | None = None

    def by_bucket(self):
        """{bucket: (net, vat, vat_pln)} for the buckets that are set."""
        out = {}
        for bucket in ("1", "2", "3", "4", "5", "6_1", "6_2", "6_3", "7", "8", "9", "10", "11"):
            net = getattr(self, "p_13_" + bucket)
            if net is not None:
                out[bucket] = (net, getattr(self, "p_14_" + bucket, None),
                               getattr(self, "p_14_%sw" % bucket, None))
        return out


@dataclass
class Annotations:
    """``Adnotacje`` with the defaults of an ordinary invoice (every flag "no").

    ``exemption`` set -> Zwolnienie/P_19=1 + the text in P_19A (``exemption_basis="A"``,
    Polish act), P_19B ("B", EU directive) or P_19C ("C", other); otherwise P_19N=1.
    ``margin`` None -> P_PMarzyN=1, else one of "2" (travel agencies), "3_1" (second-hand
    goods), "3_2" (works of art), "3_3" (collectibles and antiques).
    """

    cash_accounting: bool = False        # P_16
    self_billing: bool = False           # P_17
    reverse_charge: bool = False         # P_18
    split_payment: bool = False          # P_18A (MPP)
    exemption: str | None = None         # P_19 + P_19A/B/C text
    exemption_basis: str = "A"           # "A" | "B" | "C"
    new_transport_xml: RawXml | None = None  # NoweSrodkiTransportu with P_22 (else P_22N=1)
    simplified_triangular: bool = False  # P_23
    margin: str | None = None            # PMarzy: "2" | "3_1" | "3_2" | "3_3"


@dataclass
class CorrectedInvoice:
    """``DaneFaKorygowanej``: the invoice being corrected.

    ``ksef_number`` given -> NrKSeF=1 + NrKSeFFaKorygowanej; None -> NrKSeFN=1
    (the corrected invoice was issued outside KSeF).
    """

    issue_date: date                 # DataWystFaKorygowanej
    number: str                      # NrFaKorygowanej
    ksef_number: str | None = None   # NrKSeFFaKorygowanej


@dataclass
class Correction:
    """The correction block of a KOR / KOR_ZAL / KOR_ROZ invoice."""

    invoices: list = field(default_factory=list)   # DaneFaKorygowanej[] (CorrectedInvoice)
    reason: str | None = None                      # PrzyczynaKorekty
    type: int | None = None                        # TypKorekty 1|2|3
    period: str | None = None                      # OkresFaKorygowanej
    corrected_number: str | None = None            # NrFaKorygowany
    seller_before_xml: RawXml | None = None        # Podmiot1K
    buyer_before_xml: list = field(default_factory=list)  # Podmiot2K[] (RawXml)
    amount_before: Decimal | None = None           # P_15ZK
    exchange_rate_before: Decimal | None = None    # KursWalutyZK


@dataclass
class PartialAdvance:
    """``ZaliczkaCzesciowa``: one partial advance payment received."""

    date: date                                 # P_6Z
    amount: Decimal                            # P_15Z
    exchange_rate: Decimal | None = None       # KursWalutyZW


@dataclass
class AdditionalInfo:
    """``DodatkowyOpis``: a free key/value pair (optionally tied to a line number)."""

    key: str                       # Klucz
    value: str                     # Wartosc
    line_number: int | None = None  # NrWiersza


@dataclass
class AdvanceInvoiceRef:
    """``FakturaZaliczkowa``: an advance invoice settled by a ROZ invoice.

    ``ksef_number`` given -> NrKSeFFaZaliczkowej; otherwise NrKSeFZN=1 + ``number``.
    """

    ksef_number: str | None = None   # NrKSeFFaZaliczkowej
    number: str | None = None        # NrFaZaliczkowej


@dataclass
class SettlementItem:
    """``Obciazenia`` / ``Odliczenia``: an amount and its reason."""

    amount: Decimal   # Kwota
    reason: str       # Powod


@dataclass
class Settlement:
    """``Rozliczenie``: charges and deductions, then DoZaplaty or DoRozliczenia."""

    charges: list = field(default_factory=list)      # Obciazenia[]
    charges_total: Decimal | None = None             # SumaObciazen
    deductions: list = field(default_factory=list)   # Odliczenia[]
    deductions_total: Decimal | None = None          # SumaOdliczen
    to_pay: Decimal | None = None                    # DoZaplaty
    to_settle: Decimal | None = None                 # DoRozliczenia


@dataclass
class PartialPayment:
    """``ZaplataCzesciowa``."""

    amount: Decimal                    # KwotaZaplatyCzesciowej
    date: date                         # DataZaplatyCzesciowej
    form: int | None = None            # FormaPlatnosci 1..7
    other_form: str | None = None      # PlatnoscInna=1 + OpisPlatnosci


@dataclass
class PaymentTerm:
    """``TerminPlatnosci``: a due date, or a described term (e.g. 14 days from delivery)."""

    due_date: date | None = None        # Termin
    amount: int | None = None           # TerminOpis/Ilosc
    unit: str | None = None             # TerminOpis/Jednostka ("dni")
    start_event: str | None = None      # TerminOpis/ZdarzeniePoczatkowe


@dataclass
class BankAccount:
    """``RachunekBankowy`` / ``RachunekBankowyFaktora``."""

    number: str                          # NrRB (10-34 characters, IBAN or NRB)
    swift: str | None = None             # SWIFT
    bank_own_account: int | None = None  # RachunekWlasnyBanku 1|2|3
    bank_name: str | None = None         # NazwaBanku
    description: str | None = None       # OpisRachunku


@dataclass
class Payment:
    """``Platnosc``.

    ``paid=True`` + ``paid_date`` -> Zaplacono=1/DataZaplaty; or ``partial_payments``
    (with ``partial_flag`` 1 = partially paid, 2 = fully paid in parts).
    """

    paid: bool = False                               # Zaplacono
    paid_date: date | None = None                    # DataZaplaty
    partial_flag: int | None = None                  # ZnacznikZaplatyCzesciowej 1|2
    partial_payments: list = field(default_factory=list)  # ZaplataCzesciowa[]
    terms: list = field(default_factory=list)        # TerminPlatnosci[] (PaymentTerm)
    form: int | None = None                          # FormaPlatnosci 1..7 (6 = transfer)
    other_form: str | None = None                    # PlatnoscInna=1 + OpisPlatnosci
    bank_accounts: list = field(default_factory=list)         # RachunekBankowy[]
    factor_bank_accounts: list = field(default_factory=list)  # RachunekBankowyFaktora[]
    discount_terms: str | None = None                # Skonto/WarunkiSkonta
    discount_amount: str | None = None               # Skonto/WysokoscSkonta
    link: str | None = None                          # LinkDoPlatnosci
    ipksef: str | None = None                        # IPKSeF


@dataclass
class DocumentRef:
    """``Umowy`` / ``Zamowienia`` entry: a contract or an order (date and/or number)."""

    date: date | None = None
    number: str | None = None


@dataclass
class TransactionTerms:
    """``WarunkiTransakcji``."""

    contracts: list = field(default_factory=list)      # Umowy[] (DocumentRef)
    orders: list = field(default_factory=list)         # Zamowienia[] (DocumentRef)
    batch_numbers: list = field(default_factory=list)  # NrPartiiTowaru[]
    delivery_terms: str | None = None                  # WarunkiDostawy (e.g. Incoterms)
    contract_rate: Decimal | None = None               # KursUmowny
    contract_currency: str | None = None               # WalutaUmowna
    transport_xml: list = field(default_factory=list)  # Transport[] (RawXml)
    intermediary: bool = False                         # PodmiotPosredniczacy


@dataclass
class OrderLine:
    """``ZamowienieWiersz``: a line of the order an advance invoice (ZAL) is paid for."""

    name: str | None = None                # P_7Z
    quantity: Decimal | None = None        # P_8BZ
    unit: str | None = None                # P_8AZ
    unit_price_net: Decimal | None = None  # P_9AZ
    net_amount: Decimal | None = None      # P_11NettoZ
    vat_amount: Decimal | None = None      # P_11VatZ
    vat_rate: str | None = None            # P_12Z
    oss_rate: Decimal | None = None        # P_12Z_XII
    annex15: bool = False                  # P_12Z_Zal_15
    gtu: str | None = None                 # GTUZ
    procedure: str | None = None           # ProceduraZ
    excise_amount: Decimal | None = None   # KwotaAkcyzyZ
    before_correction: bool = False        # StanPrzedZ
    number: int | None = None              # NrWierszaZam (default: position)
    uuid: str | None = None                # UU_IDZ
    index: str | None = None               # IndeksZ
    gtin: str | None = None                # GTINZ
    pkwiu: str | None = None               # PKWiUZ
    cn: str | None = None                  # CNZ
    pkob: str | None = None                # PKOBZ


@dataclass
class Order:
    """``Zamowienie``: order value (gross) and lines, for advance invoices."""

    total: Decimal                                # WartoscZamowienia
    lines: list = field(default_factory=list)     # ZamowienieWiersz[] (OrderLine)


@dataclass
class Registry:
    """``Stopka/Rejestry``."""

    full_name: str | None = None   # PelnaNazwa
    krs: str | None = None         # KRS (10 digits)
    regon: str | None = None       # REGON (9 or 14 digits)
    bdo: str | None = None         # BDO


@dataclass
class Footer:
    """``Stopka``: up to 3 texts (Informacje/StopkaFaktury) and registers."""

    texts: list = field(default_factory=list)       # Informacje/StopkaFaktury
    registries: list = field(default_factory=list)  # Rejestry[] (Registry)


@dataclass
class Invoice:
    """An FA(3) invoice (root ``Faktura``); see the module docstring for an example."""

    number: str                                   # Fa/P_2
    issue_date: date                              # Fa/P_1
    seller: Seller                                # Podmiot1
    buyer: Buyer                                  # Podmiot2
    created_at: datetime | str | None = None      # Naglowek/DataWytworzeniaFa (required; str kept as is)
    system_info: str | None = None                # Naglowek/SystemInfo
    kind: str = "VAT"                             # Fa/RodzajFaktury
    currency: str = "PLN"                         # Fa/KodWaluty
    place_of_issue: str | None = None             # Fa/P_1M
    delivery_notes: list = field(default_factory=list)  # Fa/WZ[]
    sale_date: date | None = None                 # Fa/P_6
    period_from: date | None = None               # Fa/OkresFa/P_6_Od
    period_to: date | None = None                 # Fa/OkresFa/P_6_Do
    lines: list = field(default_factory=list)     # Fa/FaWiersz[] (InvoiceLine)
    totals: Totals | None = None                  # P_13_x/P_14_x/P_15 (None: computed)
    advance_exchange_rate: Decimal | None = None  # Fa/KursWalutyZ
    annotations: Annotations = field(default_factory=Annotations)  # Fa/Adnotacje
    correction: Correction | None = None          # correction block (KOR*)
    partial_advances: list = field(default_factory=list)  # Fa/ZaliczkaCzesciowa[]
    receipt_invoice: bool = False                 # Fa/FP (invoice to a till receipt)
    related_parties: bool = False                 # Fa/TP
    additional_info: list = field(default_factory=list)   # Fa/DodatkowyOpis[]
    advance_invoices: list = field(default_factory=list)  # Fa/FakturaZaliczkowa[]
    excise_refund: bool = False                   # Fa/ZwrotAkcyzy
    settlement: Settlement | None = None          # Fa/Rozliczenie
    payment: Payment | None = None                # Fa/Platnosc
    transaction_terms: TransactionTerms | None = None  # Fa/WarunkiTransakcji
    order: Order | None = None                    # Fa/Zamowienie
    third_parties: list = field(default_factory=list)  # Podmiot3[] (ThirdParty)
    authorized_party_xml: RawXml | None = None    # PodmiotUpowazniony (raw)
    footer: Footer | None = None                  # Stopka
    attachment_xml: RawXml | None = None          # Zalacznik (raw)
    unknown_xml: list = field(default_factory=list)  # unrecognised elements found by the parser

    @property
    def is_correction(self):
        return self.kind in ("KOR", "KOR_ZAL", "KOR_ROZ")
