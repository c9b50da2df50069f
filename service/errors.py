"""One JSON error shape for every 4xx and 5xx response, and the handlers that produce it."""

import logging
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.schemas import LEVELS_EXPECTED, WINDOW_EXPECTED, ErrorBody, ErrorResponse, FieldError, describe_value

logger = logging.getLogger(__name__)

# Custom error types raised by the window and levels parsers; their names double as metric reasons.
WINDOW_REASONS = {"window_shape", "window_length", "window_value", "window_not_finite"}
CUSTOM_REASONS = WINDOW_REASONS | {"levels_shape", "levels_value"}
# Top-level request fields whose names may appear in metric labels; any other name would be unbounded.
KNOWN_FIELDS = {"window", "windows", "horizon", "levels", "step"}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    500: "internal_error",
    501: "not_implemented",
    503: "model_unavailable",
}


ERROR_DESCRIPTIONS = {
    400: "The body is not a JSON document that can be parsed; the message says why.",
    401: "The API key is missing or invalid.",
    404: "No model of that name or version is served.",
    408: "The request body took longer than FORECAST_BODY_TIMEOUT_SECONDS to arrive.",
    413: "The request body is larger than FORECAST_MAX_BODY_BYTES.",
    415: "The Content-Type header is not application/json with UTF-8.",
    422: "The request is invalid; the message names the field.",
    500: "Unexpected error; the message carries the request id that the log line also carries.",
    501: "The loaded model version was exported without the signature this route needs.",
    503: "No model version is loaded.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Declare error statuses for a route's `responses=`, so OpenAPI shows the error shape."""
    return {status: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


class InputError(Exception):
    """A request that passed schema validation but is invalid for the served model or settings."""

    def __init__(self, field: str, expected: str, received: Any, reason: str, received_text: str | None = None) -> None:
        """`received_text`, when given, replaces the description of `received`, e.g. for a missing field."""
        described = received_text if received_text is not None else describe_value(received)
        self.field_error = FieldError(
            field=field,
            message=f"{field}: expected {expected}, received {described}",
            expected=expected,
            received=described,
        )
        self.reason = reason
        super().__init__(self.field_error.message)


class UnsupportedMediaTypeError(Exception):
    """A request body declared with a Content-Type other than JSON in UTF-8."""

    def __init__(self, expected: str, received: str) -> None:
        self.field_error = FieldError(
            field="Content-Type", message=f"Content-Type: expected {expected}, received {received}", expected=expected, received=received
        )
        super().__init__(self.field_error.message)


class ModelUnavailableError(Exception):
    """No model version is loaded, or the service is shutting down, so forecasts cannot be served."""


class InferenceError(Exception):
    """The model failed to compute the forecast of one request."""


class FeatureUnavailableError(Exception):
    """The loaded model version was exported without what this route needs, such as a signature."""


class ModelNotFoundError(Exception):
    """A request names a model or version that this service does not serve."""


def build_error_response(
    status: int, message: str, request_id: str | None, fields: list[FieldError] | None = None
) -> JSONResponse:
    """Render the error shape; ASGI middleware that has no Request calls this directly."""
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


def error_response(request: Request, status: int, message: str, fields: list[FieldError] | None = None) -> JSONResponse:
    return build_error_response(status, message, getattr(request.state, "request_id", None), fields)


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

    if error_type in CUSTOM_REASONS:
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
        "body": "a JSON object",
        "window": WINDOW_EXPECTED,
        "windows": describe_windows_limit(slot.settings.max_batch_windows),
        "horizon": f"an integer from 1 to {max_horizon}",
        "step": f"an integer from 1 to {max_horizon}",
        "levels": LEVELS_EXPECTED,
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


async def handle_unsupported_media_type(request: Request, exc: UnsupportedMediaTypeError) -> JSONResponse:
    count_failure(request, "content_type")
    logger.info("rejected request %s: %s", getattr(request.state, "request_id", "-"), exc.field_error.message)
    return error_response(request, 415, exc.field_error.message, [exc.field_error])


async def handle_model_unavailable(request: Request, exc: ModelUnavailableError) -> JSONResponse:
    logger.warning("request %s: %s", getattr(request.state, "request_id", "-"), exc)
    return error_response(request, 503, str(exc))


async def handle_inference_error(request: Request, exc: InferenceError) -> JSONResponse:
    """Log the model's error with its traceback, and return the same opaque 500 as any unexpected error."""
    request_id = getattr(request.state, "request_id", "-")
    logger.error("request %s: %s", request_id, exc, exc_info=exc.__cause__ or exc)
    return error_response(request, 500, f"internal error; quote request id {request_id} when reporting it")


async def handle_model_not_found(request: Request, exc: ModelNotFoundError) -> JSONResponse:
    logger.info("request %s: %s", getattr(request.state, "request_id", "-"), exc)
    return error_response(request, 404, str(exc))


def describe_unparsable_body(cause: BaseException | None) -> FieldError | None:
    """Name why a body that is not a valid JSON document could not be parsed.

    FastAPI answers 400 "There was an error parsing the body" for every error of
    json.loads other than JSONDecodeError, and keeps the original error as __cause__.
    """
    if isinstance(cause, RecursionError):
        expected, received = "JSON nested less deeply", "JSON nested too deeply to parse"
    elif isinstance(cause, UnicodeDecodeError):
        expected, received = "a body encoded as UTF-8", f"invalid UTF-8 at byte {cause.start}"
    elif isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        limit = sys.get_int_max_str_digits()
        expected, received = f"numbers of at most {limit} digits", f"a number with more than {limit} digits"
    else:
        return None
    return FieldError(field="body", message=f"body: expected {expected}, received {received}", expected=expected, received=received)


async def handle_feature_unavailable(request: Request, exc: FeatureUnavailableError) -> JSONResponse:
    logger.warning("request %s: %s", getattr(request.state, "request_id", "-"), exc)
    return error_response(request, 501, str(exc))


async def handle_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    fields = None
    if (field_error := getattr(exc, "field_error", None)) is not None:
        fields = [field_error]
        logger.info("rejected request %s: %s", getattr(request.state, "request_id", "-"), message)
    elif exc.status_code == 404:
        message = f"not found: {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    elif exc.status_code == 400 and (field_error := describe_unparsable_body(exc.__cause__)) is not None:
        message, fields = field_error.message, [field_error]
        logger.info("rejected request %s: %s", getattr(request.state, "request_id", "-"), message)
    response = error_response(request, exc.status_code, message, fields)
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
    app.add_exception_handler(UnsupportedMediaTypeError, handle_unsupported_media_type)
    app.add_exception_handler(ModelUnavailableError, handle_model_unavailable)
    app.add_exception_handler(InferenceError, handle_inference_error)
    app.add_exception_handler(ModelNotFoundError, handle_model_not_found)
    app.add_exception_handler(FeatureUnavailableError, handle_feature_unavailable)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(Exception, handle_unexpected_error)
