"""An applied winner becomes the workspace's default for that kind of choice: hashtags in the captions suggested for
new posts, a cover-frame rule for new clips' covers (caption styles: tests/test_experiments_service.py)."""

from __future__ import annotations

import pytest

from cliply.experiments import service
from cliply.experiments.variants import cover_window
from cliply.publishing import service as publishing
from cliply.publishing.captions import Suggestion, TargetDraft, with_default_hashtags
from cliply.workspace_settings import workspace_settings
from tests.test_experiments_service import World, world  # noqa: F401  (fixture)
from tests.test_notifier import webhook_server  # noqa: F401  (the world fixture needs it)


@pytest.mark.parametrize(
    ("rule", "window"),
    [
        (None, (10.0, 40.0)),
        ("frame:50%", (24.4, 25.6)),  # around the middle of the clip
        ("frame:2.5", (11.9, 13.1)),  # seconds into the clip
        ("frame:0%", (10.0, 10.6)),  # clamped to the clip
        ("frame:100", (39.4, 40.0)),
        ("image:0", (10.0, 40.0)),  # an uploaded image is no rule for other clips
        ("garbage", (10.0, 40.0)),
    ],
)
def test_the_cover_frame_is_picked_around_the_default_position(rule: str | None, window: tuple[float, float]) -> None:
    assert cover_window(rule, 10.0, 40.0) == pytest.approx(window)


def test_default_hashtags_replace_the_derived_ones() -> None:
    suggested = Suggestion("Money grows.", ("money", "grows"))
    assert with_default_hashtags(suggested, {"hashtags": "#savings #wealth"}).text() == "Money grows. #savings #wealth"
    assert with_default_hashtags(suggested, {"caption_style": "pop"}) == suggested
    assert with_default_hashtags(suggested, None) == suggested


def test_a_hashtags_winner_becomes_the_hashtags_of_new_posts_in_that_workspace_only(world: World) -> None:
    spec = world.spec(kind="hashtags", variants=("#money #wealth", "#savings"), posts_per_arm=1, rule={"min_posts": 1})
    shown = service.create_experiment(world.app, None, spec)
    service.apply_experiment(world.app, None, shown["id"], "B")
    assert workspace_settings(world.app, None)["experiment_defaults"] == {"hashtags": "#savings"}
    assert workspace_settings(world.app, "globex")["experiment_defaults"] == {}

    draft = TargetDraft("youtube", world.accounts["youtube"])
    created = publishing.create_post(world.app, None, clip_id=world.clip, drafts=[draft], at="2099-01-01 09:00")
    caption = created.post["targets"][0]["caption"]
    assert caption.endswith("#savings") and "#money" not in caption, caption
