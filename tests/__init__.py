from . import test_connect
from . import test_offline
from . import test_security
from . import test_import_mapping
from . import test_fa3_mapping
from . import test_send_online
from . import test_import_cursor
from . import test_import_emulator
