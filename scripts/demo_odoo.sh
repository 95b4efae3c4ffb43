#!/usr/bin/env bash
# The Odoo demo (README: `bash scripts/demo.sh --odoo`): given Odoo 19 at $ODOO_HOME (default
# /opt/odoo), makes the database "ksef_demo" with the addon, a Polish demo company connected to
# the embedded KSeF emulator, invoices sent (one offline, with both QR codes), purchase invoices
# imported as bills (scripts/demo_odoo_setup.py), and serves Odoo on 127.0.0.1 with the login
# printed. Everything it keeps (Odoo's files, the emulator's state) is in demo-output/odoo/.
#   bash scripts/demo.sh --odoo [--fresh] [--db NAME] [--port N]
#   bash scripts/demo.sh --odoo --check    # CI: set up, start, check the invoices page, stop
#   bash scripts/demo.sh --odoo --screenshots   # README's pictures, into docs/screenshots/
set -euo pipefail
source "$(dirname "$0")/_odoo_env.sh"
DB=ksef_demo PORT=8069 CHECK=0 FRESH=0 SHOTS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --check) CHECK=1 ;;
    --screenshots) CHECK=1; SHOTS=1 ;;
    --fresh) FRESH=1 ;;
    --db) DB=$2; shift ;;
    --port) PORT=$2; shift ;;
    *) echo "unknown option $1 (see the head of $0)"; exit 2 ;;
  esac
  shift
done
if ! odoo_present; then
  echo "Odoo 19 is not installed at $ODOO_HOME (set ODOO_HOME). README.md, 'Testing in Odoo',"
  echo "says how to get it; the KSeF core demo needs no Odoo: bash scripts/demo.sh"
  exit 1
fi
started=$(date +%s)
odoo_prepare
OUT=$ROOT/demo-output/odoo
if [ "$CHECK" = 1 ]; then
  # its own database, data folder (master key, emulator state) and ports: a demo of the user's
  # is left alone
  OUT=$(mktemp -d); DB=${DB}_check_$$; PORT=$(free_port); FRESH=1
  export KSEF_DEMO_EMULATOR_PORT=$(free_port)
fi
mkdir -p "$OUT/addons" "$OUT/data"
ln -sfn "$ROOT" "$OUT/addons/l10n_pl_ksef"
ARGS=(--addons-path="$ODOO_HOME/odoo/addons,$ODOO_HOME/odoo/odoo/addons,$OUT/addons"
      --data-dir="$OUT/data" --log-level=warn)
if [ "$FRESH" = 1 ]; then
  dropdb --if-exists "$DB"
  rm -rf "$OUT/data/filestore/$DB" "$OUT/data/l10n_pl_ksef"
fi
if ! psql -lqtA | cut -d'|' -f1 | grep -qx "$DB"; then
  echo "== creating the database $DB with Odoo's Invoicing, l10n_pl and l10n_pl_ksef =="
  createdb "$DB"
  if ! "$ODOO_PY" "$ODOO_BIN" "${ARGS[@]}" -d "$DB" -i l10n_pl_ksef --stop-after-init --no-http \
      >"$OUT/install.log" 2>&1; then
    tail -30 "$OUT/install.log"; echo "Installing the addon failed (log: $OUT/install.log)."; exit 1
  fi
fi
echo "== the demo company, KSeF connection, invoices and bills =="
if ! "$ODOO_PY" "$ODOO_BIN" shell "${ARGS[@]}" -d "$DB" --no-http \
    < "$ROOT/scripts/demo_odoo_setup.py" >"$OUT/setup.log" 2>&1 \
    || ! grep -q "^demo: ready" "$OUT/setup.log"; then
  grep -vE "^WARNING: Location|INFO" "$OUT/setup.log" | tail -40
  echo "The demo could not be set up (log: $OUT/setup.log)."; exit 1
fi
grep -E "^demo: " "$OUT/setup.log"
url=http://127.0.0.1:$PORT
echo "== ready in $(( $(date +%s) - started )) s =="
if [ "$CHECK" = 0 ]; then
  echo "Open $url/odoo/action-account.action_move_out_invoice_type and log in as admin / admin"
  echo "(the company 'Demo Sp. z o.o.'; Ctrl+C stops Odoo)."
  exec "$ODOO_PY" "$ODOO_BIN" "${ARGS[@]}" -d "$DB" --db-filter="^$DB\$" --http-port="$PORT" \
    --http-interface=127.0.0.1
fi
"$ODOO_PY" "$ODOO_BIN" "${ARGS[@]}" -d "$DB" --db-filter="^$DB\$" --http-port="$PORT" \
  --http-interface=127.0.0.1 --max-cron-threads=0 >"$OUT/odoo.log" 2>&1 &
odoo=$!
cleanup() { kill "$odoo" 2>/dev/null; wait "$odoo" 2>/dev/null; dropdb --if-exists "$DB"; rm -rf "$OUT"; }
trap cleanup EXIT
if ! "$ODOO_PY" "$ROOT/scripts/demo_odoo_check.py" "$url" "$DB"; then
  echo "--- Odoo's log ---"; tail -30 "$OUT/odoo.log"; exit 1
fi
if [ "$SHOTS" = 1 ]; then
  "$ODOO_PY" -m pip install -q --disable-pip-version-check websocket-client \
    -c "$ODOO_HOME/odoo/requirements.txt"
  "$ODOO_PY" "$ROOT/scripts/screenshots.py" "$url" "$DB" "$ROOT/docs/screenshots"
fi
