"""FA(3) constants: namespace, code lists, VAT-rate buckets and element labels.

Public names
------------
``NS`` / ``NSMAP``         FA(3) target namespace ``http://crd.gov.pl/wzor/2025/06/25/13775/``.
``VAT_RATES``              every ``P_12`` value KSeF accepts:
                           ``23 22 8 7 5 4 3 0 KR 0 WDT 0 EX zw oo np I np II``.
``RATE_BUCKET``            ``P_12`` value -> totals bucket (``"1"``, ``"2"`` ... ``"6_1"`` ... ``"10"``),
                           i.e. which ``P_13_x``/``P_14_x`` pair the line's amounts belong to.
``RATE_PERCENT``           ``P_12`` value -> Decimal percentage (0 for 0 KR / zw / oo / np ...).
``PERCENT_CODES``          ``P_12`` values that are a percentage -> int (``{"23": 23, ...}``).
``BUCKET_CODE``            totals bucket -> a representative ``P_12`` value (``{"1": "23", ...}``).
``VAT_RATE_LABELS``, ``VAT_CODE_SELECTION``: English labels of the ``P_12`` values.
``INVOICE_KINDS``          ``RodzajFaktury`` values (VAT, KOR, ZAL, ROZ, UPR, KOR_ZAL, KOR_ROZ).
``CORRECTION_KINDS``       the three correction kinds.
``GTU_CODES``, ``PROCEDURES``, ``PAYMENT_FORMS``, ``THIRD_PARTY_ROLES``: code lists with labels.
``LABELS``                 element name -> (English label, Polish label); used to explain XSD errors.
``label(name)``            "English (Polish, NAME)" text for an element name.
"""
from decimal import Decimal

from ..i18n import _

NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"
ETD_NS = "http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/DefinicjeTypy/"
NSMAP = {None: NS}
FORM_CODE = "FA"
SYSTEM_CODE = "FA (3)"
SCHEMA_VERSION = "1-0E"
FORM_VARIANT = "3"

#: KSeF size limits (bytes) of one invoice file
MAX_INVOICE_BYTES = 1_000_000
MAX_INVOICE_BYTES_WITH_ATTACHMENT = 3_000_000

VAT_RATES = ("23", "22", "8", "7", "5", "4", "3", "0 KR", "0 WDT", "0 EX", "zw", "oo", "np I", "np II")

RATE_BUCKET = {
    "23": "1", "22": "1",
    "8": "2", "7": "2",
    "5": "3",
    "4": "4", "3": "4",
    "0 KR": "6_1", "0 WDT": "6_2", "0 EX": "6_3",
    "zw": "7", "np I": "8", "np II": "9", "oo": "10",
}

#: buckets that carry VAT (P_14_x); the others only have a net amount P_13_x
VAT_BUCKETS = ("1", "2", "3", "4", "5")
NET_ONLY_BUCKETS = ("6_1", "6_2", "6_3", "7", "8", "9", "10", "11")
ALL_BUCKETS = VAT_BUCKETS + NET_ONLY_BUCKETS

RATE_PERCENT = {k: Decimal(k) if k.isdigit() else Decimal(0) for k in VAT_RATES}

#: P_12 codes that are a percentage -> that percentage (the rates a tax can be found by)
PERCENT_CODES = {k: int(RATE_PERCENT[k]) for k in VAT_RATES if k.isdigit()}

#: totals bucket -> a representative P_12 code (the bucket's first rate), for an invoice known
#: only by its totals
BUCKET_CODE = {}
for _code in VAT_RATES:
    BUCKET_CODE.setdefault(RATE_BUCKET[_code], _code)
del _code

#: P_12 code -> English label (the Odoo layer's selection of a tax's KSeF VAT code)
VAT_RATE_LABELS = {
    "23": "23%", "22": "22%", "8": "8%", "7": "7%", "5": "5%",
    "4": "4% (taxi flat rate)", "3": "3% (taxi flat rate)",
    "0 KR": "0% domestic (0 KR)", "0 WDT": "0% intra-EU supply of goods (0 WDT)",
    "0 EX": "0% export of goods (0 EX)", "zw": "Exempt (zw)",
    "oo": "Domestic reverse charge (oo)",
    "np I": "Outside Poland (np I)", "np II": "EU services, art. 100 (np II)",
}
#: [(P_12 code, label)] in the order of VAT_RATES (an Odoo Selection)
VAT_CODE_SELECTION = [(k, VAT_RATE_LABELS[k]) for k in VAT_RATES]

BUCKET_LABELS = {
    "1": _("basic rate 23%/22%"), "2": _("reduced rate 8%/7%"), "3": _("reduced rate 5%"),
    "4": _("taxi flat rate 4%/3%"), "5": _("OSS special procedure"), "6_1": _("0% domestic (0 KR)"),
    "6_2": _("0% intra-EU supply (0 WDT)"), "6_3": _("0% export (0 EX)"), "7": _("exempt (zw)"),
    "8": _("outside Poland (np I)"), "9": _("EU services art. 100 (np II)"),
    "10": _("reverse charge (oo)"), "11": _("margin scheme"),
}

INVOICE_KINDS = ("VAT", "KOR", "ZAL", "ROZ", "UPR", "KOR_ZAL", "KOR_ROZ")
CORRECTION_KINDS = ("KOR", "KOR_ZAL", "KOR_ROZ")

GTU_CODES = tuple("GTU_%02d" % i for i in range(1, 14))
PROCEDURES = ("WSTO_EE", "IED", "TT_D", "I_42", "I_63", "B_SPV", "B_SPV_DOSTAWA", "B_MPV_PROWIZJA")

PAYMENT_FORMS = {1: "cash (gotówka)", 2: "card (karta)", 3: "voucher (bon)", 4: "cheque (czek)",
                 5: "credit (kredyt)", 6: "bank transfer (przelew)", 7: "mobile (mobilna)"}

THIRD_PARTY_ROLES = {
    1: "factor", 2: "recipient", 3: "original entity", 4: "additional buyer",
    5: "issuer on behalf of the seller", 6: "payer", 7: "local government unit (JST) - issuer",
    8: "local government unit (JST) - recipient", 9: "VAT group member - issuer",
    10: "VAT group member - recipient", 11: "employee",
}

#: element name -> (English, Polish)
LABELS = {
    "Faktura": ("invoice", "faktura"),
    "Naglowek": ("header", "nagłówek"),
    "KodFormularza": ("form code", "kod formularza"),
    "WariantFormularza": ("form variant", "wariant formularza"),
    "DataWytworzeniaFa": ("creation date and time", "data wytworzenia faktury"),
    "SystemInfo": ("issuing system name", "nazwa systemu"),
    "Podmiot1": ("Seller", "Sprzedawca"),
    "Podmiot2": ("Buyer", "Nabywca"),
    "Podmiot3": ("Third party", "Podmiot trzeci"),
    "PodmiotUpowazniony": ("Authorised party", "Podmiot upoważniony"),
    "Podmiot1K": ("Seller before correction", "Sprzedawca przed korektą"),
    "Podmiot2K": ("Buyer before correction", "Nabywca przed korektą"),
    "DaneIdentyfikacyjne": ("identification data", "dane identyfikacyjne"),
    "PrefiksPodatnika": ("VAT prefix", "prefiks podatnika"),
    "NrEORI": ("EORI number", "numer EORI"),
    "NIP": ("NIP (Polish tax id, 10 digits)", "NIP"),
    "IDWew": ("internal id (NIP-5 digits)", "identyfikator wewnętrzny"),
    "KodUE": ("EU country code", "kod kraju UE"),
    "NrVatUE": ("EU VAT number (without country prefix)", "numer VAT UE"),
    "KodKraju": ("country code", "kod kraju"),
    "NrID": ("foreign tax id", "numer identyfikacyjny"),
    "BrakID": ("no tax id", "brak identyfikatora"),
    "Nazwa": ("name", "nazwa"),
    "Adres": ("address", "adres"),
    "AdresKoresp": ("correspondence address", "adres korespondencyjny"),
    "AdresL1": ("address line 1", "adres linia 1"),
    "AdresL2": ("address line 2", "adres linia 2"),
    "GLN": ("GLN", "GLN"),
    "DaneKontaktowe": ("contact data", "dane kontaktowe"),
    "Email": ("e-mail", "e-mail"),
    "Telefon": ("phone number (max 16 characters)", "telefon"),
    "StatusInfoPodatnika": ("taxpayer status", "status podatnika"),
    "NrKlienta": ("customer number", "numer klienta"),
    "IDNabywcy": ("buyer id", "identyfikator nabywcy"),
    "JST": ("local government unit flag (JST)", "znacznik JST"),
    "GV": ("VAT group flag (GV)", "znacznik grupy VAT"),
    "Rola": ("role", "rola"),
    "RolaInna": ("other role", "inna rola"),
    "OpisRoli": ("role description", "opis roli"),
    "Udzial": ("share %", "udział"),
    "Fa": ("invoice data", "dane faktury"),
    "KodWaluty": ("currency", "waluta"),
    "P_1": ("issue date", "data wystawienia"),
    "P_1M": ("place of issue", "miejsce wystawienia"),
    "P_2": ("invoice number", "numer faktury"),
    "WZ": ("delivery note number", "numer WZ"),
    "P_6": ("delivery/sale date", "data dostawy/wykonania usługi"),
    "OkresFa": ("invoicing period", "okres"),
    "P_6_Od": ("period start", "początek okresu"),
    "P_6_Do": ("period end", "koniec okresu"),
    "P_13_1": ("net total at 23%/22%", "suma netto 23%/22%"),
    "P_14_1": ("VAT total at 23%/22%", "suma VAT 23%/22%"),
    "P_14_1W": ("VAT at 23%/22% in PLN", "VAT 23%/22% w PLN"),
    "P_13_2": ("net total at 8%/7%", "suma netto 8%/7%"),
    "P_14_2": ("VAT total at 8%/7%", "suma VAT 8%/7%"),
    "P_14_2W": ("VAT at 8%/7% in PLN", "VAT 8%/7% w PLN"),
    "P_13_3": ("net total at 5%", "suma netto 5%"),
    "P_14_3": ("VAT total at 5%", "suma VAT 5%"),
    "P_14_3W": ("VAT at 5% in PLN", "VAT 5% w PLN"),
    "P_13_4": ("net total at taxi flat rate", "suma netto ryczałt taxi"),
    "P_14_4": ("VAT total at taxi flat rate", "VAT ryczałt taxi"),
    "P_14_4W": ("VAT taxi flat rate in PLN", "VAT ryczałt taxi w PLN"),
    "P_13_5": ("net total under the OSS procedure", "suma netto procedura OSS"),
    "P_14_5": ("VAT under the OSS procedure", "VAT procedura OSS"),
    "P_13_6_1": ("net total at 0% (domestic)", "suma 0% kraj"),
    "P_13_6_2": ("net total at 0% (intra-EU supply)", "suma 0% WDT"),
    "P_13_6_3": ("net total at 0% (export)", "suma 0% eksport"),
    "P_13_7": ("exempt total", "suma zwolniona"),
    "P_13_8": ("total outside Poland (np I)", "suma np I"),
    "P_13_9": ("total of EU services (np II)", "suma np II"),
    "P_13_10": ("reverse-charge total (oo)", "suma odwrotne obciążenie"),
    "P_13_11": ("margin-scheme total", "suma marża"),
    "P_15": ("total amount due (gross)", "kwota należności ogółem"),
    "KursWalutyZ": ("exchange rate of the advance", "kurs waluty zaliczki"),
    "Adnotacje": ("annotations", "adnotacje"),
    "P_16": ("cash accounting flag", "metoda kasowa"),
    "P_17": ("self-billing flag", "samofakturowanie"),
    "P_18": ("reverse charge flag", "odwrotne obciążenie"),
    "P_18A": ("split payment flag", "mechanizm podzielonej płatności"),
    "Zwolnienie": ("VAT exemption", "zwolnienie"),
    "P_19": ("exemption flag", "znacznik zwolnienia"),
    "P_19A": ("exemption basis (Polish law)", "podstawa zwolnienia - ustawa"),
    "P_19B": ("exemption basis (EU directive)", "podstawa zwolnienia - dyrektywa"),
    "P_19C": ("exemption basis (other)", "inna podstawa zwolnienia"),
    "P_19N": ("no exemption flag", "brak zwolnienia"),
    "NoweSrodkiTransportu": ("new means of transport", "nowe środki transportu"),
    "P_22N": ("no new means of transport", "brak nowych środków transportu"),
    "P_23": ("simplified triangular procedure", "procedura uproszczona"),
    "PMarzy": ("margin scheme", "procedura marży"),
    "P_PMarzyN": ("no margin scheme", "brak procedury marży"),
    "RodzajFaktury": ("invoice type", "rodzaj faktury"),
    "PrzyczynaKorekty": ("correction reason", "przyczyna korekty"),
    "TypKorekty": ("correction type", "typ korekty"),
    "DaneFaKorygowanej": ("corrected invoice", "dane faktury korygowanej"),
    "DataWystFaKorygowanej": ("corrected invoice's issue date", "data wystawienia faktury korygowanej"),
    "NrFaKorygowanej": ("corrected invoice's number", "numer faktury korygowanej"),
    "NrKSeF": ("corrected invoice is in KSeF flag", "znacznik NrKSeF"),
    "NrKSeFFaKorygowanej": ("corrected invoice's KSeF number", "numer KSeF faktury korygowanej"),
    "NrKSeFN": ("corrected invoice outside KSeF flag", "znacznik faktury spoza KSeF"),
    "OkresFaKorygowanej": ("corrected period", "okres korekty"),
    "NrFaKorygowany": ("corrected invoice number", "poprawny numer faktury"),
    "P_15ZK": ("amount before correction", "kwota przed korektą"),
    "KursWalutyZK": ("exchange rate before correction", "kurs przed korektą"),
    "ZaliczkaCzesciowa": ("partial advance", "zaliczka częściowa"),
    "FP": ("invoice for a receipt flag (FP)", "faktura do paragonu"),
    "TP": ("related parties flag (TP)", "powiązania"),
    "DodatkowyOpis": ("additional description", "dodatkowy opis"),
    "Klucz": ("key", "klucz"),
    "Wartosc": ("value", "wartość"),
    "FakturaZaliczkowa": ("advance invoice reference", "faktura zaliczkowa"),
    "NrKSeFFaZaliczkowej": ("advance invoice's KSeF number", "numer KSeF faktury zaliczkowej"),
    "NrFaZaliczkowej": ("advance invoice number", "numer faktury zaliczkowej"),
    "ZwrotAkcyzy": ("excise refund flag", "zwrot akcyzy"),
    "FaWiersz": ("line", "wiersz"),
    "NrWierszaFa": ("line number", "numer wiersza"),
    "UU_ID": ("line unique id", "unikalny identyfikator wiersza"),
    "P_6A": ("line delivery date", "data dostawy w wierszu"),
    "P_7": ("product/service name", "nazwa towaru/usługi"),
    "Indeks": ("product code", "indeks"),
    "GTIN": ("GTIN", "GTIN"),
    "PKWiU": ("PKWiU code", "PKWiU"),
    "CN": ("CN code", "CN"),
    "PKOB": ("PKOB code", "PKOB"),
    "P_8A": ("unit of measure", "jednostka miary"),
    "P_8B": ("quantity", "ilość"),
    "P_9A": ("net unit price", "cena jednostkowa netto"),
    "P_9B": ("gross unit price", "cena jednostkowa brutto"),
    "P_10": ("discount", "rabat"),
    "P_11": ("net amount", "wartość netto"),
    "P_11A": ("gross amount", "wartość brutto"),
    "P_11Vat": ("VAT amount", "kwota VAT"),
    "P_12": ("VAT rate", "stawka VAT"),
    "P_12_XII": ("OSS VAT rate", "stawka OSS"),
    "P_12_Zal_15": ("annex 15 goods flag", "załącznik 15"),
    "KwotaAkcyzy": ("excise amount", "kwota akcyzy"),
    "GTU": ("GTU code", "GTU"),
    "Procedura": ("procedure code", "procedura"),
    "KursWaluty": ("exchange rate", "kurs waluty"),
    "StanPrzed": ("state before correction flag", "stan przed korektą"),
    "Rozliczenie": ("settlement", "rozliczenie"),
    "Platnosc": ("payment", "płatność"),
    "Zaplacono": ("paid flag", "zapłacono"),
    "DataZaplaty": ("payment date", "data zapłaty"),
    "ZnacznikZaplatyCzesciowej": ("partial payment flag", "znacznik zapłaty częściowej"),
    "ZaplataCzesciowa": ("partial payment", "zapłata częściowa"),
    "KwotaZaplatyCzesciowej": ("partial payment amount", "kwota zapłaty częściowej"),
    "DataZaplatyCzesciowej": ("partial payment date", "data zapłaty częściowej"),
    "TerminPlatnosci": ("payment term", "termin płatności"),
    "Termin": ("due date", "termin"),
    "FormaPlatnosci": ("payment method", "forma płatności"),
    "RachunekBankowy": ("bank account", "rachunek bankowy"),
    "RachunekBankowyFaktora": ("factor's bank account", "rachunek faktora"),
    "NrRB": ("bank account number (10-34 characters)", "numer rachunku"),
    "SWIFT": ("SWIFT/BIC code", "SWIFT"),
    "NazwaBanku": ("bank name", "nazwa banku"),
    "OpisRachunku": ("account description", "opis rachunku"),
    "WarunkiTransakcji": ("transaction terms", "warunki transakcji"),
    "Zamowienie": ("order (advance invoice)", "zamówienie"),
    "WartoscZamowienia": ("order value", "wartość zamówienia"),
    "ZamowienieWiersz": ("order line", "wiersz zamówienia"),
    "Stopka": ("footer", "stopka"),
    "StopkaFaktury": ("footer text", "stopka faktury"),
    "Rejestry": ("registers", "rejestry"),
    "KRS": ("KRS number (10 digits)", "KRS"),
    "REGON": ("REGON (9 or 14 digits)", "REGON"),
    "BDO": ("BDO number", "BDO"),
    "Zalacznik": ("attachment", "załącznik"),
}


class Label(str):
    """An element label (the English text) that also knows its Polish form (``.polish``).

    The labels come from ``LABELS`` (the official Polish terms of the FA(3)
    schema), so they are not msgids: the Odoo layer shows ``.polish`` to Polish
    users and the English text to everybody else.
    """

    polish = None

    def __new__(cls, text, polish=None):
        obj = super().__new__(cls, text)
        obj.polish = polish or str(text)
        return obj


def label(name):
    """Readable label of an FA(3) element: 'issue date (data wystawienia, P_1)'.

    Returns a ``Label`` (a ``str``; ``.polish`` e.g. 'data wystawienia (P_1)').
    """
    en_pl = LABELS.get(name)
    if not en_pl:
        return name
    en, pl = en_pl
    if en.lower() == name.lower() or en.split(" ")[0] == name:
        return Label(en, pl)
    return Label("%s (%s, %s)" % (en, pl, name), "%s (%s)" % (pl, name))


def section_label(name):
    """Capitalised label of a section ('Buyer', 'Payment'), a ``Label``."""
    en, pl = LABELS[name]
    return Label(en.capitalize(), pl[:1].upper() + pl[1:])
