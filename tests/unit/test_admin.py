"""The operator command line: DESIGN §3 (projects and keys created by the operator)."""

from __future__ import annotations

import json

import pytest

from sentori_push import admin

CREDENTIALS = "/admin/api/projects/{}/push/credentials"


def test_projects_create_prints_two_working_keys_once(api, capsys):
    assert admin.main(["projects", "create", "Shop"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["adminKey"].startswith("st_admin_") and printed["publicKey"].startswith("st_pk_")
    result = api("GET", CREDENTIALS.format(printed["projectId"]), key=printed["adminKey"])
    assert result.status == 200
    assert api("GET", CREDENTIALS.format(printed["projectId"]), key=printed["publicKey"]).status == 403


def test_keys_revoke_makes_the_key_answer_401(api, project, capsys):
    assert admin.main(["keys", "revoke", project.admin_key]) == 0
    result = api("GET", CREDENTIALS.format(project.project_id), key=project.admin_key)
    assert (result.status, result.error_code) == (401, "auth.invalidToken")


def test_revoking_an_unknown_key_exits_1(aws, capsys):
    assert admin.main(["keys", "revoke", "st_admin_" + "a" * 26]) == 1


def test_the_command_needs_a_projects_table(monkeypatch, capsys):
    from sentori_push.settings import settings

    monkeypatch.delenv("SENTORI_PROJECTS_TABLE", raising=False)
    settings.cache_clear()
    with pytest.raises(SystemExit):
        admin.main(["projects", "create", "x"])
    settings.cache_clear()
