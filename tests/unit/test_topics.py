"""Topic routes and topic resolution: DESIGN §4, §5 (topics) and issue 3, on moto."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from sentori_push import errors, tokens
from sentori_push.storage import tokens as store
from tests.unit.test_tokens import register, register_direct, webpush

TOKENS = "/v1/push/tokens"


def topics_path(ipt: str) -> str:
    return f"{TOKENS}/{ipt}/topics"


def topic_path(ipt: str, topic: str) -> str:
    return f"{TOKENS}/{ipt}/topics/{quote(topic, safe='')}"


def members(project_id: str, topic: str) -> list[str]:
    return sorted(r.ipt for r in store.active_for_topic(project_id, topic, 1001))


@pytest.fixture
def device(api: Any, project: Any) -> str:
    return register(api, project.public_key, webpush())


# --- subscribe -------------------------------------------------------------------------------------------------------


def test_subscribe_answers_subscribed_true(api, project, device):
    result = api("POST", topics_path(device), key=project.public_key, json_body={"topic": "news"})
    assert result.status == 200, result.text
    assert result.json == {"subscribed": True}
    assert members(project.project_id, "news") == [device]


def test_subscribe_works_with_the_admin_key_too(api, project, device):
    assert api("POST", topics_path(device), key=project.admin_key, json_body={"topic": "news"}).status == 200


def test_subscribing_twice_is_harmless(api, project, device):
    for _ in range(2):
        assert api("POST", topics_path(device), key=project.public_key, json_body={"topic": "news"}).status == 200
    assert members(project.project_id, "news") == [device]


def test_the_topic_is_trimmed(api, project, device):
    api("POST", topics_path(device), key=project.public_key, json_body={"topic": "  news \t"})
    assert members(project.project_id, "news") == [device]
    assert members(project.project_id, "  news \t") == []


@pytest.mark.parametrize("topic", ["", "   ", "x" * 201, " " + "x" * 201 + " ", None, 7, ["news"], {"name": "news"}])
def test_subscribe_needs_a_topic_of_1_to_200_chars_after_trimming(api, project, device, topic):
    result = api("POST", topics_path(device), key=project.public_key, json_body={"topic": topic})
    assert result.status == 400, result.text
    assert result.error_code == "invalidRequest"
    assert [d["field"] for d in result.json["error"]["details"]] == ["topic"]


def test_subscribe_without_a_topic_field_is_invalid_request(api, project, device):
    result = api("POST", topics_path(device), key=project.public_key, json_body={})
    assert result.error_code == "invalidRequest"


def test_a_topic_of_200_chars_after_trimming_is_accepted(api, project, device):
    topic = "t" * 200
    assert api("POST", topics_path(device), key=project.public_key, json_body={"topic": f"  {topic}  "}).status == 200
    assert members(project.project_id, topic) == [device]


def test_topics_may_hold_any_characters(api, project, device):
    topic = "sport/football#scores ⚽ 100%"
    api("POST", topics_path(device), key=project.public_key, json_body={"topic": topic})
    assert members(project.project_id, topic) == [device]
    result = api("DELETE", topic_path(device, topic), key=project.public_key)
    assert result.json == {"unsubscribed": True}
    assert members(project.project_id, topic) == []


def test_subscribe_to_an_unknown_token_is_404(api, project):
    result = api("POST", topics_path("ipt_" + "0" * 32), key=project.public_key, json_body={"topic": "news"})
    assert result.status == 404
    assert result.error_code == "notFound"
    assert members(project.project_id, "news") == []


def test_subscribe_to_a_revoked_token_is_404(api, project, device):
    api("DELETE", f"{TOKENS}/{device}", key=project.public_key)
    result = api("POST", topics_path(device), key=project.public_key, json_body={"topic": "news"})
    assert result.status == 404
    assert members(project.project_id, "news") == []


def test_subscribe_to_another_projects_token_is_404(api, project, other_project, device):
    result = api("POST", topics_path(device), key=other_project.public_key, json_body={"topic": "news"})
    assert result.status == 404
    assert result.error_code == "notFound"
    assert members(other_project.project_id, "news") == []
    assert members(project.project_id, "news") == []


@pytest.mark.parametrize("handle", ["nope", "ipt_" + "Z" * 32, "ipt_" + "0" * 31])
def test_subscribe_with_a_malformed_handle_is_404(api, project, handle):
    result = api("POST", topics_path(handle), key=project.public_key, json_body={"topic": "news"})
    assert result.status == 404
    assert result.error_code == "notFound"


# --- unsubscribe -----------------------------------------------------------------------------------------------------


def test_unsubscribe_answers_unsubscribed_true(api, project, device):
    api("POST", topics_path(device), key=project.public_key, json_body={"topic": "news"})
    result = api("DELETE", topic_path(device, "news"), key=project.public_key)
    assert result.status == 200, result.text
    assert result.json == {"unsubscribed": True}
    assert members(project.project_id, "news") == []


def test_unsubscribe_from_a_topic_never_subscribed_is_still_200(api, project, device):
    result = api("DELETE", topic_path(device, "never"), key=project.public_key)
    assert result.status == 200
    assert result.json == {"unsubscribed": True}


def test_unsubscribe_takes_the_percent_decoded_topic_and_trims_it(api, project, device):
    api("POST", topics_path(device), key=project.public_key, json_body={"topic": "breaking news"})
    result = api("DELETE", f"{TOKENS}/{device}/topics/%20breaking%20news%20", key=project.public_key)
    assert result.status == 200
    assert members(project.project_id, "breaking news") == []


@pytest.mark.parametrize("topic", ["   ", "x" * 201])
def test_unsubscribe_needs_a_topic_of_1_to_200_chars_after_trimming(api, project, device, topic):
    result = api("DELETE", topic_path(device, topic), key=project.public_key)
    assert result.status == 400
    assert result.error_code == "invalidRequest"
    assert [d["field"] for d in result.json["error"]["details"]] == ["topic"]


def test_unsubscribe_from_an_unknown_token_is_404(api, project):
    assert api("DELETE", topic_path("ipt_" + "0" * 32, "news"), key=project.public_key).status == 404


def test_unsubscribe_from_a_revoked_token_is_404(api, project, device):
    api("POST", topics_path(device), key=project.public_key, json_body={"topic": "news"})
    api("DELETE", f"{TOKENS}/{device}", key=project.public_key)
    assert api("DELETE", topic_path(device, "news"), key=project.public_key).status == 404


def test_unsubscribe_with_another_projects_key_is_404_and_leaves_the_membership(api, project, other_project, device):
    api("POST", topics_path(device), key=project.public_key, json_body={"topic": "news"})
    result = api("DELETE", topic_path(device, "news"), key=other_project.admin_key)
    assert result.status == 404
    assert result.error_code == "notFound"
    assert members(project.project_id, "news") == [device]


def test_unsubscribe_with_a_malformed_handle_is_404(api, project):
    assert api("DELETE", topic_path("not-a-handle", "news"), key=project.public_key).status == 404


# --- resolution for the send feature ---------------------------------------------------------------------------------


def test_topics_are_per_project(api, project, other_project):
    mine = register(api, project.public_key, webpush())
    theirs = register(api, other_project.public_key, webpush())
    api("POST", topics_path(mine), key=project.public_key, json_body={"topic": "news"})
    api("POST", topics_path(theirs), key=other_project.public_key, json_body={"topic": "news"})
    assert members(project.project_id, "news") == [mine]
    assert members(other_project.project_id, "news") == [theirs]


def test_active_for_topic_excludes_revoked_devices(aws, project):
    kept, gone, failed = (
        register_direct(project.project_id, f"https://fcm.googleapis.com/fcm/send/{i}") for i in range(3)
    )
    for ipt in (kept, gone, failed):
        tokens.subscribe(project.project_id, ipt, {"topic": "news"})
    tokens.unregister(project.project_id, gone)
    for _ in range(3):
        store.record_outcome(project.project_id, failed, permanent_failure=True)
    assert members(project.project_id, "news") == [kept]


def test_a_revived_token_is_back_in_its_topics(api, project, device):
    api("POST", topics_path(device), key=project.public_key, json_body={"topic": "news"})
    api("DELETE", f"{TOKENS}/{device}", key=project.public_key)
    assert members(project.project_id, "news") == []
    assert register(api, project.public_key, webpush()) == device
    assert members(project.project_id, "news") == [device]


def test_active_for_topic_stops_at_the_limit(aws, project):
    for i in range(5):
        tokens.subscribe(
            project.project_id, register_direct(project.project_id, f"https://x.notify.windows.com/{i}"), {"topic": "t"}
        )
    assert len(store.active_for_topic(project.project_id, "t", 3)) == 3
    assert len(store.active_for_topic(project.project_id, "t", 1001)) == 5


def test_active_for_topic_fills_the_limit_past_revoked_members(aws, project):
    """Revoked members do not count toward the limit: resolution reads on until it has enough active ones."""
    ipts = [register_direct(project.project_id, f"https://fcm.googleapis.com/fcm/send/{i}") for i in range(110)]
    for ipt in ipts:
        tokens.subscribe(project.project_id, ipt, {"topic": "big"})
    revoked = set(sorted(ipts)[:100])
    for ipt in revoked:
        tokens.unregister(project.project_id, ipt)
    found = store.active_for_topic(project.project_id, "big", 5)
    assert len(found) == 5
    assert not {r.ipt for r in found} & revoked
    assert len(store.active_for_topic(project.project_id, "big", 1001)) == 10


def test_an_unknown_topic_resolves_to_nothing(aws, project):
    assert store.active_for_topic(project.project_id, "nobody", 1001) == []


# --- normalize_topic -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [(" a ", "a"), ("x" * 200, "x" * 200), ("\tnews\n", "news")])
def test_normalize_topic_trims(given: str, expected: str) -> None:
    assert tokens.normalize_topic(given) == expected


@pytest.mark.parametrize("given", ["", " \t ", "y" * 201, None, 3, b"news"])
def test_normalize_topic_refuses_with_field_topic(given: object) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        tokens.normalize_topic(given)
    assert caught.value.details["details"][0]["field"] == "topic"
