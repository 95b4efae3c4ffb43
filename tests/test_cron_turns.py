"""Office scale: the order in which the send and import crons give companies their turn."""
from datetime import datetime, timedelta

from odoo.tests import TransactionCase, tagged

from ..models.l10n_pl_ksef_submission import _turn_order
from .time_guard import KsefTimeGuard


@tagged("post_install", "-at_install")
class TestKsefCronTurns(KsefTimeGuard, TransactionCase):

    def test_never_served_first_then_oldest_and_recent_ones_wait(self):
        companies = self.env["res.company"].create([{"name": "Klient %d" % i} for i in range(4)])
        a, b, c, d = companies
        now = datetime(2026, 12, 5, 12, 0, 0)
        turns = {a.id: now - timedelta(minutes=10), b.id: now - timedelta(seconds=5),
                 c.id: None, d.id: now - timedelta(minutes=30)}
        order = _turn_order(companies, turns, now, timedelta(seconds=60))
        # c never had a turn, then d (30 min ago), then a (10 min ago); b just had its turn
        self.assertEqual(order.ids, [c.id, d.id, a.id])
        # a repeated run goes on with the others: after c's turn, c waits
        turns[c.id] = now
        self.assertEqual(_turn_order(companies, turns, now, timedelta(seconds=60)).ids, [d.id, a.id])
        # once every company had its turn, nothing is left: the run ends (no endless repeats)
        turns.update({d.id: now, a.id: now})
        self.assertFalse(_turn_order(companies, turns, now, timedelta(seconds=60)))
        # without a gap (the import, whose cursors say themselves when they may run again)
        self.assertEqual(_turn_order(companies, turns, now, timedelta(0)).ids[-1], companies.sorted(
            lambda x: (turns[x.id], x.id))[-1].id)
