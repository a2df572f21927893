"""Build the domain Services for one asset execution from its resources."""

from __future__ import annotations

import dagster as dg

from cliply.pipeline import Services
from cliply_resources import DatabaseResource, InboxResource, MediaStoreResource, SettingsResource, TranscriberResource


def build_services(
    context: dg.AssetExecutionContext,
    *,
    settings: SettingsResource,
    database: DatabaseResource,
    media_store: MediaStoreResource,
    transcriber: TranscriberResource | None = None,
    inbox: InboxResource | None = None,
) -> Services:
    def no_transcriber():  # type: ignore[no-untyped-def]
        raise RuntimeError("this stage has no transcriber")

    return Services(
        settings=settings.get(),
        db=database.get(),
        store=media_store.get(),
        transcriber=transcriber.get if transcriber is not None else no_transcriber,
        inbox=inbox.get() if inbox is not None else None,
        progress=context.log.info,
    )
