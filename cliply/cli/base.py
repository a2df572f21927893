"""What every command shares: the group with its one failure policy, the container, and common options.

Expected failures print one line, `error: …`, on stderr: exit 2 when the input was wrong (a bad CLIPLY_* value
included), 1 when something failed or refused; `--debug` adds the traceback. Anything unexpected exits 1 too."""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import click

from cliply.errors import InputRejected
from cliply.settings import SettingsError
from cliply.store.repo import NotFound
from cliply.usecases import ServiceError
from cliply.wiring import Cliply, cliply

F = TypeVar("F", bound=Callable[..., Any])
EXIT_BAD_INPUT, EXIT_FAULT = 2, 1
DEFAULT_SERVE_PORT = 8780  # `cliply sandbox` uses 8765
# Domain errors a user can act on (CaptionRejected, InvalidTransition and InputRejected are ValueErrors).
EXPECTED: tuple[type[Exception], ...] = (ValueError, NotFound)


class Failure(click.ClickException):
    """An expected failure with its exit code: printed as one `error: …` line."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click reads it per instance

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def message_of(exc: BaseException) -> str:
    if isinstance(exc, InputRejected):
        return f"rejected ({exc.code}): {exc.reason}"
    return str(exc) or type(exc).__name__


def _exit_code(exc: Exception) -> int:
    if isinstance(exc, ServiceError):
        return exc.exit_code
    return EXIT_BAD_INPUT if isinstance(exc, (SettingsError, *EXPECTED)) else EXIT_FAULT


class CliplyGroup(click.Group):
    """Turns every exception a command lets out into the failure policy above."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                traceback.print_exc()
            expected = isinstance(exc, (SettingsError, ServiceError, *EXPECTED))
            message = message_of(exc) if expected else f"{type(exc).__name__}: {exc}"
            raise Failure(message, _exit_code(exc)) from exc


def failing_with(code: int) -> Callable[[F], F]:
    """A command whose domain errors (an unknown id, a refused transition) exit with `code` instead of 2."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except (SettingsError, ServiceError):
                raise
            except EXPECTED as exc:
                raise Failure(message_of(exc), code) from exc

        return run  # type: ignore[return-value]

    return wrap


def die(message: str, code: int = EXIT_FAULT) -> NoReturn:
    raise Failure(message, code)


def app() -> Cliply:
    """The application for this command, from the environment (a bad CLIPLY_* value exits 2, naming it)."""
    return cliply()


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def fmt_time(value: datetime | str | None) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


workspace_option = click.option("--workspace", default=None, help="Workspace (tenant); default: the default one.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
