"""State of the emulator: JSON records by kind and key, in memory or in SQLite.

Every record is a JSON-serialisable dict. With ``db_path`` each ``put`` is
written through to a SQLite file, and the whole state is loaded back on start,
so keys, tokens, sessions, invoices and numbers survive a restart. Secrets
(KSeF tokens, access/refresh tokens) are kept only as SHA-256 hashes.
Callers serialise access with the emulator's lock.
"""
import json
import sqlite3

KINDS = ("meta", "auth", "bearer", "ksef_tokens", "sessions", "invoices", "certs",
         "enrollments", "grants", "challenges", "upo_links", "collective", "context_limits")


class Store:
    def __init__(self, db_path=None):
        self.db_path = db_path
        self._tables = {kind: {} for kind in KINDS}
        self._db = None
        if db_path:
            self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, key TEXT NOT NULL, "
                "data TEXT NOT NULL, PRIMARY KEY (kind, key))")
            for kind, key, data in self._db.execute("SELECT kind, key, data FROM records"):
                self._tables.setdefault(kind, {})[key] = json.loads(data)

    def table(self, kind):
        return self._tables.setdefault(kind, {})

    def get(self, kind, key, default=None):
        return self.table(kind).get(key, default)

    def put(self, kind, key, record):
        self.table(kind)[key] = record
        if self._db is not None:
            self._db.execute("INSERT OR REPLACE INTO records (kind, key, data) VALUES (?, ?, ?)",
                             (kind, key, json.dumps(record, ensure_ascii=False)))
        return record

    def delete(self, kind, key):
        self.table(kind).pop(key, None)
        if self._db is not None:
            self._db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))

    def close(self):
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- introspection helpers for tests -----------------------------------
    @property
    def sessions(self):
        return self.table("sessions")

    @property
    def invoices(self):
        """Invoices by invoice reference number."""
        return self.table("invoices")

    @property
    def invoices_by_ksef_number(self):
        return {inv["ksefNumber"]: inv for inv in self.table("invoices").values()
                if inv.get("ksefNumber")}

    @property
    def ksef_tokens(self):
        return self.table("ksef_tokens")

    @property
    def certificates(self):
        return self.table("certs")

    @property
    def collective_identifiers(self):
        """Collective identifiers by number."""
        return self.table("collective")
