"""uvicorn's httptools protocol with a deadline for the request head: a connection that sends nothing, or a
request line and headers it never finishes, is closed after `REQUEST_HEAD_TIMEOUT` seconds.

uvicorn times out an idle keep-alive connection only after a response (`timeout_keep_alive`); a client
that connects and then sends nothing, or half a request, holds its connection (and a file descriptor)
forever: 300 such clients stayed open indefinitely. The deadline starts when the connection opens and
again when a keep-alive connection finishes a response, and stops when a request's headers are complete.
A request whose head arrived in time is never cut off by it, however long its handler runs.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REQUEST_HEAD_TIMEOUT = 10.0


class HeadTimeoutProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that closes a connection whose request head does not arrive in time."""

    head_timeout = REQUEST_HEAD_TIMEOUT
    _head_deadline: asyncio.TimerHandle | None = None

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm_head_deadline()  # the next request on this keep-alive connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)
