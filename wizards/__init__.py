from . import l10n_pl_ksef_connect_wizard
