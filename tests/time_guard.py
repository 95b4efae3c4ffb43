"""A time limit for every test of this module (the suite must never hang CI).

``KsefTimeGuard`` is mixed into every test class of l10n_pl_ksef (``test_suite_guard``
checks that none is missing). When one test runs longer than ``KSEF_TEST_TIME_LIMIT``
seconds (default 300), a watchdog thread logs an ERROR naming the test, then cancels the
test's database work (``pg_cancel_backend`` on its backend, again every few seconds while
the test goes on), so a query whose plan explodes ends at once with QueryCanceled instead of
running for an hour; when the test ends, it fails with its name and its duration.
``scripts/odoo_tests.sh`` bounds the whole run as well (``KSEF_ODOO_TIMEOUT``).
"""
import logging
import os
import threading
import time

from odoo import sql_db

_logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 300.0


def time_limit():
    try:
        return float(os.environ.get("KSEF_TEST_TIME_LIMIT") or DEFAULT_LIMIT)
    except ValueError:
        return DEFAULT_LIMIT


class Watchdog:
    """Watches one test: ``stop()`` when it ends; ``fired`` tells whether it ran too long."""

    def __init__(self, name, dbname, backend_pid, limit, repeat=5.0):
        self.name = name
        self.dbname = dbname
        self.backend_pid = backend_pid
        self.limit = limit
        self.repeat = repeat
        self.fired = False
        self.started = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name="ksef-test-watchdog")
        self._thread.start()

    @property
    def elapsed(self):
        return time.monotonic() - self.started

    def _cancel(self):
        try:
            with sql_db.db_connect(self.dbname).cursor() as cr:
                cr.execute("SELECT pg_cancel_backend(%s)", [self.backend_pid])
        except Exception:  # noqa: BLE001 - the watchdog itself must never crash the run
            _logger.warning("could not cancel the database work of %s", self.name,
                            exc_info=True)

    def _watch(self):
        if self._done.wait(self.limit):
            return
        self.fired = True
        _logger.error("TEST TIME LIMIT: %s has run for more than %.0f s "
                      "(KSEF_TEST_TIME_LIMIT); cancelling its database work", self.name,
                      self.limit)
        while not self._done.is_set():
            self._cancel()
            self._done.wait(self.repeat)

    def stop(self):
        self._done.set()
        self._thread.join(timeout=10)


class KsefTimeGuard:
    """Mixin for odoo.tests test cases: fails a test that runs longer than the limit."""

    def setUp(self):
        super().setUp()
        self.env.cr.execute("SELECT pg_backend_pid()")
        pid = self.env.cr.fetchone()[0]
        watchdog = Watchdog(self.id(), self.env.cr.dbname, pid, time_limit())

        def check():
            watchdog.stop()
            if watchdog.fired or watchdog.elapsed > watchdog.limit:
                self.fail("%s ran for %.0f s, longer than the %.0f s a test may take "
                          "(KSEF_TEST_TIME_LIMIT)" % (self.id(), watchdog.elapsed,
                                                       watchdog.limit))

        self.addCleanup(check)
