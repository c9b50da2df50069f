"""API key check, applied as a dependency on whole routers.

With FORECAST_API_KEY set, a request to a protected route must carry the key as
`Authorization: Bearer <key>` or `X-API-Key: <key>`; otherwise it gets 401 in the
error shape with `WWW-Authenticate: Bearer`. Without the setting, every route is open.
"""

import hmac
import logging
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

logger = logging.getLogger(__name__)

# auto_error=False: the schemes only read the headers and document them in
# OpenAPI; require_api_key decides, because a missing key is fine while no key is set.
bearer_scheme = HTTPBearer(auto_error=False, description="The API key as a bearer token.")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")

BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]
HeaderKey = Annotated[str | None, Security(api_key_header)]


def unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": "Bearer"})


def check_api_key(request: Request, bearer: HTTPAuthorizationCredentials | None, header_key: str | None) -> None:
    """Raise 401 unless one of the presented keys equals the configured key."""
    configured = request.app.state.settings.api_key
    if configured is None:
        return

    presented = [key for key in (bearer.credentials if bearer else None, header_key) if key]
    request_id = getattr(request.state, "request_id", "-")
    if not presented:
        logger.info("rejected request %s: no API key", request_id)
        raise unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")

    expected = configured.get_secret_value().encode()
    # Compare every presented key in constant time, so timing reveals neither the key nor which header matched.
    matches = [hmac.compare_digest(key.encode(), expected) for key in presented]
    if not any(matches):
        logger.info("rejected request %s: invalid API key", request_id)
        raise unauthorized("invalid API key")


async def require_api_key(request: Request, bearer: BearerCredentials, header_key: HeaderKey) -> None:
    """Dependency of the protected routers; see check_api_key.

    A coroutine, so that FastAPI runs it on the event loop instead of a worker thread.
    """
    check_api_key(request, bearer, header_key)


async def require_metrics_key(request: Request, bearer: BearerCredentials, header_key: HeaderKey) -> None:
    """Dependency of /metrics: checks the key only when FORECAST_METRICS_REQUIRE_KEY is true."""
    if request.app.state.settings.metrics_require_key:
        check_api_key(request, bearer, header_key)
