#!/usr/bin/env bash
# Runs the addon's tests in a real Odoo 19.0 Community with PostgreSQL.
# Odoo is expected at $ODOO_HOME (default /opt/odoo: source in odoo/, virtualenv in venv/).
# This script installs nothing of Odoo; it installs our requirements into Odoo's venv,
# starts PostgreSQL if needed, runs the suite in a fresh database and drops it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ODOO_HOME=${ODOO_HOME:-/opt/odoo}
ODOO_PY=$ODOO_HOME/venv/bin/python
ODOO_BIN=$ODOO_HOME/odoo/odoo-bin
echo "== l10n_pl_ksef: Odoo 19 test suite =="
if [ ! -x "$ODOO_PY" ] || [ ! -f "$ODOO_BIN" ]; then
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!!! Odoo 19 is NOT installed at $ODOO_HOME: the Odoo test suite was SKIPPED."
  echo "!!! Only the KSeF core was tested. See README.md, 'Testing in Odoo'."
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  [ "${KSEF_REQUIRE_ODOO:-0}" = 1 ] && exit 1
  exit 0
fi

# PostgreSQL: start it when nothing answers (CI starts with no process running).
if ! pg_isready -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null; then
    for v in $(ls /etc/postgresql 2>/dev/null); do pg_ctlcluster "$v" main start || true; done
  fi
  for _ in $(seq 1 30); do pg_isready -q 2>/dev/null && break; sleep 1; done
fi
pg_isready -q || { echo "PostgreSQL is not running and could not be started."; exit 1; }
if ! psql -d postgres -Atc "select 1" >/dev/null 2>&1; then
  su postgres -c "createuser -s $(whoami)" >/dev/null 2>&1 || true
fi

# exactly what an administrator runs: our requirements under Odoo's own pins
"$ODOO_PY" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" \
  -c "$ODOO_HOME/odoo/requirements.txt"

work=$(mktemp -d)
ln -s "$ROOT" "$work/l10n_pl_ksef"
db=ksef_test_$(date +%s)_$$
port=$("$ODOO_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$work/odoo-test.log
cleanup() { dropdb --if-exists "$db" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
echo "database $db, http port $port, log $log"
set +e
(cd "$work" && "$ODOO_PY" "$ODOO_BIN" server -d "$db" \
   --addons-path="$ODOO_HOME/odoo/addons,$ODOO_HOME/odoo/odoo/addons,$work" \
   -i l10n_pl_ksef,sale --test-enable --test-tags /l10n_pl_ksef --stop-after-init \
   --http-port="$port" --http-interface=127.0.0.1 --log-level=test --workers=0 \
   --log-handler=odoo.tests.common.requests:WARNING \
   ${KSEF_ODOO_ARGS:-}) >"$log" 2>&1
rc=$?
set -e
grep -E " (ERROR|CRITICAL) " "$log" | head -50 || true
summary=$(grep -E "odoo.tests.result: .* tests" "$log" | tail -1 || true)
echo "$summary"
ran=$(echo "$summary" | sed -nE 's/.* of ([0-9]+) tests.*/\1/p')
failed=$(echo "$summary" | sed -nE 's/.*: ([0-9]+) failed, ([0-9]+) error.*/\1+\2/p')
failed=$(( ${failed:-0} ))
ours_warn=$(grep -E " WARNING " "$log" | grep -E "l10n_pl_ksef" | head -20 || true)
errs=$(grep -cE " (ERROR|CRITICAL) " "$log" || true)
if [ -n "$ours_warn" ]; then echo "Warnings from l10n_pl_ksef:"; echo "$ours_warn"; fi
ran=${ran:-0}
echo "odoo: $(( ran - failed )) passed, $failed failed"
if [ "$rc" != 0 ] || [ "$ran" = 0 ] || [ "$failed" != 0 ] || [ "$errs" != 0 ] || [ -n "$ours_warn" ]; then
  echo "Odoo test suite FAILED (exit $rc, $ran tests, $failed failed, $errs error lines)."
  echo "--- failures and errors (with tracebacks) ---"
  grep -nE " (ERROR|CRITICAL) " "$log" | head -20 | while IFS=: read -r n _; do
    sed -n "${n},$((n + 30))p" "$log" | grep -vE "^[0-9-]+ [0-9:,]+ [0-9]+ INFO " | head -30
    echo "---"
  done
  echo "--- last lines ---"
  tail -15 "$log"
  exit 1
fi
