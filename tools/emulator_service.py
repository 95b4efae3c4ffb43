"""The local KSeF emulator used by the evaluation mode.

One emulator per Odoo process at most, started on demand in a daemon
thread, bound to 127.0.0.1 on the port of the ``l10n_pl_ksef.emulator_port``
system parameter (default 8765), with its state in a SQLite file in Odoo's
data directory (``<data_dir>/l10n_pl_ksef/emulator.sqlite``) so that it
survives restarts. If something already answers on that port (another
Odoo worker's emulator, or ``python -m ksef emulator``), it is used as is.
"""
import errno
import logging
import os
import socket
import threading

from odoo.tools import config

_logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
PORT_PARAM = "l10n_pl_ksef.emulator_port"

_lock = threading.Lock()
_emulators = {}  # port -> Emulator started by this process


def emulator_url(port):
    return "http://%s:%d/v2" % (HOST, port)


def is_listening(port, timeout=0.5):
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def get_port(env):
    value = env["ir.config_parameter"].sudo().get_param(PORT_PARAM, DEFAULT_PORT)
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise ValueError(env._(
            "The system parameter %(param)s must be a TCP port number (1-65535), not %(value)s.",
            param=PORT_PARAM, value=repr(value)))
    return port


def _schema_dir():
    # realpath: the addons folder may be a symlink to the repository
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    candidate = os.path.normpath(os.path.join(here, "..", "shared", "ksef", "schemas", "FA"))
    return candidate if os.path.isdir(candidate) else None


def ensure_running(port, directory=None):
    """Make sure an emulator answers on 127.0.0.1:port; return its API base URL.

    ``directory`` holds the emulator's SQLite state (default: the data directory).
    """
    with _lock:
        if port in _emulators or is_listening(port):
            return emulator_url(port)
        from ..ksef.emulator import Emulator

        directory = directory or os.path.join(config["data_dir"], "l10n_pl_ksef")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        emulator = Emulator(schema_dir=_schema_dir(),
                            db_path=os.path.join(directory, "emulator.sqlite"),
                            rate_limits="off")
        try:
            url = emulator.start(host=HOST, port=port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            # another process holds the port: a busy emulator (another Odoo worker's, or the
            # one a bench or `python -m ksef emulator` runs) did not answer the probe in time.
            # Use it; if it is not an emulator, the request itself says it cannot connect.
            _logger.info("KSeF: port %s is taken by another process; using it as the emulator",
                         port)
            return emulator_url(port)
        _emulators[port] = emulator
        _logger.info("KSeF: local emulator started at %s", url)
        return url


def stop(port):
    """Stop the emulator this process started on ``port`` (if any)."""
    with _lock:
        emulator = _emulators.pop(port, None)
    if emulator is not None:
        emulator.stop()
