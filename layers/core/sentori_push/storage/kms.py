"""KMS envelope for credential secrets, bound to (project, provider)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from sentori_push.errors import DbNotConfigured
from sentori_push.settings import settings
from sentori_push.storage.aws import aws_errors, client


class DecryptFailed(Exception):
    """KMS refused the ciphertext (wrong context, key disabled, tampered)."""


def _context(project_id: str, provider: str) -> dict[str, str]:
    return {"projectId": project_id, "provider": provider}


def encrypt(plaintext: bytes, *, project_id: str, provider: str) -> bytes:
    key_id = settings().kms_key_id
    if not key_id:
        raise DbNotConfigured("SENTORI_KMS_KEY_ID is not set")
    with aws_errors():
        answer = client("kms").encrypt(
            KeyId=key_id, Plaintext=plaintext, EncryptionContext=_context(project_id, provider)
        )
    return bytes(answer["CiphertextBlob"])


def decrypt(ciphertext: bytes, *, project_id: str, provider: str) -> bytes:
    try:
        with aws_errors():
            answer = client("kms").decrypt(CiphertextBlob=ciphertext, EncryptionContext=_context(project_id, provider))
    except ClientError as exc:
        raise DecryptFailed(str(exc.response.get("Error", {}).get("Code", "KMS error"))) from exc
    return bytes(answer["Plaintext"])
