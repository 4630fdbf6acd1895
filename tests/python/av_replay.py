"""A loopback HTTP server that replays Alpha Vantage responses, in the provider's exact format.

Each symbol has a script: a list of (status, fixture file or text, content type) served in order, the
last one repeating. Every request is recorded (with its query) so tests can count calls and check the
key was sent.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

FIXTURES = Path(__file__).parent / "fixtures" / "alphavantage"


class Replay:
    def __init__(self) -> None:
        self.scripts: dict[str, list[tuple[int, str, str]]] = {}
        self.requests: list[dict[str, str]] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                replay.requests.append(query)
                script = replay.scripts.get(query.get("symbol", ""), [(200, "error_message.json", "application/json")])
                status, body, content_type = script.pop(0) if len(script) > 1 else script[0]
                payload = (FIXTURES / body).read_bytes() if (FIXTURES / body).is_file() else body.encode()
                self.send_response(status)
                if status == 429:  # as a rate-limiting proxy in front of the API answers
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/query"

    def script(self, symbol: str, *responses: tuple[int, str] | str) -> None:
        steps = []
        for response in responses:
            status, body = (200, response) if isinstance(response, str) else response
            content_type = "text/csv" if body.endswith(".csv") else "application/json"
            steps.append((status, body, content_type))
        self.scripts[symbol] = steps

    def __enter__(self) -> Replay:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
