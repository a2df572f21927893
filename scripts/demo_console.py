"""What `make demo` shows while it works: one progress row per running stage (spinner, bar, count, elapsed time), and
one line per finished stage with how long it took. Dagster's own logs stay in the run's event log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


class StageBoard:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._running: dict[str, tuple[TaskID, float]] = {}
        self._lock = threading.Lock()  # run-event callbacks arrive on another thread

    def __enter__(self) -> StageBoard:
        self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def say(self, text: str = "") -> None:
        self.console.print(text, markup=False)

    def begin(self, name: str, total: int = 1, *, started: float | None = None) -> None:
        with self._lock:
            if name not in self._running:
                self._running[name] = (self.progress.add_task(name, total=total), started or time.time())

    def advance(self, name: str, steps: int = 1) -> None:
        with self._lock:
            if name in self._running:
                self.progress.advance(self._running[name][0], steps)

    def end(self, name: str, *, ok: bool = True, ended: float | None = None) -> None:
        with self._lock:
            task, started = self._running.pop(name, (None, ended or time.time()))
            if task is not None:
                self.progress.remove_task(task)
        elapsed = (ended or time.time()) - started
        self.say(f"  ✓ {name:<14} {elapsed:6.1f} s" if ok else f"  ✗ {name:<14} failed after {elapsed:.1f} s")

    @contextmanager
    def stage(self, name: str, total: int = 1) -> Iterator[Callable[[], None]]:
        """A stage the caller drives: `advance()` once per unit of work; the line is printed when the block ends."""
        self.begin(name, total)
        ok = False
        try:
            yield lambda: self.advance(name)
            ok = True
        finally:
            self.end(name, ok=ok)

    def follow_steps(self, overall: str) -> Callable[[Any], None]:
        """A callback for cliply.orchestration's step events: a row per running step, and `overall` advanced by
        each finished one. Elapsed times come from the events' own timestamps."""

        def on_step(event: Any) -> None:
            if event.kind == "start":
                self.begin(event.step, started=event.timestamp)
            elif event.kind in ("success", "failure"):
                self.end(event.step, ok=event.kind == "success", ended=event.timestamp)
                self.advance(overall)
            elif event.kind == "skipped":
                self.say(f"  - {event.step:<14} skipped")
                self.advance(overall)

        return on_step
