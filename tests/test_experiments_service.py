"""Experiment use cases on a real SQLite database with connected accounts and real clip rows: creation through the
publishing ledger, the recorded seeded assignment, evaluation from metric snapshots, stop, apply / auto-apply
(only targets that have not started), notifications and workspace isolation."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cliply import wiring
from cliply.experiments import service
from cliply.experiments.service import ExperimentSpec
from cliply.notify import Notifier
from cliply.platforms.models import Credentials
from cliply.publishing import service as publishing
from cliply.publishing.captions import CaptionRejected, TargetDraft
from cliply.settings import Settings
from cliply.store import audit
from cliply.store.accounts import AccountsRepo
from cliply.store.models import Clip, Source, Workspace
from cliply.store.models_analytics import MetricSnapshot, TrackedPost
from cliply.store.models_experiments import Experiment, ExperimentPost
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import NotFound
from cliply.usecases import ServiceError, create_workspace, workspace_scope
from tests.helpers import seed_rendered_clips
from tests.test_http import env_for
from tests.test_notifier import WebhookReceiver, webhook_server  # noqa: F401 (fixture)

TEXT = "Compound interest is the engine of wealth. Interest on interest grows your savings every year."
DAY = timedelta(days=1)


@dataclass
class World:
    app: wiring.Cliply
    webhook: WebhookReceiver
    clip: str
    accounts: dict[str, int]
    other_clip: str
    other_account: int

    def spec(self, **kw: Any) -> ExperimentSpec:
        base = ExperimentSpec(
            clip_id=self.clip,
            kind="caption",
            variants=("Money grows while you sleep", "Interest on interest, explained"),
            targets=(("youtube", self.accounts["youtube"]), ("tiktok", self.accounts["tiktok"])),
            metric="views@24h",
            posts_per_arm=4,
            every="6h",
            rule={"min_days": 1, "min_posts": 3},
            seed=42,
            options={"tiktok": {"privacy": "PUBLIC_TO_EVERYONE"}},
        )
        return replace(base, **kw)

    def count(self, model: type) -> int:
        with self.app.db.reading() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0

    def targets(self, post_ids: list[str]) -> dict[str, PostTarget]:
        with self.app.db.reading() as s:
            rows = s.scalars(select(PostTarget).where(PostTarget.post_id.in_(post_ids)))
            return {t.post_id: t for t in rows}

    def set_target(self, post_id: str, **fields: Any) -> str:
        with self.app.db.session() as s:
            target = s.scalars(select(PostTarget).where(PostTarget.post_id == post_id)).one()
            for key, value in fields.items():
                setattr(target, key, value)
            return target.id

    def publish(self, row: dict[str, Any], views: float | None) -> None:
        """The slot's post went out at its slot time; a snapshot 24 h later holds its views."""
        at = datetime.fromisoformat(row["slot_at"])
        tid = self.set_target(row["post_id"], state="published", published_at=at, platform_post_id=row["post_id"])
        with self.app.db.session() as s:
            ws = s.scalars(select(PostTarget.workspace_id).where(PostTarget.id == tid)).one()
            tracked = TrackedPost(
                workspace_id=ws,
                platform=row["platform"],
                platform_post_id=row["post_id"],
                account_id=row["account_id"],
                target_id=tid,
                clip_id=self.clip,
                origin="published",
                published_at=at,
            )
            s.add(tracked)
            s.flush()
            if views is not None:
                s.add(
                    MetricSnapshot(tracked_post_id=tracked.id, workspace_id=ws, fetched_at=at + DAY, views=int(views))
                )


def _account(app: wiring.Cliply, ws: str, platform: str, external_id: str) -> int:
    with workspace_scope(app, ws) as scope:
        creds = Credentials(access_token="tok-" + external_id, refresh_token="ref", account_id=external_id)
        return AccountsRepo(scope, app.vault).connect(platform, creds, external_id).id


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook_server: WebhookReceiver, db_url: str
) -> Iterator[World]:
    for key, value in env_for(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CLIPLY_DATABASE_URL", db_url)  # SQLite, and PostgreSQL (an integration test)
    for name in ("CLIPLY_TOKEN_KEYS", "CLIPLY_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    app = wiring.cliply(Settings.from_env(), notifier=Notifier(webhook_url=webhook_server.url))
    create_workspace(app, "globex")
    clips = {}
    for ws, src in ((None, "src_1"), ("globex", "src_g")):
        with workspace_scope(app, ws) as scope:
            scope.add_source(src, "file", f"/in/{src}.mp4", f"{src}.mp4", status="ready")
            clips[src] = scope.replace_clips(src, [{"start_s": 0.0, "end_s": 30.0, "text": TEXT}])[0].id
    accounts = {
        "youtube": _account(app, "default", "youtube", "UC1"),
        "tiktok": _account(app, "default", "tiktok", "TT1"),
    }
    other = _account(app, "globex", "youtube", "UC9")
    yield World(app, webhook_server, clips["src_1"], accounts, clips["src_g"], other)


def _plant(world: World, shown: dict[str, Any], views: dict[str, float], tiktok_factor: float = 4.0) -> None:
    """Views per arm, scaled by account size (TikTok bigger) with a little per-slot noise."""
    for row in shown["assignment"]:
        scale = tiktok_factor if row["platform"] == "tiktok" else 1.0
        world.publish(row, views[row["arm"]] * scale * (1 + 0.03 * ((row["slot"] * 7) % 5 - 2)))


def test_create_records_the_posts_made_through_publishing(world: World) -> None:
    shown = service.create_experiment(world.app, None, world.spec(name="hooks that sell"))
    assert shown["id"].startswith("exp_") and shown["status"] == "running" and shown["metric"] == "views@24h"
    assert shown["seed"] == 42 and shown["rule"]["min_days"] == 1 and shown["rule"]["min_posts"] == 3
    assert shown["rule"]["max_days"] == world.app.settings.experiment_max_days
    assert [(a["name"], a["variant"], a["posts"]) for a in shown["arms"]] == [
        ("A", "Money grows while you sleep", 4),
        ("B", "Interest on interest, explained", 4),
    ]
    rows = shown["assignment"]
    assert [r["slot"] for r in rows] == list(range(8))
    assert [r["platform"] for r in rows] == ["youtube", "tiktok"] * 4
    times = [datetime.fromisoformat(r["slot_at"]) for r in rows]
    assert all(b - a == timedelta(hours=6) for a, b in itertools.pairwise(times))
    assert shown["started_at"] == rows[0]["slot_at"]
    targets = world.targets([r["post_id"] for r in rows])
    captions = {a["name"]: a["variant"] for a in shown["arms"]}
    for r in rows:
        t = targets[r["post_id"]]
        assert (t.state, t.platform, t.account_id) == ("scheduled", r["platform"], r["account_id"])
        assert t.caption == captions[r["arm"]] and t.due_at == datetime.fromisoformat(r["slot_at"])
        assert r["state"] == "scheduled"
    for platform in ("youtube", "tiktok"):  # each account's block of 2 slots holds both arms
        arms = [r["arm"] for r in rows if r["platform"] == platform]
        assert Counter(arms) == {"A": 2, "B": 2}
        assert sorted(arms[:2]) == ["A", "B"] and sorted(arms[2:]) == ["A", "B"]
    # the posts are ordinary posts: publishing reads them like any other
    post = publishing.show_post(world.app, None, rows[0]["post_id"])
    assert post["clip_id"] == world.clip and len(post["targets"]) == 1
    assert [e["id"] for e in service.list_experiments(world.app, None)] == [shown["id"]]
    assert service.list_experiments(world.app, None, status="winner") == []
    assert service.experiment_ids(world.app, running_only=True) == [shown["id"]]


def test_kinds_become_the_targets_text_and_options(world: World) -> None:
    spec = world.spec(kind="hashtags", variants=("#money #wealth", "#savings"), posts_per_arm=1, rule={"min_posts": 1})
    rows = service.create_experiment(world.app, None, spec)["assignment"]
    captions = {t.caption for t in world.targets([r["post_id"] for r in rows]).values()}
    assert captions == {
        "Compound interest is the engine of wealth. #money #wealth",
        "Compound interest is the engine of wealth. #savings",
    }
    spec = world.spec(kind="caption_style", variants=("pop", "boxed"), posts_per_arm=1, rule={"min_posts": 1})
    rows = service.create_experiment(world.app, None, spec)["assignment"]
    targets = world.targets([r["post_id"] for r in rows])
    assert {r["arm"]: targets[r["post_id"]].options["caption_style"] for r in rows} == {"A": "pop", "B": "boxed"}
    spec = world.spec(
        kind="title",
        variants=("Why interest compounds", "The engine of wealth"),
        posts_per_arm=1,
        rule={"min_posts": 1},
    )
    rows = service.create_experiment(world.app, None, spec)["assignment"]
    titles = {t.title for t in world.targets([r["post_id"] for r in rows]).values()}
    assert titles == {"Why interest compounds", "The engine of wealth"}


def test_seed_reproduces_the_assignment(world: World) -> None:
    def arms(seed: int) -> list[str]:
        spec = world.spec(posts_per_arm=6, seed=seed, variants=("one", "two", "three"))
        shown = service.create_experiment(world.app, None, spec)
        return [r["arm"] for r in shown["assignment"]]

    assert arms(5) == arms(5)
    assert any(arms(5) != arms(s) for s in (6, 7, 8))
    random = service.create_experiment(world.app, None, world.spec(seed=None))
    with world.app.db.reading() as s:
        assert s.get(Experiment, random["id"]).seed == random["seed"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variants": ("only one",)}, "2 to 4 variants"),
        ({"variants": ("same", " same ")}, "distinct"),
        ({"kind": "colour"}, "unknown experiment kind"),
        ({"kind": "caption_style", "variants": ("pop", "neon")}, "caption style 'neon'"),
        ({"kind": "hook", "variants": ("3", "45")}, "outside the clip"),
        ({"kind": "thumbnail", "variants": ("frame:2", "frame:5")}, "needs a rendered clip"),
        ({"kind": "hashtags", "variants": ("#a", "b")}, "not a hashtag"),
        ({"metric": "likes@24h"}, "unknown metric"),
        ({"rule": {"p_best": 2}}, "p_best"),
        ({"rule": {"bogus": 1}}, "unknown setting"),
        ({"posts_per_arm": 0}, "posts per arm"),
        ({"every": "soon"}, "bad interval"),
        ({"at": "2001-01-01 09:00"}, "in the past"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(world: World, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        service.create_experiment(world.app, None, world.spec(**change))
    assert "\n" not in str(info.value)
    assert (world.count(Experiment), world.count(Post)) == (0, 0)


def test_a_platform_refusal_writes_no_post(world: World) -> None:
    # the second arm's caption breaks TikTok's length rule: refused before anything is written
    with pytest.raises(CaptionRejected, match="tiktok"):
        service.create_experiment(world.app, None, world.spec(variants=("fine", "x" * 5000)))
    assert (world.count(Experiment), world.count(Post), world.count(ExperimentPost)) == (0, 0, 0)


def test_evaluation_running_then_winner_with_notification(world: World) -> None:
    shown = service.create_experiment(world.app, None, world.spec())
    start = datetime.fromisoformat(shown["started_at"])
    _plant(world, shown, {"A": 100.0, "B": 300.0})
    early = service.evaluate_experiment(world.app, shown["id"], now=start + timedelta(hours=12))
    assert early["status"] == "running" and "waiting" in early["reason"]
    assert all(a["measured"] == 0 for a in early["arms"])
    done = service.evaluate_experiment(world.app, shown["id"], now=start + 4 * DAY)
    assert (done["status"], done["winner"], done["decision"]["winner"]) == ("winner", "B", "B")
    arms = {a["name"]: a for a in done["arms"]}
    assert arms["B"]["measured"] == 4 and arms["B"]["p_best"] > 0.95 and arms["B"]["mean"] > arms["A"]["mean"]
    assert done["ended_at"] is not None and done["applied_at"] is None  # auto_apply off
    decided = [r["json"] for r in world.webhook.received if r["json"]["event"] == "experiment_decided"]
    assert [(d["experiment"], d["status"], d["winner"]) for d in decided] == [(shown["id"], "winner", "B")]
    # decided once: a later evaluation changes nothing and does not notify again
    again = service.evaluate_experiment(world.app, shown["id"], now=start + 9 * DAY)
    assert again["evaluated_at"] == done["evaluated_at"] and again["status"] == "winner"
    assert len([r for r in world.webhook.received if r["json"]["event"] == "experiment_decided"]) == 1
    assert service.experiment_ids(world.app, running_only=True) == []


def test_evaluation_edges_running_and_inconclusive(world: World) -> None:
    shown = service.create_experiment(world.app, None, world.spec(rule={"min_days": 3, "min_posts": 3}))
    start = datetime.fromisoformat(shown["started_at"])
    _plant(world, shown, {"A": 200.0, "B": 200.0})
    # all data in, but before the minimum duration: still running
    assert service.evaluate_experiment(world.app, shown["id"], now=start + 2.9 * DAY)["status"] == "running"
    # every planned post measured and the minimum duration passed: no more data can come, so equal arms are
    # inconclusive now rather than at the maximum duration
    done = service.evaluate_experiment(world.app, shown["id"], now=start + 3.1 * DAY)
    assert (done["status"], done["winner"]) == ("inconclusive", None), done["reason"]
    assert service.evaluate_experiment(world.app, shown["id"], now=start + 14.5 * DAY)["status"] == "inconclusive"
    with pytest.raises(ServiceError, match="name the arm"):
        service.apply_experiment(world.app, None, shown["id"])


def test_too_few_measured_posts_stays_running(world: World) -> None:
    shown = service.create_experiment(world.app, None, world.spec())
    start = datetime.fromisoformat(shown["started_at"])
    for row in shown["assignment"]:  # arm A's posts have no metric yet
        world.publish(row, 300.0 if row["arm"] == "B" else None)
    out = service.evaluate_experiment(world.app, shown["id"], now=start + 5 * DAY)
    assert out["status"] == "running" and "arm A has 0 of 3 posts" in out["reason"]


def test_fixed_horizon_by_default_early_looks_only_when_asked(world: World) -> None:
    floor = world.app.settings.experiment_min_posts
    fixed = service.create_experiment(world.app, None, world.spec(rule={"min_days": 1}, posts_per_arm=floor + 1))
    assert fixed["rule"]["min_posts"] == floor + 1  # no decision before every post is measured
    start = datetime.fromisoformat(fixed["started_at"])
    for row in fixed["assignment"]:  # a clear B effect, but each arm's last post has no metric yet
        last = row["slot"] >= len(fixed["assignment"]) - 2
        world.publish(row, None if last else (100.0 if row["arm"] == "A" else 400.0))
    out = service.evaluate_experiment(world.app, fixed["id"], now=start + 5 * DAY)
    assert out["status"] == "running" and f"of {floor + 1} posts" in out["reason"]
    with pytest.raises(ValueError, match=f"2 posts per arm is fewer than the {floor} a decision needs"):
        service.create_experiment(world.app, None, world.spec(rule=None, posts_per_arm=2))  # could never decide
    early = service.create_experiment(world.app, None, world.spec(rule={"min_posts": 2}, posts_per_arm=floor + 1))
    assert early["rule"]["min_posts"] == 2  # early looks stay possible when asked for
    # 2 arms x 40 posts every 12 h: the last metric is due after 39 days 12 h + 24 h, so max_days covers it
    long = service.create_experiment(world.app, None, world.spec(rule=None, posts_per_arm=40, every="12h"))
    assert (long["rule"]["min_posts"], long["rule"]["max_days"]) == (40, 42)
    assert fixed["rule"]["max_days"] == world.app.settings.experiment_max_days  # short schedules keep the setting


def _other_post(world: World, caption: str) -> str:
    draft = TargetDraft("youtube", world.accounts["youtube"], caption)
    return publishing.create_post(world.app, None, clip_id=world.clip, drafts=[draft], at="2099-01-01 09:00").post["id"]


def test_auto_apply_changes_only_targets_that_have_not_started(world: World) -> None:
    # two of four posts per arm measured (min_posts 2); the last two slots are still to come
    spec = world.spec(
        kind="caption_style", variants=("pop", "boxed"), auto_apply=True, rule={"min_days": 1, "min_posts": 2}
    )
    shown = service.create_experiment(world.app, None, spec)
    start = datetime.fromisoformat(shown["started_at"])
    _plant(world, {"assignment": shown["assignment"][:4]}, {"A": 100.0, "B": 300.0})
    later = [r["post_id"] for r in shown["assignment"][4:]]  # the experiment's own later slots, not yet out
    claimed = _other_post(world, "claimed one")
    world.set_target(claimed, state="claimed", claimed_by="worker-1", claimed_until=start + DAY)
    published = _other_post(world, "published one")
    world.set_target(published, state="published", published_at=start, platform_post_id="yt-1")
    waiting = _other_post(world, "still scheduled")
    done = service.evaluate_experiment(world.app, shown["id"], now=start + 4 * DAY)
    assert (done["status"], done["winner"]) == ("winner", "B") and done["applied_at"] is not None
    targets = world.targets([claimed, published, waiting, *later])
    assert targets[waiting].options.get("caption_style") == "boxed"
    assert all(targets[p].options.get("caption_style") == "boxed" for p in later)
    assert "caption_style" not in targets[claimed].options and targets[claimed].state == "claimed"
    assert "caption_style" not in targets[published].options and targets[published].state == "published"
    published_slots = world.targets([r["post_id"] for r in shown["assignment"][:4]])
    assert {t.options["caption_style"] for t in published_slots.values()} == {"pop", "boxed"}  # untouched
    with world.app.db.reading() as s:
        ws = s.scalars(select(Workspace).where(Workspace.name == "default")).one()
        assert ws.experiment_defaults == {"caption_style": "boxed"} and ws.caption_style == "boxed"
        (entry,) = audit.entries(s, ws.id, action="experiment_applied")
        assert entry.actor == "system" and entry.details["arm"] == "B" and entry.details["variant"] == "boxed"
        assert set(entry.details["targets"]) == {targets[p].id for p in (waiting, *later)}
    events = [r["json"] for r in world.webhook.received]
    assert [e["event"] for e in events] == ["experiment_decided", "experiment_applied"]
    assert events[1]["arm"] == "B" and events[1]["targets"] == 5
    assert not any("tok" in str(v) for e in events for k, v in e.items() if k != "event")
    # applied once: evaluating again neither re-applies nor notifies
    service.evaluate_experiment(world.app, shown["id"], now=start + 6 * DAY)
    assert len(world.webhook.received) == 2


def test_manual_apply_of_a_named_arm_and_stop(world: World) -> None:
    shown = service.create_experiment(world.app, None, world.spec())
    with pytest.raises(ServiceError, match="no arm 'E'"):
        service.apply_experiment(world.app, None, shown["id"], "E")
    out = service.apply_experiment(world.app, None, shown["id"], "a")
    assert out["applied"]["arm"] == "A" and len(out["applied"]["targets"]) == 8
    targets = world.targets([r["post_id"] for r in shown["assignment"]])
    assert {t.caption for t in targets.values()} == {"Money grows while you sleep"}
    world.set_target(
        shown["assignment"][0]["post_id"],
        state="published",
        published_at=datetime.fromisoformat(shown["assignment"][0]["slot_at"]),
    )
    stopped = service.stop_experiment(world.app, None, shown["id"])
    assert stopped["status"] == "stopped" and stopped["ended_at"] is not None
    assert [r["state"] for r in stopped["assignment"]] == ["published"] + ["cancelled"] * 7
    with pytest.raises(ServiceError, match="already stopped"):
        service.stop_experiment(world.app, None, shown["id"])
    after = service.evaluate_experiment(world.app, shown["id"])
    assert after["status"] == "stopped" and after["evaluated_at"] is None


def test_workspace_isolation(world: World) -> None:
    shown = service.create_experiment(world.app, None, world.spec())
    eid = shown["id"]
    for call in (
        lambda: service.show_experiment(world.app, "globex", eid),
        lambda: service.stop_experiment(world.app, "globex", eid),
        lambda: service.apply_experiment(world.app, "globex", eid, "A"),
    ):
        with pytest.raises(NotFound):
            call()
    assert service.list_experiments(world.app, "globex") == []
    # its clip and its accounts cannot be used from the other workspace, nor the other's from here
    with pytest.raises(NotFound, match="no clip"):
        service.create_experiment(
            world.app, "globex", world.spec(targets=(("youtube", world.other_account),), options=None)
        )
    with pytest.raises(NotFound, match="no youtube account"):
        service.create_experiment(
            world.app, None, world.spec(targets=(("youtube", world.other_account),), options=None)
        )
    # the other workspace's own experiment: apply there changes nothing here
    other = service.create_experiment(
        world.app,
        "globex",
        world.spec(clip_id=world.other_clip, targets=(("youtube", world.other_account),), options=None),
    )
    service.apply_experiment(world.app, "globex", other["id"], "B")
    targets = world.targets([r["post_id"] for r in shown["assignment"]])
    assert all(t.state == "scheduled" for t in targets.values())
    assert {t.caption for t in targets.values()} == {"Money grows while you sleep", "Interest on interest, explained"}
    # metrics planted in globex for its own posts never reach this experiment's evaluation
    for row in other["assignment"]:
        world.publish(row, 1000.0)
    start = datetime.fromisoformat(shown["started_at"])
    mine = service.evaluate_experiment(world.app, eid, now=start + 4 * DAY)
    assert mine["status"] == "running" and all(a["measured"] == 0 for a in mine["arms"])
    with world.app.db.reading() as s:
        ws = s.scalars(select(Workspace).where(Workspace.name == "default")).one()
        assert audit.entries(s, ws.id) == [] and ws.experiment_defaults is None


def test_thumbnail_arms_get_their_own_covers(world: World, small_clip: Path) -> None:
    [clip], _ = seed_rendered_clips(world.app.db, world.app.media, small_clip, 1, source_id="src_r")
    world.app.media.put_file("uploads/src_r/talk.mp4", small_clip)  # covers are cut from the source
    with world.app.db.session() as s:
        row = s.get(Clip, clip)
        source = s.get(Source, "src_r")
        assert row is not None and source is not None
        row.text, source.media_key = TEXT, "uploads/src_r/talk.mp4"
    with pytest.raises(ValueError, match=r"only 0 image\(s\) were uploaded"):
        service.create_experiment(
            world.app, None, world.spec(clip_id=clip, kind="thumbnail", variants=("frame:1", "image:0"))
        )
    spec = world.spec(
        clip_id=clip, kind="thumbnail", variants=("frame:1", "frame:75%"), posts_per_arm=1, rule={"min_posts": 1}
    )
    shown = service.create_experiment(world.app, None, spec)
    targets = world.targets([r["post_id"] for r in shown["assignment"]])
    options = {r["arm"]: targets[r["post_id"]].options for r in shown["assignment"]}
    for arm, at in (("A", 1.0), ("B", 3.0)):
        assert options[arm]["cover_manifest"].startswith(f"experiments/{shown['id']}/{arm}/")
        assert options[arm]["cover_time_s"] == pytest.approx(at)
        assert world.app.media.exists(options[arm]["cover_manifest"])
    assert [a["variant"] for a in shown["arms"]] == ["frame:1", "frame:75%"]


def test_apply_leaves_a_target_whose_platform_refuses_the_variant(world: World) -> None:
    long = "Interest on interest " * 15  # 315 characters: fine on YouTube and TikTok, too long for X
    shown = service.create_experiment(
        world.app, None, world.spec(variants=("short", long), posts_per_arm=1, rule={"min_posts": 1})
    )
    x_account = _account(world.app, "default", "x", "X1")
    draft = TargetDraft("x", x_account, "on x")
    on_x = publishing.create_post(world.app, None, clip_id=world.clip, drafts=[draft], at="2099-01-01 09:00")
    out = service.apply_experiment(world.app, None, shown["id"], "B")
    x_target = world.targets([on_x.post["id"]])[on_x.post["id"]]
    assert out["applied"]["refused"] == [x_target.id] and x_target.caption == "on x"
    assert len(out["applied"]["targets"]) == 2
