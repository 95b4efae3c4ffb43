"""Offline modes and submission deadlines (ksef.offline)."""
import datetime

import pytest

from ksef import offline
from ksef.offline import (
    CANCELLED,
    DUE,
    EMERGENCY,
    FAILURE,
    OFFLINE,
    OFFLINE24,
    ONLINE,
    PENDING,
    TOTAL,
    TOTAL_FAILURE,
    Event,
    add_business_days,
    business_days_before,
    deadline_info,
    is_business_day,
    is_overdue,
    submission_deadline,
)

D = datetime.date


# --- the ministry's worked example ------------------------------------------------

def test_ministry_example_offline24_with_announced_failure():
    # CIRFMF/ksef-docs, tryby-offline.md, "Przykład: tryb offline24 z ogłoszoną awarią KSeF":
    #   1. 2025-07-08 - the taxpayer issues an invoice in offline24 mode (offlineMode = true);
    #      deadline set to 2025-07-09 (next business day).
    #   2. 2025-07-09 - the Ministry of Finance announces a KSeF failure (BIP and API);
    #      the original deadline moves and is counted from the day the failure ends.
    #   3. 2025-07-12 (Saturday) - the failure is removed, the system is available again;
    #      the 7-business-day period to send the pending invoice starts.
    #   4. 2025-07-22 (Tuesday) - the 7 business days after the end of the failure run out.
    # (The page calls 2025-07-08 a Wednesday and 2025-07-09 a Thursday; in fact they are a
    # Tuesday and a Wednesday. The dates, which are what counts, are consistent.)
    assert submission_deadline(OFFLINE24, D(2025, 7, 8)) == D(2025, 7, 9)
    failure = Event(FAILURE, D(2025, 7, 9), D(2025, 7, 12))
    info = deadline_info(OFFLINE24, D(2025, 7, 8), events=[failure])
    assert info.status == DUE
    assert info.deadline == D(2025, 7, 22)
    assert info.deadline.weekday() == 1  # Tuesday, as the ministry says


def test_ministry_rule_total_failure_cancels_obligation():
    # tryby-offline.md: "Ogłoszenie awarii całkowitej w trakcie któregokolwiek z powyższych
    # trybów powoduje zniesienie obowiązku przesyłania faktur do KSeF."
    for mode, kwargs in ((OFFLINE24, {}), (OFFLINE, {"unavailability_end": D(2025, 7, 9)}),
                         (EMERGENCY, {"failure_end": D(2025, 7, 9)})):
        info = deadline_info(mode, D(2025, 7, 8), events=[Event(TOTAL, D(2025, 7, 9))], **kwargs)
        assert info.status == CANCELLED, mode
        assert info.deadline is None
    # and an invoice issued during a total failure never has to be sent
    assert deadline_info(TOTAL_FAILURE, D(2025, 7, 8)).status == CANCELLED
    assert submission_deadline(TOTAL_FAILURE, D(2025, 7, 8)) is None


def test_ministry_rule_repeated_failure_restarts_count():
    # tryby-offline.md: "W trybie awaryjnym, jeżeli podczas siedmiodniowego okresu na dosłanie
    # faktury pojawi się kolejny komunikat o awarii, licznik terminu resetuje się i biegnie od
    # dnia zakończenia tej kolejnej awarii."
    # Failure ends Mon 2026-03-02 -> 7 business days: 3,4,5,6,9,10,11 March.
    assert submission_deadline(EMERGENCY, D(2026, 2, 27), failure_end=D(2026, 3, 2)) == D(2026, 3, 11)
    second = Event(FAILURE, D(2026, 3, 9), D(2026, 3, 10))
    # counted again from 10 March: 11,12,13,16,17,18,19 March
    assert submission_deadline(EMERGENCY, D(2026, 2, 27), failure_end=D(2026, 3, 2),
                               events=[second]) == D(2026, 3, 19)
    # a third one announced in the new window restarts it once more (events in any order)
    third = Event(FAILURE, D(2026, 3, 19), D(2026, 3, 19))
    assert submission_deadline(EMERGENCY, D(2026, 2, 27), failure_end=D(2026, 3, 2),
                               events=[third, second]) == D(2026, 3, 30)


# --- plain deadlines across weekends, holidays and year end -------------------------

@pytest.mark.parametrize("issued, due", [
    (D(2026, 2, 2), D(2026, 2, 3)),      # Monday -> Tuesday
    (D(2026, 2, 6), D(2026, 2, 9)),      # Friday -> Monday
    (D(2026, 2, 7), D(2026, 2, 9)),      # Saturday -> Monday
    (D(2026, 11, 10), D(2026, 11, 12)),  # 11 Nov (Independence Day) skipped
    (D(2026, 12, 23), D(2026, 12, 28)),  # 24 (Christmas Eve, holiday since 2025), 25, 26 skipped
    (D(2026, 12, 31), D(2027, 1, 4)),    # New Year's Day (Friday) and the weekend skipped
    (D(2026, 4, 3), D(2026, 4, 7)),      # Easter Monday 2026-04-06 skipped
    (D(2026, 4, 30), D(2026, 5, 4)),     # 1 May (Friday), weekend (3 May is Sunday)
])
def test_offline24_next_business_day(issued, due):
    assert submission_deadline(OFFLINE24, issued) == due


def test_holiday_calendar_knows_polish_holidays():
    assert not is_business_day(D(2026, 12, 24))   # Wigilia: public holiday from 2025
    assert not is_business_day(D(2025, 12, 24))
    assert is_business_day(D(2024, 12, 24))        # ... but not before
    assert not is_business_day(D(2026, 11, 11))
    assert not is_business_day(D(2026, 6, 4))      # Corpus Christi 2026
    assert not is_business_day(D(2026, 2, 7))      # Saturday
    assert is_business_day(D(2026, 2, 9))


def test_offline_unavailability_next_business_day_after_end():
    # unavailability announced, ends Thursday 2026-12-31 -> Monday 2027-01-04
    assert submission_deadline(OFFLINE, D(2026, 12, 30), unavailability_end=D(2026, 12, 31)) \
        == D(2027, 1, 4)
    # still unavailable: the date cannot be known yet
    info = deadline_info(OFFLINE, D(2026, 12, 30))
    assert info.status == PENDING and info.deadline is None


def test_emergency_seven_business_days_over_christmas_and_new_year():
    # failure ends Tue 2026-12-22: 23 Dec (1), 28 (2), 29 (3), 30 (4), 31 (5),
    # 4 Jan (6), 5 Jan (7); 6 Jan (Epiphany) would not count either.
    assert submission_deadline(EMERGENCY, D(2026, 12, 21), failure_end=D(2026, 12, 22)) \
        == D(2027, 1, 5)
    assert deadline_info(EMERGENCY, D(2026, 12, 21)).status == PENDING


def test_online_is_due_on_issue_date():
    assert submission_deadline(ONLINE, D(2026, 3, 2)) == D(2026, 3, 2)


# --- events that do or do not change the deadline -----------------------------------

def test_failure_after_deadline_or_before_issue_is_ignored():
    issued = D(2026, 3, 2)  # Monday -> due Tuesday 3 March
    late = Event(FAILURE, D(2026, 3, 4), D(2026, 3, 5))
    early = Event(FAILURE, D(2026, 2, 20), D(2026, 2, 27))
    assert submission_deadline(OFFLINE24, issued, events=[late, early]) == D(2026, 3, 3)
    # a failure announced on the deadline day itself still counts
    on_deadline = Event(FAILURE, D(2026, 3, 3), D(2026, 3, 3))
    assert submission_deadline(OFFLINE24, issued, events=[on_deadline]) == D(2026, 3, 12)


def test_failure_during_unavailability_does_not_shorten_deadline():
    # unavailability ends Friday 2026-03-20 -> due Monday 23 March; a short failure early in the
    # waiting period would give 12 March, which must not win.
    info = deadline_info(OFFLINE, D(2026, 3, 2), unavailability_end=D(2026, 3, 20),
                         events=[Event(FAILURE, D(2026, 3, 2), D(2026, 3, 3))])
    assert info.deadline == D(2026, 3, 23)


def test_ongoing_failure_makes_deadline_pending():
    info = deadline_info(OFFLINE24, D(2026, 3, 2), events=[Event(FAILURE, D(2026, 3, 3))])
    assert info.status == PENDING
    assert info.deadline is None
    assert "still going on" in info.reason


def test_total_failure_after_deadline_or_before_issue_changes_nothing():
    issued = D(2026, 3, 2)
    events = [Event(TOTAL, D(2026, 3, 4), D(2026, 3, 6)), Event(TOTAL, D(2026, 2, 1), D(2026, 2, 2))]
    info = deadline_info(OFFLINE24, issued, events=events)
    assert info.status == DUE and info.deadline == D(2026, 3, 3)
    # ... but inside a window extended by a failure it cancels
    events.append(Event(FAILURE, D(2026, 3, 3), D(2026, 3, 3)))
    assert deadline_info(OFFLINE24, issued, events=events).status == CANCELLED


# --- helpers ---------------------------------------------------------------------------

def test_business_days_before_and_overdue():
    assert business_days_before(D(2026, 12, 28)) == D(2026, 12, 23)
    assert business_days_before(D(2027, 1, 4), 1) == D(2026, 12, 31)
    assert business_days_before(D(2026, 3, 11), 2) == D(2026, 3, 9)
    assert business_days_before(D(2026, 3, 11), 0) == D(2026, 3, 11)
    assert add_business_days(D(2026, 3, 6), 1) == D(2026, 3, 9)
    assert not is_overdue(D(2026, 3, 3), D(2026, 3, 3))   # the whole deadline day is allowed
    assert is_overdue(D(2026, 3, 3), D(2026, 3, 4))
    assert not is_overdue(None, D(2030, 1, 1))             # no obligation: never overdue
    with pytest.raises(ValueError):
        business_days_before(D(2026, 3, 11), -1)


def test_inputs_accept_datetime_and_iso_strings():
    assert submission_deadline(OFFLINE24, datetime.datetime(2026, 12, 23, 23, 59)) == D(2026, 12, 28)
    assert submission_deadline(OFFLINE24, "2026-12-23") == D(2026, 12, 28)
    assert Event(FAILURE, "2026-03-01", "2026-03-02").end == D(2026, 3, 2)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        submission_deadline("offline48", D(2026, 3, 2))
    with pytest.raises(ValueError):
        Event("storm", D(2026, 3, 2))
    with pytest.raises(ValueError):
        Event(FAILURE, D(2026, 3, 2), D(2026, 3, 1))


def test_modes_descriptions_and_qr_codes():
    assert set(offline.MODE_DESCRIPTIONS) == set(offline.MODES)
    assert offline.qr_codes_for_mode(ONLINE) == ("KOD I",)
    assert offline.qr_codes_for_mode(OFFLINE24) == ("KOD I", "KOD II")
    assert offline.qr_codes_for_mode(EMERGENCY) == ("KOD I", "KOD II")
    assert offline.qr_codes_for_mode(TOTAL_FAILURE) == ()
    assert offline.needs_kod2(OFFLINE) and not offline.needs_kod2(ONLINE)
