#!/usr/bin/env bash
# The demo (README): sets up a virtualenv and runs `python -m ksef demo` against the
# embedded KSeF 2.0 emulator: test token, login, send an official sample invoice, UPO.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
exec "$VENV/bin/python" -m ksef demo "$@"
