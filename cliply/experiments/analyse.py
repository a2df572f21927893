"""The stopping rule on data a user brings: a CSV of an experiment run elsewhere, one row per post.

With a baseline column each post's value is log(metric / baseline) (relative to what that account usually gets,
like Cliply's own experiments) and the normal model runs on the log scale. Without one the metric column is taken in
its own units (raw views, seconds watched): the "absolute" scale, whose prior is centred on the data and effectively
flat and whose expected loss is relative to the best arm's mean, so 2× the views is a clear difference whatever the
units. A column that is already a log ratio around 0 fits that badly (its loss would be divided by a mean near 0):
give the raw metric and its baseline instead."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from cliply.experiments.stats import ArmData, StoppingRule, evaluate

MODEL = "normal"


def analyse_csv(
    path: Path, *, metric: str, arm: str, baseline: str | None = None, rule: StoppingRule | None = None
) -> dict[str, Any]:
    """The same report as an experiment's: per arm the posterior, P(best), expected loss and the decision, with the
    data taken as complete (no day gating). ValueError (one line) for anything wrong with the file."""
    rule = rule or StoppingRule()
    frame = _read(Path(path))
    _check_columns(frame, path, [c for c in (metric, arm, baseline) if c is not None])
    values = _numbers(frame, path, metric)
    if baseline is not None:
        values = _log_ratios(values, _numbers(frame, path, baseline), path, metric, baseline)
    arms = _arm_names(frame, path, arm)
    grouped: dict[str, list[float]] = {}
    for name, value in zip(arms, values, strict=True):
        grouped.setdefault(name, []).append(value)
    if len(grouped) < 2:
        raise ValueError(f"{path}: column {arm!r} names {len(grouped)} arm(s); an experiment needs at least 2")
    scale = "log" if baseline is not None else "absolute"
    arm_data = [ArmData(name, values=tuple(v)) for name, v in grouped.items()]
    result = evaluate(arm_data, model=MODEL, rule=rule, elapsed_days=None, scale=scale).json()
    return {
        "file": str(path),
        "metric": metric,
        "arm_column": arm,
        "baseline_column": baseline,
        "model": result["model"],
        "scale": scale,
        "rule": rule.json(),
        "arms": result["arms"],
        "decision": result["decision"],
    }


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        # Everything as text first, so a bad cell can be reported with its row instead of a whole column failing.
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path}: not a readable CSV ({first})") from None


def _check_columns(frame: pd.DataFrame, path: Path, wanted: list[str]) -> None:
    for column in wanted:
        if column not in frame.columns:
            raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(map(str, frame.columns))})")
    if frame.empty:
        raise ValueError(f"{path}: no rows")


def _row(index: int) -> str:
    """A data row as the line of the file a user sees in an editor (line 1 is the header)."""
    return f"row {index + 1} (line {index + 2})"


def _numbers(frame: pd.DataFrame, path: Path, column: str) -> list[float]:
    out = []
    for index, cell in enumerate(frame[column]):
        try:
            number = float(cell.strip())
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(f"{path}: {_row(index)}: {column!r} is not a number: {cell!r}")
        out.append(number)
    return out


def _log_ratios(values: list[float], baselines: list[float], path: Path, metric: str, baseline: str) -> list[float]:
    out = []
    for index, (value, base) in enumerate(zip(values, baselines, strict=True)):
        if value <= 0 or base <= 0:
            raise ValueError(
                f"{path}: {_row(index)}: {metric!r} ({value:g}) and {baseline!r} ({base:g}) must both be above 0 "
                "to take their log ratio"
            )
        out.append(math.log(value / base))
    return out


def _arm_names(frame: pd.DataFrame, path: Path, column: str) -> list[str]:
    names = [str(cell).strip() for cell in frame[column]]
    for index, name in enumerate(names):
        if not name:
            raise ValueError(f"{path}: {_row(index)}: {column!r} is empty")
    return names
