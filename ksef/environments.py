"""KSeF environments: API base URLs and QR verification hosts."""
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Environment:
    name: str          # "TEST", "DEMO", "PROD" or "CUSTOM"
    api_url: str       # base URL including /v2, no trailing slash
    qr_url: str        # QR verification base URL, no trailing slash
    latarnia_url: str = ""

    @property
    def qr_host(self):
        """Host part of the QR URL (what KOD II signs), e.g. qr-test.ksef.mf.gov.pl."""
        return self.qr_url.split("://", 1)[-1].rstrip("/")


TEST = Environment("TEST", "https://api-test.ksef.mf.gov.pl/v2",
                   "https://qr-test.ksef.mf.gov.pl",
                   "https://api-latarnia-test.ksef.mf.gov.pl")
DEMO = Environment("DEMO", "https://api-demo.ksef.mf.gov.pl/v2",
                   "https://qr-demo.ksef.mf.gov.pl",
                   "https://api-latarnia-test.ksef.mf.gov.pl")
PROD = Environment("PROD", "https://api.ksef.mf.gov.pl/v2",
                   "https://qr.ksef.mf.gov.pl",
                   "https://api-latarnia.ksef.mf.gov.pl")

ENVIRONMENTS = {env.name: env for env in (TEST, DEMO, PROD)}


def custom(api_url, qr_url=None, name="CUSTOM"):
    """An environment at a custom base URL (the local emulator).

    QR links of a custom environment use the TEST QR host unless given; on loopback (the local
    emulator, evaluation) they point at the emulator itself, which serves the KOD I / KOD II
    verification pages (ksef/emulator/verify.py), so a scanned code can be checked locally.
    """
    api_url = api_url.rstrip("/")
    base = api_url[:-3] if api_url.endswith("/v2") else api_url
    if qr_url is None and _is_loopback(base):
        qr_url = base
    # the local emulator serves the availability documents under /latarnia
    return Environment(name, api_url, (qr_url or TEST.qr_url).rstrip("/"), base + "/latarnia")


def _is_loopback(url):
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def get(name_or_env):
    """Return an Environment from 'TEST'/'DEMO'/'PROD' (any case) or an Environment."""
    if isinstance(name_or_env, Environment):
        return name_or_env
    key = str(name_or_env or "").strip().upper()
    if key in ("PRD", "PRODUCTION"):
        key = "PROD"
    if key not in ENVIRONMENTS:
        raise ValueError("Unknown KSeF environment %r (use TEST, DEMO or PROD)." % name_or_env)
    return ENVIRONMENTS[key]
