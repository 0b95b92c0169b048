"""POST /v1/push/tokens/{ipt}/topics"""

from sentori_push import tokens
from sentori_push.api import Access, Request, endpoint


@endpoint(Access.PUBLIC)
def lambda_handler(request: Request) -> dict[str, bool]:
    return tokens.subscribe(request.caller.project_id, request.path["ipt"], request.json())
