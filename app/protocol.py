"""HTTP by the book: HEAD answers on every GET route, and error bodies echo only a short input prefix."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ECHO_LIMIT = 40  # characters of a rejected input an error body may repeat


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
