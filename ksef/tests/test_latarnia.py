"""The ministry's availability service (Latarnia) as the emulator serves it, over HTTP."""
import time

import pytest

from ksef import errors, latarnia
from ksef.client import resolve_environment


@pytest.fixture
def board(emulator):
    saved = dict(emulator.latarnia)
    emulator.latarnia.clear()
    yield emulator
    emulator.latarnia.clear()
    emulator.latarnia.update(saved)


def _client(emulator):
    return latarnia.LatarniaClient(resolve_environment(emulator.url).latarnia_url, timeout=5)


def test_status_and_messages_follow_announcements(board):
    emu = board
    with _client(emu) as client:
        assert client.status().status == "AVAILABLE" and client.status().available
        assert client.messages() == []
        now = time.time()
        maintenance = emu.announce_outage("MAINTENANCE", now + 3600, now + 7200,
                                          title="Prace serwisowe")
        assert client.status().status == "AVAILABLE"          # announced, not started
        failure = emu.announce_outage("FAILURE", now - 60, title="Awaria KSeF")
        status = client.status()
        assert status.status == "FAILURE" and not status.available
        assert [m.event_id for m in status.messages] == [failure]
        events = {e.event_id: e for e in latarnia.outage_events(client.messages())}
        assert events[maintenance].kind == "offline" and events[maintenance].end is not None
        assert events[failure].kind == "emergency" and events[failure].end is None
        assert events[failure].source_id == "latarnia:%d" % failure
        # moved and ended: the latest version wins
        emu.update_outage(maintenance, start=now + 5400)
        emu.update_outage(failure, end=now - 1)
        events = {e.event_id: e for e in latarnia.outage_events(client.messages())}
        assert events[maintenance].version == 2
        assert abs(events[maintenance].start.timestamp() - (now + 5400)) < 0.01
        assert events[failure].end is not None and events[failure].version == 2
        assert client.status().status == "AVAILABLE"
        emu.announce_outage("TOTAL_FAILURE", now - 10, title="Awaria całkowita")
        assert client.status().status == "TOTAL_FAILURE"


def test_unreadable_messages_are_skipped_not_guessed():
    good = {"id": "1", "eventId": 7, "category": "FAILURE", "type": "FAILURE_START",
            "title": "t", "text": "x", "start": "2026-12-01T10:00:00Z", "version": 1,
            "published": "2026-12-01T10:00:00Z"}
    parsed = [latarnia.Message.from_json(item) for item in (
        good, {"eventId": "x"}, {**good, "category": "SOMETHING"}, "text", {**good, "start": "?"})]
    assert parsed[0].event_id == 7 and parsed[1:3] == [None, None] and parsed[3] is None
    assert parsed[4] is None
    assert latarnia.outage_events(parsed)[0].kind == "emergency"


def test_errors_and_methods(board):
    url = resolve_environment(board.url).latarnia_url
    assert url.endswith("/latarnia")
    client = _client(board)
    response = client.transport.session.post(url + "/status", timeout=5)
    assert response.status_code == 405 and response.headers["Allow"] == "GET"
    board.faults.add("http500", path="/latarnia/status", count=None)
    with pytest.raises(errors.KSeFServerError):
        client.status()
    board.faults.clear()
    with pytest.raises(errors.KSeFConfigError):
        latarnia.LatarniaClient("")
