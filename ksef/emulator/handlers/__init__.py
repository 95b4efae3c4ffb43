"""Operation handlers of the emulator, one module per API area."""
