"""`cliply sandbox`: serve the platform sandbox over HTTP (every emulated API at /<platform>, controls at
/_sandbox), optionally preloaded with a fault scenario file."""

from __future__ import annotations

import logging

import uvicorn

from cliply.sandbox.app import create_app, load_faults
from cliply.sandbox.state import SandboxState

log = logging.getLogger(__name__)


def build_state(faults_file: str | None = None) -> SandboxState:
    state = SandboxState()
    for fault in load_faults(faults_file) if faults_file else ():
        state.add_fault(fault)
    return state


def serve(host: str = "127.0.0.1", port: int = 8765, faults_file: str | None = None) -> None:
    """Run until interrupted. Binds to loopback by default: the sandbox has no authentication of its own."""
    state = build_state(faults_file)
    if state.faults:
        log.warning("sandbox: %d scripted fault(s) loaded from %s", len(state.faults), faults_file)
    uvicorn.run(create_app(state), host=host, port=port, log_level="info", lifespan="off")
