# Sourced by the scripts that run the addon in a real Odoo 19 (tests, demo): checks Odoo at
# $ODOO_HOME (default /opt/odoo: source in odoo/, virtualenv in venv/), starts PostgreSQL when
# nothing answers (CI and a fresh machine start with nothing running), makes sure the current
# user may create databases, and installs our requirements into Odoo's virtualenv under Odoo's
# own pins (exactly what an administrator runs).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ODOO_HOME=${ODOO_HOME:-/opt/odoo}
ODOO_PY=$ODOO_HOME/venv/bin/python
ODOO_BIN=$ODOO_HOME/odoo/odoo-bin

odoo_present() { [ -x "$ODOO_PY" ] && [ -f "$ODOO_BIN" ]; }

odoo_prepare() {
  if ! pg_isready -q 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null; then
      for v in $(ls /etc/postgresql 2>/dev/null); do pg_ctlcluster "$v" main start || true; done
    fi
    for _ in $(seq 1 30); do pg_isready -q 2>/dev/null && break; sleep 1; done
  fi
  pg_isready -q || { echo "PostgreSQL is not running and could not be started."; return 1; }
  if ! psql -d postgres -Atc "select 1" >/dev/null 2>&1; then
    su postgres -c "createuser -s $(whoami)" >/dev/null 2>&1 || true
  fi
  "$ODOO_PY" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" \
    -c "$ODOO_HOME/odoo/requirements.txt"
}

free_port() {
  "$ODOO_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
