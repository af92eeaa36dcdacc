"""dbt staging and marts models as daily-partitioned assets, versioned in the lake like every asset.

Each run loads its raw partitions from the run's branch into a DuckDB database of its own, runs
`dbt build` for the partition window (dbt tests become asset checks), then writes every model back
to the branch per day, so write-audit-publish covers dbt output too.
"""

import json
import shutil

from dagster import AssetExecutionContext, BackfillPolicy, Failure, Output
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from assets.partitions import DAILY
from mlplatform.dbt_io import export_model, load_raw_partitions
from mlplatform.lake.tables import write_partitions
from mlplatform.lake.wap import open_run_branch
from resources import LakeResource, WorkspaceResource
from resources.dbt import DBT_PROJECT, parse_if_dev

parse_if_dev()  # under `dagster dev`, so that model edits show up


class Translator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props) -> str:
        return "staged" if "staging" in dbt_resource_props.get("fqn", []) else "marts"


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    partitions_def=DAILY,
    backfill_policy=BackfillPolicy.single_run(),
    dagster_dbt_translator=Translator(),
)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, lake: LakeResource, workspace: WorkspaceResource):
    """Staged (typed, deduplicated, PII-free) and mart tables of the run's days, built by dbt."""
    store = lake.get()
    branch = open_run_branch(store, context.run_id)
    days = list(context.partition_keys)
    target = workspace.run_dir(context.run_id)  # under MLPLATFORM_HOME, never in the checkout
    database = target / "mlplatform.duckdb"
    # The raw tables dbt declares as sources (dbt/models/sources.yml), loaded from the run's branch.
    upstream = context.assets_def.dependency_keys - context.assets_def.keys
    raw_tables = sorted(key.path[-1] for key in upstream)
    loaded = load_raw_partitions(store, store.resolve(branch), raw_tables, days, database)
    context.log.info(f"loaded raw partitions {days[0]}..{days[-1]}: {loaded}")
    window = context.partition_time_window
    dbt_vars = {"start": window.start.strftime("%Y-%m-%d"), "end": window.end.strftime("%Y-%m-%d")}
    # dbt holds the database until it exits, so events are collected and models exported after.
    invocation = dbt.cli(
        ["build", "--vars", json.dumps(dbt_vars)], context=context, target_path=target, raise_on_error=False
    )
    events = list(invocation.stream())
    for event in events:
        if not isinstance(event, Output):
            yield event
            continue
        key = context.assets_def.keys_by_output_name[event.output_name]
        model = key.path[-1]
        frames = export_model(database, model, days)
        stored, commit_id = write_partitions(store, branch, [model], frames, {"run_id": context.run_id})
        for day, table in stored.items():  # per partition, like the lake IO manager records it
            context.add_asset_metadata(
                {"path": table.path, "row_count": table.rows, "content_hash": table.content_hash},
                asset_key=key,
                partition_key=day,
            )
        schema = next(iter(stored.values())).schema
        yield event.with_metadata({**event.metadata, "branch": branch, "commit_id": commit_id, "schema": schema})
    if not invocation.is_successful():
        # After the events: failed dbt tests are recorded as failed checks, then the step fails,
        # so nothing of this run reaches main. The database is kept beside dbt.log to inspect.
        raise Failure(f"dbt build failed; see {target / 'dbt.log'}")
    shutil.rmtree(target)  # the run's copy of its raw partitions and dbt's files; what matters is in the lake
