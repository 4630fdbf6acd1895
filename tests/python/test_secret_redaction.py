"""No secret in any output: a provider that echoes the API key back, in every place its body or headers
can carry it, through `featurecast -v ingest alphavantage` as typed, then every byte printed, logged or
written under the data directory is searched for the key (any case, URL-encoded, or a cut-off piece).

What each echo gets (the run fails with exit 2, nothing lands, the key is nowhere):
| where the provider puts the key                         | the one line names                        |
| a JSON object key (`{"apikey=KEY": ...}`)               | the keys, the key masked                  |
| a date key, repeated                                    | the repeated key, masked                  |
| `2. Symbol`                                             | the symbol it answered, masked            |
| a row's date, with a row that is not an object          | the date, masked                          |
| a CSV column name                                       | the column, masked                        |
| `Retry-After` of a 429, every time                      | the rate limit, the header masked         |
| an `Error Message`, lower-cased                         | the error, masked                         |
| a 400 body whose 200-character cut falls inside the key | the body, masked before it is cut         |
| a `Note` URL-encoded                                    | the rate limit, masked                    |
| a connection error, key with URL-reserved characters    | the error, masked in its encoded form     |
| a 302 to another host                                   | the redirect's host; nothing is followed  |
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus, urlparse

import pytest

from featurecast import redaction
from featurecast.cli.main import main
from tests.python.conftest import warehouse_state

KEY = "Zq7SecretKey&/+=%!X9"  # URL-reserved characters on purpose


def _series(day: str) -> dict:
    return {day: {"1. open": "1", "2. high": "2", "3. low": "0.5", "4. close": "1.5", "5. volume": "10"}}


def _echo(key: str) -> dict[str, tuple[int, dict[str, str], str]]:
    """One scripted answer per symbol, each echoing `key` somewhere else."""
    meta = {"1. Information": "Daily Prices", "2. Symbol": "IBM"}
    return {
        "JSONKEY": (200, {}, json.dumps({f"apikey={key}": 1, "Meta Data": meta})),
        "REPEAT": (
            200,
            {},
            '{"Meta Data": {}, "Time Series (Daily)": {"KEY": {"4. close": "1"}, "KEY": {"4. close": "2"}}}'.replace(
                "KEY", key
            ),
        ),
        "SYMBOL": (
            200,
            {},
            json.dumps({"Meta Data": {"2. Symbol": key}, "Time Series (Daily)": _series("2024-06-03")}),
        ),
        "ROWDATE": (200, {}, json.dumps({"Meta Data": {}, "Time Series (Daily)": {key: "not an object"}})),
        "CSVCOL": (200, {"Content-Type": "text/csv"}, f"timestamp,open,{key}\n2024-06-03,1,2\n"),
        "RETRY": (429, {"Retry-After": key}, "slow down"),
        "LOWER": (200, {}, json.dumps({"Error Message": f"Invalid API call for key {key.lower()}"})),
        "CUT400": (400, {}, "x" * 190 + key + " and more"),
        "ENCODED": (200, {}, json.dumps({"Note": f"Thank you ({quote_plus(key)}); 5 calls per minute"})),
    }


class EchoProvider:
    def __init__(self, redirect_to: str | None = None, host: str = "127.0.0.1") -> None:
        self.requests: list[dict[str, str]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                provider.requests.append(query)
                symbol = query.get("symbol", "")
                if symbol == "MOVED" and redirect_to:
                    self.send_response(302)
                    self.send_header("Location", f"{redirect_to}?{urlparse(self.path).query}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, headers, body = _echo(query.get("apikey", ""))[symbol]
                payload = body.encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/query"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def provider() -> Iterator[EchoProvider]:
    server = EchoProvider()
    yield server
    server.close()


def _leaks(text: str, key: str = KEY) -> list[str]:
    """Every form of the key (or a piece of it at least 4 long at a cut) that `text` holds."""
    forms = {key, quote(key, safe=""), quote_plus(key, safe="")}
    lowered = text.lower()
    found = [f for f in forms if f.lower() in lowered]
    # the key's first and last 6 characters anywhere: what a cut across it would leave
    found += [p for p in (key[:6], key[-6:]) if p.lower() in lowered]
    return found


def _run(monkeypatch, tmp_path: Path, capfd, base_url: str, symbol: str) -> tuple[int, str]:
    datatype = ["--datatype", "csv"] if symbol == "CSVCOL" else []
    monkeypatch.setenv("FEATURECAST_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FEATURECAST_WAREHOUSE", raising=False)
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", KEY)
    monkeypatch.setenv("ALPHAVANTAGE_BASE_URL", base_url)
    monkeypatch.setenv("ALPHAVANTAGE_MAX_RETRIES", "1")
    monkeypatch.setenv("ALPHAVANTAGE_BACKOFF_SECONDS", "0.01")
    code = main(["-v", "ingest", "alphavantage", symbol, *datatype])
    out, err = capfd.readouterr()
    return code, out + err


def _files_text(directory: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in directory.rglob("*") if p.is_file() and not p.is_symlink()
    )


@pytest.mark.parametrize("symbol", list(_echo("k")))
def test_a_key_echoed_by_the_provider_is_nowhere_in_the_output(monkeypatch, tmp_path, capfd, provider, symbol) -> None:
    before = warehouse_state(tmp_path / "warehouse.duckdb")
    code, output = _run(monkeypatch, tmp_path, capfd, provider.url, symbol)
    assert code == 2, output
    assert provider.requests and all(r["apikey"] == KEY for r in provider.requests)  # the key was sent
    assert "***" in output, output  # and what echoed it is named, masked
    assert _leaks(output) == [], output
    assert _leaks(_files_text(tmp_path)) == []
    assert warehouse_state(tmp_path / "warehouse.duckdb") == before


def test_a_connection_error_does_not_leak_the_url_encoded_key(monkeypatch, tmp_path, capfd) -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/query"
    code, output = _run(monkeypatch, tmp_path, capfd, dead, "IBM")
    assert code == 2 and "ConnectionError" in output and "***" in output, output
    assert _leaks(output) == [] and _leaks(_files_text(tmp_path)) == []


def test_a_redirect_to_another_host_is_not_followed(monkeypatch, tmp_path, capfd) -> None:
    elsewhere = EchoProvider(host="127.0.0.2")  # loopback too, but another host as far as the URL goes
    try:
        port = elsewhere.server.server_address[1]
        origin = EchoProvider(redirect_to=f"http://127.0.0.2:{port}/query")
        try:
            code, output = _run(monkeypatch, tmp_path, capfd, origin.url, "MOVED")
        finally:
            origin.close()
    finally:
        elsewhere.close()
    assert code == 2 and "redirect to 127.0.0.2" in output and "not followed" in output, output
    assert elsewhere.requests == []
    assert _leaks(output) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"a {KEY} b", "a *** b"),
        (f"a {KEY.upper()} b", "a *** b"),
        (f"a {quote(KEY, safe='')} b", "a *** b"),
        (f"a {quote_plus(KEY, safe='').lower()} b", "a *** b"),
        (f"cut here {KEY[:9]}", "cut here ***"),  # what a cut before redaction leaves
        (f"{KEY[-7:]} then the rest", "*** then the rest"),
        ("nothing secret", "nothing secret"),
    ],
)
def test_redact_masks_every_form_of_a_secret(text: str, expected: str) -> None:
    redaction.register(KEY)
    assert redaction.redact(text) == expected


def test_cut_redacts_before_it_cuts() -> None:
    redaction.register(KEY)
    text = "x" * 10 + KEY
    assert _leaks(redaction.cut(text, 15)) == []
    assert redaction.cut(text, 15).startswith("x" * 10)


def test_the_key_is_not_in_the_environment_dump(monkeypatch, tmp_path, capfd) -> None:
    monkeypatch.setenv("FEATURECAST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", KEY)
    assert main(["config"]) == 0
    out, err = capfd.readouterr()
    assert _leaks(out + err) == []
    assert os.environ["ALPHAVANTAGE_API_KEY"] == KEY


def test_a_flow_run_stores_no_key_in_prefects_database_or_logs(tmp_path) -> None:
    """The same echo through `featurecast -v flow daily-refresh --source alphavantage`: the flow run's
    state, its logs (sent to the temporary Prefect server) and its database hold no key."""
    provider = EchoProvider()
    home, data = tmp_path / "prefect", tmp_path / "data"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEATURECAST_", "ALPHAVANTAGE_"))}
    env |= {
        "PREFECT_HOME": str(home),
        "FEATURECAST_DATA_DIR": str(data),
        "ALPHAVANTAGE_API_KEY": KEY,
        "ALPHAVANTAGE_BASE_URL": provider.url,
        "ALPHAVANTAGE_MAX_RETRIES": "0",
    }
    binary = Path(sys.executable).parent / "featurecast"
    argv = ["-v", "flow", "daily-refresh", "--source", "alphavantage", "--symbols", "JSONKEY"]
    try:
        done = subprocess.run([str(binary), *argv], env=env, capture_output=True, text=True, timeout=300)
    finally:
        provider.close()
    assert done.returncode == 2 and "keys: apikey=***" in done.stderr, done.stderr[-2000:]
    assert _leaks(done.stdout + done.stderr) == []
    assert _leaks(_files_text(home)) == [] and _leaks(_files_text(data)) == []
