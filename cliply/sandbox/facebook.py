"""Emulated facebook API (placeholder until implemented)."""

from starlette.routing import BaseRoute

from cliply.sandbox.state import SandboxState


def routes(state: SandboxState) -> list[BaseRoute]:
    return []
