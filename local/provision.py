"""Creates the template's tables, queues and keys with boto3.

Works against whatever boto3 is pointed at: moto in-process (`mock_aws`) in
unit tests, moto's server in the dev stack. Properties are read from the
template, so a table's indexes or a queue's redrive policy are declared once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from local.template import FunctionSpec, Template, resolve

REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass
class Provisioned:
    template: Template
    physical: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)

    def refs(self) -> dict[str, Any]:
        params = self.template.parameter_defaults()
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::URLSuffix": ""}
        return {**params, **pseudo, **self.physical}

    def environment_for(self, fn: FunctionSpec) -> dict[str, str]:
        refs = self.refs()
        env = {name: str(resolve(value, refs)) for name, value in fn.environment.items()}
        env.update({k: v for k, v in self.overrides.items() if k in env})
        return env


def _table_args(name: str, props: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(index_kind):
            args[index_kind] = props[index_kind]
    sse = props.get("SSESpecification")
    if sse:
        args["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))}
    return args


def provision(template: Template, *, prefix: str) -> Provisioned:
    out = Provisioned(template)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)

    for logical_id, res in template.of_type("AWS::KMS::Key").items():
        key = kms.create_key(Description=res["Properties"].get("Description", logical_id))["KeyMetadata"]
        out.physical[logical_id] = key["KeyId"]
        out.physical[f"{logical_id}.Arn"] = key["Arn"]

    for logical_id, res in template.of_type("AWS::DynamoDB::Table").items():
        props = res["Properties"]
        name = f"{prefix}-{logical_id}"
        dynamodb.create_table(**_table_args(name, props))
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        out.physical[logical_id] = name
        out.physical[f"{logical_id}.Arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"

    # Dead-letter queues first: a queue's redrive policy names its DLQ's ARN.
    queues = template.of_type("AWS::SQS::Queue")
    ordered = sorted(queues.items(), key=lambda item: "RedrivePolicy" in item[1].get("Properties", {}))
    for logical_id, res in ordered:
        props = res.get("Properties", {})
        attributes = {}
        for prop in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            if prop in props:
                attributes[prop] = str(props[prop])
        if "RedrivePolicy" in props:
            policy = resolve(props["RedrivePolicy"], out.refs())
            redrive = {
                "deadLetterTargetArn": policy["deadLetterTargetArn"],
                "maxReceiveCount": int(policy["maxReceiveCount"]),
            }
            attributes["RedrivePolicy"] = json.dumps(redrive)
        url = sqs.create_queue(QueueName=f"{prefix}-{logical_id}", Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        out.physical[logical_id] = url
        out.physical[f"{logical_id}.Arn"] = arn
        out.physical[f"{logical_id}.QueueName"] = f"{prefix}-{logical_id}"
        out.physical[f"{logical_id}.QueueUrl"] = url

    for logical_id in template.of_type("AWS::Serverless::Function"):
        out.physical[logical_id] = f"{prefix}-{logical_id}"
    for logical_id in template.of_type("AWS::Serverless::HttpApi"):
        out.physical[logical_id] = "local"
    for logical_id in template.of_type("AWS::Serverless::LayerVersion"):
        out.physical[logical_id] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{logical_id}:1"
    return out
