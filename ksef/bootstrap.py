"""Getting a KSeF token on the TEST environment (or the local emulator) without any real credentials.

On TEST, KSeF accepts self-signed certificates; a company-seal certificate whose
identity is the NIP is the owner of that NIP's context. So: make such a
certificate, log in with XAdES, ``POST /tokens``, wait until the token is Active.
Used by the demo and by Odoo's evaluation mode. Never on production.
"""
from . import environments, errors
from .client import TEST_TOKEN_PERMISSIONS, KSeFClient, resolve_environment
from .i18n import _
from .nip import check_nip


def obtain_test_token(environment_or_url, nip, permissions=TEST_TOKEN_PERMISSIONS,
                      description="Odoo l10n_pl_ksef test token", timeout=60.0, client_kwargs=None):
    """Return a new KSeF token (str) for ``nip`` on TEST/DEMO-like environments.

    Refuses PROD (KSeFConfigError): production needs real credentials.
    """
    env = resolve_environment(environment_or_url)
    if env.name == "PROD" or env.api_url == environments.PROD.api_url:
        raise errors.KSeFConfigError(_(
            "A test token cannot be created on the production KSeF environment: self-signed "
            "certificates are accepted only on TEST. Generate the token in the KSeF taxpayer "
            "application with your real credentials instead."))
    nip = check_nip(nip, _("The company NIP (KSeF context)"))
    from . import certs
    test_cert = certs.make_test_certificate(nip=nip, cert_type=certs.AUTHENTICATION)
    client = KSeFClient(env, **(client_kwargs or {}))
    try:
        credentials = certs.Credentials(certificate=test_cert.certificate,
                                        private_key=test_cert.private_key)
        client.authenticate_with_certificate(nip, credentials=credentials)
        reference, token = client.generate_ksef_token(permissions, description)
        if client.auth_grace is None:
            client.wait_for_ksef_token(reference, timeout=timeout)
        else:                       # a server worker: one pause at most, never a loop
            info = client.ksef_token_status(reference)
            if not info.is_active:
                client.sleep(client.auth_grace)
                info = client.ksef_token_status(reference)
            if not info.is_active:
                raise errors.KSeFTimeoutError(_(
                    "KSeF has not activated the new test token yet (status %(status)s). Try "
                    "again in a few seconds."), params={"status": info.status})
        try:
            client.logout()
        except errors.KSeFError:
            pass    # the token is made; ending the helper login is best effort
        return token
    finally:
        client.close()
