#!/usr/bin/env bash
# Runs the addon's tests in a real Odoo 19.0 Community with PostgreSQL.
# Odoo is expected at $ODOO_HOME (default /opt/odoo: source in odoo/, virtualenv in venv/).
# This script installs nothing of Odoo; it installs our requirements into Odoo's venv,
# starts PostgreSQL if needed, runs the suite in a fresh database and drops it.
set -euo pipefail
source "$(dirname "$0")/_odoo_env.sh"
echo "== l10n_pl_ksef: Odoo 19 test suite =="
if ! odoo_present; then
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!!! Odoo 19 is NOT installed at $ODOO_HOME: the Odoo test suite was SKIPPED."
  echo "!!! Only the KSeF core was tested. See README.md, 'Testing in Odoo'."
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  [ "${KSEF_REQUIRE_ODOO:-0}" = 1 ] && exit 1
  exit 0
fi
# PostgreSQL started when nothing answers; our requirements under Odoo's own pins
odoo_prepare
# test tools in Odoo's virtualenv: websocket-client drives Chromium for the tours (Odoo's
# requirements.txt lacks it: without it every tour is skipped), py-spy shows where a run hangs
"$ODOO_PY" -m pip install -q --disable-pip-version-check websocket-client py-spy \
  -c "$ODOO_HOME/odoo/requirements.txt" || echo "could not install websocket-client/py-spy"

work=$(mktemp -d)
ln -s "$ROOT" "$work/l10n_pl_ksef"
# OCA modules for the payment tests (reconciliation proposals, payment orders with SEPA files);
# l10n_pl_ksef does not depend on them, and their tests skip, saying so, when they are absent
oca_path=""; oca_modules=""
if bash "$ROOT/scripts/install_oca_test_modules.sh" "$work/oca_addons" "$ODOO_PY" >/dev/null; then
  "$ODOO_PY" -m pip install -q --disable-pip-version-check unidecode \
    -c "$ODOO_HOME/odoo/requirements.txt" || echo "could not install unidecode"
  oca_path=",$work/oca_addons"
  oca_modules=",account_reconcile_oca,account_banking_sepa_credit_transfer"
else
  echo "!!! OCA modules could not be downloaded: the OCA payment tests will be SKIPPED"
fi
db=ksef_test_$(date +%s)_$$
port=$(free_port)
log=$work/odoo-test.log
cleanup() { dropdb --if-exists "$db" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
echo "database $db, http port $port, log $log"
# The run is bounded: past KSEF_ODOO_TIMEOUT seconds (default 2400, well under CI's 90
# minutes) the watchdog below prints the test that was running, what its database backend
# was doing and (with py-spy) where Odoo's threads were, then stops Odoo and fails.
# Inside the suite, tests/common.py's KsefTimeGuard fails any single test that runs longer
# than KSEF_TEST_TIME_LIMIT seconds (default 300), with its name.
limit=${KSEF_ODOO_TIMEOUT:-2400}
set +e
(cd "$work" && exec "$ODOO_PY" "$ODOO_BIN" server -d "$db" \
   --addons-path="$ODOO_HOME/odoo/addons,$ODOO_HOME/odoo/odoo/addons,$work$oca_path" \
   -i "l10n_pl_ksef,sale$oca_modules" --test-enable --test-tags /l10n_pl_ksef --stop-after-init \
   --http-port="$port" --http-interface=127.0.0.1 --log-level=test --workers=0 \
   --log-handler=odoo.tests.common.requests:WARNING \
   ${KSEF_ODOO_ARGS:-}) >"$log" 2>&1 &
odoo_pid=$!
started=$(date +%s)
timed_out=0
while kill -0 "$odoo_pid" 2>/dev/null; do
  if [ $(( $(date +%s) - started )) -ge "$limit" ]; then
    timed_out=1
    echo "!!! TIMEOUT: the Odoo suite ran longer than $limit s (KSEF_ODOO_TIMEOUT); stopping it."
    echo "--- the test that was running ---"
    grep -E "Starting [A-Za-z0-9_]+\.test_[A-Za-z0-9_]+" "$log" | tail -1 || true
    echo "--- its last log lines ---"
    tail -5 "$log"
    echo "--- database $db: active backends ---"
    psql -d postgres -AXtc "SELECT pid, state, wait_event_type, wait_event,
        round(extract(epoch FROM now() - query_start)) || ' s', left(regexp_replace(query, '\s+', ' ', 'g'), 400)
        FROM pg_stat_activity WHERE datname = '$db' AND state <> 'idle'" 2>&1 || true
    if [ -x "$ODOO_HOME/venv/bin/py-spy" ]; then
      echo "--- Odoo's threads (py-spy dump) ---"
      "$ODOO_HOME/venv/bin/py-spy" dump --pid "$odoo_pid" 2>&1 | head -80 || true
    fi
    kill -TERM "$odoo_pid" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$odoo_pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$odoo_pid" 2>/dev/null
    break
  fi
  sleep 5
done
wait "$odoo_pid"
rc=$?
[ "$timed_out" = 1 ] && rc=124
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
# tours: a tour that cannot run (no Chromium, no websocket-client) is skipped, not failed
tours=$(grep -c "TOUR .* SUCCEEDED" "$log" || true)
tour_skips=$(grep -E "test_tours.*skipped|skipped .*TestKsefTours" "$log" | head -5 || true)
echo "tours: $tours succeeded"
# every skipped test, with its reason (e.g. an OCA module that could not be downloaded)
skips=$(grep -E "INFO .* skipped .* : " "$log" | sed -E 's/.* skipped (.*)/  skipped \1/' || true)
echo "skipped tests: $(printf '%s' "$skips" | grep -c . || true)"
if [ -n "$skips" ]; then echo "$skips" | head -20; fi
if [ -n "$tour_skips" ]; then echo "Skipped tours:"; echo "$tour_skips"; fi
echo "odoo: $(( ran - failed )) passed, $failed failed"
if [ "$timed_out" = 1 ]; then
  echo "Odoo test suite FAILED: TIMEOUT after $limit s (see the test named above)."
  exit 1
fi
if [ "$tours" = 0 ] || [ -n "$tour_skips" ]; then
  echo "Odoo test suite FAILED: no tour ran, or a tour was skipped (Chromium and websocket-client are needed)."
  exit 1
fi
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
