#!/usr/bin/env bash
# The demo (README): sets up a virtualenv and runs `python -m ksef demo` against the
# embedded KSeF 2.0 emulator: test token, login, send an official sample invoice, UPO.
set -euo pipefail
# `bash scripts/demo.sh --odoo`: the same loop in a real Odoo 19 (scripts/demo_odoo.sh)
if [ "${1:-}" = "--odoo" ]; then shift; exec bash "$(dirname "$0")/demo_odoo.sh" "$@"; fi
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
exec "$VENV/bin/python" -m ksef demo "$@"
