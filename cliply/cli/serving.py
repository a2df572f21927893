"""`cliply serve|readyz|sandbox`: the HTTP service, its readiness report, and the platform sandbox."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from cliply.cli.base import DEFAULT_SERVE_PORT, app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_SERVE_PORT, type=int, show_default=True)
def serve(host: str, port: int) -> None:
    """Run the HTTP service (OAuth callbacks, REST API, signed media) with uvicorn."""
    import uvicorn

    from cliply.http.app import build

    logging.getLogger("cliply.http").setLevel(logging.INFO)
    # uvicorn's access log prints query strings (OAuth codes, URL signatures): the app logs method + path instead.
    uvicorn.run(build(app()), host=host, port=port, log_level="info", proxy_headers=True, access_log=False)


@click.command()
def readyz() -> None:
    """Check config, database, media store and Dagster; print JSON; exit 0 when ready, 1 when not."""
    from cliply.http.readiness import run_checks

    report = run_checks()
    click.echo(json.dumps(report, indent=2))
    sys.exit(0 if report["ok"] else 1)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (the sandbox has no auth).")
@click.option("--port", default=8765, type=int, show_default=True, help="TCP port (0 = any free port).")
@click.option("--faults", "faults_file", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='Scenario file: a JSON list of faults, e.g. [{"platform": "x", "kind": "rate_limit"}].')
def sandbox(host: str, port: int, faults_file: Path | None) -> None:
    """Serve the platform sandbox: all nine emulated APIs at /<platform>, test controls at /_sandbox."""
    from cliply.sandbox.serve import serve as serve_sandbox

    serve_sandbox(host, port, str(faults_file) if faults_file else None)
