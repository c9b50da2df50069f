"""One JSON error shape for every 4xx and 5xx response, and the handlers that produce it."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.schemas import WINDOW_EXPECTED, ErrorBody, ErrorResponse, FieldError, describe_value

logger = logging.getLogger(__name__)

# Custom error types raised by the window parser; their names double as metric reasons.
WINDOW_REASONS = {"window_shape", "window_length", "window_value", "window_not_finite"}
# Top-level request fields whose names may appear in metric labels; any other name would be unbounded.
KNOWN_FIELDS = {"window", "windows", "horizon"}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    500: "internal_error",
    503: "model_unavailable",
}


class InputError(Exception):
    """A request that passed schema validation but is invalid for the served model or settings."""

    def __init__(self, field: str, expected: str, received: Any, reason: str) -> None:
        self.field_error = FieldError(
            field=field,
            message=f"{field}: expected {expected}, received {describe_value(received)}",
            expected=expected,
            received=describe_value(received),
        )
        self.reason = reason
        super().__init__(self.field_error.message)


class ModelUnavailableError(Exception):
    """No model version is loaded, or the service is shutting down, so forecasts cannot be served."""


class InferenceError(Exception):
    """The model failed to compute the forecast of one request."""


def error_response(request: Request, status: int, message: str, fields: list[FieldError] | None = None) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    body = ErrorResponse(
        error=ErrorBody(
            status=status,
            code=HTTP_CODES.get(status, "internal_error" if status >= 500 else "client_error"),
            message=message,
            fields=fields or [],
            request_id=request_id,
        )
    )
    headers = {"X-Request-ID": request_id} if request_id else None
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def format_location(location: tuple[Any, ...]) -> str:
    """Turn pydantic's ('body', 'window', 3) into 'window[3]'; the body itself is 'body'."""
    parts = list(location[1:]) if location and location[0] == "body" else list(location)
    if not parts:
        return "body"

    text = str(parts[0])
    for part in parts[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def translate_error(error: dict[str, Any], expectations: dict[str, str]) -> tuple[FieldError, str]:
    """Turn one pydantic error into a FieldError and a bounded metric reason.

    `expectations` maps top-level field names to what a valid value looks like,
    so messages state the same limits the handlers enforce.
    """
    field = format_location(tuple(error.get("loc", ())))
    error_type = error.get("type", "")
    context = error.get("ctx") or {}
    received = describe_value(error.get("input"))
    top_field = field.split("[")[0].split(".")[0]
    label = top_field if top_field in KNOWN_FIELDS else "body"

    if error_type in WINDOW_REASONS:
        if "index" in context:
            field = f"{field}[{context['index']}]"
        expected, received, reason = context["expected"], context["received"], error_type
    elif error_type == "missing":
        expected = expectations.get(field, "a value")
        received, reason = "nothing (the field is missing)", "missing_field"
    elif error_type == "extra_forbidden":
        expected, reason = "only the documented fields (this one is unknown)", "unknown_field"
    elif error_type.startswith("int_"):
        expected, reason = expectations.get(top_field, "an integer"), f"{label}_type"
    elif error_type == "greater_than_equal":
        expected, reason = expectations.get(top_field, f"a number >= {context.get('ge')}"), f"{label}_range"
    elif error_type == "list_type":
        expected, reason = expectations.get(top_field, "a list"), f"{label}_type"
    elif error_type in {"model_attributes_type", "dict_type", "model_type"}:
        field, expected, reason = "body", "a JSON object", "body_type"
    elif error_type == "json_invalid":
        field, expected, reason = "body", "valid JSON", "invalid_json"
        received = f"invalid JSON ({context.get('error', 'parse error')})"
    else:
        expected, reason = error.get("msg", "a valid value"), f"{label}_invalid"

    message = f"{field}: expected {expected}, received {received}"
    return FieldError(field=field, message=message, expected=expected, received=received), reason


def count_failure(request: Request, reason: str) -> None:
    request.app.state.metrics.validation_failures.labels(reason=reason).inc()


def describe_expectations(request: Request) -> dict[str, str]:
    """What each request field accepts, with the limits in force right now."""
    slot = request.app.state.models
    served = slot.current
    max_horizon = slot.max_horizon(served) if served is not None else slot.settings.max_horizon
    return {
        "window": WINDOW_EXPECTED,
        "windows": describe_windows_limit(slot.settings.max_batch_windows),
        "horizon": f"an integer from 1 to {max_horizon}",
    }


def describe_windows_limit(max_windows: int) -> str:
    return f"a list of 1 to {max_windows} windows, each {WINDOW_EXPECTED}"


async def handle_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    expectations = describe_expectations(request)
    fields = []
    for error in exc.errors():
        field_error, reason = translate_error(error, expectations)
        fields.append(field_error)
        count_failure(request, reason)

    message = "; ".join(field.message for field in fields) or "invalid request"
    logger.info("rejected request %s: %s", getattr(request.state, "request_id", "-"), message)
    return error_response(request, 422, message, fields)


async def handle_input_error(request: Request, exc: InputError) -> JSONResponse:
    count_failure(request, exc.reason)
    logger.info("rejected request %s: %s", getattr(request.state, "request_id", "-"), exc.field_error.message)
    return error_response(request, 422, exc.field_error.message, [exc.field_error])


async def handle_model_unavailable(request: Request, exc: ModelUnavailableError) -> JSONResponse:
    logger.warning("request %s: %s", getattr(request.state, "request_id", "-"), exc)
    return error_response(request, 503, str(exc))


async def handle_inference_error(request: Request, exc: InferenceError) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "-")
    logger.error("request %s: %s", request_id, exc)
    return error_response(request, 500, f"{exc}; quote request id {request_id} when reporting it")


async def handle_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404:
        message = f"not found: {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    response = error_response(request, exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "-")
    logger.error("request %s failed with an unexpected error", request_id, exc_info=exc)
    return error_response(request, 500, f"internal error; quote request id {request_id} when reporting it")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(InputError, handle_input_error)
    app.add_exception_handler(ModelUnavailableError, handle_model_unavailable)
    app.add_exception_handler(InferenceError, handle_inference_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(Exception, handle_unexpected_error)
