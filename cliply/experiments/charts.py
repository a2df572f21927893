"""The experiment chart: per arm the mean with its 95 % credible interval, P(best) and posts, the decision as the
title (matplotlib, Agg canvas: no display, no pyplot global state, safe in threads).

An arm without data gets no point (never a 0) but a grey "no data" label, so an early experiment still charts."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from cliply.analytics.charts import _figure, _styled, png

SIZE = (7.0, 4.0)  # inches at 100 dpi: 700 x 400 pixels, small enough for inline metadata
ARM, WINNER, GREY = "#1f77b4", "#2ca02c", "#9e9e9e"


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _title(experiment: Mapping[str, Any]) -> str:
    decision = experiment.get("decision") or {}
    status = decision.get("status") or experiment.get("status") or "running"
    winner = decision.get("winner") or experiment.get("winner")
    head = f"{experiment.get('name') or experiment.get('id') or 'experiment'} — {status}"
    if winner:
        head += f": {winner} wins"
    reason = decision.get("reason") or experiment.get("reason") or ""
    return "\n".join([head, *textwrap.wrap(reason, 80)[:2]])


def _label(arm: Mapping[str, Any]) -> str:
    p_best = _number(arm.get("p_best"))
    shown = "P(best) n/a" if p_best is None else f"P(best) {p_best:.2f}"
    posts = arm.get("measured", arm.get("posts")) or 0
    return f"{shown}\n{posts} posts"


@_styled
def arm_figure(experiment: Mapping[str, Any]) -> Figure:
    """The figure arm_chart renders (exposed so tests can inspect the artists)."""
    fig = _figure(SIZE)
    ax = fig.add_subplot()
    arms = list(experiment.get("arms") or [])
    winner = (experiment.get("decision") or {}).get("winner") or experiment.get("winner")
    tops = [h for a in arms if (h := _number(a.get("high"))) is not None]
    bottoms = [lo for a in arms if (lo := _number(a.get("low"))) is not None]
    span = (max(tops) - min(bottoms)) if tops and bottoms else 1.0
    base = min(bottoms) if bottoms else 0.0
    for x, arm in enumerate(arms):
        mean, low, high = (_number(arm.get(k)) for k in ("mean", "low", "high"))
        if mean is None:
            ax.text(x, base, "no data", ha="center", va="bottom", color=GREY)
            ax.text(x, base + 0.9 * span, _label(arm), ha="center", va="bottom", fontsize=9, color=GREY)
            continue
        color = WINNER if arm.get("name") == winner else ARM
        lo, hi = low if low is not None else mean, high if high is not None else mean
        ax.errorbar([x], [mean], yerr=[[mean - lo], [hi - mean]], fmt="o", color=color, capsize=6, markersize=8)
        ax.text(x + 0.08, hi, _label(arm), ha="left", va="bottom", fontsize=9, color=color)
    ax.set_xticks(range(len(arms)), [str(a.get("name", "?")) for a in arms])
    for tick, arm in zip(ax.get_xticklabels(), arms, strict=True):
        if _number(arm.get("mean")) is None:
            tick.set_color(GREY)
    ax.set_xlim(-0.6, max(len(arms), 1) - 0.4)
    if tops and bottoms:
        ax.set_ylim(base - 0.1 * span, max(tops) + 0.35 * span)
    ax.set_ylabel(f"{experiment.get('metric', 'metric')} (mean, 95 % interval)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(_title(experiment), fontsize=11)
    return fig


def arm_chart(experiment: Mapping[str, Any]) -> bytes:
    """PNG of show_experiment's dict: per arm the mean with its 95 % interval (arms without data greyed), P(best)
    and posts annotated, the decision as the title."""
    return png(arm_figure(experiment))
