"""The sandbox in a background thread of this process, on a free loopback port: what `make demo` and the publishing
benchmark publish to. Also answers the sandbox's consent pages the way a user clicking "Allow" would."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from urllib.parse import parse_qs, urlparse

import httpx
import uvicorn

from cliply.platforms import PLATFORMS
from cliply.sandbox.app import create_app
from cliply.sandbox.state import SandboxState

CLIENT_SECRET = "sandbox-secret"
BLUESKY_APP_PASSWORD = "app-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalSandbox:
    """`with LocalSandbox() as sandbox:` serves all nine emulated APIs at sandbox.base_url/<platform>."""

    def __init__(self, state: SandboxState | None = None, *, start_timeout_s: float = 30.0) -> None:
        self.state = state or SandboxState()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                create_app(self.state), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="cliply-sandbox", daemon=True)
        self._start_timeout_s = start_timeout_s

    def __enter__(self) -> LocalSandbox:
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the platform sandbox did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def env(self, *, poll_interval_s: float = 0.2) -> dict[str, str]:
        """CLIPLY_<PLATFORM>_* settings pointing every platform client at this sandbox."""
        env: dict[str, str] = {}
        for p in PLATFORMS:
            key = f"CLIPLY_{p.upper()}"
            env |= {
                f"{key}_BASE_URL": f"{self.base_url}/{p}",
                f"{key}_CLIENT_ID": f"cliply-{p}",
                f"{key}_CLIENT_SECRET": CLIENT_SECRET,
                f"{key}_POLL_INTERVAL_S": str(poll_interval_s),
            }
        return env

    def consent(self, authorization_url: str, account: str) -> str:
        """Approve an authorisation URL as sandbox user `account`; returns the redirect (callback) URL."""
        resp = httpx.get(f"{authorization_url}&sandbox_account={account}", follow_redirects=False, timeout=10)
        location = resp.headers.get("location", "")
        if resp.status_code not in (302, 303) or "code" not in parse_qs(urlparse(location).query):
            raise RuntimeError(f"the sandbox refused the authorisation ({resp.status_code})")
        return location

    def create_bluesky_account(self, name: str) -> tuple[str, str]:
        """A Bluesky account on the sandbox PDS; returns (handle, app password)."""
        handle = f"{name}.test"
        httpx.post(
            f"{self.base_url}/bluesky/xrpc/com.atproto.server.createAccount",
            json={"handle": handle, "password": BLUESKY_APP_PASSWORD, "email": f"{name}@example.com"},
            timeout=10,
        ).raise_for_status()
        return handle, BLUESKY_APP_PASSWORD
