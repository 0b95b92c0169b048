"""GET /admin/api/projects/{projectId}/push/credentials"""

from sentori_push import credentials
from sentori_push.api import Access, Request, endpoint


@endpoint(Access.ADMIN)
def lambda_handler(request: Request) -> list[dict[str, object]]:
    return credentials.list_credentials(request.caller.project_id)
