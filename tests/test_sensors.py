"""Upload sensors against a real Dagster instance: partitions added, one run per source, cursor advances,
nothing processed twice — first by evaluating ticks directly, then with the real daemon launching the runs."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from cliply.ingest import register_file
from cliply_assets.labels import SOURCE_NAME_TAG, SOURCE_TAG
from cliply_assets.media import SOURCES_PARTITIONS
from cliply_dagster.definitions import defs
from cliply_resources import DatabaseResource, InboxResource
from cliply_sensors.media import inbox_sensor, registered_sources_sensor
from tests.fixtures.media import COCKATOO, REPO
from tests.helpers import make_services, pipeline_settings, settings_env, start_daemon, stop_daemon, wait_for_daemon


def _drop(inbox: Path, name: str, src: Path = COCKATOO, age_s: float = 10.0) -> Path:
    """Write like an uploader would (temp dotfile, then rename) and age it past the settle time."""
    tmp = inbox / f".{name}.part"
    shutil.copyfile(src, tmp)
    target = inbox / name
    tmp.rename(target)
    past = time.time() - age_s
    os.utime(target, (past, past))
    return target


@pytest.fixture
def sensor_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    settings = pipeline_settings(tmp_path / "home")
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    inbox = Path(settings.resolved_inbox_url)
    inbox.mkdir(parents=True)
    resources = {
        "inbox": InboxResource(url=str(inbox), min_age_s=1.0),
        "database": DatabaseResource(url=settings.resolved_database_url),
    }
    with dg.instance_for_test() as instance:
        yield settings, inbox, resources, instance


def _tick(sensor, instance, resources, cursor):  # type: ignore[no-untyped-def]
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs(), resources=resources) as ctx:
        return sensor(ctx)


def test_inbox_sensor_one_run_per_file_and_cursor(sensor_env) -> None:  # type: ignore[no-untyped-def]
    _settings, inbox, resources, instance = sensor_env
    _drop(inbox, "talk one.mp4")
    _drop(inbox, "talk-two.mov", age_s=9)
    (inbox / ".still-uploading.mp4").write_bytes(b"partial")

    first = _tick(inbox_sensor, instance, resources, None)
    keys = [r.partition_key for r in first.run_requests]
    assert len(keys) == 2 and len(set(keys)) == 2
    assert list(first.dynamic_partitions_requests[0].partition_keys) == keys
    assert [r.run_key for r in first.run_requests] == [f"source:{k}" for k in keys]
    # The run list shows user tags beside the job name: the file name, not only the opaque id.
    assert {r.tags[SOURCE_NAME_TAG] for r in first.run_requests} == {"talk one.mp4", "talk-two.mov"}
    assert [r.tags[SOURCE_TAG] for r in first.run_requests] == keys
    assert first.cursor

    again = _tick(inbox_sensor, instance, resources, first.cursor)
    assert again.run_requests == [] and again.cursor == first.cursor

    _drop(inbox, "third.mp4", age_s=5)
    third = _tick(inbox_sensor, instance, resources, again.cursor)
    assert len(third.run_requests) == 1 and third.run_requests[0].partition_key not in keys
    assert third.cursor != first.cursor

    # Even with the cursor lost, files already registered are never requested again.
    replay = _tick(inbox_sensor, instance, resources, None)
    assert replay.run_requests == []


def test_registered_sources_sensor_picks_up_cli_ingests_once(sensor_env) -> None:  # type: ignore[no-untyped-def]
    settings, _inbox, resources, instance = sensor_env
    svc = make_services(settings)
    ids = [register_file(settings, svc.db, svc.store, COCKATOO, workspace=ws).source_id for ws in ("a", "b")]
    first = _tick(registered_sources_sensor, instance, resources, None)
    assert [r.partition_key for r in first.run_requests] == ids
    assert list(first.dynamic_partitions_requests[0].partition_keys) == ids
    assert [r.tags[SOURCE_NAME_TAG] for r in first.run_requests] == [COCKATOO.name, COCKATOO.name]
    second = _tick(registered_sources_sensor, instance, resources, first.cursor)
    assert second.run_requests == []
    late = register_file(settings, svc.db, svc.store, COCKATOO, workspace="a").source_id
    third = _tick(registered_sources_sensor, instance, resources, second.cursor)
    assert [r.partition_key for r in third.run_requests] == [late]


def test_real_daemon_processes_each_drop_exactly_once(tmp_path: Path, talk_video: Path) -> None:
    """The real dagster-daemon: sensor tick → partitions → one queued run per source → materialised media."""
    settings = pipeline_settings(tmp_path / "home")
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    inbox = Path(settings.resolved_inbox_url)
    inbox.mkdir(parents=True)
    short = tmp_path / "short_talk.mp4"
    from cliply.media.ffmpeg import run_ffmpeg

    run_ffmpeg(["-i", str(talk_video), "-t", "10.1", "-c", "copy", "-movflags", "+faststart", str(short)])
    env = {**os.environ, **settings_env(settings), "DAGSTER_HOME": str(dagster_home), "CLIPLY_MAX_CLIPS": "1"}
    log = tmp_path / "daemon.log"
    # Create the instance's SQLite storage before the daemon starts: two processes creating it at once can both
    # stamp its schema version, and every later process then refuses to open it.
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    proc = start_daemon(env, log)
    try:
        _drop(inbox, "first talk.mp4", src=short)
        _drop(inbox, "second talk.mp4", src=short, age_s=8)

        def finished_runs():  # type: ignore[no-untyped-def]
            runs = instance.get_run_records()
            ended = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}
            done = [r for r in runs if r.dagster_run.status in ended]
            return runs if len(done) >= 2 and len(done) == len(runs) else None

        runs = wait_for_daemon(finished_runs, 420, "two finished runs", proc, log, poll_s=1.0)
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs), [
            r.dagster_run.status for r in runs
        ]
        partitions = instance.get_dynamic_partitions(SOURCES_PARTITIONS)
        assert len(partitions) == 2
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in runs) == sorted(partitions)
        assert sorted(r.dagster_run.tags[SOURCE_NAME_TAG] for r in runs) == ["first talk.mp4", "second talk.mp4"]
        thumbs = instance.get_materialized_partitions(dg.AssetKey("thumbnails"))
        assert thumbs == set(partitions)
        assert not any(inbox.iterdir()), "the inbox is emptied once sources are stored"
        time.sleep(12)  # a few more sensor ticks: nothing may be processed twice
        assert len(instance.get_run_records()) == 2
    finally:
        stop_daemon(proc)
