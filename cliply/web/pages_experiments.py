"""The experiments pages: the workspace's experiments; a form to start one on a ready clip (the variable tested and
one value per arm, the target accounts, the schedule and the stopping rule, with the workspace's defaults filled
in); one experiment followed (each arm's variant, posts measured of planned, mean, probability to be best and
expected loss, the decision and why, the arm chart) with Stop and Apply the winner.

A thin adapter over cliply/experiments/service.py. The form becomes the REST API's request body and is validated by
the same schema (ExperimentCreate) and turned into the same ExperimentSpec, so the page, `POST /api/experiments` and
`cliply experiments create` accept and refuse the same things; a refusal is the form again with a one-line message
at the field it concerns and everything typed kept. Every call runs in the session's workspace: another
workspace's experiment is the 404 page, and its clip or account in the form is a field error."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cliply.experiments import service
from cliply.experiments.variants import ARM_NAMES
from cliply.http.schemas_experiments import ExperimentCreate
from cliply.media import catalog
from cliply.media.caption_styles import STYLES
from cliply.platforms.tiktok import PRIVACY_LEVELS
from cliply.publishing.accounts_service import list_accounts
from cliply.publishing.captions import CaptionRejected
from cliply.store.repo import NotFound
from cliply.usecases import ServiceError, WorkspaceRef
from cliply.web.pagekit import container, page
from cliply.web.pages_accounts import NAMES
from cliply.web.sessions import WebIdentity
from cliply.web.templating import render
from cliply.wiring import Cliply

log = logging.getLogger(__name__)

LIST_URL = "/web/experiments"
MAX_MESSAGE_CHARS = 300
KIND_LABELS = {
    "caption": "Caption",
    "title": "Title",
    "hashtags": "Hashtags",
    "caption_style": "Caption style",
    "thumbnail": "Thumbnail (cover frame)",
    "hook": "Hook (opening moment)",
}
KIND_HINTS = {
    "caption": "the caption text of each arm.",
    "title": "the title of each arm (the caption is the clip's suggested one).",
    "hashtags": "hashtags such as #money #savings, added to the clip's suggested caption.",
    "caption_style": f"a caption style name: {', '.join(STYLES)}.",
    "thumbnail": "a frame of the clip: frame:12.5 (seconds into the clip) or frame:40% (of its length).",
    "hook": "the second of the clip the re-cut opens on, e.g. 4.5.",
}
METRICS = {"views": "Views", "watch_time": "Watch time", "engagement_rate": "Engagement rate"}
STATUS_LABELS = {"running": "Running", "winner": "Winner", "inconclusive": "Inconclusive", "stopped": "Stopped"}
STATE_CLASSES = {"running": "processing", "winner": "published", "inconclusive": "waiting", "stopped": "cancelled"}
PRIVACY_LABELS = {
    "PUBLIC_TO_EVERYONE": "Everyone",
    "MUTUAL_FOLLOW_FRIENDS": "Friends (followers you follow back)",
    "FOLLOWER_OF_CREATOR": "Followers",
    "SELF_ONLY": "Only me",
}
assert set(PRIVACY_LABELS) == set(PRIVACY_LEVELS)
RULE_FIELDS = ("p_best", "max_loss", "min_posts", "min_days", "max_days")
VARIANT_FIELDS = tuple(f"variant_{n.lower()}" for n in ARM_NAMES)
TARGET_PREFIX = "target-"
# Platforms whose posts need a choice the form offers: TikTok a privacy level, Pinterest a board.
OPTION_FIELDS = {"tiktok_privacy": ("tiktok", "privacy"), "pinterest_board": ("pinterest", "board_id")}


def _one_line(message: str) -> str:
    line = " ".join(str(message).split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"


# --- what the pages show ---


def _clips(app: Cliply, ref: WorkspaceRef) -> dict[str, dict[str, Any]]:
    """Every clip of the workspace by id, with a label naming its source, rank and length, and whether its source is
    ready (only those are offered for a new experiment)."""
    sources = {s["id"]: s for s in catalog.list_sources(app, ref)}
    out = {}
    for c in catalog.list_clips(app, ref):
        source = sources.get(c["source_id"], {})
        out[c["id"]] = {
            **c,
            "ready": source.get("status") == "ready",
            "label": f"{source.get('original_name') or c['source_id']} · clip {c['rank']} · {c['duration_s']:g} s",
        }
    return out


def _accounts(app: Cliply, ref: WorkspaceRef) -> list[dict[str, Any]]:
    return [
        {**a, "label": f"{NAMES.get(a['platform'], a['platform'])} · {a['handle']}"}
        for a in list_accounts(app, ref)
        if a["status"] != "disconnected"
    ]


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f} %"


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3g}"


def _bar(p_best: Any) -> int:
    """The probability as a width class step (0, 5, … 100) for the CSS bar."""
    return 0 if p_best is None else max(0, min(100, round(float(p_best) * 20) * 5))


def _arms(e: Mapping[str, Any]) -> list[dict[str, Any]]:
    winner = e.get("winner")
    return [
        {
            **a,
            "winner": a["name"] == winner,
            "p_best_text": _pct(a.get("p_best")),
            "loss_text": _pct(a.get("expected_loss")),
            "mean_text": _num(a.get("mean")),
            "interval_text": "-" if a.get("low") is None else f"{_num(a['low'])} to {_num(a['high'])}",
            "bar": _bar(a.get("p_best")),
        }
        for a in e.get("arms") or []
    ]


def _alt(e: Mapping[str, Any], arms: list[dict[str, Any]]) -> str:
    """The chart's numbers in words (its alt text)."""
    parts = [f"Chart of {e['metric']} per arm: the mean with its 95 % interval."]
    for a in arms:
        if a.get("mean") is None:
            parts.append(f"Arm {a['name']}: no measured post yet, {a['posts']} planned.")
        else:
            parts.append(
                f"Arm {a['name']}: mean {a['mean_text']}, 95 % interval {a['interval_text']}, "
                f"P(best) {a['p_best_text']}, {a['measured']} of {a['posts']} posts measured."
            )
    decision = STATUS_LABELS.get(e["status"], e["status"])
    if e.get("winner"):
        decision += f": arm {e['winner']} wins"
    return " ".join([*parts, f"Decision: {decision}."])


def _decision(e: Mapping[str, Any]) -> tuple[str, str]:
    """(headline, why) of the decision, in words."""
    status, reason, rule = e["status"], e.get("reason") or "", e.get("rule") or {}
    if status == "winner":
        return f"Arm {e['winner']} won", reason
    if status == "inconclusive":
        return "Inconclusive: no arm won", reason or "the experiment ended without a winner"
    if status == "stopped":
        why = "Stopped by hand; its posts that had not been published were cancelled."
        return "Stopped", f"{why} Last evaluation: {reason}" if reason else why
    if not e.get("evaluated_at"):
        posts = rule.get("min_posts")
        why = (
            f"Not evaluated yet: it waits for its posts to be published and their {e['metric'].split('@')[0]} "
            f"read at {e['metric'].split('@')[-1]}" + (f", {posts:g} measured posts per arm." if posts else ".")
        )
        return "Still running", why
    if reason.startswith("waiting: "):
        return "Still running", f"It waits: {reason.removeprefix('waiting: ')}."
    return "Still running", reason


def _count(n: float, noun: str) -> str:
    return f"{n:g} {noun}{'' if n == 1 else 's'}"


def _rule_text(rule: Mapping[str, Any]) -> str:
    if not rule:
        return ""
    return (
        f"A winner needs P(best) of at least {rule['p_best'] * 100:g} % and an expected loss under "
        f"{rule['max_loss'] * 100:g} %, once every arm has {_count(rule['min_posts'], 'measured post')} and "
        f"{_count(rule['min_days'], 'day')} {'has' if rule['min_days'] == 1 else 'have'} passed; still undecided once "
        f"every planned post is measured, or after {_count(rule['max_days'], 'day')}, it is inconclusive."
    )


def _detail(app: Cliply, ref: WorkspaceRef, experiment_id: str) -> dict[str, Any] | None:
    try:
        e = service.show_experiment(app, ref, experiment_id)
    except NotFound:
        return None
    clips = _clips(app, ref)
    handles = {a["id"]: f"{NAMES.get(a['platform'], a['platform'])} · {a['handle']}" for a in list_accounts(app, ref)}
    arms = _arms(e)
    headline, why = _decision(e)
    slots = [
        {**s, "account": handles.get(s["account_id"], f"{s['platform']} account {s['account_id']}")}
        for s in e.get("assignment") or []
    ]
    return {
        "e": e,
        "arms": arms,
        "slots": slots,
        "clip_label": clips.get(e["clip_id"], {}).get("label", e["clip_id"]),
        "kind_label": KIND_LABELS.get(e["kind"], e["kind"]),
        "status_label": STATUS_LABELS.get(e["status"], e["status"]),
        "state_class": STATE_CLASSES.get(e["status"], "queued"),
        "headline": headline,
        "why": why,
        "rule_text": _rule_text(e.get("rule") or {}),
        "alt": _alt(e, arms),
        "measured": sum(a["measured"] for a in arms),
        "planned": sum(a["posts"] for a in arms),
    }


def _listing(app: Cliply, ref: WorkspaceRef) -> list[dict[str, Any]]:
    clips = _clips(app, ref)
    rows = []
    for e in service.list_experiments(app, ref):
        headline, why = _decision(e)
        rows.append(
            {
                **e,
                "clip_label": clips.get(e["clip_id"], {}).get("label", e["clip_id"]),
                "kind_label": KIND_LABELS.get(e["kind"], e["kind"]),
                "status_label": STATUS_LABELS.get(e["status"], e["status"]),
                "state_class": STATE_CLASSES.get(e["status"], "queued"),
                "headline": headline,
                "why": why,
                "measured": sum(a["measured"] for a in e["arms"]),
                "planned": sum(a["posts"] for a in e["arms"]),
            }
        )
    return rows


# --- the form ---


@dataclass
class Filled:
    """What the form holds: the values typed (shown again on a refusal), the targets ticked, and field errors."""

    values: dict[str, str]
    targets: list[str] = field(default_factory=list)  # "platform:account id" as ticked
    errors: dict[str, str] = field(default_factory=dict)


def _defaults(app: Cliply, clip: str) -> Filled:
    s = app.settings
    values = {
        "clip": clip,
        "kind": "caption",
        "metric_name": "views",
        "metric_age": "24h",
        "posts_per_arm": str(s.experiment_min_posts),
        "every": "6h",
        "at": "",
        "name": "",
        "auto_apply": "",
        "p_best": f"{s.experiment_p_best:g}",
        "max_loss": f"{s.experiment_max_loss:g}",
        "min_days": f"{s.experiment_min_days:g}",
        "min_posts": "",
        "max_days": "",
        "seed": "",
        **{k: "" for k in (*VARIANT_FIELDS, *OPTION_FIELDS)},
    }
    return Filled(values)


def _filled(fields: Mapping[str, str]) -> Filled:
    keys = ("clip", "kind", "metric_name", "metric_age", "posts_per_arm", "every", "at", "name", "auto_apply", "seed")
    values = {k: fields.get(k, "") for k in (*keys, *RULE_FIELDS, *VARIANT_FIELDS, *OPTION_FIELDS)}
    targets = [v for k, v in fields.items() if k.startswith(TARGET_PREFIX) and v]
    return Filled(values, targets)


def _body(filled: Filled, zone: str) -> tuple[dict[str, Any], list[str]]:
    """The REST API's request body for what the form holds, and which variant field each variant came from."""
    v = filled.values
    used = [name for name in VARIANT_FIELDS if v[name].strip()]
    platforms = {t.partition(":")[0] for t in filled.targets}
    options: dict[str, dict[str, str]] = {}
    for name, (platform, key) in OPTION_FIELDS.items():
        if v[name].strip() and platform in platforms:
            options.setdefault(platform, {})[key] = v[name].strip()
    body: dict[str, Any] = {
        "clip_id": v["clip"],
        "kind": v["kind"],
        "variants": [v[name] for name in used],
        "targets": list(filled.targets),
        "metric": f"{v['metric_name'].strip()}@{v['metric_age'].strip()}",
        "posts_per_arm": v["posts_per_arm"].strip() or None,
        "every": v["every"].strip(),
        "at": v["at"].strip() or None,
        "tz": zone,
        "auto_apply": v["auto_apply"] == "on",
        "seed": v["seed"].strip() or None,
        "name": v["name"],
        "rule": {k: v[k].strip() for k in RULE_FIELDS if v[k].strip()} or None,
        "options": options,
    }
    return body, used


SCHEMA_FIELDS = {
    "clip_id": "clip",
    "kind": "kind",
    "targets": "targets",
    "metric": "metric",
    "posts_per_arm": "posts_per_arm",
    "every": "every",
    "at": "at",
    "seed": "seed",
    "name": "name",
    "options": "targets",
    **{k: k for k in RULE_FIELDS},
}


def _schema_errors(exc: ValidationError, used: list[str]) -> dict[str, str]:
    """The schema's problems at the form's fields, in one line each."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]] or ["form"]
        message = str(err["msg"]).removeprefix("Value error, ")
        if loc[0] == "variants":
            if len(loc) > 1 and loc[1].isdigit() and int(loc[1]) < len(used):
                name = used[int(loc[1])]
                errors.setdefault(name, message)
            else:
                errors.setdefault("arms", f"Fill in 2 to {len(ARM_NAMES)} arms, starting with A and B.")
            continue
        if loc[0] == "rule" and len(loc) > 1:
            errors.setdefault(loc[1] if loc[1] in RULE_FIELDS else "rule", message)
            continue
        errors.setdefault(SCHEMA_FIELDS.get(loc[0], "form"), message)
    if "targets" in errors and errors["targets"].startswith("no targets"):
        errors["targets"] = "Tick at least one account."
    return errors


# Service refusals are one-line ValueErrors; each names what it is about.
SERVICE_FIELDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("experiment kind",), "kind"),
    (("decision needs",), "posts_per_arm"),
    (("posts per arm",), "posts_per_arm"),
    (("stopping rule",), "rule"),
    (("metric",), "metric"),
    (("interval",), "every"),
    (("bad time", "in the past", "time zone", "range of dates"), "at"),
    (("seed",), "seed"),
    (("account", "target", "options for"), "targets"),
    (("clip",), "arms"),
    (("variant", "caption style", "hashtag", "thumbnail", "hook", "image", "frame"), "arms"),
)


def _service_field(message: str) -> str:
    lower = message.lower()
    if lower.startswith("stopping rule"):
        return next((k for k in RULE_FIELDS if k in lower), "rule")
    for words, name in SERVICE_FIELDS:
        if any(w in lower for w in words):
            return name
    return "form"


def _caption_errors(exc: CaptionRejected) -> dict[str, str]:
    """A platform's refusal: a missing TikTok privacy or Pinterest board at its field, text problems at the arms."""
    errors: dict[str, str] = {}
    for platform, problems in exc.problems.items():
        for problem in problems:
            name = NAMES.get(platform, platform)
            if problem.startswith("privacy") and platform == "tiktok":
                errors.setdefault("tiktok_privacy", "Choose who can see the TikTok posts.")
            elif problem.startswith("board_id") and platform == "pinterest":
                errors.setdefault("pinterest_board", "Give the Pinterest board to pin to.")
            else:
                errors.setdefault("arms", _one_line(f"{name} refuses an arm: {problem}"))
    return errors


def _create(app: Cliply, ref: WorkspaceRef, filled: Filled, zone: str) -> str | None:
    """The new experiment's id, or None with filled.errors set."""
    body, used = _body(filled, zone)
    try:
        data = ExperimentCreate.model_validate(body)
    except ValidationError as exc:
        filled.errors = _schema_errors(exc, used)
        return None
    try:
        created = service.create_experiment(app, ref, data.to_spec())
    except CaptionRejected as exc:
        filled.errors = _caption_errors(exc)
        return None
    except NotFound as exc:  # another workspace's (or an unknown) clip or account
        message = _one_line(str(exc))
        filled.errors = {"clip" if "clip" in message else "targets": message}
        return None
    except ServiceError as exc:
        filled.errors = {"form": _one_line(str(exc))}
        return None
    except ValueError as exc:
        message = _one_line(str(exc))
        filled.errors = {_service_field(message): message}
        return None
    except RuntimeError as exc:  # rendering an arm's media failed: nothing was written
        log.warning("an experiment's arm media could not be made: %s", exc)
        filled.errors = {"form": _one_line(f"The arms' media could not be made: {exc}")}
        return None
    log.info("experiment created from the web", extra={"experiment": created["id"], "kind": data.kind})
    return str(created["id"])


def _form_page(
    request: Request, me: WebIdentity, filled: Filled, *, status: int = 200, clips: dict[str, Any] | None = None
) -> Response:
    app, ref = container(request), me.workspace_ref()
    clips = clips if clips is not None else _clips(app, ref)
    ready = [c for c in clips.values() if c["ready"]]
    accounts = _accounts(app, ref)
    return render(
        "experiments_new.html",
        title="New experiment",
        me=me,
        nav="experiments",
        status=status,
        clips=ready,
        accounts=accounts,
        f=filled.values,
        ticked=set(filled.targets),
        errors=filled.errors,
        kinds=KIND_LABELS,
        kind_hints=KIND_HINTS,
        metrics=METRICS,
        privacy_levels=PRIVACY_LABELS,
        platforms={a["platform"] for a in accounts},
        arm_names=ARM_NAMES,
        variant_fields=VARIANT_FIELDS,
    )


# --- routes ---


def _not_found(me: WebIdentity) -> Response:
    return render(
        "error.html",
        title="Page not found",
        me=me,
        status=404,
        message="There is no such experiment in this workspace.",
    )


@page
async def experiments(request: Request, me: WebIdentity) -> Response:
    rows = await run_in_threadpool(_listing, container(request), me.workspace_ref())
    return render("experiments.html", title="Experiments", me=me, nav="experiments", experiments=rows)


@page
async def new(request: Request, me: WebIdentity) -> Response:
    app = container(request)
    clip = request.query_params.get("clip", "")
    clips = await run_in_threadpool(_clips, app, me.workspace_ref())
    if clip and not (clip in clips and clips[clip]["ready"]):
        return render(
            "error.html", title="Page not found", me=me, status=404, message="There is no such clip in this workspace."
        )
    return await run_in_threadpool(functools.partial(_form_page, request, me, _defaults(app, clip), clips=clips))


@page
async def create(request: Request, me: WebIdentity) -> Response:
    filled = _filled(request.state.form)
    app = container(request)
    done = await run_in_threadpool(_create, app, me.workspace_ref(), filled, me.timezone)
    if done is None:
        return await run_in_threadpool(functools.partial(_form_page, request, me, filled, status=422))
    return RedirectResponse(f"{LIST_URL}/{done}", status_code=303)


def _notice(request: Request, view: Mapping[str, Any]) -> str:
    """The one-line notice after a Stop or an Apply (only what the experiment's state confirms)."""
    e, q = view["e"], request.query_params
    if q.get("stopped") == "1" and e["status"] == "stopped":
        return "The experiment is stopped: its posts that had not been published were cancelled."
    arm = q.get("applied", "")
    arms = {a["name"]: a for a in view["arms"]}
    if arm in arms and e.get("applied_at"):
        changed = q.get("targets", "0")
        refused = q.get("refused", "0")
        n = int(changed) if changed.isdigit() and len(changed) < 7 else 0
        m = int(refused) if refused.isdigit() and len(refused) < 7 else 0
        variant = _one_line(str(arms[arm]["variant"]))
        text = f"Applied arm {arm} ({variant}) to {n} scheduled post{'' if n == 1 else 's'}"
        if m:
            text += f"; {m} refused by {'its' if m == 1 else 'their'} platform and left unchanged"
        return text + "."
    return ""


async def _detail_page(request: Request, me: WebIdentity, *, status: int = 200, error: str = "") -> Response:
    view = await run_in_threadpool(
        _detail, container(request), me.workspace_ref(), request.path_params["experiment_id"]
    )
    if view is None:
        return _not_found(me)
    e = view["e"]
    title = f"Experiment {e['name']}" if e.get("name") else f"Experiment on {view['kind_label'].lower()}"
    return render(
        "experiment.html",
        title=title,
        me=me,
        nav="experiments",
        status=status,
        view=view,
        notice="" if error else _notice(request, view),
        error=error,
    )


@page
async def detail(request: Request, me: WebIdentity) -> Response:
    return await _detail_page(request, me)


@page
async def chart(request: Request, me: WebIdentity) -> Response:
    try:
        png = await run_in_threadpool(
            service.experiment_chart, container(request), me.workspace_ref(), request.path_params["experiment_id"]
        )
    except NotFound:
        return _not_found(me)
    return Response(png, media_type="image/png")


@page
async def stop(request: Request, me: WebIdentity) -> Response:
    experiment_id = request.path_params["experiment_id"]
    try:
        await run_in_threadpool(service.stop_experiment, container(request), me.workspace_ref(), experiment_id)
    except NotFound:
        return _not_found(me)
    except ServiceError as exc:
        return await _detail_page(request, me, status=exc.status, error=_one_line(str(exc)))
    return RedirectResponse(f"{LIST_URL}/{experiment_id}?stopped=1", status_code=303)


@page
async def apply(request: Request, me: WebIdentity) -> Response:
    experiment_id = request.path_params["experiment_id"]
    try:
        done = await run_in_threadpool(service.apply_experiment, container(request), me.workspace_ref(), experiment_id)
    except NotFound:
        return _not_found(me)
    except ServiceError as exc:
        return await _detail_page(request, me, status=exc.status, error=_one_line(str(exc)))
    applied = done["applied"]
    query = f"applied={applied['arm']}&targets={len(applied['targets'])}&refused={len(applied['refused'])}"
    return RedirectResponse(f"{LIST_URL}/{experiment_id}?{query}", status_code=303)


ROUTES = [
    Route("/experiments", experiments, methods=["GET"], name="experiments"),
    Route("/experiments", create, methods=["POST"], name="experiments_create"),
    Route("/experiments/new", new, methods=["GET"], name="experiments_new"),
    Route("/experiments/{experiment_id}", detail, methods=["GET"], name="experiment"),
    Route("/experiments/{experiment_id}/chart.png", chart, methods=["GET"], name="experiment_chart"),
    Route("/experiments/{experiment_id}/stop", stop, methods=["POST"], name="experiment_stop"),
    Route("/experiments/{experiment_id}/apply", apply, methods=["POST"], name="experiment_apply"),
]
