"""TensorFlow Serving's REST API for the one-step signature, so its clients work unchanged.

POST /v1/models/{name}:predict accepts both request formats of TensorFlow
Serving's REST API:

- row format: {"instances": [window, ...]} or {"instances": [{"window": window}, ...]},
  returned as {"predictions": [[value], ...]};
- columnar format: {"inputs": [window, ...]} or {"inputs": {"window": [window, ...]}},
  returned as {"outputs": [[value], ...]}.

Each window is the same as in POST /forecast: 50 numbers, or 50 one-element lists.
Errors keep the service's own error shape, with the field named as in the request.
"""

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Body
from pydantic_core import PydanticCustomError

from service.errors import InputError, ModelNotFoundError, error_responses
from service.model_store import ONE_STEP_SIGNATURE, WINDOW_LENGTH, ServedModel
from service.routes.forecasting import check_finite, run_forecast
from service.schemas import WINDOW_EXPECTED, parse_window
from service.serving import MetricsDep, ServedModelDep, SlotDep

router = APIRouter(tags=["tensorflow-serving"])

INPUT_NAME = "window"
BODY_KEYS = {"instances", "inputs", "signature_name"}
MISSING = "nothing (the field is missing)"
PREDICT_RESPONSES = error_responses(400, 404, 422, 503)
PREDICT_EXAMPLE = {"instances": [[0.0] * WINDOW_LENGTH]}

PredictBody = Annotated[
    Any,
    Body(
        description='{"instances": [...]} (row format) or {"inputs": ...} (columnar format), as TensorFlow Serving takes them.',
        examples=[PREDICT_EXAMPLE],
    ),
]


def check_model(served: ServedModel, name: str, version: str | None = None) -> None:
    """Raise ModelNotFoundError (404) when the request names another model or a version not served."""
    if name != served.name:
        raise ModelNotFoundError(f"model {name!r} is not served; this service serves {served.name!r}")
    if version is not None and version != str(served.version):
        raise ModelNotFoundError(f"version {version!r} of model {name!r} is not served; the served version is {served.version}")


def read_window(raw: Any, field: str) -> list[float]:
    """Parse one window, turning the parser's error into an InputError that names the request field."""
    try:
        return parse_window(raw)
    except PydanticCustomError as error:
        context = error.context or {}
        received = raw
        if "index" in context:
            field = f"{field}[{context['index']}]"
            received = raw[context["index"]]
        raise InputError(field, context.get("expected", WINDOW_EXPECTED), received, error.type) from None


def read_instance(instance: Any, field: str) -> list[float]:
    """Parse one row: a bare window, or an object whose only key is the input name."""
    if not isinstance(instance, dict):
        return read_window(instance, field)

    unknown = sorted(set(instance) - {INPUT_NAME})
    if unknown:
        raise InputError(f"{field}.{unknown[0]}", f"only the input {INPUT_NAME!r}", instance[unknown[0]], "unknown_field")
    if INPUT_NAME not in instance:
        raise InputError(f"{field}.{INPUT_NAME}", WINDOW_EXPECTED, None, "missing_field", received_text=MISSING)
    return read_window(instance[INPUT_NAME], f"{field}.{INPUT_NAME}")


def check_batch(windows: Any, field: str, max_instances: int) -> list[Any]:
    expected = f"a list of 1 to {max_instances} windows"
    if not isinstance(windows, list) or not windows:
        raise InputError(field, expected, windows, "batch_shape")
    if len(windows) > max_instances:
        raise InputError(field, expected, windows, "batch_size")
    return windows


def read_rows(instances: Any, max_instances: int) -> np.ndarray:
    rows = check_batch(instances, "instances", max_instances)
    windows = [read_instance(row, f"instances[{index}]") for index, row in enumerate(rows)]
    return np.asarray(windows, dtype=np.float32)


def read_columns(inputs: Any, max_instances: int) -> np.ndarray:
    field = "inputs"
    if isinstance(inputs, dict):
        unknown = sorted(set(inputs) - {INPUT_NAME})
        if unknown:
            raise InputError(f"inputs.{unknown[0]}", f"only the input {INPUT_NAME!r}", inputs[unknown[0]], "unknown_field")
        if INPUT_NAME not in inputs:
            raise InputError(f"inputs.{INPUT_NAME}", "a list of windows", None, "missing_field", received_text=MISSING)
        inputs, field = inputs[INPUT_NAME], f"inputs.{INPUT_NAME}"

    columns = check_batch(inputs, field, max_instances)
    windows = [read_window(window, f"{field}[{index}]") for index, window in enumerate(columns)]
    return np.asarray(windows, dtype=np.float32)


def parse_predict_body(body: Any, max_instances: int) -> tuple[str, np.ndarray]:
    """Return the response key ('predictions' or 'outputs') and the [batch, window] array of a predict request."""
    if not isinstance(body, dict):
        raise InputError("body", 'a JSON object with "instances" or "inputs"', body, "body_type")

    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise InputError(unknown[0], '"instances", "inputs" or "signature_name" only', body[unknown[0]], "unknown_field")

    signature = body.get("signature_name", ONE_STEP_SIGNATURE)
    if signature != ONE_STEP_SIGNATURE:
        raise InputError("signature_name", f"{ONE_STEP_SIGNATURE!r}, the one-step signature", signature, "signature_name")

    if ("instances" in body) == ("inputs" in body):
        raise InputError("body", 'exactly one of "instances" (row format) and "inputs" (columnar format)', body, "body_invalid")

    if "instances" in body:
        return "predictions", read_rows(body["instances"], max_instances)
    return "outputs", read_columns(body["inputs"], max_instances)


async def predict(body: Any, served: ServedModel, slot: SlotDep, metrics: MetricsDep) -> dict[str, list[list[float]]]:
    key, windows = parse_predict_body(body, slot.settings.max_instances)

    forecast = await run_forecast(served, windows, 1, metrics)
    check_finite(forecast)
    return {key: forecast.tolist()}


@router.post("/v1/models/{name}:predict", responses=PREDICT_RESPONSES)
async def predict_latest(
    name: str, body: PredictBody, served: ServedModelDep, slot: SlotDep, metrics: MetricsDep
) -> dict[str, list[list[float]]]:
    """Forecast one step for each window, in TensorFlow Serving's request and response formats."""
    check_model(served, name)
    return await predict(body, served, slot, metrics)


@router.post("/v1/models/{name}/versions/{version}:predict", responses=PREDICT_RESPONSES)
async def predict_version(
    name: str, version: str, body: PredictBody, served: ServedModelDep, slot: SlotDep, metrics: MetricsDep
) -> dict[str, list[list[float]]]:
    """Like /v1/models/{name}:predict, but 404 unless `version` is the version being served."""
    check_model(served, name, version)
    return await predict(body, served, slot, metrics)


@router.get("/v1/models/{name}", responses=error_responses(404, 503))
async def read_model_status(name: str, served: ServedModelDep) -> dict[str, Any]:
    """Report the served version in TensorFlow Serving's model status format."""
    check_model(served, name)
    status = {"version": str(served.version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    return {"model_version_status": [status]}
