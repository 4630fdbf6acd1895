"""HTTP by the book: HEAD answers on every GET route, and error bodies echo only a short input prefix."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from featurecast.api.routers.signals import SYMBOL_PATTERN

ECHO_LIMIT = 40  # characters of a rejected input an error body may repeat
SYMBOL = re.compile(SYMBOL_PATTERN)


def shorten(value: Any, limit: int = ECHO_LIMIT) -> Any:
    """A rejected input as an error body may show it: strings cut to `limit` characters, nested too."""
    if isinstance(value, str):
        return value if len(value) <= limit else f"{value[:limit]}… ({len(value)} characters)"
    if isinstance(value, dict):
        return {k: shorten(v, limit) for k, v in list(value.items())[:20]}
    if isinstance(value, (list, tuple)):
        return [shorten(v, limit) for v in list(value)[:20]]
    return value


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 body, with every echoed input shortened (a 10,000-character path is not repeated)."""
    errors = []
    for error in exc.errors():
        error = dict(error)
        if "input" in error:
            error["input"] = shorten(error["input"])
        errors.append(error)
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


class HeadAsGet:
    """Answer HEAD like GET without the body (RFC 9110 §9.3.2): FastAPI routes declare GET only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


class SignalFastPath:
    """The hottest route without the framework: `GET /signals/{symbol}` with no query string is answered
    from the rendered-body cache straight at the ASGI layer (no routing, dependency injection or parameter
    models: those cost several times the lookup). Anything else (a query string, a malformed or unknown
    symbol, no snapshot yet) falls through to the FastAPI route, which owns validation and the error
    contract; the body is the same bytes the route returns."""

    PREFIX = "/signals/"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and not scope["query_string"]:
            path: str = scope["path"]
            symbol = path[len(self.PREFIX) :] if path.startswith(self.PREFIX) else ""
            if symbol and SYMBOL.match(symbol):
                body = self._cached(scope, symbol.upper())
                if body is not None:
                    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
                    return
        await self.app(scope, receive, send)

    @staticmethod
    def _cached(scope: Scope, symbol: str) -> bytes | None:
        app = scope.get("app")
        services = getattr(getattr(app, "state", None), "services", None)
        if services is None:
            return None
        try:
            return services.get("MLSignalService").signal_json(symbol)
        except Exception:  # unknown symbol, no snapshot: the route answers with the documented error
            return None
