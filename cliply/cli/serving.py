"""`cliply serve|readyz|sandbox`: the HTTP service, its readiness report, and the platform sandbox."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

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


def _daemon_check() -> dict[str, Any] | None:
    """With publishing on, the Dagster daemon must be running: its sensors launch the runs that publish. The HTTP
    service's readiness leaves it out (a web replica is ready without a daemon)."""
    from cliply.orchestration import check_daemon
    from cliply.settings import Settings

    try:
        settings = Settings.from_env()
    except Exception:
        return None  # the config check already reports it
    if not settings.publishing_enabled:
        return None
    try:
        ok, detail = check_daemon(settings)
    except Exception as exc:
        ok, detail = False, f"daemon not running ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]})"
    return {"ok": ok, "detail": detail}


@click.command()
def readyz() -> None:
    """Check config, database, media store, Dagster and (publishing on) its daemon; print JSON; exit 0 when ready,
    1 when not."""
    from cliply.http.readiness import run_checks

    report = run_checks()
    daemon = _daemon_check()
    if daemon is not None:
        report["checks"]["daemon"] = daemon
        report["ok"] = report["ok"] and daemon["ok"]
    click.echo(json.dumps(report, indent=2))
    sys.exit(0 if report["ok"] else 1)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (the sandbox has no auth).")
@click.option("--port", default=8765, type=int, show_default=True, help="TCP port (0 = any free port).")
@click.option(
    "--faults",
    "faults_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Scenario file: a JSON list of faults, e.g. [{"platform": "x", "kind": "rate_limit"}].',
)
def sandbox(host: str, port: int, faults_file: Path | None) -> None:
    """Serve the platform sandbox: all nine emulated APIs at /<platform>, test controls at /_sandbox."""
    from cliply.sandbox.serve import serve as serve_sandbox

    serve_sandbox(host, port, str(faults_file) if faults_file else None)
