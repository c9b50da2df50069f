"""Request bodies parsed with orjson, the faster parser, falling back to the standard library.

orjson rejects a few inputs that Python's json module accepts (the NaN and
Infinity tokens, integers beyond 64 bits). For those, and for malformed JSON,
the body is parsed again with json.loads, so that the validation messages and
the JSONDecodeError text stay those of the standard library.

A body whose Content-Type is not JSON in UTF-8 is rejected with 415 before it
is read: FastAPI would otherwise treat it as raw bytes and fail validation
with a message that does not name the header.
"""

import json
from typing import Any, Callable, Coroutine

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from service.errors import UnsupportedMediaTypeError

JSON_EXPECTED = "application/json, optionally with charset=utf-8"
UTF8_CHARSETS = {"utf-8", "utf8"}


def check_json_content_type(request: Request) -> None:
    """Raise UnsupportedMediaTypeError unless the Content-Type is JSON (application/json or application/*+json) in UTF-8."""
    header = request.headers.get("content-type")
    if header is None:
        raise UnsupportedMediaTypeError(JSON_EXPECTED, "no Content-Type header")

    media_type, *parameters = (part.strip() for part in header.split(";"))
    media_type = media_type.lower()
    if media_type != "application/json" and not (media_type.startswith("application/") and media_type.endswith("+json")):
        raise UnsupportedMediaTypeError(JSON_EXPECTED, repr(header))

    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in UTF8_CHARSETS:
            raise UnsupportedMediaTypeError(JSON_EXPECTED, repr(header))


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
            if request.method == "POST":
                check_json_content_type(request)
            return await handler(OrjsonRequest(request.scope, request.receive))

        return handle_with_orjson
