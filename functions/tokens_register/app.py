"""POST /v1/push/tokens"""

from sentori_push import tokens
from sentori_push.api import Access, Request, endpoint


@endpoint(Access.PUBLIC)
def lambda_handler(request: Request) -> dict[str, str]:
    return tokens.register(request.caller.project_id, request.json())
