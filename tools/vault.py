"""Encryption at rest of the KSeF secrets (tokens, private keys, passwords).

Where the master key lives
--------------------------
The secrets are stored in the database as Fernet tokens (AES-128-CBC +
HMAC-SHA256, from the ``cryptography`` package). The key that opens them
is never stored in the database:

1. If the Odoo configuration file has the option ``l10n_pl_ksef_key``
   (a Fernet key: 32 random bytes, URL-safe base64, 44 characters), that
   key is used. Generate one with::

       python3 -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"

2. Otherwise a key file is generated once, with mode 0600, in Odoo's data
   directory (``data_dir``, next to the filestore, outside the database):
   ``<data_dir>/l10n_pl_ksef/master.key`` (another directory can be chosen
   with the option ``l10n_pl_ksef_key_dir``). Back this file up together with
   the database: without it the stored KSeF secrets cannot be read (they
   can always be entered again with the "Connect to KSeF" wizard).

Every ciphertext is prefixed with the identifier of its key
(``ksef1:<key id>:<fernet token>``, the key id being the first 12 hex
digits of the SHA-256 of the key), so a database copied to another server
with another key fails with a clear message instead of garbage.

Rotating the key
----------------
* Key file: run the action "Rotate KSeF encryption key" (Settings >
  Technical > Actions, or ``env['l10n_pl_ksef.config']._l10n_pl_ksef_rotate_master_key()``
  as administrator). A new key is generated, every secret of every company
  is decrypted and re-encrypted with it, and the new key becomes
  ``master.key``; the old file is kept as ``master.key.old-<timestamp>``
  so an interrupted rotation loses nothing. Delete old files once the
  rotation is committed and backed up.
* Key in the configuration file: put the new key in ``l10n_pl_ksef_key``,
  move the previous one to ``l10n_pl_ksef_old_keys`` (comma separated),
  restart Odoo and run the same action: it re-encrypts every secret with
  the current key. Then remove ``l10n_pl_ksef_old_keys``.

Old keys (``l10n_pl_ksef_old_keys`` and ``master.key.old-*`` files) are
only ever used to decrypt.
"""
import base64
import hashlib
import logging
import os
import time

from cryptography.fernet import Fernet, InvalidToken
from odoo.tools import config

from ..ksef.i18n import _

_logger = logging.getLogger(__name__)

PREFIX = "ksef1"
CONFIG_OPTION = "l10n_pl_ksef_key"
CONFIG_OLD_OPTION = "l10n_pl_ksef_old_keys"
CONFIG_DIR_OPTION = "l10n_pl_ksef_key_dir"
KEY_DIR = "l10n_pl_ksef"
KEY_FILE = "master.key"


class VaultError(Exception):
    """A secret cannot be encrypted or decrypted; ``message`` is for users.

    Like the core's errors it keeps ``template`` (marked for translation) and
    ``params``, so ``ksef_i18n.error_message`` shows it in the user's language.
    """

    def __init__(self, message, params=None):
        self.template = message
        self.params = dict(params or {})
        self.message = message % self.params if self.params else message
        super().__init__(self.message)


def key_id(key):
    """Short public identifier of a Fernet key (never the key itself)."""
    return hashlib.sha256(key).hexdigest()[:12]


def _check_key(raw, origin):
    key = raw.strip().encode() if isinstance(raw, str) else raw.strip()
    try:
        if len(base64.urlsafe_b64decode(key)) != 32:
            raise ValueError
    except (ValueError, TypeError) as exc:
        raise VaultError(_(
            "The KSeF encryption key in %(origin)s is not a valid key (44 characters of URL-safe "
            "base64). Generate one with cryptography's Fernet.generate_key()."),
            {"origin": origin}) from exc
    return key


def key_directory():
    return config.get(CONFIG_DIR_OPTION) or os.path.join(config["data_dir"], KEY_DIR)


def key_file_path():
    return os.path.join(key_directory(), KEY_FILE)


def key_from_config():
    value = config.get(CONFIG_OPTION)
    return _check_key(value, "l10n_pl_ksef_key (odoo.conf)") if value else None


def _write_key_file(path, key):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")


def _read_key_file(path):
    with open(path, "rb") as handle:
        return _check_key(handle.read(), path)


def current_key():
    """The key new secrets are encrypted with (created on first use)."""
    key = key_from_config()
    if key:
        return key
    path = key_file_path()
    if not os.path.exists(path):
        try:
            _write_key_file(path, Fernet.generate_key())
            _logger.info("KSeF: generated a new encryption key file in %s", key_directory())
        except FileExistsError:
            _logger.debug("KSeF: key file created by another worker at the same moment")
        except OSError as exc:
            raise VaultError(_(
                "The KSeF encryption key file could not be created in %(directory)s (%(error)s). "
                "Make the directory writable for Odoo or set %(option)s in the Odoo configuration "
                "file."), {"directory": key_directory(), "error": exc.strerror,
                           "option": CONFIG_OPTION}) from exc
    return _read_key_file(path)


def keyring():
    """Every known key by key id: the current one and old ones (decryption only)."""
    keys = [current_key()]
    for raw in (config.get(CONFIG_OLD_OPTION) or "").split(","):
        if raw.strip():
            keys.append(_check_key(raw, CONFIG_OLD_OPTION))
    directory = key_directory()
    if os.path.isdir(directory):
        for name in sorted(os.listdir(directory)):
            if name.startswith(KEY_FILE + ".old-") or name == KEY_FILE:
                try:
                    keys.append(_read_key_file(os.path.join(directory, name)))
                except (OSError, VaultError):
                    _logger.warning("KSeF: ignoring unreadable key file %s", name)
    return {key_id(k): k for k in reversed(keys)}


def encrypt(value, key=None):
    """Encrypt a str or bytes value; returns the ASCII ciphertext (str), or False for empty."""
    if value in (None, False, b"", ""):
        return False
    data = value.encode() if isinstance(value, str) else bytes(value)
    key = key or current_key()
    return "%s:%s:%s" % (PREFIX, key_id(key), Fernet(key).encrypt(data).decode())


def decrypt(ciphertext):
    """Decrypt a value made by :func:`encrypt`; returns bytes (b"" for empty)."""
    if not ciphertext:
        return b""
    try:
        prefix, kid, token = ciphertext.split(":", 2)
    except ValueError:
        prefix = kid = token = None
    if prefix != PREFIX:
        raise VaultError(_("A stored KSeF secret is damaged. Disconnect from KSeF and connect again."))
    key = keyring().get(kid)
    if key is None:
        raise VaultError(_(
            "The stored KSeF secrets were encrypted with a key this server does not have "
            "(key id %(key_id)s). Restore the key file or the %(option)s option, or disconnect "
            "from KSeF and connect again."), {"key_id": kid, "option": CONFIG_OPTION})
    try:
        return Fernet(key).decrypt(token.encode())
    except InvalidToken as exc:
        raise VaultError(_(
            "A stored KSeF secret cannot be decrypted (damaged data). Disconnect from KSeF "
            "and connect again.")) from exc


def prepare_rotation():
    """Return the key to re-encrypt with and a function that makes it current.

    With a key in the configuration file the current key is simply kept (the
    administrator has already put the new one there). With a key file a new
    key is written as ``master.key.new``; ``commit()`` moves the old file to
    ``master.key.old-<timestamp>`` and the new one into place.
    """
    if key_from_config():
        return key_from_config(), lambda: None
    current_key()
    path = key_file_path()
    new_path = path + ".new"
    if os.path.exists(new_path):
        os.unlink(new_path)
    new_key = Fernet.generate_key()
    _write_key_file(new_path, new_key)

    def commit():
        os.replace(path, "%s.old-%d" % (path, int(time.time())))
        os.replace(new_path, path)
        _logger.info("KSeF: encryption key rotated (new key id %s)", key_id(new_key))

    return new_key, commit
