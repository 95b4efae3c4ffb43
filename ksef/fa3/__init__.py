"""FA(3) structured invoices: data classes, XML builder, parser, XSD validation.

Everything the rest of the project needs is importable from ``ksef.fa3``::

    # data classes (ksef.fa3.model): all amounts Decimal, dates datetime.date
    Invoice, Seller, Buyer, ThirdParty, Address, Contact, InvoiceLine, Totals,
    Annotations, Correction, CorrectedInvoice, PartialAdvance, AdditionalInfo,
    AdvanceInvoiceRef, Settlement, SettlementItem, Payment, PartialPayment,
    PaymentTerm, BankAccount, TransactionTerms, DocumentRef, Order, OrderLine,
    Footer, Registry, RawXml

    build_invoice_xml(invoice, validate=True, schema=None, *, checks=True,
                      strict=True, pretty=True) -> bytes
        validate: True | "if-available" | False. Raises InvoiceValidationError
        (.problems: readable Problem strings, .raw = XSD message), InvoiceTooLargeError,
        SchemaUnavailableError (only with validate=True and an unusable KSEF_SCHEMA_DIR).
    parse_invoice_xml(data: bytes, *, validate=False, schema=None) -> Invoice
        hostile-XML safe (ksef.xmlsafe); raises XMLSecurityError / InvoiceValidationError.
    parse_incoming_invoice_xml(data: bytes, schema=None) -> Invoice
        for invoices received from KSeF: XSD (every reason) before mapping; raises
        IncomingInvoiceInvalid (an InvoiceValidationError) / XMLSecurityError.
    validate_incoming(data: bytes, schema=None) -> list[Problem]     # [] when XSD-valid
    compute_totals(invoice_or_lines, *, currency=None, exchange_rate=None) -> Totals
    check_invoice(invoice, *, strict=True) -> list[Problem]   # business checks only
    load_schema(schema_dir=None) -> lxml.etree.XMLSchema     # shipped XSD unless overridden
    shipped_schema() -> lxml.etree.XMLSchema   # ksef/fa3/xsd, compiled once per process
    validate_xml(data: bytes, schema=None) -> list[Problem]     # [] when XSD-valid

Typical Odoo-side use: map ``account.move`` to ``Invoice`` (set ``totals`` from
Odoo's own tax amounts, or call ``compute_totals``), then ``build_invoice_xml``;
for vendor bills ``parse_invoice_xml`` and read ``Invoice.lines``/``totals``.
See the docstrings of ``model``, ``builder``, ``parser``, ``schema`` and ``checks``.
"""
from .builder import build_invoice_tree, build_invoice_xml, serialize
from .checks import check_invoice, compute_totals, vat_in_pln
from .codes import NS, VAT_RATES
from .model import (
    AdditionalInfo,
    Address,
    AdvanceInvoiceRef,
    Annotations,
    BankAccount,
    Buyer,
    Contact,
    CorrectedInvoice,
    Correction,
    DocumentRef,
    Footer,
    Invoice,
    InvoiceLine,
    Order,
    OrderLine,
    PartialAdvance,
    PartialPayment,
    Payment,
    PaymentTerm,
    RawXml,
    Registry,
    Seller,
    Settlement,
    SettlementItem,
    ThirdParty,
    Totals,
    TransactionTerms,
)
from .parser import parse_incoming_invoice_xml, parse_invoice_xml, validate_incoming
from .schema import (
    Problem,
    download_schema,
    load_schema,
    shipped_schema,
    validate_tree,
    validate_xml,
)

__all__ = [
    "NS", "VAT_RATES", "AdditionalInfo", "Address", "AdvanceInvoiceRef", "Annotations",
    "BankAccount", "Buyer", "Contact", "CorrectedInvoice", "Correction", "DocumentRef", "Footer",
    "Invoice", "InvoiceLine", "Order", "OrderLine", "PartialAdvance", "PartialPayment", "Payment",
    "PaymentTerm", "Problem", "RawXml", "Registry", "Seller", "Settlement", "SettlementItem",
    "ThirdParty", "Totals", "TransactionTerms", "build_invoice_tree", "build_invoice_xml",
    "check_invoice", "compute_totals", "vat_in_pln", "download_schema", "load_schema",
    "parse_incoming_invoice_xml",
    "parse_invoice_xml", "shipped_schema", "validate_incoming",
    "serialize", "validate_tree", "validate_xml",
]
