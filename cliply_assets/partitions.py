"""Partition definitions shared by assets, sensors and the CLI."""

import dagster as dg

SOURCES_PARTITIONS = "sources"
sources_partitions = dg.DynamicPartitionsDefinition(name=SOURCES_PARTITIONS)
