"""`featurecast publish|serve|openapi|screenshot`: the serving snapshot and the HTTP API."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from featurecast.cli.arguments import bounded, output_file, port
from featurecast.cli.errors import CliError
from featurecast.config import PROJECT_ROOT, Settings
from featurecast.marts import mart_reader


def publish(args: argparse.Namespace, settings: Settings) -> int:
    from flows.publish import publish_snapshot

    path = publish_snapshot(
        settings.warehouse_path,
        settings.serving_dir,
        horizon=settings.signal_horizon,
        feature_sessions=settings.online_feature_sessions,
        marts=mart_reader(settings),
    )
    print(f"published {path}")
    return 0


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from featurecast.api.server import serve as run_server
    from featurecast.api.server import tcp_listener

    try:  # fail with one line before any worker starts if the address cannot be bound
        tcp_listener(args.host, args.port).close()
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host[:60]}:{args.port}: {exc.strerror or exc}") from None
    print(f"serving on http://{args.host}:{args.port} with {args.workers} worker(s); Ctrl-C stops", flush=True)
    run_server(args.host, args.port, args.workers)
    return 0


def openapi(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from featurecast.api.main import create_app

    text = json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
    Path(args.output).write_text(text)
    print(f"wrote {args.output}")
    return 0


def screenshot(args: argparse.Namespace, settings: Settings) -> int:
    from featurecast.api.browser import screenshot as take
    from featurecast.api.browser import serving

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
    parser.add_argument(
        "--workers", type=bounded(int, low=1, high=64), default=os.cpu_count() or 1, help="processes (default: cores)"
    )
    parser = sub.add_parser("openapi", help="write the OpenAPI schema")
    parser.set_defaults(handler=openapi)
    parser.add_argument("--output", type=output_file(".json"), default=PROJECT_ROOT / "docs" / "openapi.json")
    parser = sub.add_parser("screenshot", help="a PNG of the dashboard page, taken in headless Chromium")
    parser.set_defaults(handler=screenshot)
    parser.add_argument("--output", type=output_file(".png"), default=PROJECT_ROOT / "docs" / "dashboard.png")
