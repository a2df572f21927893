"""Custom cover upload: validation (type from content, byte and pixel caps), the subject kept in every platform's
crop (a face; a salient object when there is none), each platform's cover size, covers.json `custom: true`, the CLI
and REST adapters (workspace-scoped), and the uploaded cover reaching a platform through a real publish."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import select
from starlette.testclient import TestClient

from cliply.cli import main
from cliply.http.app import create_app
from cliply.media.cover_upload import CoverRejected, decode_image, find_subject, largest_face, upload_cover
from cliply.media.covers import COVER_SPECS, crop_box, manifest_key
from cliply.security.vault import KeyRing, TokenVault
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.models import Clip, Workspace
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply.wiring import Cliply, cliply
from tests.fixtures.sandbox import RunningSandbox
from tests.helpers import seed_rendered_clips
from tests.test_post_covers import sha
from tests.test_publisher import World as PublishWorld
from tests.test_publisher import _world

W, H = 1920, 1080
FACE_X, FACE_Y, FACE_S = 300, 560, 90  # a face near the left edge: a centre crop to 9:16 would cut it out
OBJECT = (1560, 380, 1760, 700)  # x0, y0, x1, y1 of a salient object near the right edge


def draw_face(img: np.ndarray, cx: int, cy: int, s: int) -> None:
    """A cartoon frontal face the Haar cascade finds: skin oval, hair, brows, eyes with pupils, nose and mouth."""
    cv2.ellipse(img, (cx, cy), (s, int(s * 1.3)), 0, 0, 360, (150, 180, 220), -1)
    ey = cy - int(s * 0.25)
    for dx in (-int(s * 0.42), int(s * 0.42)):
        cv2.ellipse(img, (cx + dx, ey), (int(s * 0.22), int(s * 0.11)), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(img, (cx + dx, ey), int(s * 0.09), (30, 20, 20), -1)
        brow = ((cx + dx - int(s * 0.25), ey - int(s * 0.25)), (cx + dx + int(s * 0.25), ey - int(s * 0.28)))
        cv2.line(img, *brow, (40, 40, 60), max(2, s // 12))
    cv2.ellipse(img, (cx, cy + int(s * 0.2)), (int(s * 0.1), int(s * 0.22)), 0, 0, 360, (120, 150, 190), -1)
    cv2.ellipse(img, (cx, cy + int(s * 0.62)), (int(s * 0.35), int(s * 0.1)), 0, 0, 360, (60, 60, 150), -1)
    cv2.ellipse(img, (cx, cy - int(s * 1.05)), (int(s * 1.05), int(s * 0.5)), 0, 180, 360, (30, 40, 60), -1)


def encode(rgb: np.ndarray, fmt: str = "JPEG") -> bytes:
    buf = BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, quality=92)
    return buf.getvalue()


@pytest.fixture(scope="module")
def face_photo() -> bytes:
    rng = np.random.default_rng(7)
    img = rng.integers(70, 110, (H, W, 3), dtype=np.uint8)
    draw_face(img, FACE_X, FACE_Y, FACE_S)
    return encode(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


@pytest.fixture(scope="module")
def object_photo() -> bytes:
    """No face: a flat, slightly noisy backdrop and one high-contrast striped object near the right edge."""
    rng = np.random.default_rng(11)
    img = (rng.normal(120, 3, (H, W, 3))).clip(0, 255).astype(np.uint8)
    x0, y0, x1, y1 = OBJECT
    stripes = ((np.arange(x1 - x0) // 12) % 2).astype(np.uint8)
    img[y0:y1, x0:x1] = np.where(stripes[None, :, None] == 1, [230, 40, 30], [20, 20, 200]).astype(np.uint8)
    return encode(img, "PNG")


def test_the_type_comes_from_the_content_not_the_name(face_photo: bytes) -> None:
    with pytest.raises(CoverRejected, match="not a JPEG, PNG or WebP") as exc:
        decode_image(b"GIF89a" + b"\x00" * 500)
    assert exc.value.status == 415 and exc.value.exit_code == 2
    with pytest.raises(CoverRejected, match="not a JPEG"):
        decode_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert decode_image(face_photo).shape == (H, W, 3)
    with pytest.raises(CoverRejected, match="cannot be decoded"):
        decode_image(face_photo[: len(face_photo) // 3] + b"\x00")  # starts like a JPEG, then breaks


def test_byte_pixel_and_size_limits(face_photo: bytes) -> None:
    with pytest.raises(CoverRejected, match="the limit is 1000") as exc:
        decode_image(face_photo, max_bytes=1000)
    assert exc.value.status == 413
    # A PNG of 9000×5000 flat pixels is small in bytes but 45 megapixels: refused before decoding.
    big = BytesIO()
    Image.new("RGB", (9000, 5000), (10, 20, 30)).save(big, format="PNG")
    assert len(big.getvalue()) < 1024**2
    with pytest.raises(CoverRejected, match="45000000 pixels") as exc:
        decode_image(big.getvalue())
    assert exc.value.status == 413
    with pytest.raises(CoverRejected, match="at least 200"):
        decode_image(encode(np.zeros((100, 400, 3), np.uint8)))


def test_a_face_is_found_and_kept_in_every_platform_crop(face_photo: bytes) -> None:
    rgb = decode_image(face_photo)
    subject, how = find_subject(rgb)
    assert how == "face"
    assert abs(subject.cx - FACE_X) < FACE_S * 0.3 and abs(subject.cy - FACE_Y) < FACE_S * 0.6
    for name, spec in COVER_SPECS.items():
        x, y, w, h = crop_box(W, H, spec.aspect, subject)
        assert x <= FACE_X - FACE_S and x + w >= FACE_X + FACE_S, name
        assert y <= FACE_Y - FACE_S and y + h >= FACE_Y + FACE_S, name
    # The naive centre crop to 9:16 would have lost it (the test can fail).
    cx0 = (W - round(H * 9 / 16)) // 2
    assert cx0 > FACE_X + FACE_S


def test_without_a_face_the_salient_object_is_kept(object_photo: bytes) -> None:
    rgb = decode_image(object_photo)
    subject, how = find_subject(rgb)
    assert how == "saliency"
    x0, y0, x1, y1 = OBJECT
    assert x0 <= subject.cx <= x1 and y0 - 60 <= subject.cy <= y1 + 60
    for name, spec in COVER_SPECS.items():
        x, _, w, _ = crop_box(W, H, spec.aspect, subject)
        assert x <= x0 and x1 <= x + w, name


# ---- the use case ------------------------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cliply]:
    env = {
        "CLIPLY_HOME": str(tmp_path / "home"),
        "CLIPLY_MEDIA_URL": str(tmp_path / "media"),
        "CLIPLY_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CLIPLY_TOKEN_KEYS", raising=False)
    settings = Settings.from_env()
    db = Database(settings.resolved_database_url)
    db.migrate()
    container = cliply(settings, db=db)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42 clip")
    seed_rendered_clips(db, container.media, clip, 1, source_id="src_a")
    with db.session() as s:  # another workspace's clip, and the picked covers' manifest of ours
        WorkspaceScope(s, get_or_create_workspace(s, "other")).add_source("src_o", "file", "/o.mp4", "o.mp4")
        other = WorkspaceScope(s, get_or_create_workspace(s, "other"))
        other.replace_clips("src_o", [{"start_s": 0.0, "end_s": 4.0, "media_key": "clips/src_o/c1.mp4"}])
    container.media.put_bytes(manifest_key("src_a", _clip(db, "default")), json.dumps({"at_s": 1.25}).encode())
    yield container
    db.dispose()


def _clip(db: Database, workspace: str) -> str:
    with db.session() as s:
        ws = get_or_create_workspace(s, workspace)
        clip_id = s.scalars(select(Clip.id).where(Clip.workspace_id == ws.id)).first()
        assert clip_id
        return clip_id


def test_upload_stores_every_platform_cover_at_its_size(app: Cliply, face_photo: bytes) -> None:
    clip_id = _clip(app.db, "default")
    done = upload_cover(app, None, clip_id, face_photo)
    assert done.found_by == "face" and set(done.covers) == set(COVER_SPECS)
    for name, key in done.covers.items():
        with Image.open(BytesIO(app.media.get_bytes(key))) as img:
            assert (img.format, img.size) == ("JPEG", (COVER_SPECS[name].width, COVER_SPECS[name].height)), name
    vertical = cv2.imdecode(np.frombuffer(app.media.get_bytes(done.covers["tiktok"]), np.uint8), cv2.IMREAD_COLOR)
    assert (
        vertical is not None and largest_face(cv2.cvtColor(vertical, cv2.COLOR_BGR2RGB)) is not None
    )  # the face is in the 9:16 cover
    manifest = json.loads(app.media.get_bytes(done.manifest_key))
    assert manifest["custom"] is True and manifest["at_s"] == 1.25  # the picked frame time stays (TikTok)
    assert manifest["covers"]["youtube"] == {"key": done.covers["youtube"], "width": 1280, "height": 720}


def test_a_clip_of_another_workspace_is_not_found(app: Cliply, face_photo: bytes) -> None:
    from cliply.store.repo import NotFound

    with pytest.raises(NotFound):
        upload_cover(app, None, _clip(app.db, "other"), face_photo)
    with pytest.raises(NotFound):
        upload_cover(app, None, "no-such-clip", face_photo)


# ---- CLI ---------------------------------------------------------------------------------------------------------


def test_cli_cover_upload_and_its_errors(app: Cliply, face_photo: bytes, tmp_path: Path) -> None:
    runner = CliRunner()
    clip_id = _clip(app.db, "default")
    photo = tmp_path / "me.png"  # the name says PNG, the content is JPEG: the content decides
    photo.write_bytes(face_photo)
    ok = runner.invoke(main, ["clips", "cover", clip_id, str(photo), "--json"])
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.output)
    assert body["custom"] is True and body["subject"]["found_by"] == "face"
    assert body["covers"]["pinterest"]["width"] == 1000
    text = runner.invoke(main, ["clips", "cover", clip_id, str(photo)])
    assert text.exit_code == 0 and "youtube" in text.output and "1280x720" in text.output

    fake = tmp_path / "cover.jpg"
    fake.write_bytes(b"MZ\x90\x00 this is not an image" * 20)
    cases = [
        ([clip_id, str(fake)], "not a JPEG, PNG or WebP"),
        ([clip_id, str(tmp_path / "missing.jpg")], "no such file"),
        (["no-such-clip", str(photo)], "no clip"),
        ([_clip(app.db, "other"), str(photo)], "no clip"),
    ]
    for args, message in cases:
        bad = runner.invoke(main, ["clips", "cover", *args])
        assert bad.exit_code == 2, (args, bad.output)
        lines = [line for line in bad.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], bad.output
    # Listing still works as before.
    listed = runner.invoke(main, ["clips", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.output)["clips"][0]["id"] == clip_id


def test_cli_refuses_a_too_big_file(app: Cliply, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cliply.media import cover_upload

    monkeypatch.setattr(cover_upload, "MAX_COVER_BYTES", 5000)
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\x00" * 20000)
    bad = CliRunner().invoke(main, ["clips", "cover", _clip(app.db, "default"), str(big)])
    assert bad.exit_code == 2 and "the limit is 5000" in bad.output and len(bad.output.strip().splitlines()) == 1


# ---- REST --------------------------------------------------------------------------------------------------------


def test_rest_put_cover_and_its_errors(app: Cliply, face_photo: bytes, object_photo: bytes) -> None:
    vault = TokenVault(KeyRing.from_env(home=app.settings.home))
    with app.db.session() as s:
        token = AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, "default")), vault).create_api_token("t")
    clip_id = _clip(app.db, "default")
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(app.settings, db=app.db, vault=vault)) as http:
        ok = http.put(
            f"/api/clips/{clip_id}/cover", content=object_photo, headers={**auth, "Content-Type": "image/gif"}
        )
        assert ok.status_code == 201, ok.text
        assert ok.json()["subject"]["found_by"] == "saliency" and ok.json()["custom"] is True
        assert http.put(f"/api/clips/{clip_id}/cover", content=face_photo).status_code == 401
        bad = http.put(f"/api/clips/{clip_id}/cover", content=b"%PDF-1.7 nope" * 30, headers=auth)
        assert bad.status_code == 415 and "not a JPEG" in bad.json()["error"]
        big = http.put(
            f"/api/clips/{clip_id}/cover", content=b"\xff\xd8\xff" + b"\0" * (10 * 1024**2 + 1), headers=auth
        )
        assert big.status_code == 413
        assert http.put("/api/clips/nope/cover", content=face_photo, headers=auth).status_code == 404
        other = http.put(f"/api/clips/{_clip(app.db, 'other')}/cover", content=face_photo, headers=auth)
        assert other.status_code == 404
    manifest = json.loads(app.media.get_bytes(manifest_key("src_a", clip_id)))
    assert manifest["subject"]["found_by"] == "saliency"  # only the accepted upload changed anything


# ---- the uploaded cover reaches a platform -----------------------------------------------------------------------


@pytest.fixture
def publish_world(sandbox: RunningSandbox, small_clip: Path, tmp_path: Path) -> Iterator[PublishWorld]:
    yield from _world(f"sqlite:///{tmp_path / 'cliply.db'}", sandbox, small_clip, tmp_path)


def test_an_uploaded_cover_is_what_youtube_and_pinterest_receive(
    publish_world: PublishWorld, face_photo: bytes
) -> None:
    from cliply.sandbox.covers import cover_of
    from cliply.sandbox.pinterest import boards_of

    w = publish_world

    class _App:  # the parts of the container the use case touches
        db, media = w.db, w.media

    def ours(session: object) -> Workspace:
        return session.get(Workspace, w.workspace_id)  # type: ignore[attr-defined]

    done = upload_cover(_App(), ours, w.clip_id, face_photo)  # type: ignore[arg-type]
    yt, pin = w.connect("youtube", "yt-1"), w.connect("pinterest", "pin-1")
    board = boards_of(w.sandbox.state, "pin-1")[0]["id"]
    _, (t_yt, t_pin) = w.post(("youtube", yt, {"privacy": "public"}), ("pinterest", pin, {"board_id": board}))
    assert [o.state for o in w.run("youtube")] == ["published"]
    assert [o.state for o in w.run("pinterest")] == ["published"]
    got_yt = cover_of(w.sandbox.state, "youtube", w.target(t_yt).platform_post_id or "")
    got_pin = cover_of(w.sandbox.state, "pinterest", w.target(t_pin).platform_post_id or "")
    assert got_yt and got_yt["sha256"] == sha(w.media.get_bytes(done.covers["youtube"]))
    assert got_pin and got_pin["sha256"] == sha(w.media.get_bytes(done.covers["pinterest"]))
