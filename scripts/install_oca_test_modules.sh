#!/usr/bin/env bash
# Downloads the OCA modules the payment tests use (19.0 wheels from PyPI, no dependencies
# resolved by pip: their metadata asks for an "odoo" distribution a source install lacks) and
# unpacks their addons into the folder given as argument, to be added to --addons-path.
#   bash scripts/install_oca_test_modules.sh /tmp/oca_addons [python]
# l10n_pl_ksef does not depend on them; its tests that need them skip when they are absent.
# OCA_WHEEL_DIR: a folder with wheels already downloaded (reused, missing ones fetched).
set -euo pipefail
dest=${1:?usage: install_oca_test_modules.sh DEST_ADDONS_DIR [PYTHON]}
py=${2:-${ODOO_PY:-python3}}
wheels=${OCA_WHEEL_DIR:-$(mktemp -d)}
mkdir -p "$dest" "$wheels"
# account_reconcile_oca needs account_statement_base; the SEPA credit transfer needs
# account_banking_pain_base -> account_payment_order -> account_payment_mode
modules=(
  account_statement_base account_reconcile_oca
  account_payment_mode account_payment_order account_banking_pain_base
  account_banking_sepa_credit_transfer
)
for module in "${modules[@]}"; do
  dist=odoo-addon-${module//_/-}
  if ! ls "$wheels"/odoo_addon_"$module"-19.0.*.whl >/dev/null 2>&1; then
    "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$wheels" "$dist>=19.0,<19.1"
  fi
  wheel=$(ls "$wheels"/odoo_addon_"$module"-19.0.*.whl | sort -V | tail -1)
  tmp=$(mktemp -d)
  "$py" -m zipfile -e "$wheel" "$tmp"
  rm -rf "${dest:?}/$module"
  cp -r "$tmp/odoo/addons/$module" "$dest/$module"
  rm -rf "$tmp"
  echo "$module <- $(basename "$wheel")"
done
