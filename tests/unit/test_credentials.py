"""Credential routes: DESIGN §4 (credential rows) and issue rules, on moto."""

from __future__ import annotations

import base64
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sentori_push import credentials, vapid
from sentori_push.storage import credentials as store

BASE = "/admin/api/projects/{}/push/credentials"


def make_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_of(key: ec.EllipticCurvePrivateKey) -> str:
    return vapid.b64url_encode(vapid.public_point(key))


def pem(key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def der(key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())


SEC1 = serialization.PrivateFormat.TraditionalOpenSSL
PKCS8 = serialization.PrivateFormat.PKCS8

PRIVATE_FORMS = {
    "pem_sec1_text": lambda k: pem(k, SEC1),
    "pem_pkcs8_text": lambda k: pem(k, PKCS8),
    "base64_of_pem_sec1": lambda k: base64.b64encode(pem(k, SEC1).encode()).decode(),
    "base64_of_pem_pkcs8": lambda k: base64.b64encode(pem(k, PKCS8).encode()).decode(),
    "base64_of_der_pkcs8": lambda k: base64.b64encode(der(k, PKCS8)).decode(),
    "base64url_raw_scalar": lambda k: vapid.raw_scalar(k),
}


def webpush_body(key: ec.EllipticCurvePrivateKey, private: str | None = None, **config: str) -> dict[str, object]:
    return {
        "provider": "webpush",
        "config": {"vapidPublic": public_of(key), "contact": "mailto:ops@example.com", **config},
        "secret": {"vapidPrivate": private if private is not None else vapid.raw_scalar(key)},
    }


@pytest.mark.parametrize("form", sorted(PRIVATE_FORMS))
def test_put_accepts_each_private_key_format(api, project, form):
    key = make_key()
    result = api(
        "PUT",
        BASE.format(project.project_id),
        key=project.admin_key,
        json_body=webpush_body(key, PRIVATE_FORMS[form](key)),
    )
    assert result.status == 200, result.text
    assert result.json["ok"] is True
    assert result.json["provider"] == "webpush"
    assert result.json["config"] == {"vapidPublic": public_of(key), "contact": "mailto:ops@example.com"}
    assert result.json["updatedAt"].endswith("Z")
    assert credentials.load_webpush(project.project_id).private_key == vapid.raw_scalar(key)


def test_put_accepts_the_snake_case_shape(api, project):
    key = make_key()
    body = {
        "provider": "webpush",
        "config": {"vapid_public": public_of(key), "contact": "https://example.com/contact"},
        "secret": {"vapid_private": pem(key, PKCS8)},
    }
    result = api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=body)
    assert result.status == 200, result.text
    assert result.json["config"]["vapidPublic"] == public_of(key)


def test_put_replaces_the_previous_credential(api, project):
    first, second = make_key(), make_key()
    api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=webpush_body(first))
    api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=webpush_body(second))
    listed = api("GET", BASE.format(project.project_id), key=project.admin_key).json
    assert [c["config"]["vapidPublic"] for c in listed] == [public_of(second)]


def _point_off_curve() -> str:
    raw = bytearray(vapid.public_point(make_key()))
    raw[-1] ^= 1  # flip a bit of y: almost surely no longer on the curve
    return vapid.b64url_encode(bytes(raw))


@pytest.mark.parametrize(
    ("case", "public", "field"),
    [
        ("too_short", vapid.b64url_encode(b"\x04" + b"\x01" * 31), "config.vapidPublic"),
        ("compressed_point", None, "config.vapidPublic"),
        ("not_base64url", "not base64!!", "config.vapidPublic"),
        ("off_curve", _point_off_curve(), "config.vapidPublic"),
    ],
)
def test_put_rejects_a_public_key_that_is_not_a_p256_point(api, project, case, public, field):
    key = make_key()
    if case == "compressed_point":
        public = vapid.b64url_encode(
            key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
        )
    body = webpush_body(key)
    body["config"]["vapidPublic"] = public  # type: ignore[index]
    result = api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=body)
    assert result.status == 400
    assert result.error_code == "invalidCredential"
    assert result.json["error"]["field"] == field


@pytest.mark.parametrize(
    "private",
    [
        "-----BEGIN EC PRIVATE KEY-----\nnot a key\n-----END EC PRIVATE KEY-----",
        "garbage-that-is-not-base64-!!",
        vapid.b64url_encode(b"\xff" * 32),  # a scalar above the curve order
        base64.b64encode(b"random bytes that are not DER").decode(),
        "",
    ],
)
def test_put_rejects_a_private_key_that_does_not_parse(api, project, private):
    result = api(
        "PUT", BASE.format(project.project_id), key=project.admin_key, json_body=webpush_body(make_key(), private)
    )
    assert result.status == 400
    assert result.error_code == "invalidCredential"
    assert result.json["error"]["field"] == "secret.vapidPrivate"


def test_put_rejects_a_private_key_on_another_curve(api, project):
    other = ec.generate_private_key(ec.SECP384R1())
    result = api(
        "PUT",
        BASE.format(project.project_id),
        key=project.admin_key,
        json_body=webpush_body(make_key(), pem(other, PKCS8)),
    )
    assert result.status == 400
    assert result.json["error"]["field"] == "secret.vapidPrivate"


def test_put_rejects_a_private_key_that_does_not_match_the_public_key(api, project):
    result = api(
        "PUT",
        BASE.format(project.project_id),
        key=project.admin_key,
        json_body=webpush_body(make_key(), vapid.raw_scalar(make_key())),
    )
    assert result.status == 400
    assert result.error_code == "invalidCredential"
    assert result.json["error"]["field"] == "secret.vapidPrivate"
    assert "does not match" in result.json["error"]["message"]


@pytest.mark.parametrize("contact", ["ops@example.com", "http://example.com", "mailto:", "tel:+15550100", ""])
def test_put_rejects_a_contact_that_is_not_mailto_or_https(api, project, contact):
    result = api(
        "PUT",
        BASE.format(project.project_id),
        key=project.admin_key,
        json_body=webpush_body(make_key(), contact=contact),
    )
    assert result.status == 400
    assert result.error_code == "invalidCredential"
    assert result.json["error"]["field"] == "config.contact"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "webpush", "secret": {"vapidPrivate": "x"}}, "config"),
        ({"provider": "webpush", "config": {"contact": "mailto:a@b.co"}, "secret": {}}, "config.vapidPublic"),
        ({"provider": "webpush", "config": "text", "secret": {}}, "config"),
    ],
)
def test_put_names_the_missing_or_misshapen_field(api, project, body, field):
    result = api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=body)
    assert result.status == 400
    assert result.error_code == "invalidCredential"
    assert result.json["error"]["field"] == field


@pytest.mark.parametrize("provider", ["gcm", "WEBPUSH", "", None, 3])
def test_put_rejects_an_unknown_provider_naming_the_five(api, project, provider):
    body = webpush_body(make_key())
    body["provider"] = provider
    result = api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=body)
    assert result.status == 400
    assert result.error_code == "invalidProvider"
    for name in ("apns", "fcm", "webpush", "hcm", "mipush"):
        assert name in result.json["error"]["message"]


def test_other_providers_are_stored_as_given(api, project):
    body = {"provider": "fcm", "config": {"projectId": "demo-123"}, "secret": {"serviceAccount": "{...}"}}
    result = api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=body)
    assert result.status == 200, result.text
    assert result.json["config"] == {"projectId": "demo-123"}
    stored = store.get(project.project_id, "fcm")
    assert stored is not None
    assert credentials.open_secret(stored) == {"serviceAccount": "{...}"}


def test_malformed_json_is_invalid_request(api, project):
    result = api("PUT", BASE.format(project.project_id), key=project.admin_key, body=b"{not json")
    assert result.status == 400
    assert result.error_code == "invalidRequest"
    assert isinstance(result.json["error"]["details"], list)


def test_a_body_over_one_mebibyte_is_413(api, project):
    result = api("PUT", BASE.format(project.project_id), key=project.admin_key, body=b" " * (1024 * 1024 + 1))
    assert result.status == 413
    assert result.error_code == "bodyTooLarge"
    assert result.json["error"]["maxBytes"] == 1024 * 1024


def test_a_body_of_exactly_one_mebibyte_is_not_413(api, project):
    body = b'{"provider": "nope"}'
    result = api("PUT", BASE.format(project.project_id), key=project.admin_key, body=body.ljust(1024 * 1024))
    assert result.status == 400
    assert result.error_code == "invalidProvider"


def test_get_lists_credentials_without_any_secret(api, project):
    key = make_key()
    api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=webpush_body(key))
    api(
        "PUT",
        BASE.format(project.project_id),
        key=project.admin_key,
        json_body={"provider": "apns", "config": {"teamId": "T1"}, "secret": {"p8": "PRIVATE-APNS"}},
    )
    result = api("GET", BASE.format(project.project_id), key=project.admin_key)
    assert result.status == 200
    assert sorted(c["provider"] for c in result.json) == ["apns", "webpush"]
    assert all(set(c) == {"provider", "config", "updatedAt"} for c in result.json)
    assert vapid.raw_scalar(key) not in result.text
    assert "PRIVATE-APNS" not in result.text


def test_the_secret_is_stored_only_as_kms_ciphertext(api, project):
    key = make_key()
    api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=webpush_body(key))
    stored = store.get(project.project_id, "webpush")
    assert stored is not None
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    assert vapid.raw_scalar(key).encode() not in stored.secret_ciphertext
    assert raw not in stored.secret_ciphertext
    assert vapid.raw_scalar(key) not in str(stored.config)


def test_the_secret_never_reaches_a_log_line(api, project, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    key = make_key()
    forms = [vapid.raw_scalar(key), pem(key, SEC1).splitlines()[1], pem(key, PKCS8).splitlines()[1]]
    api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=webpush_body(key, pem(key, SEC1)))
    api("GET", BASE.format(project.project_id), key=project.admin_key)
    api("POST", BASE.format(project.project_id) + "/webpush/verify", key=project.admin_key)
    # An error path logs too: make one happen mid-request.
    api(
        "PUT",
        BASE.format(project.project_id),
        key=project.admin_key,
        json_body=webpush_body(key, pem(make_key(), SEC1)),
    )
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    for form in forms:
        assert form not in logged
    assert project.admin_key not in logged


def test_a_ciphertext_moved_to_another_project_fails_to_decrypt(api, project, other_project):
    api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=webpush_body(make_key()))
    original = store.get(project.project_id, "webpush")
    assert original is not None
    store.put(
        store.StoredCredential(
            other_project.project_id, "webpush", original.config, original.secret_ciphertext, original.updated_at
        )
    )
    with pytest.raises(credentials.CredentialUnavailable) as caught:
        credentials.load_webpush(other_project.project_id)
    assert caught.value.outcome == "CredentialDecryptFailed"
    verdict = api("POST", BASE.format(other_project.project_id) + "/webpush/verify", key=other_project.admin_key)
    assert verdict.json["status"] == "rejected"


def test_a_ciphertext_moved_to_another_provider_fails_to_decrypt(api, project):
    api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=webpush_body(make_key()))
    original = store.get(project.project_id, "webpush")
    assert original is not None
    store.put(store.StoredCredential(project.project_id, "fcm", {}, original.secret_ciphertext, original.updated_at))
    verdict = api("POST", BASE.format(project.project_id) + "/fcm/verify", key=project.admin_key)
    assert verdict.json["status"] == "rejected"


def test_delete_removes_the_credential_and_answers_204(api, project):
    api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=webpush_body(make_key()))
    result = api("DELETE", BASE.format(project.project_id) + "/webpush", key=project.admin_key)
    assert result.status == 204
    assert result.text == ""
    assert api("GET", BASE.format(project.project_id), key=project.admin_key).json == []


def test_delete_of_an_absent_credential_is_still_204(api, project):
    assert api("DELETE", BASE.format(project.project_id) + "/apns", key=project.admin_key).status == 204


def test_delete_with_an_unknown_provider_is_invalid_provider(api, project):
    result = api("DELETE", BASE.format(project.project_id) + "/gcm", key=project.admin_key)
    assert result.status == 400
    assert result.error_code == "invalidProvider"


def test_verify_reports_ok_for_a_matching_pair(api, project):
    api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=webpush_body(make_key()))
    result = api("POST", BASE.format(project.project_id) + "/webpush/verify", key=project.admin_key)
    assert result.status == 200
    assert result.json["provider"] == "webpush"
    assert result.json["status"] == "ok"
    assert result.json["reason"]


def test_verify_reports_malformed_when_the_stored_pair_no_longer_matches(api, project):
    api("PUT", BASE.format(project.project_id), key=project.admin_key, json_body=webpush_body(make_key()))
    stored = store.get(project.project_id, "webpush")
    assert stored is not None
    tampered = {**stored.config, "vapidPublic": public_of(make_key())}
    store.put(
        store.StoredCredential(project.project_id, "webpush", tampered, stored.secret_ciphertext, stored.updated_at)
    )
    result = api("POST", BASE.format(project.project_id) + "/webpush/verify", key=project.admin_key)
    assert result.json["status"] == "malformed"


def test_verify_of_an_absent_credential_is_404(api, project):
    result = api("POST", BASE.format(project.project_id) + "/webpush/verify", key=project.admin_key)
    assert result.status == 404
    assert result.error_code == "notFound"


def test_verify_with_an_unknown_provider_is_invalid_provider(api, project):
    result = api("POST", BASE.format(project.project_id) + "/gcm/verify", key=project.admin_key)
    assert result.status == 400
    assert result.error_code == "invalidProvider"
