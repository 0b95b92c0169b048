"""Operator command line: create projects, revoke keys.

    python -m sentori_push.admin projects create NAME [--projects-table T]
    python -m sentori_push.admin keys revoke KEY [--projects-table T]

Runs with the operator's AWS credentials (or against the dev stack when
AWS_ENDPOINT_URL points at it). The table comes from --projects-table or
SENTORI_PROJECTS_TABLE (the stack output ProjectsTableName). Keys are printed
once and never stored in clear.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from sentori_push import projects
from sentori_push.settings import settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sentori_push.admin", description=__doc__.split("\n")[0])
    parser.add_argument("--projects-table", help="DynamoDB table (default: $SENTORI_PROJECTS_TABLE)")
    groups = parser.add_subparsers(dest="group", required=True)
    project_cmds = groups.add_parser("projects").add_subparsers(dest="command", required=True)
    create = project_cmds.add_parser("create", help="create a project and print its two keys once")
    create.add_argument("name")
    create.add_argument("--project-id")
    key_cmds = groups.add_parser("keys").add_subparsers(dest="command", required=True)
    revoke = key_cmds.add_parser("revoke", help="revoke a key (it answers 401 from then on)")
    revoke.add_argument("key")
    args = parser.parse_args(argv)

    if args.projects_table:
        os.environ["SENTORI_PROJECTS_TABLE"] = args.projects_table
        settings.cache_clear()
    if not settings().projects_table:
        parser.error("name the projects table with --projects-table or SENTORI_PROJECTS_TABLE")

    if args.group == "projects":
        created = projects.create_project(args.name, project_id=args.project_id)
        print(
            json.dumps(
                {"projectId": created.project_id, "adminKey": created.admin_key, "publicKey": created.public_key},
                indent=2,
            )
        )
        print("Store these keys now: only their digests are kept.", file=sys.stderr)
        return 0
    if projects.revoke_key(args.key):
        print("revoked")
        return 0
    print("no such key", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
