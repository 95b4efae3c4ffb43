"""Fault injection for tests (see notes/CONTRACT.md).

A fault matches by method and template: an API operation's OpenAPI path (e.g.
``/sessions/batch``) or a storage URL's (``/storage/batch/{referenceNumber}/{ordinalNumber}``
for part uploads, ``/storage/export/{referenceNumber}/{ordinalNumber}`` for export parts).
A fault without a path matches every request, storage URLs included.
"""
import threading

KINDS = ("http500", "http503", "http429", "slow", "drop_after_accept", "timeout")


class Fault:
    def __init__(self, kind, path=None, method=None, count=1, **params):
        if kind not in KINDS:
            raise ValueError("unknown fault kind %r (one of %s)" % (kind, ", ".join(KINDS)))
        self.kind = kind
        self.path = path
        self.method = method.upper() if method else None
        self.remaining = count
        self.params = params

    def matches(self, method, template):
        return ((self.path is None or self.path == template)
                and (self.method is None or self.method == method))


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, kind, path=None, method=None, count=1, **params):
        fault = Fault(kind, path=path, method=method, count=count, **params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self):
        with self._lock:
            self._faults.clear()

    def take(self, method, template):
        """Consume and return the first fault matching the request, or None."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, template):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def __len__(self):
        return len(self._faults)
