"""The credential routes through the dev stack: real handlers, API Gateway events, moto over HTTP.

A stack of its own, because these tests replace and delete the dev project's
webpush credential.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from sentori_push.vapid import generate_keypair

if TYPE_CHECKING:
    from tests.integration.conftest import DevStack


@pytest.fixture(scope="module")
def stack(start_dev_stack: Callable[..., DevStack]) -> DevStack:
    return start_dev_stack()


def credentials_path(stack: DevStack, project_id: str | None = None) -> str:
    return f"/admin/api/projects/{project_id or stack.project_id}/push/credentials"


def webpush_body() -> dict[str, Any]:
    pair = generate_keypair()
    return {
        "provider": "webpush",
        "config": {"vapidPublic": pair.public_key, "contact": "mailto:ops@example.com"},
        "secret": {"vapidPrivate": pair.private_key},
    }


def test_put_then_get_lists_the_credential_without_its_secret(stack: DevStack) -> None:
    body = webpush_body()

    put = stack.request("PUT", credentials_path(stack), json=body)
    listed = stack.request("GET", credentials_path(stack))

    assert put.status_code == 200, put.text
    assert put.json()["ok"] is True and put.json()["provider"] == "webpush"
    assert listed.status_code == 200
    assert listed.json() == [
        {"provider": "webpush", "config": put.json()["config"], "updatedAt": put.json()["updatedAt"]}
    ]
    assert listed.json()[0]["config"]["vapidPublic"] == body["config"]["vapidPublic"]
    assert body["secret"]["vapidPrivate"] not in listed.text


def test_verify_reports_a_stored_webpush_credential_ok(stack: DevStack) -> None:
    stack.request("PUT", credentials_path(stack), json=webpush_body()).raise_for_status()

    verified = stack.request("POST", credentials_path(stack) + "/webpush/verify")

    assert verified.status_code == 200, verified.text
    assert verified.json()["provider"] == "webpush"
    assert verified.json()["status"] == "ok"


def test_delete_answers_204_and_the_credential_is_gone(stack: DevStack) -> None:
    stack.request("PUT", credentials_path(stack), json=webpush_body()).raise_for_status()

    deleted = stack.request("DELETE", credentials_path(stack) + "/webpush")

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert stack.request("GET", credentials_path(stack)).json() == []
    assert stack.request("POST", credentials_path(stack) + "/webpush/verify").status_code == 404


def test_no_key_is_401(stack: DevStack) -> None:
    response = stack.request("GET", credentials_path(stack), key=None)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth.missingToken"


def test_a_public_key_on_an_admin_route_is_403(stack: DevStack) -> None:
    response = stack.request("GET", credentials_path(stack), key=stack.public_key)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.adminKeyRequired"


def test_another_projects_id_is_404_not_403(stack: DevStack) -> None:
    response = stack.request("GET", credentials_path(stack, "prj_someone_else"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "notFound"
