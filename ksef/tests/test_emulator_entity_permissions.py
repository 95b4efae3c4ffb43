"""Emulator: a client grants an accounting office entity permissions through the real permissions
API (POST /permissions/entities/grants); the office then logs in with its own certificate in the
client's context. Without the grant the login ends with 415."""
from ksef import certs

from .emulator_support import SAMPLE_NIP, Api

OFFICE_NIP = "5265877635"


def test_entity_grant_lets_the_office_log_in_in_the_clients_context(emulator, openapi_check):
    office = certs.make_test_certificate(nip=OFFICE_NIP)
    client_seal = certs.make_test_certificate(nip=SAMPLE_NIP)
    office_api = Api(emulator, openapi_check)
    emulator.state.delete("grants", "%s|Nip|%s" % (SAMPLE_NIP, OFFICE_NIP))
    office_api.xades_login(OFFICE_NIP, office.certificate, office.private_key, context_nip=SAMPLE_NIP,
                           expect_status=415)
    client_api = Api(emulator, openapi_check)
    client_api.xades_login(SAMPLE_NIP, client_seal.certificate, client_seal.private_key)
    granted = client_api.call("POST", "/permissions/entities/grants", json={
        "subjectIdentifier": {"type": "Nip", "value": OFFICE_NIP},
        "permissions": [{"type": "InvoiceWrite", "canDelegate": False}, {"type": "InvoiceRead"}],
        "description": "Biuro rachunkowe", "subjectDetails": {"fullName": "Biuro"}})
    assert granted.status_code == 202
    status = client_api.call("GET", "/permissions/operations/%s" % granted.json()["referenceNumber"])
    assert status.json()["status"]["code"] == 200
    # another context does not see the operation
    office_own = Api(emulator, openapi_check)
    office_own.xades_login(OFFICE_NIP, office.certificate, office.private_key)
    assert office_own.call("GET", "/permissions/operations/%s"
                           % granted.json()["referenceNumber"]).status_code == 400
    # the office, with its own certificate, now logs in in the client's context and can send
    office_api.xades_login(OFFICE_NIP, office.certificate, office.private_key, context_nip=SAMPLE_NIP)
    session_ref, _aes, _iv = office_api.open_session()
    assert session_ref
    emulator.state.delete("grants", "%s|Nip|%s" % (SAMPLE_NIP, OFFICE_NIP))
    office_api.xades_login(OFFICE_NIP, office.certificate, office.private_key, context_nip=SAMPLE_NIP,
                           expect_status=415)


def test_entity_grant_needs_credentials_manage(emulator, openapi_check):
    office = certs.make_test_certificate(nip=OFFICE_NIP)
    token = emulator.make_ksef_token(SAMPLE_NIP, permissions=("InvoiceWrite",))
    api = Api(emulator, openapi_check)
    api.token_login(SAMPLE_NIP, token)
    refused = api.call("POST", "/permissions/entities/grants", json={
        "subjectIdentifier": {"type": "Nip", "value": OFFICE_NIP},
        "permissions": [{"type": "InvoiceRead"}], "description": "Biuro rachunkowe",
        "subjectDetails": {"fullName": "Biuro"}})
    assert refused.status_code == 403
    assert office  # the office's certificate was never needed for the refusal


def test_revoking_the_grant_invalidates_the_offices_tokens(emulator, openapi_check):
    """KSeF invalidates the tokens of a login whose permissions are taken back; taking back one
    of two leaves the other usable in the same session."""
    office = certs.make_test_certificate(nip=OFFICE_NIP)
    emulator.revoke_permissions(SAMPLE_NIP, "Nip", OFFICE_NIP)
    emulator.grant_permissions(SAMPLE_NIP, "Nip", OFFICE_NIP, ["InvoiceWrite", "InvoiceRead"])
    office_api = Api(emulator, openapi_check)
    tokens = office_api.xades_login(OFFICE_NIP, office.certificate, office.private_key,
                                    context_nip=SAMPLE_NIP)
    assert office_api.open_session()[0]
    emulator.revoke_permissions(SAMPLE_NIP, "Nip", OFFICE_NIP, ["InvoiceWrite"])
    refused = office_api.call("POST", "/sessions/online", json={}, validate_request=False)
    assert refused.status_code == 403
    assert "InvoiceWrite" in refused.text
    emulator.revoke_permissions(SAMPLE_NIP, "Nip", OFFICE_NIP)
    assert office_api.call("GET", "/sessions?pageSize=10&sessionType=Online").status_code == 401
    refresh = office_api.call("POST", "/auth/token/refresh", token=tokens["refreshToken"]["token"])
    assert refresh.status_code == 401
    office_api.xades_login(OFFICE_NIP, office.certificate, office.private_key, context_nip=SAMPLE_NIP,
                           expect_status=415)
    # the client's own login in its context is not affected by grants
    seal = certs.make_test_certificate(nip=SAMPLE_NIP)
    own = Api(emulator, openapi_check)
    own.xades_login(SAMPLE_NIP, seal.certificate, seal.private_key)
    assert own.open_session()[0]
