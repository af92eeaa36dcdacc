"""Stores every asset partition as a Parquet object in the lake, on the run's own branch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext

from mlplatform.lake import PathNotFound
from mlplatform.lake.tables import read_table, table_path, write_partitions
from mlplatform.lake.wap import open_run_branch
from resources.lake import LakeResource

Frames = dict[str, pd.DataFrame]
READS = "lake_reads"  # metadata key: the lake paths a step read (its inputs' partitions, or what it read itself)
_READS: dict[tuple[str, str], set[str]] = defaultdict(set)  # (run id, step key) -> paths read by this process


def note_reads(run_id: str, step_key: str, paths: Iterable[str]) -> None:
    """Records lake paths a step read; the IO manager attaches them to the step's outputs."""
    _READS[(run_id, step_key)].update(paths)


class LakeIOManager(ConfigurableIOManager):
    """Partitioned assets are passed as {partition key: DataFrame}; unpartitioned ones as a DataFrame."""

    lake: LakeResource

    def handle_output(self, context: OutputContext, obj: Frames | pd.DataFrame) -> None:
        lake = self.lake.get()
        branch = open_run_branch(lake, context.run_id)
        keys: list[str | None] = list(context.asset_partition_keys) if context.has_asset_partitions else [None]
        frames: dict[str | None, pd.DataFrame] = {}
        if isinstance(obj, dict):
            frames.update(obj)
        else:
            frames[keys[0]] = obj
        missing = [k for k in keys if k not in frames]
        if missing:
            raise ValueError(f"{context.asset_key.to_user_string()} returned no data for partitions {missing}")
        stored, commit_id = write_partitions(
            lake, branch, context.asset_key.path, {key: frames[key] for key in keys}, {"run_id": context.run_id}
        )
        context.add_output_metadata({"branch": branch, "commit_id": commit_id, "schema": stored[keys[0]].schema})
        reads = _READS.get((context.run_id, context.step_key))
        if reads:  # publishing refuses the run if main changed any of them meanwhile (wap.publish)
            context.add_output_metadata({READS: MetadataValue.json(sorted(reads))})
        for key, table in stored.items():
            # Per partition, so a range run still records each partition's own path, rows and hash.
            context.step_context.add_asset_metadata(
                {
                    "path": table.path,
                    "uri": lake.uri(commit_id, table.path),
                    "row_count": table.rows,
                    "content_hash": table.content_hash,
                },
                asset_key=context.asset_key,
                partition_key=key,
            )

    def load_input(self, context: InputContext) -> Frames | pd.DataFrame:
        lake = self.lake.get()
        branch = open_run_branch(lake, context.step_context.run_id)  # read upstream data as this run sees it
        commit = lake.resolve(branch)  # every partition from one commit, recorded on each frame
        key = context.asset_key
        if not context.has_asset_partitions:
            note_reads(context.step_context.run_id, context.step_context.step.key, [table_path(key.path, None)])
            return _tagged(read_table(lake, commit, table_path(key.path, None)), commit)
        paths = {pk: table_path(key.path, pk) for pk in context.asset_partition_keys}
        missing = [pk for pk, path in paths.items() if not lake.exists(commit, path)]
        if missing:
            raise PathNotFound(
                branch,
                f"{key.to_user_string()} partitions {missing[0]}..{missing[-1]} ({len(missing)}): "
                "materialize and publish them first",
            )
        note_reads(context.step_context.run_id, context.step_context.step.key, paths.values())
        return {pk: _tagged(read_table(lake, commit, path), commit) for pk, path in paths.items()}


def _tagged(frame: pd.DataFrame, commit: str) -> pd.DataFrame:
    """Marks a loaded frame with the lake commit it was read at (assets record it as lineage)."""
    frame.attrs["lake_commit"] = commit
    return frame
