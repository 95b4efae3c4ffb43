"""What is not a model: the secrets vault, the local emulator service, translation helpers."""
from . import emulator_service, ksef_i18n, vault  # noqa: F401
