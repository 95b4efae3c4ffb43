#!/usr/bin/env bash
# Schemathesis against the local emulator (not run by CI): every operation the emulator
# implements, phases examples, coverage and fuzzing, with a real access token.
#   bash ksef/tests/run_schemathesis.sh [extra st options]
# Needs schemathesis 4.32.5 in a throwaway venv (never in .venv: it wants newer libraries):
#   python3 -m venv /tmp/st-venv && /tmp/st-venv/bin/pip install schemathesis==4.32.5
set -euo pipefail
cd "$(dirname "$0")/../.."
ST=${ST:-/tmp/st-venv/bin/st}
PY=${PY:-.venv/bin/python}
PORT=${PORT:-18765}
WORK=$(mktemp -d)
SPEC=$WORK/openapi.json
URL=http://127.0.0.1:$PORT/v2

# the official 2.6 spec with the 2.7 additions (ksef/tests/conftest.py), servers -> emulator
$PY - "$SPEC" "$URL" <<'PY'
import json, sys
sys.path.insert(0, ".")
from ksef.tests.conftest import load_openapi_document
doc = load_openapi_document()
doc["servers"] = [{"url": sys.argv[2]}]
json.dump(doc, open(sys.argv[1], "w"))
PY

$PY -m ksef emulator --port "$PORT" --rate-limits off >"$WORK/emulator.log" 2>&1 &
EMU=$!
# the emulator's own log is shown when it died during the run
trap 'kill -0 $EMU 2>/dev/null || { echo "emulator died:"; tail -40 "$WORK/emulator.log"; }
      kill $EMU 2>/dev/null; [ -z "${KEEP_LOG:-}" ] || cp "$WORK/emulator.log" "$KEEP_LOG"; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "$URL/security/public-key-certificates" && break; sleep 0.2; done

# real bearer tokens of the three kinds, minted through our client (schemathesis_hooks.py
# takes the next one of a pool when one stops working)
$PY - "$URL" "$WORK/tokens.json" <<'PY'
import json, sys
sys.path.insert(0, ".")
from ksef import auth
from ksef.bootstrap import obtain_test_token
from ksef.client import KSeFClient
url, nip, other_nip = sys.argv[1], "5265877635", "7762811692"
ksef_token = obtain_test_token(url, nip)
pools = {"access": [], "refresh": [], "authentication": [], "limits": []}
for _ in range(40):
    client = KSeFClient(url)
    client.authenticate_with_token(nip, ksef_token)
    pools["access"].append(client.tokens.access_token)
    pools["refresh"].append(client.tokens.refresh_token)
    _ref, token = auth.init_token_auth(client.transport, client.key_store, nip, ksef_token)
    pools["authentication"].append(token)
# the /testdata/*limits* operations run in a context of their own: the limits schemathesis
# sets there throttle that context only, not every operation tested after them
other_token = obtain_test_token(url, other_nip)
for _ in range(5):
    client = KSeFClient(url)
    client.authenticate_with_token(other_nip, other_token)
    pools["limits"].append(client.tokens.access_token)
json.dump(pools, open(sys.argv[2], "w"))
PY

# what the emulator implements: its operation table (ksef/emulator/routes.py) with a handler
REGEX=$($PY - <<'PY'
import re, sys
sys.path.insert(0, ".")
from ksef.emulator import app  # noqa: F401  (registers the handlers)
from ksef.emulator.routes import OPERATIONS
from ksef.emulator.server import HANDLERS
paths = sorted({t for m, t, _g, _l in OPERATIONS if (m, t) in HANDLERS})
print("^(%s)$" % "|".join(re.escape(p) for p in paths))
PY
)

# every default check runs, except that positive_data_acceptance (ST202) is replaced by
# ksef_positive_data_acceptance in schemathesis_hooks.py: the KSeF spec has no 404 and documents
# its "unknown reference/key/serial" answers as 400 with exception codes listed per operation
# (responses.400.description); see the hooks file for exactly what it accepts
KSEF_ST_URL=$URL KSEF_ST_TOKENS=$WORK/tokens.json KSEF_ST_SPEC=$SPEC \
PYTHONPATH=ksef/tests SCHEMATHESIS_HOOKS=schemathesis_hooks \
"$ST" run "$SPEC" --url "$URL" --phases examples,coverage,fuzzing \
  --include-path-regex "$REGEX" --exclude-checks positive_data_acceptance \
  --max-examples "${MAX_EXAMPLES:-20}" --workers 1 "$@"
