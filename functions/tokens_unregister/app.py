"""DELETE /v1/push/tokens/{ipt}"""

from sentori_push import tokens
from sentori_push.api import Access, Request, endpoint


@endpoint(Access.PUBLIC)
def lambda_handler(request: Request) -> None:
    tokens.unregister(request.caller.project_id, request.path["ipt"])
