"""Device token routes and the token store: DESIGN §5 and issue 3, on moto."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sentori_push import tokens
from sentori_push.storage import aws as aws_store
from sentori_push.storage import tokens as store
from sentori_push.storage.aws import client

TOKENS = "/v1/push/tokens"
ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def p256dh() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return b64url(key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def subscription(endpoint: str = ENDPOINT, **keys: str) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "expirationTime": None,
        "keys": {"p256dh": p256dh(), "auth": b64url(bytes(16)), **keys},
    }


def webpush(endpoint: str = ENDPOINT, **fields: Any) -> dict[str, Any]:
    return {"provider": "webpush", "nativeToken": subscription(endpoint), **fields}


def register(api: Any, key: str, body: dict[str, Any]) -> str:
    result = api("POST", TOKENS, key=key, json_body=body)
    assert result.status == 200, result.text
    return str(result.json["id"])


def register_direct(project_id: str, endpoint: str = ENDPOINT, **fields: Any) -> str:
    return tokens.register(project_id, webpush(endpoint, **fields))["id"]


def assert_invalid_request(result: Any, field: str) -> None:
    assert result.status == 400, result.text
    assert result.error_code == "invalidRequest"
    assert {d["field"] for d in result.json["error"]["details"]} == {field}


@pytest.fixture
def dynamodb_calls(aws: Any) -> Iterator[list[str]]:
    """Names of the DynamoDB operations made while the test runs."""
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    events = client("dynamodb").meta.events
    events.register("before-call.dynamodb", count)
    yield calls
    events.unregister("before-call.dynamodb", count)


@pytest.fixture
def atomic_dynamodb(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One DynamoDB call at a time, as DynamoDB applies each conditional write to an item atomically.

    moto checks a condition and writes without a lock, so two threads can both
    pass one condition; real DynamoDB cannot. Threads still interleave between
    calls, which is where this code's races are.
    """
    dynamodb = client("dynamodb")
    lock = threading.Lock()
    real = dynamodb._make_api_call

    def serialized(operation: str, params: dict[str, Any]) -> Any:
        with lock:
            return real(operation, params)

    monkeypatch.setattr(dynamodb, "_make_api_call", serialized)


# --- registration ----------------------------------------------------------------------------------------------------


def test_register_returns_a_handle_and_timestamps(api, project):
    result = api("POST", TOKENS, key=project.public_key, json_body=webpush())
    assert result.status == 200, result.text
    assert set(result.json) == {"id", "createdAt", "updatedAt"}
    assert tokens.is_handle(result.json["id"])
    assert result.json["createdAt"] == result.json["updatedAt"]
    assert result.json["createdAt"].endswith("Z")


def test_register_works_with_the_admin_key_too(api, project):
    assert tokens.is_handle(register(api, project.admin_key, webpush()))


def test_register_without_a_key_is_401(api, project):
    result = api("POST", TOKENS, json_body=webpush())
    assert result.status == 401
    assert result.error_code == "auth.missingToken"


def test_register_accepts_the_subscription_as_a_json_string(api, project):
    body = {"provider": "webpush", "nativeToken": json.dumps(subscription())}
    ipt = register(api, project.public_key, body)
    assert store.get_many(project.project_id, [ipt])[ipt].endpoint == ENDPOINT


def test_register_stores_the_subscription_keys(api, project):
    body = webpush(linkHash="user-1")
    ipt = register(api, project.public_key, body)
    record = store.get_many(project.project_id, [ipt])[ipt]
    assert record == store.TokenRecord(
        ipt=ipt,
        project_id=project.project_id,
        provider="webpush",
        endpoint=ENDPOINT,
        p256dh=body["nativeToken"]["keys"]["p256dh"],
        auth=body["nativeToken"]["keys"]["auth"],
        link_hash="user-1",
        revoked=False,
        bad_streak=0,
    )


def test_handles_are_random_not_derived_from_the_endpoint(api, project, other_project):
    first = register(api, project.public_key, webpush())
    second = register(api, other_project.public_key, webpush())
    assert first != second


@pytest.mark.parametrize("provider", ["gcm", "WEBPUSH", "", None, 3, ["webpush"]])
def test_an_unknown_provider_is_invalid_provider_naming_the_five(api, project, provider):
    result = api("POST", TOKENS, key=project.public_key, json_body=webpush(provider=provider))
    assert result.status == 400
    assert result.error_code == "invalidProvider"
    for name in ("apns", "fcm", "webpush", "hcm", "mipush"):
        assert name in result.json["error"]["message"]


@pytest.mark.parametrize(
    ("native_token", "field"),
    [
        (None, "nativeToken"),
        ("{not json", "nativeToken"),
        ({"expirationTime": None, "keys": {"p256dh": "x", "auth": "y"}}, "nativeToken.endpoint"),
        ({"endpoint": ENDPOINT, "expirationTime": "soon", "keys": {}}, "nativeToken.expirationTime"),
        ({"endpoint": ENDPOINT}, "nativeToken.keys"),
        (
            {"endpoint": ENDPOINT, "keys": {"p256dh": b64url(b"\x04" + b"\x01" * 31), "auth": "x"}},
            "nativeToken.keys.p256dh",
        ),
        (
            {"endpoint": ENDPOINT, "keys": {"p256dh": "__placeholder__", "auth": b64url(bytes(8))}},
            "nativeToken.keys.auth",
        ),
    ],
)
def test_an_invalid_webpush_subscription_names_the_field(api, project, native_token, field):
    if isinstance(native_token, dict) and native_token.get("keys", {}).get("p256dh") == "__placeholder__":
        native_token["keys"]["p256dh"] = p256dh()
    result = api("POST", TOKENS, key=project.public_key, json_body={"provider": "webpush", "nativeToken": native_token})
    assert result.status == 400, result.text
    assert result.error_code == "invalidSubscription"
    assert result.json["error"]["field"] == field


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://fcm.googleapis.com/fcm/send/abc",
        "https://evil.example.com/push",
        "https://169.254.169.254/latest/meta-data",
        "https://user@fcm.googleapis.com/fcm/send/abc",
        "https://fcm.googleapis.com:8443/fcm/send/abc",
    ],
)
def test_an_endpoint_outside_the_allow_list_is_refused(api, project, endpoint):
    result = api("POST", TOKENS, key=project.public_key, json_body=webpush(endpoint))
    assert result.status == 400
    assert result.error_code == "endpointNotAllowed"
    assert store.get_many(project.project_id, []) == {}


def test_the_allow_list_comes_from_the_environment(api, project, monkeypatch):
    monkeypatch.setenv("SENTORI_ENDPOINT_ALLOWLIST", "http://127.0.0.1:8090")
    from sentori_push.settings import settings

    settings.cache_clear()
    assert tokens.is_handle(register(api, project.public_key, webpush("http://127.0.0.1:8090/push/1")))
    result = api("POST", TOKENS, key=project.public_key, json_body=webpush())
    assert result.error_code == "endpointNotAllowed"


@pytest.mark.parametrize("provider", ["apns", "fcm", "hcm", "mipush"])
def test_other_providers_store_the_native_token_as_given(api, project, provider):
    native = "  device-token:" + provider + "  "
    ipt = register(api, project.public_key, {"provider": provider, "nativeToken": native})
    record = store.get_many(project.project_id, [ipt])[ipt]
    assert (record.provider, record.endpoint, record.p256dh, record.auth) == (provider, native, None, None)


@pytest.mark.parametrize("native_token", ["", None, 42, {"token": "abc"}, "x" * 4097])
def test_other_providers_need_a_non_empty_string_of_at_most_4096_chars(api, project, native_token):
    result = api("POST", TOKENS, key=project.public_key, json_body={"provider": "apns", "nativeToken": native_token})
    assert_invalid_request(result, "nativeToken")


def test_other_providers_accept_a_native_token_of_exactly_4096_chars(api, project):
    assert tokens.is_handle(register(api, project.public_key, {"provider": "fcm", "nativeToken": "x" * 4096}))


def test_other_providers_upsert_on_the_native_token_and_provider(api, project):
    first = register(api, project.public_key, {"provider": "apns", "nativeToken": "abc"})
    assert register(api, project.public_key, {"provider": "apns", "nativeToken": "abc"}) == first
    assert register(api, project.public_key, {"provider": "fcm", "nativeToken": "abc"}) != first


@pytest.mark.parametrize("link_hash", ["", "x" * 129, 7, ["u"], {"u": 1}])
def test_link_hash_must_be_a_string_of_1_to_128_chars(api, project, link_hash):
    result = api("POST", TOKENS, key=project.public_key, json_body=webpush(linkHash=link_hash))
    assert_invalid_request(result, "linkHash")


def test_link_hash_of_128_chars_is_accepted(api, project):
    ipt = register(api, project.public_key, webpush(linkHash="h" * 128))
    assert store.get_many(project.project_id, [ipt])[ipt].link_hash == "h" * 128


@pytest.mark.parametrize("metadata", ["text", [1, 2], 3, True])
def test_metadata_must_be_an_object(api, project, metadata):
    result = api("POST", TOKENS, key=project.public_key, json_body=webpush(metadata=metadata))
    assert_invalid_request(result, "metadata")


def _metadata_of_size(size: int) -> dict[str, str]:
    overhead = len(json.dumps({"k": ""}, separators=(",", ":")))
    return {"k": "v" * (size - overhead)}


def test_metadata_over_4_kb_serialized_is_refused(api, project):
    result = api("POST", TOKENS, key=project.public_key, json_body=webpush(metadata=_metadata_of_size(4097)))
    assert_invalid_request(result, "metadata")


def test_metadata_of_exactly_4_kb_serialized_is_accepted(api, project):
    assert tokens.is_handle(register(api, project.public_key, webpush(metadata=_metadata_of_size(4096))))


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"{not json", b""])
def test_a_body_that_is_not_a_json_object_is_invalid_request(api, project, body):
    result = api("POST", TOKENS, key=project.public_key, body=body)
    assert result.status == 400
    assert result.error_code == "invalidRequest"


# --- upsert ----------------------------------------------------------------------------------------------------------


def test_re_registering_an_endpoint_returns_the_same_handle_and_replaces_its_data(api, project):
    first = api("POST", TOKENS, key=project.public_key, json_body=webpush(linkHash="old", metadata={"v": 1})).json
    again = webpush(linkHash="new", metadata={"v": 2})
    second = api("POST", TOKENS, key=project.public_key, json_body=again).json
    assert second["id"] == first["id"]
    assert second["createdAt"] == first["createdAt"]
    assert second["updatedAt"] >= first["updatedAt"]
    record = store.get_many(project.project_id, [first["id"]])[first["id"]]
    assert record.p256dh == again["nativeToken"]["keys"]["p256dh"]
    assert record.link_hash == "new"
    assert store.active_for_link(project.project_id, "old", 10) == []
    assert [r.ipt for r in store.active_for_link(project.project_id, "new", 10)] == [first["id"]]


def test_re_registering_without_link_hash_unlinks_the_device(api, project):
    ipt = register(api, project.public_key, webpush(linkHash="user-1"))
    register(api, project.public_key, webpush())
    assert store.get_many(project.project_id, [ipt])[ipt].link_hash is None
    assert store.active_for_link(project.project_id, "user-1", 10) == []


def test_re_registering_revives_a_revoked_token_and_clears_the_bad_streak(api, project):
    ipt = register(api, project.public_key, webpush(linkHash="user-1"))
    assert [store.record_outcome(project.project_id, ipt, permanent_failure=True) for _ in range(3)] == [
        False,
        False,
        True,
    ]
    assert store.get_many(project.project_id, [ipt])[ipt].revoked is True
    assert register(api, project.public_key, webpush(linkHash="user-1")) == ipt
    record = store.get_many(project.project_id, [ipt])[ipt]
    assert (record.revoked, record.bad_streak) == (False, 0)
    assert [r.ipt for r in store.active_for_link(project.project_id, "user-1", 10)] == [ipt]


def test_re_registering_clears_a_partial_bad_streak(api, project):
    ipt = register(api, project.public_key, webpush())
    store.record_outcome(project.project_id, ipt, permanent_failure=True)
    store.record_outcome(project.project_id, ipt, permanent_failure=True)
    register(api, project.public_key, webpush())
    assert store.get_many(project.project_id, [ipt])[ipt].bad_streak == 0
    # Two more failures do not reach three in a row.
    assert store.record_outcome(project.project_id, ipt, permanent_failure=True) is False
    assert store.record_outcome(project.project_id, ipt, permanent_failure=True) is False


def test_re_registering_after_unregister_revives_the_same_handle(api, project):
    ipt = register(api, project.public_key, webpush())
    assert api("DELETE", f"{TOKENS}/{ipt}", key=project.public_key).status == 204
    assert register(api, project.public_key, webpush()) == ipt
    assert store.get_many(project.project_id, [ipt])[ipt].revoked is False


def test_concurrent_registrations_of_one_endpoint_yield_one_handle(atomic_dynamodb, project):
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(register_direct(project.project_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 8
    assert len(set(results)) == 1


def test_a_registration_that_loses_the_race_takes_the_winners_handle(aws, project, monkeypatch):
    """The race, deterministically: another registration claimed the endpoint between our validation and write."""
    winner = "ipt_" + "a" * 32
    assert store.claim_handle(project.project_id, "webpush", ENDPOINT, winner) == winner
    monkeypatch.setattr(tokens, "new_handle", lambda: "ipt_" + "b" * 32)
    assert register_direct(project.project_id) == winner
    assert set(store.get_many(project.project_id, [winner, "ipt_" + "b" * 32])) == {winner}


def test_a_lookup_without_its_token_item_is_healed_by_the_next_registration(aws, project):
    """A registration that died between its two writes left only the lookup; no handle was handed out."""
    orphan = "ipt_" + "c" * 32
    store.claim_handle(project.project_id, "webpush", ENDPOINT, orphan)
    assert store.get_many(project.project_id, [orphan]) == {}
    assert register_direct(project.project_id) == orphan
    assert orphan in store.get_many(project.project_id, [orphan])


def test_a_new_device_costs_two_dynamodb_calls(aws, project, dynamodb_calls):
    register_direct(project.project_id)
    assert dynamodb_calls == ["UpdateItem", "UpdateItem"]


def test_a_re_registration_costs_two_dynamodb_calls(aws, project, dynamodb_calls):
    register_direct(project.project_id, linkHash="u")
    dynamodb_calls.clear()
    register_direct(project.project_id, linkHash="u")
    assert dynamodb_calls == ["UpdateItem", "UpdateItem"]


def test_a_registration_over_http_adds_only_the_key_lookup(api, project, dynamodb_calls):
    register(api, project.public_key, webpush())
    assert dynamodb_calls == ["GetItem", "UpdateItem", "UpdateItem"]


def test_an_invalid_registration_makes_no_token_write(api, project, dynamodb_calls):
    api("POST", TOKENS, key=project.public_key, json_body=webpush("https://evil.example.com/x"))
    assert dynamodb_calls == ["GetItem"]


# --- unregister ------------------------------------------------------------------------------------------------------


def test_unregister_revokes_the_token_and_keeps_it(api, project):
    ipt = register(api, project.public_key, webpush(linkHash="user-1"))
    result = api("DELETE", f"{TOKENS}/{ipt}", key=project.public_key)
    assert result.status == 204
    assert result.text == ""
    assert store.get_many(project.project_id, [ipt])[ipt].revoked is True
    assert store.active_for_link(project.project_id, "user-1", 10) == []


def test_unregister_twice_is_still_204(api, project):
    ipt = register(api, project.public_key, webpush())
    assert api("DELETE", f"{TOKENS}/{ipt}", key=project.public_key).status == 204
    assert api("DELETE", f"{TOKENS}/{ipt}", key=project.admin_key).status == 204


def test_unregister_of_an_unknown_handle_is_204(api, project):
    assert api("DELETE", f"{TOKENS}/ipt_{'0' * 32}", key=project.public_key).status == 204
    assert store.get_many(project.project_id, [f"ipt_{'0' * 32}"]) == {}


@pytest.mark.parametrize("handle", ["nope", "ipt_" + "A" * 32, "ipt_" + "0" * 31, "ipt_" + "0" * 33, "IPT_" + "0" * 32])
def test_unregister_of_a_malformed_handle_is_404(api, project, handle):
    result = api("DELETE", f"{TOKENS}/{handle}", key=project.public_key)
    assert result.status == 404
    assert result.error_code == "notFound"


def test_unregister_with_another_projects_key_leaves_the_token_untouched(api, project, other_project):
    ipt = register(api, project.public_key, webpush(linkHash="user-1"))
    assert api("DELETE", f"{TOKENS}/{ipt}", key=other_project.public_key).status == 204
    assert api("DELETE", f"{TOKENS}/{ipt}", key=other_project.admin_key).status == 204
    assert store.get_many(project.project_id, [ipt])[ipt].revoked is False
    assert store.get_many(other_project.project_id, [ipt]) == {}
    assert [r.ipt for r in store.active_for_link(project.project_id, "user-1", 10)] == [ipt]


def test_the_same_endpoint_in_two_projects_is_two_tokens(api, project, other_project):
    mine = register(api, project.public_key, webpush())
    theirs = register(api, other_project.public_key, webpush())
    api("DELETE", f"{TOKENS}/{theirs}", key=other_project.public_key)
    assert store.get_many(project.project_id, [mine])[mine].revoked is False


# --- reads for the send feature --------------------------------------------------------------------------------------


def test_get_many_returns_known_handles_including_revoked_ones(aws, project):
    active = register_direct(project.project_id, "https://fcm.googleapis.com/fcm/send/1")
    revoked = register_direct(project.project_id, "https://fcm.googleapis.com/fcm/send/2")
    tokens.unregister(project.project_id, revoked)
    found = store.get_many(project.project_id, [active, revoked, "ipt_" + "f" * 32, active])
    assert set(found) == {active, revoked}
    assert (found[active].revoked, found[revoked].revoked) == (False, True)


def test_get_many_treats_another_projects_handle_as_unknown(aws, project, other_project):
    theirs = register_direct(other_project.project_id)
    assert store.get_many(project.project_id, [theirs]) == {}


def test_get_many_reads_more_than_one_batch(aws, project, dynamodb_calls):
    ipts = [register_direct(project.project_id, f"https://fcm.googleapis.com/fcm/send/{i}") for i in range(130)]
    dynamodb_calls.clear()
    assert set(store.get_many(project.project_id, ipts)) == set(ipts)
    assert dynamodb_calls == ["BatchGetItem", "BatchGetItem"]


def test_get_many_retries_unprocessed_keys(aws, project, monkeypatch):
    ipts = [register_direct(project.project_id, f"https://fcm.googleapis.com/fcm/send/{i}") for i in range(3)]
    real = client("dynamodb").batch_get_item
    calls: list[int] = []

    def throttled(**kwargs: Any) -> dict[str, Any]:
        """The first call processes one key and hands the rest back, as DynamoDB does under load."""
        calls.append(1)
        if len(calls) > 1:
            return real(**kwargs)  # type: ignore[no-any-return]
        ((name, request),) = kwargs["RequestItems"].items()
        first, *rest = request["Keys"]
        page = real(RequestItems={name: {**request, "Keys": [first]}})
        page["UnprocessedKeys"] = {name: {**request, "Keys": rest}}
        return page  # type: ignore[no-any-return]

    monkeypatch.setattr(client("dynamodb"), "batch_get_item", throttled)
    monkeypatch.setattr(aws_store, "_backoff", lambda attempt: None)
    assert set(store.get_many(project.project_id, ipts)) == set(ipts)
    assert len(calls) == 2


def test_active_for_link_excludes_revoked_devices_and_other_projects(aws, project, other_project):
    kept = register_direct(project.project_id, "https://fcm.googleapis.com/fcm/send/1", linkHash="user-1")
    gone = register_direct(project.project_id, "https://fcm.googleapis.com/fcm/send/2", linkHash="user-1")
    failed = register_direct(project.project_id, "https://fcm.googleapis.com/fcm/send/3", linkHash="user-1")
    register_direct(project.project_id, "https://fcm.googleapis.com/fcm/send/4", linkHash="user-2")
    register_direct(other_project.project_id, "https://fcm.googleapis.com/fcm/send/5", linkHash="user-1")
    tokens.unregister(project.project_id, gone)
    for _ in range(3):
        store.record_outcome(project.project_id, failed, permanent_failure=True)
    assert [r.ipt for r in store.active_for_link(project.project_id, "user-1", 10)] == [kept]


def test_active_for_link_stops_at_the_limit(aws, project):
    for i in range(5):
        register_direct(project.project_id, f"https://fcm.googleapis.com/fcm/send/{i}", linkHash="user-1")
    assert len(store.active_for_link(project.project_id, "user-1", 3)) == 3
    assert len(store.active_for_link(project.project_id, "user-1", 1001)) == 5


# --- revocation streak -----------------------------------------------------------------------------------------------


def _outcomes(project_id: str, ipt: str, pattern: str) -> list[bool]:
    """'F' a permanent failure, 'S' a success."""
    return [store.record_outcome(project_id, ipt, permanent_failure=c == "F") for c in pattern]


def test_three_consecutive_permanent_failures_revoke(aws, project):
    ipt = register_direct(project.project_id)
    assert _outcomes(project.project_id, ipt, "FFF") == [False, False, True]
    record = store.get_many(project.project_id, [ipt])[ipt]
    assert (record.revoked, record.bad_streak) == (True, 3)


def test_a_success_in_between_resets_the_streak(aws, project):
    ipt = register_direct(project.project_id)
    assert _outcomes(project.project_id, ipt, "FFSFF") == [False] * 5
    record = store.get_many(project.project_id, [ipt])[ipt]
    assert (record.revoked, record.bad_streak) == (False, 2)
    assert _outcomes(project.project_id, ipt, "F") == [True]


def test_failures_after_revocation_report_no_new_revocation(aws, project):
    ipt = register_direct(project.project_id)
    _outcomes(project.project_id, ipt, "FFF")
    assert _outcomes(project.project_id, ipt, "FFS") == [False, False, False]
    assert store.get_many(project.project_id, [ipt])[ipt].revoked is True


def test_an_unregistered_token_is_not_revoked_again_by_failures(aws, project):
    ipt = register_direct(project.project_id)
    tokens.unregister(project.project_id, ipt)
    assert _outcomes(project.project_id, ipt, "FFF") == [False, False, False]


def test_outcomes_for_unknown_or_other_projects_tokens_create_nothing(aws, project, other_project):
    theirs = register_direct(other_project.project_id)
    assert _outcomes(project.project_id, theirs, "FFFS") == [False] * 4
    assert store.get_many(project.project_id, [theirs]) == {}
    assert store.get_many(other_project.project_id, [theirs])[theirs].bad_streak == 0


def test_concurrent_failures_revoke_exactly_once(atomic_dynamodb, project):
    ipt = register_direct(project.project_id)
    verdicts: list[bool] = []
    barrier = threading.Barrier(6)

    def fail() -> None:
        barrier.wait()
        verdicts.append(store.record_outcome(project.project_id, ipt, permanent_failure=True))

    threads = [threading.Thread(target=fail) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(verdicts) == [False] * 5 + [True]


def test_a_streak_update_is_one_conditional_update_item(aws, project, dynamodb_calls):
    ipt = register_direct(project.project_id)
    dynamodb_calls.clear()
    _outcomes(project.project_id, ipt, "FS")
    assert dynamodb_calls == ["UpdateItem", "UpdateItem"]


# --- handles ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ipt_" + "0123456789abcdef" * 2, True), ("ipt_" + "G" * 32, False), ("ipt_", False), ("", False)],
)
def test_is_handle(value: str, expected: bool) -> None:
    assert tokens.is_handle(value) is expected


def test_new_handles_are_well_formed_and_distinct() -> None:
    made: set[str] = {tokens.new_handle() for _ in range(100)}
    assert len(made) == 100
    assert all(tokens.HANDLE_PATTERN.match(h) for h in made)
