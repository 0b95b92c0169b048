"""Creating projects and their two keys (an operator action)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sentori_push import auth, clock
from sentori_push.auth import KeyKind
from sentori_push.storage import projects as project_store

_PROJECT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class CreatedProject:
    project_id: str
    name: str
    admin_key: str
    public_key: str


def new_project_id() -> str:
    return "prj_" + secrets.token_hex(12)


def create_project(
    name: str,
    *,
    project_id: str | None = None,
    admin_key: str | None = None,
    public_key: str | None = None,
) -> CreatedProject:
    """Create a project; given ids and keys are used as is (the dev stack pins them)."""
    project_id = project_id or new_project_id()
    if not _PROJECT_ID.match(project_id):
        raise ValueError("a project id is 1-64 characters of letters, digits, '_' or '-'")
    admin_key = admin_key or auth.generate_key(KeyKind.ADMIN)
    public_key = public_key or auth.generate_key(KeyKind.PUBLIC)
    for key, kind in ((admin_key, KeyKind.ADMIN), (public_key, KeyKind.PUBLIC)):
        if not auth.is_well_formed(key) or auth.kind_of(key) is not kind:
            prefix = auth.ADMIN_PREFIX if kind is KeyKind.ADMIN else auth.PUBLIC_PREFIX
            raise ValueError(f"the {kind.value} key must look like {prefix}<26 characters a-z2-7>")
    project_store.create_project(
        project_id,
        name,
        {KeyKind.ADMIN.value: auth.digest(admin_key), KeyKind.PUBLIC.value: auth.digest(public_key)},
        clock.iso(),
    )
    return CreatedProject(project_id, name, admin_key, public_key)


def revoke_key(key: str) -> bool:
    return project_store.revoke_key(auth.digest(key))
