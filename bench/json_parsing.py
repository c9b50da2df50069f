"""Parse and serialize one /forecast body with each JSON library the service could use."""

import json
import timeit

import numpy as np
import orjson

from service.schemas import ForecastRequest, ForecastResponse, ModelReference

REPETITIONS = 5000


def run() -> list[dict]:
    body = json.dumps({"window": [round(float(np.sin(0.1 * t)), 6) for t in range(50)], "horizon": 100}).encode()
    response = ForecastResponse(
        forecast=np.linspace(0, 1, 100, dtype=np.float32).tolist(), horizon=100, model=ModelReference(name="sine", version=1)
    )
    candidates = {
        "request: json.loads + model_validate": lambda: ForecastRequest.model_validate(json.loads(body)),
        "request: orjson.loads + model_validate": lambda: ForecastRequest.model_validate(orjson.loads(body)),
        "request: pydantic model_validate_json": lambda: ForecastRequest.model_validate_json(body),
        "response: pydantic model_dump_json": lambda: response.model_dump_json(),
        "response: orjson.dumps(model_dump())": lambda: orjson.dumps(response.model_dump()),
    }
    return [
        {"operation": name, "microseconds": timeit.timeit(function, number=REPETITIONS) / REPETITIONS * 1e6}
        for name, function in candidates.items()
    ]
