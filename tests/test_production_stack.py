"""The documented production shape, on real servers the tests start: Dagster storage on PostgreSQL (the production
instance config, psycopg2 scheme), the app database on PostgreSQL, media + inbox + compute logs on S3 (SeaweedFS)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import dagster as dg
import httpx
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from cliply.ingest import register_file
from cliply.settings import Settings
from cliply.storage.media_store import S3MediaStore
from cliply.store.db import Database
from cliply.store.repo import WorkspaceScope, source_owner
from cliply_dagster.runner import materialize_source_sync
from cliply_resources import MediaStoreResource
from tests.fixtures.media import REPO
from tests.fixtures.postgres import create_database
from tests.fixtures.s3 import s3_client_for
from tests.helpers import pipeline_settings, settings_env

PRODUCTION_YAML = REPO / "deploy" / "dagster.production.yaml"


def test_production_instance_config_is_valid_dagster_schema() -> None:
    config = yaml.safe_load(PRODUCTION_YAML.read_text())
    dagster_instance_config(str(PRODUCTION_YAML.parent), config_filename=PRODUCTION_YAML.name)
    assert config["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert config["run_launcher"]["class"] == "EcsRunLauncher"
    assert config["compute_logs"]["class"] == "S3ComputeLogManager"


@pytest.fixture
def production_env(tmp_path: Path, postgres_cluster, seaweedfs_s3, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """DAGSTER_HOME with the production config (minus the ECS launcher, which needs AWS) on the test servers."""
    endpoint, access_key, secret_key, bucket = seaweedfs_s3
    dagster_db = f"dagster_{uuid.uuid4().hex[:8]}"
    create_database(postgres_cluster.admin_url(), dagster_db)
    app_url = create_database(postgres_cluster.admin_url(), f"app_{uuid.uuid4().hex[:8]}")
    prefix = f"run-{uuid.uuid4().hex[:8]}"
    base = pipeline_settings(tmp_path / "home")
    settings = Settings(
        **{
            **base.__dict__,
            "database_url": app_url,
            "media_url": f"s3://{bucket}/{prefix}/media",
            "inbox_url": f"s3://{bucket}/{prefix}/inbox",
            "s3_endpoint_url": endpoint,
        }
    )
    env = {
        **settings_env(settings),
        "CLIPLY_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(postgres_cluster.port),
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": dagster_db,
        "CLIPLY_LOG_BUCKET": bucket,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load(PRODUCTION_YAML.read_text())
    config.pop("run_launcher")
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        yield settings, instance, seaweedfs_s3, prefix


def test_process_on_postgres_and_s3(production_env, talk_video: Path) -> None:  # type: ignore[no-untyped-def]
    settings, instance, server, prefix = production_env
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    store = MediaStoreResource().get()  # built through dagster-aws's S3Resource with the endpoint override
    assert isinstance(store, S3MediaStore)
    db = Database(settings.resolved_database_url)
    db.migrate()
    reg = register_file(settings, db, store, talk_video, workspace="studio", status="queued")

    result = materialize_source_sync(reg.source_id, instance)
    assert result.success, [e.message for e in result.all_events if e.is_failure]

    client = s3_client_for(server)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=server.bucket, Prefix=f"{prefix}/media/")["Contents"]}
    with db.session() as session:
        scope = WorkspaceScope(session, source_owner(session, reg.source_id))
        clips = scope.list_clips(reg.source_id)
        assert scope.get_source(reg.source_id).status == "ready"
        assert clips and all(f"{prefix}/media/{c.media_key}" in keys for c in clips)
        assert all(f"{prefix}/media/{c.thumbnail_key}" in keys for c in clips)
        assert f"{prefix}/media/transcripts/{reg.source_id}/transcript.srt" in keys
        first_key, first_size = clips[0].media_key, clips[0].size_bytes
    # Pull-based platforms get SigV4 presigned URLs; SeaweedFS enforces signatures, so a download proves it.
    url = store.presigned_url(first_key, expires_s=24 * 3600)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "X-Amz-Expires=86400" in url
    fetched = httpx.get(url, timeout=30)
    assert fetched.status_code == 200 and len(fetched.content) == first_size
    # Dagster's own records live in PostgreSQL: the materialisations and the run are there.
    for asset in ("sources", "transcripts", "highlights", "clips", "thumbnails"):
        assert reg.source_id in instance.get_materialized_partitions(dg.AssetKey(asset))
    assert instance.get_run_by_id(result.run_id).is_success
    assert os.environ["DAGSTER_PG_DB"].startswith("dagster_")


def test_s3_inbox_drop_is_picked_up_by_the_sensor(production_env, talk_video: Path) -> None:  # type: ignore[no-untyped-def]
    """Production inbox: a video put under the S3 inbox prefix becomes a partition and one run request."""
    from cliply_dagster.definitions import defs
    from cliply_resources import DatabaseResource, InboxResource
    from cliply_sensors.media import inbox_sensor

    _settings, instance, server, prefix = production_env
    client = s3_client_for(server)
    client.upload_file(str(talk_video), server.bucket, f"{prefix}/inbox/keynote.mp4")
    resources = {"inbox": InboxResource(min_age_s=0), "database": DatabaseResource()}
    with dg.build_sensor_context(instance=instance, cursor=None, definitions=defs(), resources=resources) as ctx:
        result = inbox_sensor(ctx)
    assert [r.partition_key for r in result.run_requests] == list(result.dynamic_partitions_requests[0].partition_keys)
    (source_id,) = [r.partition_key for r in result.run_requests]
    with dg.build_sensor_context(
        instance=instance, cursor=result.cursor, definitions=defs(), resources=resources
    ) as ctx:
        again = inbox_sensor(ctx)
    assert again.run_requests == []
    instance.add_dynamic_partitions("sources", [source_id])
    from cliply_dagster.runner import materialize_source_sync

    run = materialize_source_sync(source_id, instance)
    assert run.success, [e.message for e in run.all_events if e.is_failure]
    remaining = client.list_objects_v2(Bucket=server.bucket, Prefix=f"{prefix}/inbox/").get("KeyCount", 0)
    assert remaining == 0, "the inbox object is consumed once stored in the media prefix"
