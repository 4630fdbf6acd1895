"""Headless Chromium against the running app: the dashboard's DOM after its scripts ran, and screenshots.

Used by `featurecast screenshot` and by the dashboard test. Chromium is Debian's `chromium` package
(`make browser` installs it; `make test` does so first). The app is served by uvicorn on a free loopback
port for the duration of the call; nothing leaves the machine.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from featurecast.config import Settings

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=20000"]


class BrowserMissingError(RuntimeError):
    pass


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissingError("headless Chromium is not installed: run `make browser` (apt-get install chromium)")


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app on a free loopback port; yields its base URL."""
    import uvicorn

    from featurecast.api.main import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # log_config=None: uvicorn must not reconfigure logging in a process that may hold Prefect's API log
    # handler, whose flush during dictConfig deadlocks against Prefect's event-loop thread.
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("the app did not start within 15 s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _chromium(args: list[str], timeout: float = 90) -> str:
    done = subprocess.run([find_chromium(), *BROWSER_FLAGS, *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited with {done.returncode}: {done.stderr[-500:]}")
    return done.stdout


def rendered_dom(url: str) -> str:
    """The page's DOM after its scripts ran (charts drawn)."""
    return _chromium(["--dump-dom", url])


def screenshot(url: str, output: Path, *, width: int = 1400, height: int = 2600) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    _chromium([f"--window-size={width},{height}", f"--screenshot={output}", url])
    if not output.exists():
        raise RuntimeError(f"chromium wrote no screenshot to {output}")
    return output
