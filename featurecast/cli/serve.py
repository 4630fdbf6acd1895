"""`featurecast publish|serve|openapi|screenshot`: the serving snapshot and the HTTP API."""

from __future__ import annotations

import argparse
from pathlib import Path

from featurecast.cli.arguments import output_file, port
from featurecast.cli.errors import CliError
from featurecast.config import PROJECT_ROOT, Settings


def publish(args: argparse.Namespace, settings: Settings) -> int:
    from app.snapshot import publish_snapshot

    path = publish_snapshot(settings.warehouse_path, settings.serving_dir, horizon=settings.signal_horizon)
    print(f"published {path}")
    return 0


def _check_listen(host: str, port: int) -> None:
    """Fail with one line before uvicorn starts if the address cannot be bound (in use, unknown host)."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise CliError(f"cannot listen on {host[:60]}:{port}: {exc.strerror or exc}") from None


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.main import create_app

    _check_listen(args.host, args.port)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0


def openapi(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from app.main import create_app

    text = json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
    Path(args.output).write_text(text)
    print(f"wrote {args.output}")
    return 0


def screenshot(args: argparse.Namespace, settings: Settings) -> int:
    from app.browser import screenshot as take
    from app.browser import serving

    with serving(settings) as url:
        path = take(f"{url}/dashboard", Path(args.output))
    print(f"dashboard screenshot written to {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("publish", help="publish a serving snapshot of the champion's signals")
    parser.set_defaults(handler=publish, reads_warehouse=True, needs_warehouse=True)
    parser = sub.add_parser("serve", help="start the HTTP API (FastAPI + uvicorn)")
    parser.set_defaults(handler=serve)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port, default=8000)
    parser = sub.add_parser("openapi", help="write the OpenAPI schema")
    parser.set_defaults(handler=openapi)
    parser.add_argument("--output", type=output_file(".json"), default=PROJECT_ROOT / "docs" / "openapi.json")
    parser = sub.add_parser("screenshot", help="a PNG of the dashboard page, taken in headless Chromium")
    parser.set_defaults(handler=screenshot)
    parser.add_argument("--output", type=output_file(".png"), default=PROJECT_ROOT / "docs" / "dashboard.png")
