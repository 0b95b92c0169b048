"""Keys and auth: DESIGN §3, the auth rows of §4, 503/500 envelopes."""

from __future__ import annotations

import hashlib
import re

import pytest

from sentori_push import auth, projects
from sentori_push.auth import KeyKind
from sentori_push.settings import settings
from sentori_push.storage import credentials as credential_store
from sentori_push.storage.aws import client, reset_clients

CREDENTIAL_ROUTES = [
    ("PUT", "/admin/api/projects/{}/push/credentials"),
    ("GET", "/admin/api/projects/{}/push/credentials"),
    ("DELETE", "/admin/api/projects/{}/push/credentials/webpush"),
    ("POST", "/admin/api/projects/{}/push/credentials/webpush/verify"),
]


def test_keys_have_the_documented_shapes():
    assert re.fullmatch(r"st_pk_[a-z2-7]{26}", auth.generate_key(KeyKind.PUBLIC))
    assert re.fullmatch(r"st_admin_[a-z2-7]{26}", auth.generate_key(KeyKind.ADMIN))
    assert auth.generate_key(KeyKind.ADMIN) != auth.generate_key(KeyKind.ADMIN)


def test_only_sha256_digests_of_keys_are_stored(project):
    items = client("dynamodb").scan(TableName=settings().projects_table)["Items"]
    text = repr(items)
    assert project.admin_key not in text
    assert project.public_key not in text
    assert hashlib.sha256(project.admin_key.encode()).hexdigest() in text
    assert hashlib.sha256(project.public_key.encode()).hexdigest() in text


@pytest.mark.parametrize(("method", "path"), CREDENTIAL_ROUTES)
def test_no_key_is_401_missing_token(api, project, method, path):
    result = api(method, path.format(project.project_id))
    assert (result.status, result.error_code) == (401, "auth.missingToken")


@pytest.mark.parametrize(("method", "path"), CREDENTIAL_ROUTES)
@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer    "])
def test_a_non_bearer_authorization_is_401_missing_token(api, project, method, path, header):
    result = api(method, path.format(project.project_id), headers={"authorization": header})
    assert (result.status, result.error_code) == (401, "auth.missingToken")


@pytest.mark.parametrize(("method", "path"), CREDENTIAL_ROUTES)
@pytest.mark.parametrize("key", ["st_admin_" + "a" * 26, "st_admin_short", "sk_live_whatever"])
def test_an_unknown_or_malformed_key_is_401_invalid_token(api, project, method, path, key):
    result = api(method, path.format(project.project_id), key=key)
    assert (result.status, result.error_code) == (401, "auth.invalidToken")


@pytest.mark.parametrize(("method", "path"), CREDENTIAL_ROUTES)
def test_a_revoked_key_is_401_invalid_token(api, project, method, path):
    assert projects.revoke_key(project.admin_key)
    result = api(method, path.format(project.project_id), key=project.admin_key)
    assert (result.status, result.error_code) == (401, "auth.invalidToken")


@pytest.mark.parametrize(("method", "path"), CREDENTIAL_ROUTES)
def test_a_public_key_on_an_admin_route_is_403(api, project, method, path):
    result = api(method, path.format(project.project_id), key=project.public_key)
    assert (result.status, result.error_code) == (403, "auth.adminKeyRequired")


@pytest.mark.parametrize(("method", "path"), CREDENTIAL_ROUTES)
def test_another_projects_admin_key_gets_404_not_403(api, project, other_project, method, path):
    result = api(method, path.format(project.project_id), key=other_project.admin_key)
    assert (result.status, result.error_code) == (404, "notFound")


def test_another_projects_key_cannot_touch_its_credentials(api, project, other_project):
    body = {"provider": "apns", "config": {}, "secret": {"p8": "x"}}
    api("PUT", f"/admin/api/projects/{project.project_id}/push/credentials", key=project.admin_key, json_body=body)
    api("DELETE", f"/admin/api/projects/{project.project_id}/push/credentials/apns", key=other_project.admin_key)
    assert credential_store.get(project.project_id, "apns") is not None


def test_the_bearer_scheme_is_case_insensitive(api, project):
    result = api(
        "GET",
        f"/admin/api/projects/{project.project_id}/push/credentials",
        headers={"Authorization": f"bearer {project.admin_key}"},
    )
    assert result.status == 200


def test_unset_tables_answer_503_db_not_configured(api, project, monkeypatch):
    monkeypatch.delenv("SENTORI_PROJECTS_TABLE")
    reset_clients()
    result = api("GET", f"/admin/api/projects/{project.project_id}/push/credentials", key=project.admin_key)
    assert (result.status, result.error_code) == (503, "dbNotConfigured")


def test_a_missing_table_answers_503_db_not_configured(api, project, monkeypatch):
    monkeypatch.setenv("SENTORI_CREDENTIALS_TABLE", "no-such-table")
    reset_clients()
    result = api("GET", f"/admin/api/projects/{project.project_id}/push/credentials", key=project.admin_key)
    assert (result.status, result.error_code) == (503, "dbNotConfigured")


def test_an_unreachable_dynamodb_answers_503_db_not_configured(monkeypatch):
    from tests.conftest import Api

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("SENTORI_PROJECTS_TABLE", "projects")
    reset_clients()
    try:
        result = Api()("GET", "/admin/api/projects/p/push/credentials", key=auth.generate_key(KeyKind.ADMIN))
    finally:
        reset_clients()
    assert (result.status, result.error_code) == (503, "dbNotConfigured")


def test_an_unexpected_error_is_500_with_a_correlation_id_and_no_trace(api, project, monkeypatch):
    def explode(project_id: str) -> list[object]:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(credential_store, "list_for_project", explode)
    result = api("GET", f"/admin/api/projects/{project.project_id}/push/credentials", key=project.admin_key)
    assert (result.status, result.error_code) == (500, "internal")
    error = result.json["error"]
    assert error["correlationId"] in error["message"]
    assert "secret internals" not in result.text
    assert "Traceback" not in result.text


def test_errors_use_the_envelope_with_a_human_message(api, project):
    result = api("GET", f"/admin/api/projects/{project.project_id}/push/credentials")
    assert set(result.json) == {"error"}
    assert result.json["error"]["message"].strip()
    assert result.headers["content-type"] == "application/json"
