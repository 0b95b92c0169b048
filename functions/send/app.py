"""POST /v1/push/send"""

from sentori_push import sending
from sentori_push.api import Access, Request, endpoint


@endpoint(Access.ADMIN)
def lambda_handler(request: Request) -> dict[str, object]:
    return sending.send(request.caller.project_id, request.json(), request.headers.get("idempotency-key"))
