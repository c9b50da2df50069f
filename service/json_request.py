"""Request bodies parsed with orjson, the faster parser, falling back to the standard library.

orjson rejects a few inputs that Python's json module accepts (the NaN and
Infinity tokens, integers beyond 64 bits). For those, and for malformed JSON,
the body is parsed again with json.loads, so that the validation messages and
the JSONDecodeError text stay those of the standard library.
"""

import json
from typing import Any, Callable, Coroutine

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute


class OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._json = json.loads(body)
        return self._json


class OrjsonRoute(APIRoute):
    """An APIRoute whose handler reads JSON bodies through OrjsonRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle_with_orjson(request: Request) -> Response:
            return await handler(OrjsonRequest(request.scope, request.receive))

        return handle_with_orjson
