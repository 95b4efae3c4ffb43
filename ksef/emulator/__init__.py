"""Local KSeF 2.0 emulator (TEST-like) for tests, demos and benchmarks.

Standard-library HTTP server (ThreadingHTTPServer) speaking the official
OpenAPI: see notes/CONTRACT.md for the Python API.
"""
from .app import Emulator

__all__ = ["Emulator"]
