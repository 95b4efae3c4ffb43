"""Offline issuing modes of KSeF 2.0 and their submission deadlines (pure functions).

Source: CIRFMF/ksef-docs ``tryby-offline.md`` (the ministry's description of the
modes, with a worked example) and ``offline/automatyczne-okreslanie-trybu-offline.md``.

Modes
-----
``online``          the invoice is sent to KSeF when it is issued (same calendar day as ``P_1``).
``offline24``       the taxpayer's choice, for any reason (art. 106nda VAT Act): send it by the
                    next business day after the issue date.
``offline``         KSeF is unavailable (announced in BIP and in the interface software, art.
                    106nh): send it by the next business day after the unavailability ends.
``emergency``       KSeF failure (awaria, announced in BIP MF / interface software, art. 106nf):
                    send it within 7 business days after the failure ends.
``total_failure``   total failure (awaria całkowita, announced in the mass media): the invoice may
                    be on paper or any electronic form, carries no QR codes and never has to be
                    sent to KSeF.

Later events (``Event``) change a pending deadline:

* a failure announced while an ``offline24``/``offline`` invoice waits to be sent moves its
  deadline to 7 business days after the end of the (last announced) failure;
* a failure announced during the 7-business-day window of an ``emergency`` invoice restarts the
  count from the end of that failure;
* a total failure announced while the obligation is pending cancels it.

Counting: "within N business days after day X" means the N-th business day after X (X itself
is not counted, as in Polish law, art. 111 of the Civil Code); the invoice must be in KSeF by
the end of that day. Business days are Monday-Friday except Polish public holidays (from the
``holidays`` library, so 24 December is included from 2025 on). All dates are calendar dates in
Poland; converting timestamps to Polish local dates is the caller's job.

Design: ``deadline_info()`` returns a ``DeadlineInfo`` that tells apart the three outcomes
(due by a date / cannot be known yet because an unavailability or failure is still going on /
no obligation any more); ``submission_deadline()`` is the short form returning only the date
(``None`` for "no date": cancelled or not yet known). A failure never makes a deadline earlier.
"""
import datetime
import functools
from dataclasses import dataclass

import holidays

# --- modes -------------------------------------------------------------------

ONLINE = "online"
OFFLINE24 = "offline24"
OFFLINE = "offline"
EMERGENCY = "emergency"
TOTAL_FAILURE = "total_failure"

MODES = (ONLINE, OFFLINE24, OFFLINE, EMERGENCY, TOTAL_FAILURE)
#: modes whose invoices are sent with ``offlineMode: true``
OFFLINE_MODES = (OFFLINE24, OFFLINE, EMERGENCY)

MODE_DESCRIPTIONS = {
    ONLINE: "Online: the invoice is sent to KSeF when it is issued, on the issue date (P_1). "
            "It carries one QR code (KOD I).",
    OFFLINE24: "Offline24 (art. 106nda VAT Act): the taxpayer issues the invoice outside KSeF "
               "for any reason and must send it to KSeF by the end of the next business day "
               "after the issue date. It carries two QR codes (KOD I and KOD II).",
    OFFLINE: "Offline - KSeF unavailable (art. 106nh VAT Act): KSeF unavailability announced in "
             "BIP and in the interface software; send the invoice by the end of the next "
             "business day after the unavailability ends. It carries two QR codes.",
    EMERGENCY: "Emergency - KSeF failure (art. 106nf VAT Act): failure announced in BIP MF and "
               "in the interface software; send the invoice within 7 business days after the "
               "failure ends (a new failure announcement restarts the count from its end). "
               "It carries two QR codes.",
    TOTAL_FAILURE: "Total failure of KSeF (announced in the mass media): the invoice may be on "
                   "paper or in any electronic form, without FA(3) and without QR codes, and "
                   "need not be sent to KSeF afterwards.",
}

#: business days after the end of a failure within which the invoice must be sent
FAILURE_BUSINESS_DAYS = 7


def check_mode(mode):
    """Return ``mode`` if it is one of MODES, else raise ValueError."""
    if mode not in MODES:
        raise ValueError("Unknown KSeF issuing mode %r (use one of: %s)." % (mode, ", ".join(MODES)))
    return mode


def qr_codes_for_mode(mode):
    """QR codes the invoice visualisation must carry: ("KOD I",), ("KOD I", "KOD II") or ()."""
    check_mode(mode)
    if mode == ONLINE:
        return ("KOD I",)
    if mode == TOTAL_FAILURE:
        return ()
    return ("KOD I", "KOD II")


def needs_kod2(mode):
    """True for offline24/offline/emergency invoices (they need the Offline certificate)."""
    return check_mode(mode) in OFFLINE_MODES


# --- business-day calendar -------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _holidays_of(year):
    return frozenset(holidays.Poland(years=year).keys())


def _as_date(value, what="date"):
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        return datetime.date.fromisoformat(value[:10])
    raise TypeError("%s must be a date, not %r" % (what, value))


def is_polish_holiday(day):
    day = _as_date(day)
    return day in _holidays_of(day.year)


def is_business_day(day):
    """Monday-Friday and not a Polish public holiday."""
    day = _as_date(day)
    return day.weekday() < 5 and day not in _holidays_of(day.year)


def add_business_days(day, n):
    """The n-th business day after ``day`` (``day`` itself is not counted); n >= 1.

    With a negative n, the |n|-th business day before ``day``. n == 0 returns ``day``.
    """
    day = _as_date(day)
    step = 1 if n >= 0 else -1
    remaining = abs(n)
    while remaining:
        day += datetime.timedelta(days=step)
        if is_business_day(day):
            remaining -= 1
    return day


def next_business_day(day):
    """The first business day after ``day``."""
    return add_business_days(day, 1)


def business_days_before(deadline, n=1):
    """The n-th business day before ``deadline`` (e.g. when to send a reminder)."""
    if n < 0:
        raise ValueError("n must not be negative")
    return add_business_days(deadline, -n)


def is_overdue(deadline, today):
    """True when ``today`` is after the deadline day (None = no deadline, never overdue)."""
    if deadline is None:
        return False
    return _as_date(today) > _as_date(deadline)


# --- events and deadlines ------------------------------------------------------

FAILURE = "failure"
TOTAL = "total_failure"
EVENT_KINDS = (FAILURE, TOTAL)


@dataclass(frozen=True)
class Event:
    """A KSeF failure announced on ``start`` and ended on ``end`` (None: still going on).

    ``kind`` is ``FAILURE`` ("failure", awaria) or ``TOTAL`` ("total_failure", awaria
    całkowita). Dates are Polish calendar dates.
    """

    kind: str
    start: datetime.date
    end: datetime.date | None = None

    def __post_init__(self):
        if self.kind not in EVENT_KINDS:
            raise ValueError("Unknown event kind %r (use %s)" % (self.kind, " or ".join(EVENT_KINDS)))
        object.__setattr__(self, "start", _as_date(self.start, "start"))
        object.__setattr__(self, "end", _as_date(self.end, "end"))
        if self.end is not None and self.end < self.start:
            raise ValueError("A failure cannot end (%s) before it starts (%s)." % (self.end, self.start))


DUE = "due"            # must be in KSeF by ``deadline``
PENDING = "pending"    # the deadline depends on an unavailability/failure that has not ended yet
CANCELLED = "cancelled"  # no obligation to send (total failure)


@dataclass(frozen=True)
class DeadlineInfo:
    status: str                      # DUE, PENDING or CANCELLED
    deadline: datetime.date | None   # set only when status == DUE
    reason: str                      # one sentence for the user


def deadline_info(mode, issue_date, unavailability_end=None, failure_end=None, events=()):
    """Work out when an invoice issued in ``mode`` on ``issue_date`` (P_1) must be in KSeF.

    ``unavailability_end``: last day of the KSeF unavailability (mode ``offline``).
    ``failure_end``: last day of the failure during which the invoice was issued (mode
    ``emergency``). ``events``: failures / total failures announced around the invoice
    (any order; events that do not touch the pending period are ignored).

    An ``online`` invoice is due on its issue date; one that was not sent that day is an
    offline invoice for KSeF (automatic classification) and must be handled as ``offline24``.
    """
    check_mode(mode)
    issue = _as_date(issue_date, "issue_date")
    if mode == TOTAL_FAILURE:
        return DeadlineInfo(CANCELLED, None, "Issued during a total failure of KSeF: "
                                             "the invoice does not have to be sent to KSeF.")
    if mode == ONLINE:
        return DeadlineInfo(DUE, issue, "Online invoice: it must reach KSeF on its issue date.")

    deadline = None   # None while it cannot be known (an end date is missing)
    if mode == OFFLINE24:
        deadline = next_business_day(issue)
        reason = "Offline24: due by the next business day after the issue date."
    elif mode == OFFLINE:
        end = _as_date(unavailability_end, "unavailability_end")
        if end is not None:
            deadline = next_business_day(end)
            reason = "KSeF unavailability: due by the next business day after it ended."
        else:
            reason = ("KSeF is still unavailable: the invoice is due by the next business day "
                      "after the unavailability ends.")
    else:  # EMERGENCY
        end = _as_date(failure_end, "failure_end")
        if end is not None:
            deadline = add_business_days(end, FAILURE_BUSINESS_DAYS)
            reason = "KSeF failure: due within 7 business days after the failure ended."
        else:
            reason = ("The KSeF failure is still going on: the invoice is due within 7 business "
                      "days after it ends.")

    # Failures announced while the invoice waits: the deadline becomes 7 business days after
    # the end of the last one. Sorted by announcement, a single pass suffices because the
    # window only grows.
    pending = deadline is None
    for event in sorted((e for e in events if e.kind == FAILURE), key=lambda e: e.start):
        if pending:
            break  # the date is unknown anyway until the ongoing event ends
        if event.start > deadline or (event.end is not None and event.end < issue):
            continue  # announced after the deadline, or over before the invoice was issued
        if event.end is None:
            pending = True
            deadline = None
            reason = ("A KSeF failure announced on %s is still going on: the invoice is due "
                      "within 7 business days after it ends." % event.start)
            continue
        moved = add_business_days(event.end, FAILURE_BUSINESS_DAYS)
        if moved > deadline:
            deadline = moved
            reason = ("A KSeF failure was announced on %s while the invoice was waiting: due "
                      "within 7 business days after it ended on %s." % (event.start, event.end))

    # A total failure announced while the obligation is pending cancels it.
    for event in events:
        if event.kind != TOTAL:
            continue
        if (deadline is None or event.start <= deadline) and (event.end is None or event.end >= issue):
            return DeadlineInfo(CANCELLED, None, "A total failure of KSeF was announced on %s "
                                "while the invoice was waiting: it no longer has to be sent "
                                "to KSeF." % event.start)
    if deadline is None:
        return DeadlineInfo(PENDING, None, reason)
    return DeadlineInfo(DUE, deadline, reason)


def submission_deadline(mode, issue_date, unavailability_end=None, failure_end=None, events=()):
    """Last day on which the invoice may be sent to KSeF, or None.

    None means there is no date: either there is no obligation any more (total failure) or the
    date cannot be known yet (an unavailability/failure has not ended); ``deadline_info`` tells
    which. See ``deadline_info`` for the arguments.
    """
    return deadline_info(mode, issue_date, unavailability_end, failure_end, events).deadline
