from . import l10n_pl_ksef_config
from . import res_company
from . import res_config_settings
