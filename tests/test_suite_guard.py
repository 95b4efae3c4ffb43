"""The suite's own time guard: every test class has it, and it really stops a test that
runs too long (a query whose plan explodes must not hang CI)."""
import inspect
import sys
import time
import unittest

import psycopg2.errors
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from . import time_guard
from .time_guard import KsefTimeGuard, Watchdog


@tagged("post_install", "-at_install")
class TestKsefSuiteGuard(KsefTimeGuard, TransactionCase):

    def test_every_test_class_is_guarded(self):
        package = __name__.rsplit(".", 1)[0]
        classes = [
            obj for name, module in list(sys.modules.items())
            if name.startswith(package + ".test_")
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, unittest.TestCase)
            and obj.__module__ == name
        ]
        self.assertGreater(len(classes), 10)
        unguarded = [cls.__qualname__ for cls in classes if not issubclass(cls, KsefTimeGuard)]
        self.assertFalse(unguarded, "test classes without KsefTimeGuard")

    def test_a_test_over_the_limit_is_stopped_and_named(self):
        self.env.cr.execute("SELECT pg_backend_pid()")
        pid = self.env.cr.fetchone()[0]
        start = time.monotonic()
        with self.assertLogs(time_guard.__name__, "ERROR") as logs:
            watchdog = Watchdog("fake.test_that_hangs", self.env.cr.dbname, pid, limit=1.0,
                                repeat=0.5)
            try:
                with self.assertRaises(psycopg2.errors.QueryCanceled), \
                        mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                    # a query that would run for a minute: the watchdog cancels it
                    self.env.cr.execute("SELECT pg_sleep(60)")
            finally:
                watchdog.stop()
        self.assertLess(time.monotonic() - start, 20)
        self.assertTrue(watchdog.fired)
        self.assertIn("fake.test_that_hangs", logs.output[0])

    def test_a_quick_test_is_left_alone(self):
        watchdog = Watchdog("fake.quick", self.env.cr.dbname, 0, limit=30.0)
        self.env.cr.execute("SELECT 1")
        watchdog.stop()
        self.assertFalse(watchdog.fired)
        self.assertLess(watchdog.elapsed, 30)
