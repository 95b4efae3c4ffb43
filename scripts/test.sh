#!/usr/bin/env bash
# The project's test command (README): the KSeF core's pytest suite against the
# embedded emulator, then the addon's suite in real Odoo 19 when /opt/odoo is there.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
echo "== KSeF core: pytest (against the emulator over real HTTP) =="
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
echo
# the README's Odoo demo: set up, start, check the invoices page and the demo data, stop
if [ -x "${ODOO_HOME:-/opt/odoo}/venv/bin/python" ]; then
  echo "== the Odoo demo (bash scripts/demo.sh --odoo --check) =="
  bash "$ROOT/scripts/demo.sh" --odoo --check
  echo
fi
bash "$ROOT/scripts/odoo_tests.sh"
