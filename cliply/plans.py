"""Subscription plans and their monthly limits (REQUIREMENTS A.3). Pure data: the store enforces them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

GB = 1024**3


@dataclass(frozen=True)
class Plan:
    name: str
    source_minutes_per_month: float
    clips_per_month: int
    projects_per_month: int
    max_source_duration_s: float
    max_upload_bytes: int

    def monthly_limit(self, limit: str) -> float:
        """Allowed amount per month for a usage counter: "source_minutes", "clips" or "projects"."""
        try:
            return {
                "source_minutes": self.source_minutes_per_month,
                "clips": self.clips_per_month,
                "projects": self.projects_per_month,
            }[limit]
        except KeyError:
            raise ValueError(f"unknown usage counter {limit!r}") from None


PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("free", 60, 50, 10, 30 * 60, 2 * GB),
        Plan("pro", 600, 500, 100, 3 * 3600, 10 * GB),
        Plan("business", 3000, 3000, 1000, 6 * 3600, 25 * GB),
    )
}


def get_plan(name: str) -> Plan:
    try:
        return PLANS[name]
    except KeyError:
        raise ValueError(f"unknown plan {name!r}; known plans: {', '.join(PLANS)}") from None


_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def current_period(now: datetime | None = None) -> str:
    """Usage period key ("YYYY-MM", UTC) for `now`."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m")


def validate_period(period: str) -> str:
    if not _PERIOD.match(period):
        raise ValueError(f"usage period must look like YYYY-MM, got {period!r}")
    return period


def _fmt(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class PlanLimitExceeded(Exception):
    """A request would take a workspace over its monthly plan limit."""

    def __init__(self, limit: str, used: float, requested: float, allowed: float, plan: str = "") -> None:
        self.limit = limit
        self.used = used
        self.requested = requested
        self.allowed = allowed
        self.plan = plan
        label = limit.replace("_", " ")
        which = f"the {plan!r} plan" if plan else "the plan"
        super().__init__(
            f"monthly {label} limit of {which} reached: {_fmt(used)} used + {_fmt(requested)} requested "
            f"> {_fmt(allowed)} allowed"
        )
