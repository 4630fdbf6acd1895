"""uvicorn's httptools protocol, guarded: a deadline for the request head, and an admission gate that
keeps a flood of clients from starving the liveness probe.

**The head deadline.** uvicorn times out an idle keep-alive connection only after a response
(`timeout_keep_alive`); a client that connects and then sends nothing, or half a request, held its
connection (and a file descriptor) forever: 300 such clients stayed open indefinitely. Here the deadline
(`REQUEST_HEAD_TIMEOUT`) starts when a connection opens and again when a keep-alive connection finishes a
response, and stops when a request's headers are complete (or when the gate below holds a request that
did arrive). A request whose head arrived in time is never cut off, however long its handler runs.

**The admission gate.** Each worker handles at most `MAX_ACTIVE_REQUESTS` requests at once. A request
(its head complete) that arrives past that waits, its connection paused (the kernel keeps what else the
client sends), and is started first-come first-served as requests finish: waiting costs nothing, and each
turn of the event loop serves a bounded number of requests. 500 clients on the dashboard otherwise gave every turn
hundreds of requests to serve, and a `/health` probe waited 150-450 ms behind them. `GET /health` is
never held, so a liveness probe answers within a turn or two however many clients there are.
"""

from __future__ import annotations

import asyncio
from collections import deque

from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

REQUEST_HEAD_TIMEOUT = 10.0
MAX_ACTIVE_REQUESTS = 32  # per worker process
PROBE_PATHS = frozenset({"/health"})  # never held: a liveness probe must answer under any load


class _Gate:
    """One worker's admission state (one per uvicorn server, kept on its shared `server_state`)."""

    def __init__(self) -> None:
        self.active = 0
        self.waiting: deque[tuple[GuardedProtocol, RequestResponseCycle, ASGI3Application]] = deque()


class GuardedProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a head deadline and a per-worker admission gate (see the module)."""

    head_timeout = REQUEST_HEAD_TIMEOUT
    max_active = MAX_ACTIVE_REQUESTS
    _head_deadline: asyncio.TimerHandle | None = None
    _admitted = 0  # requests of this connection that count against the gate

    # --- the head deadline ---------------------------------------------------------------------------

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

    # --- the gate: requests with a complete head, counted from the start of their handler to the end of
    # their response; a half-sent head never holds a place (the deadline above closes it) --------------

    @property
    def _gate(self) -> _Gate:
        gate = getattr(self.server_state, "featurecast_gate", None)
        if gate is None:
            gate = _Gate()
            self.server_state.featurecast_gate = gate  # type: ignore[attr-defined]
        return gate

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        gate = self._gate
        if cycle.scope["path"] not in PROBE_PATHS:
            if gate.active >= self.max_active:
                self.flow.pause_reading()  # nothing more from this client until its request is served
                gate.waiting.append((self, cycle, app))
                return
            gate.active += 1
            self._admitted += 1
        super()._start_asgi_task(cycle, app)

    def _release(self, served: int) -> None:
        gate = self._gate
        gate.active -= served
        while gate.waiting and gate.active < self.max_active:
            waiter, cycle, app = gate.waiting.popleft()
            if waiter.transport.is_closing():
                continue
            gate.active += 1
            waiter._admitted += 1
            waiter.flow.resume_reading()
            HttpToolsProtocol._start_asgi_task(waiter, cycle, app)

    # --- the protocol --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        served, self._admitted = min(self._admitted, 1), max(self._admitted - 1, 0)
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm_head_deadline()  # the next request on this keep-alive connection gets the same deadline
        self._release(served)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        served, self._admitted = self._admitted, 0
        super().connection_lost(exc)
        self._release(served)
