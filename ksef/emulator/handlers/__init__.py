"""Operation handlers of the emulator, one module per API area."""
# importing a handler module registers its routes (ksef.emulator.server.route)
from . import (
    auth,
    batch,
    certificates,
    collective,
    exports,
    invoices,
    limits,
    permissions,
    sessions,
    testdata,
    tokens,
)
