"""Request and response bodies of the forecasting API."""

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt
from pydantic_core import PydanticCustomError

from service.model_store import WINDOW_LENGTH

# Values must survive the cast to float32 that the SavedModel's input requires.
FLOAT32_MAX = 3.4028234663852886e38


def describe_value(value: Any) -> str:
    """Describe a JSON value for an error message, without echoing large inputs."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        # JSON's spelling of the tokens that Python's parser accepts, not Python's 'nan' and 'inf'.
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 40 else f"a number with {len(text)} characters"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:20] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def invalid(expected: str, received: Any, reason: str) -> PydanticCustomError:
    """Build a validation error that carries what was expected and what was received."""
    return PydanticCustomError(
        reason,
        "expected {expected}, received {received}",
        {"expected": expected, "received": describe_value(received)},
    )


def parse_value(value: Any) -> float:
    """Check one window value: a finite JSON number, or a one-element list holding one."""
    if isinstance(value, list):
        if len(value) != 1:
            raise invalid("a number or a one-element list", value, "window_shape")
        value = value[0]

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid("a number", value, "window_value")

    try:
        number = float(value)
    except OverflowError:
        raise invalid(f"a finite number within ±{FLOAT32_MAX:.3g}", value, "window_not_finite") from None

    if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
        raise invalid(f"a finite number within ±{FLOAT32_MAX:.3g}", value, "window_not_finite")
    return number


WINDOW_EXPECTED = f"a list of {WINDOW_LENGTH} numbers or {WINDOW_LENGTH} one-element lists"


def parse_window(raw: Any) -> list[float]:
    """Accept a flat list of WINDOW_LENGTH numbers, or WINDOW_LENGTH one-element lists.

    The second form is Keras' [timesteps, features] layout for one feature.
    """
    expected = WINDOW_EXPECTED
    if not isinstance(raw, list):
        raise invalid(expected, raw, "window_shape")
    if len(raw) != WINDOW_LENGTH:
        raise invalid(expected, raw, "window_length")

    values = []
    for index, value in enumerate(raw):
        try:
            values.append(parse_value(value))
        except PydanticCustomError as error:
            # The index goes into the message because pydantic's location stops at the field.
            raise PydanticCustomError(
                error.type,
                "item {index}: expected {expected}, received {received}",
                {**error.context, "index": index},
            ) from None
    return values


Window = Annotated[
    list[float],
    BeforeValidator(parse_window),
    Field(
        description=f"The last {WINDOW_LENGTH} values of the series, oldest first, in the series' own units. "
        f"A flat list, or {WINDOW_LENGTH} one-element lists.",
        min_length=WINDOW_LENGTH,
        max_length=WINDOW_LENGTH,
    ),
]

Horizon = Annotated[
    StrictInt,
    Field(ge=1, description="Number of steps to forecast. Each step feeds the previous prediction back into the window."),
]


MIN_LEVEL = 1
MAX_LEVEL = 99
MAX_LEVELS = 5
LEVELS_EXPECTED = f"a list of 1 to {MAX_LEVELS} distinct integers from {MIN_LEVEL} to {MAX_LEVEL}"
LEVEL_EXPECTED = f"an integer from {MIN_LEVEL} to {MAX_LEVEL}"


def parse_levels(raw: Any) -> list[int]:
    """Accept 1 to MAX_LEVELS distinct integer interval levels in percent, each from MIN_LEVEL to MAX_LEVEL."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_LEVELS:
        raise invalid(LEVELS_EXPECTED, raw, "levels_shape")

    levels: list[int] = []
    for index, level in enumerate(raw):
        if isinstance(level, bool) or not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
            expected = LEVEL_EXPECTED
        elif level in levels:
            expected = "a level not listed before"
        else:
            levels.append(level)
            continue
        raise PydanticCustomError(
            "levels_value",
            "item {index}: expected {expected}, received {received}",
            {"expected": expected, "received": describe_value(level), "index": index},
        )
    return levels


Levels = Annotated[
    list[int],
    BeforeValidator(parse_levels),
    Field(
        description=f"Prediction interval levels in percent, {LEVELS_EXPECTED}. The response then contains one "
        "interval per level. Allowed up to the horizon the model's intervals were calibrated for (GET /model).",
    ),
]

Step = Annotated[
    StrictInt,
    Field(ge=1, description="Forecast step whose gradient is returned: 1 is the next value."),
]


class ForecastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: Window
    horizon: Horizon = 1
    levels: Levels | None = None


class SaliencyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: Window
    step: Step = 1


class BatchForecastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    windows: list[Window] = Field(
        description="Windows to forecast from, each validated like the `window` of POST /forecast. "
        "The number of windows is limited by the FORECAST_MAX_BATCH_WINDOWS setting."
    )
    horizon: Horizon = 1


class ModelReference(BaseModel):
    name: str
    version: int


class Interval(BaseModel):
    lower: list[float] = Field(description="Lower bound per step, in the series' own units.")
    upper: list[float] = Field(description="Upper bound per step, in the series' own units.")


class ForecastResponse(BaseModel):
    forecast: list[float] = Field(description="One value per step, in the series' own units.")
    horizon: int
    model: ModelReference
    intervals: dict[str, Interval] | None = Field(
        None, description="Present when the request gave levels: one interval per level, keyed by the level."
    )


class SaliencyResponse(BaseModel):
    saliency: list[float] = Field(
        description="Gradient of the forecast at `step` with respect to each window value, oldest first, "
        "in forecast units per input unit."
    )
    step: int
    model: ModelReference


class BatchForecastResponse(BaseModel):
    forecasts: list[list[float]] = Field(description="One forecast per window, in request order, each with `horizon` values.")
    horizon: int
    model: ModelReference


class FieldError(BaseModel):
    field: str
    message: str
    expected: str | None = None
    received: str | None = None


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    fields: list[FieldError] = []
    request_id: str | None = None


class ErrorResponse(BaseModel):
    """The one shape of every 4xx and 5xx response body."""

    error: ErrorBody
