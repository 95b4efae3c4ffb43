# Sourced by the scripts: makes (or reuses) a virtualenv with the addon's and the
# test tools' requirements, installed under Odoo 19's own version pins.
# KSEF_VENV chooses the folder (default .venv in the repository).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${KSEF_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
pyver=$("$VENV/bin/python" -c 'import sys; print("%d%d" % sys.version_info[:2])')
case "$pyver" in
  311) CONSTRAINTS=$ROOT/constraints/odoo19-py311.txt ;;
  *)   CONSTRAINTS=$ROOT/constraints/odoo19-py312.txt ;;
esac
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  -r "$ROOT/requirements.txt" -r "$ROOT/requirements-test.txt" -c "$CONSTRAINTS"
