"""What cfn-lint cannot see in template.yaml: runtime names, schedules, policy
template parameters, the handler files and sample events of each function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.template import ROOT, load_template, rate_seconds

TEMPLATE = load_template()
FUNCTIONS = TEMPLATE.functions()
SUPPORTED_RUNTIMES = {"python3.12", "python3.13"}


def test_the_runtime_is_a_supported_python():
    assert TEMPLATE.globals["Runtime"] in SUPPORTED_RUNTIMES
    for name, res in TEMPLATE.of_type("AWS::Serverless::Function").items():
        assert res["Properties"].get("Runtime", TEMPLATE.globals["Runtime"]) in SUPPORTED_RUNTIMES, name
    for name, res in TEMPLATE.of_type("AWS::Serverless::LayerVersion").items():
        assert set(res["Properties"]["CompatibleRuntimes"]) <= SUPPORTED_RUNTIMES, name
        assert res["Metadata"]["BuildMethod"] == TEMPLATE.globals["Runtime"], name


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda fn: fn.logical_id)
def test_each_function_has_its_own_handler_file(fn):
    module, _, attribute = fn.handler.rpartition(".")
    source = (fn.code_dir / f"{module}.py").read_text()
    assert f"def {attribute}" in source or f"{attribute} =" in source


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda fn: fn.logical_id)
def test_each_function_has_a_log_group_with_retention(fn):
    groups = [
        res["Properties"]
        for res in TEMPLATE.of_type("AWS::Logs::LogGroup").values()
        if res["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{fn.logical_id}}}"}
    ]
    assert len(groups) == 1
    assert "RetentionInDays" in groups[0]


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda fn: fn.logical_id)
def test_each_function_has_a_sample_event_for_its_trigger(fn):
    event = json.loads((ROOT / "events" / f"{fn.name}.json").read_text())
    if fn.routes:
        route = fn.routes[0]
        assert event["routeKey"] == f"{route.method} {route.path}"
        assert event["version"] == "2.0"
    elif fn.sqs_events:
        assert event["Records"][0]["eventSource"] == "aws:sqs"


def test_handlers_import_only_the_core_package():
    for fn in FUNCTIONS:
        for line in (fn.code_dir / "app.py").read_text().splitlines():
            if line.startswith(("import ", "from ")) and "__future__" not in line:
                assert line.split()[1].split(".")[0] in {"sentori_push", "typing"}, (fn.logical_id, line)


def test_api_functions_do_not_import_pywebpush_or_aiohttp():
    import subprocess
    import sys

    for fn in FUNCTIONS:
        if not fn.routes:
            continue
        code = (
            "import sys, importlib.util;"
            f"sys.path[:0] = [{str(ROOT / 'layers' / 'core')!r}];"
            f"spec = importlib.util.spec_from_file_location('h', {str(fn.code_dir / 'app.py')!r});"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
            "bad = [n for n in ('pywebpush', 'aiohttp', 'http_ece') if n in sys.modules];"
            "print(','.join(bad))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "", f"{fn.logical_id} imports {out.strip()}"


def test_schedules_use_valid_rate_expressions():
    for res in TEMPLATE.of_type("AWS::Serverless::Function").values():
        for event in res["Properties"].get("Events", {}).values():
            if event["Type"] == "Schedule":
                assert rate_seconds(event["Properties"]["Schedule"]) >= 60


def test_rate_expression_parser_rejects_wrong_plurals():
    with pytest.raises(ValueError):
        rate_seconds("rate(5 minute)")
    with pytest.raises(ValueError):
        rate_seconds("rate(1 minutes)")
    assert rate_seconds("rate(1 minute)") == 60


KNOWN_POLICY_PARAMETERS = {
    "DynamoDBReadPolicy": {"TableName"},
    "DynamoDBCrudPolicy": {"TableName"},
    "DynamoDBWritePolicy": {"TableName"},
    "KMSEncryptPolicy": {"KeyId"},
    "KMSDecryptPolicy": {"KeyId"},
    "SQSSendMessagePolicy": {"QueueName"},
    "SQSPollerPolicy": {"QueueName"},
}


def test_policy_templates_name_real_parameters_and_resources():
    for name, res in TEMPLATE.of_type("AWS::Serverless::Function").items():
        for policy in res["Properties"].get("Policies", []):
            if not isinstance(policy, dict) or "Statement" in policy:
                continue
            (kind, params), *_ = policy.items()
            assert kind in KNOWN_POLICY_PARAMETERS, (name, kind)
            assert set(params) == KNOWN_POLICY_PARAMETERS[kind], (name, kind, params)
            for value in params.values():
                target = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
                assert target in TEMPLATE.resources, (name, kind, target)


def test_every_table_has_pitr_sse_and_on_demand_billing():
    for name, res in TEMPLATE.of_type("AWS::DynamoDB::Table").items():
        props = res["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert props["SSESpecification"]["SSEEnabled"] is True, name


def test_routes_are_unique_and_match_the_contract_prefixes():
    keys = [f"{r.method} {r.path}" for fn in FUNCTIONS for r in fn.routes]
    assert len(keys) == len(set(keys))
    assert all(k.split()[1].startswith(("/v1/push/", "/admin/api/projects/{projectId}/")) for k in keys)


def test_functions_live_under_functions_dir():
    for fn in FUNCTIONS:
        assert fn.code_dir.parent == Path(ROOT / "functions")


def _dispatch() -> tuple[dict[str, Any], dict[str, Any]]:
    fn = TEMPLATE.resources["DispatchFunction"]["Properties"]
    queue = TEMPLATE.resources["DispatchQueue"]["Properties"]
    return fn, queue


def test_the_dispatch_queue_hides_a_batch_for_six_function_timeouts():
    fn, queue = _dispatch()
    assert queue["VisibilityTimeout"] >= 6 * fn["Timeout"]


def test_the_dispatch_lease_is_shorter_than_the_visibility_timeout_and_longer_than_a_run():
    from sentori_push import dispatch

    fn, queue = _dispatch()
    assert fn["Timeout"] < dispatch.LEASE_SECONDS < queue["VisibilityTimeout"]


def test_the_dispatcher_knows_the_receive_count_at_which_the_dlq_takes_over():
    fn, queue = _dispatch()
    assert (
        int(fn["Environment"]["Variables"]["SENTORI_DISPATCH_MAX_RECEIVES"])
        == queue["RedrivePolicy"]["maxReceiveCount"]
    )
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DispatchDeadLetterQueue", "Arn"]}


def test_the_dispatch_function_reports_partial_batch_failures_and_sweeps_every_minute():
    fn, _ = _dispatch()
    events = {e["Type"]: e["Properties"] for e in fn["Events"].values()}
    assert events["SQS"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert events["SQS"]["BatchSize"] * 100 <= 1000  # ≤ 100 ticket ids per message
    assert rate_seconds(events["Schedule"]["Schedule"]) == 60


def test_an_alarm_watches_the_dead_letter_queue():
    alarms = TEMPLATE.of_type("AWS::CloudWatch::Alarm").values()
    watched = [a["Properties"]["Dimensions"][0]["Value"] for a in alarms if a["Properties"]["Namespace"] == "AWS/SQS"]
    assert {"Fn::GetAtt": ["DispatchDeadLetterQueue", "QueueName"]} in watched


def test_the_tickets_table_has_the_sparse_due_index_and_a_ttl():
    props = TEMPLATE.resources["TicketsTable"]["Properties"]
    (index,) = props["GlobalSecondaryIndexes"]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["dueShard", "dueAt"]
    assert index["Projection"]["ProjectionType"] == "KEYS_ONLY"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_api_functions_cannot_read_the_credential_secret_key_unless_they_need_it():
    """Least privilege: only credential PUT may encrypt, only verify and dispatch may decrypt."""
    for name, res in TEMPLATE.of_type("AWS::Serverless::Function").items():
        kinds = {next(iter(p)) for p in res["Properties"].get("Policies", []) if isinstance(p, dict)}
        if "KMSDecryptPolicy" in kinds:
            assert name in {"CredentialsVerifyFunction", "DispatchFunction"}, name
        if "KMSEncryptPolicy" in kinds:
            assert name == "CredentialsPutFunction", name
