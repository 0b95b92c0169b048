"""POST /admin/api/projects/{projectId}/push/credentials/{provider}/verify"""

from sentori_push import credentials
from sentori_push.api import Access, Request, endpoint


@endpoint(Access.ADMIN)
def lambda_handler(request: Request) -> dict[str, object]:
    return credentials.verify_credential(request.caller.project_id, request.path["provider"])
