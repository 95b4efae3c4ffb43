"""The ministry's KSeF availability service ("Latarnia"): the official word on outages.

Public, without authentication: ``GET {latarnia}/status`` -> ``{"status": AVAILABLE |
MAINTENANCE | FAILURE | TOTAL_FAILURE, "messages": [...]}`` and ``GET {latarnia}/messages`` ->
the published messages ``{id, eventId, category (MAINTENANCE | FAILURE | TOTAL_FAILURE), type
(MAINTENANCE_ANNOUNCEMENT | FAILURE_START | FAILURE_END), title, text, start, end, version,
published}``. Hosts per environment: ``ksef.environments`` (the local emulator serves the same
documents under ``/latarnia``).

``outage_events(messages)`` folds the messages into one ``OutageEvent`` per event (its latest
version): announced maintenance is an unavailability (the ``offline`` mode, VAT act art.
106nh), a failure the ``emergency`` mode (art. 106nf), a total failure needs no sending at all.
An event that was moved or ended comes back with a higher version: the caller updates its record.
Messages that cannot be read are skipped (logged), never guessed.
"""
import logging
from dataclasses import dataclass, field

from . import errors
from .i18n import _
from .records import parse_datetime
from .transport import Transport, TransportOwner

_logger = logging.getLogger(__name__)

STATUSES = ("AVAILABLE", "MAINTENANCE", "FAILURE", "TOTAL_FAILURE")
#: message category -> the mode of the VAT act it opens
CATEGORY_KIND = {"MAINTENANCE": "offline", "FAILURE": "emergency", "TOTAL_FAILURE": "total_failure"}


@dataclass
class Message:
    id: str
    event_id: int
    category: str
    type: str
    title: str = ""
    text: str = ""
    start: object = None          # aware datetime
    end: object = None            # aware datetime or None
    version: int = 0
    published: object = None

    @classmethod
    def from_json(cls, data):
        """A message from its JSON, or None when it is not one we can rely on."""
        if not isinstance(data, dict):
            return None
        try:
            category = str(data.get("category") or "").upper()
            if category not in CATEGORY_KIND:
                return None
            return cls(id=str(data.get("id") or ""), event_id=int(data.get("eventId")),
                       category=category, type=str(data.get("type") or "").upper(),
                       title=str(data.get("title") or "")[:512],
                       text=str(data.get("text") or "")[:4000],
                       start=parse_datetime(data.get("start")),
                       end=parse_datetime(data.get("end")),
                       version=int(data.get("version") or 0),
                       published=parse_datetime(data.get("published")))
        except (TypeError, ValueError):
            return None


@dataclass
class Status:
    status: str
    messages: list = field(default_factory=list)

    @property
    def available(self):
        return self.status == "AVAILABLE"


@dataclass
class OutageEvent:
    """One announced outage: ``kind`` offline / emergency / total_failure; ``end`` None while it
    lasts; ``source_id`` identifies it across versions."""

    event_id: int
    kind: str
    start: object
    end: object
    title: str
    text: str
    version: int

    @property
    def source_id(self):
        return "latarnia:%s" % self.event_id


def outage_events(messages):
    """[Message] -> [OutageEvent], one per event id (its latest version), by start."""
    latest = {}
    for message in messages:
        if message is None or message.start is None:
            continue
        known = latest.get(message.event_id)
        if known is None or (message.version, message.published or message.start) >= (
                known.version, known.published or known.start):
            latest[message.event_id] = message
    events = [OutageEvent(event_id=message.event_id, kind=CATEGORY_KIND[message.category],
                          start=message.start, end=message.end, title=message.title,
                          text=message.text, version=message.version)
              for message in latest.values()]
    return sorted(events, key=lambda event: (event.start, event.event_id))


class LatarniaClient(TransportOwner):
    """The availability service of one environment, through the one transport (timeouts,
    retries); no token is ever sent to it."""

    def __init__(self, url, timeout=10.0, session=None):
        if not url:
            raise errors.KSeFConfigError(_("This KSeF environment has no availability service."))
        self.transport = Transport(url.rstrip("/"), timeout=timeout, session=session,
                                   max_retries=2, max_retry_after=0)

    def status(self):
        data = self.transport.request("GET", "/status", operation=_("KSeF availability status"),
                                      accept="application/json").json()
        if not isinstance(data, dict) or str(data.get("status") or "").upper() not in STATUSES:
            raise errors.KSeFServerError(_("The KSeF availability service answered with an "
                                           "unknown status."))
        messages = [Message.from_json(item) for item in (data.get("messages") or [])]
        return Status(status=str(data["status"]).upper(), messages=[m for m in messages if m])

    def messages(self):
        data = self.transport.request("GET", "/messages", operation=_("KSeF availability messages"),
                                      accept="application/json").json()
        if not isinstance(data, list):
            raise errors.KSeFServerError(_("The KSeF availability service answered with no "
                                           "list of messages."))
        parsed = [Message.from_json(item) for item in data]
        skipped = sum(1 for item in parsed if item is None)
        if skipped:
            _logger.warning("KSeF availability service: %d message(s) not readable, skipped",
                            skipped)
        return [item for item in parsed if item is not None]


__all__ = ["Message", "Status", "OutageEvent", "LatarniaClient", "outage_events", "STATUSES",
           "CATEGORY_KIND"]
