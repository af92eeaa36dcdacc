"""Publishing (the P of write-audit-publish): a run's branch is merged into main only if the run and
all its blocking checks succeeded; failed runs keep their branch until the retention policy.

Effects outside the lake follow main, never a run branch: once a run is published, a published model
card that says `promoted` moves the registry's champion, the online store loads the published days it
lacks and a published Bento is installed into the platform's
Bento store. If publishing stops between the merge and its effects (a crash, a registry that is down),
the `catch_up_with_main` sensor applies what main holds and the registry or the store lacks."""

from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_status_sensor,
    sensor,
)

from assets.models import ASSET as MODEL_ASSET
from assets.serving import ASSET as BENTO_ASSET
from mlplatform import bentos
from mlplatform.code_version import code_version
from mlplatform.features.definitions import FRAUD
from mlplatform.lake import MAIN, Lake, MergeConflict
from mlplatform.lake.tables import read_table, table_path
from mlplatform.lake.wap import Publication, StaleInputs, expire_folders, expire_run_branches, publish
from mlplatform.online_store import OnlineStore
from mlplatform.online_sync import ASSET as ONLINE_ASSET
from mlplatform.online_sync import sync
from mlplatform.tracking import Tracking, versions
from mlplatform.weekly_training import promote_published
from resources import BentoStoreResource, LakeResource, MlflowResource, OnlineStoreResource, WorkspaceResource
from resources.io_manager import READS

RETENTION_SECONDS = 7 * 86_400


# The run tag publishing leaves on a successful run: "published <commit>" or "refused: <why>" (shown in the UI's
# run list; a succeeded run without it has not been through publishing yet).
PUBLICATION_TAG = "mlplatform/publication"


class NotPublishable(Exception):
    pass


def _reads(materialized: list) -> set[str]:
    """The lake paths the run read, as its steps recorded them on their outputs (READS)."""
    reads: set[str] = set()
    for mat in materialized:
        if READS in mat.metadata:
            reads.update(_paths(mat.metadata[READS].value))
    return reads


def _paths(value: object) -> list[str]:
    return [str(path) for path in value] if isinstance(value, list) else []


def _span(keys: set[str]) -> str:
    ordered = sorted(keys)
    return "" if not ordered else ordered[0] if len(ordered) == 1 else f"{ordered[0]}..{ordered[-1]} ({len(ordered)})"


@dataclass(frozen=True)
class Effects:
    """What publishing updates besides main (each None: left alone)."""

    online_store: OnlineStore | None = None
    bentoml_home: Path | None = None
    tracking: Tracking | None = None

    def apply(self, lake: Lake, assets: list[str], partitions: set[str]) -> None:
        if self.tracking is not None and MODEL_ASSET in assets:  # the registry's champion follows main
            for week in sorted(partitions):
                if lake.exists(MAIN, table_path([MODEL_ASSET], week)):
                    promote_published(self.tracking, read_table(lake, MAIN, table_path([MODEL_ASSET], week)))
        if self.online_store is not None and ONLINE_ASSET in assets:
            sync(lake, MAIN, self.online_store, FRAUD)
        if self.bentoml_home is not None and BENTO_ASSET in assets:
            manifest = read_table(lake, MAIN, table_path([BENTO_ASSET], None))
            bentos.install(lake.get(MAIN, str(manifest["archive_path"].iloc[0])), self.bentoml_home)


def apply_published_promotions(lake: Lake, tracking: Tracking) -> list[str]:
    """Promotes every version whose published model card says `promoted` and the registry has not yet
    marked (publishing stopped before its effects); returns those versions."""
    marked = {r.version for r in versions(tracking) if r.champion_from is not None}
    applied = []
    for path in lake.list(MAIN, f"tables/{MODEL_ASSET}/"):
        if not path.endswith("/data.parquet"):
            continue
        card = read_table(lake, MAIN, path)
        version = str(card["model_version"].iloc[0])
        if bool(card["promoted"].iloc[0]) and version not in marked:
            promote_published(tracking, card)
            applied.append(version)
    return applied


def publish_run(
    instance: DagsterInstance, run_id: str, lake: Lake, effects: Effects | None = None
) -> Publication | None:
    """Merges a successful run's branch into main, then applies its effects; raises NotPublishable for a
    failed run or check (and MergeConflict or StaleInputs from the lake). A succeeded run is tagged with
    the outcome (PUBLICATION_TAG)."""
    run = instance.get_run_by_id(run_id)
    try:
        publication = _publish(instance, run, run_id, lake, effects)
    except (NotPublishable, MergeConflict, StaleInputs) as refusal:
        if run is not None and run.status == DagsterRunStatus.SUCCESS:
            instance.add_run_tags(run_id, {PUBLICATION_TAG: f"refused: {str(refusal)[:400]}"})
        raise
    commit = publication.commit.id if publication and publication.commit else "nothing new"
    instance.add_run_tags(run_id, {PUBLICATION_TAG: f"published {commit}"})
    return publication


def awaiting_publication(run: DagsterRun) -> bool:
    """A succeeded run that publishing has not decided yet: with its branch kept, it is still to be merged
    (or refused); a refused run's kept branch waits only for inspection and retention."""
    return run.status == DagsterRunStatus.SUCCESS and PUBLICATION_TAG not in run.tags


def _publish(
    instance: DagsterInstance, run: DagsterRun | None, run_id: str, lake: Lake, effects: Effects | None
) -> Publication | None:
    if run is None or run.status != DagsterRunStatus.SUCCESS:
        raise NotPublishable(
            f"run {run_id} did not succeed ({run.status.value if run else 'unknown run'}); its branch is kept"
        )
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    checks = [c for r in records if (c := r.event_log_entry.asset_check_evaluation) is not None]
    failed = [c for c in checks if not c.passed and c.severity == AssetCheckSeverity.ERROR]
    if failed:
        names = ", ".join(f"{c.asset_key.to_user_string()}:{c.check_name}" for c in failed)
        raise NotPublishable(f"run {run_id} has failed blocking checks ({names}); its branch is kept")
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    materialized = [m for r in records if (m := r.asset_materialization) is not None]
    assets = sorted({m.asset_key.to_user_string() for m in materialized})
    partitions = {m.partition for m in materialized if m.partition}
    publication = publish(
        lake,
        run_id,
        {"partitions": _span(partitions), "asset_keys": ",".join(assets), "code_version": code_version()},
        reads=_reads(materialized),
    )
    (effects or Effects()).apply(lake, assets, partitions)
    return publication


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, default_status=DefaultSensorStatus.RUNNING)
def publish_successful_runs(
    context: RunStatusSensorContext,
    lake: LakeResource,
    online_store: OnlineStoreResource,
    bento_store: BentoStoreResource,
    mlflow: MlflowResource,
):
    """Publishes each successful run's branch to main."""
    try:
        with online_store.get() as store:
            effects = Effects(store, bento_store.path(), mlflow.get())
            publication = publish_run(context.instance, context.dagster_run.run_id, lake.get(), effects)
    except (NotPublishable, MergeConflict, StaleInputs) as exc:
        # Not raised: a raising run-status sensor would retry the same run forever. The branch stays.
        context.log.warning(str(exc))
        return SkipReason(str(exc))
    if publication and publication.commit:
        context.log.info(f"published run {publication.run_id} as {publication.commit.id}")
    return None


@sensor(minimum_interval_seconds=300, default_status=DefaultSensorStatus.RUNNING)
def catch_up_with_main(
    context: SensorEvaluationContext, lake: LakeResource, online_store: OnlineStoreResource, mlflow: MlflowResource
):
    """Applies what main holds and the online store or the registry lacks (after a failed publish effect,
    or a new store)."""
    with online_store.get() as store:
        report = sync(lake.get(), MAIN, store, FRAUD)
    promoted = apply_published_promotions(lake.get(), mlflow.get())
    return SkipReason(
        f"loaded {len(report.loaded)} published days ({report.transactions} new transactions) into the online "
        f"store; promoted {len(promoted)} published champion(s) the registry lacked"
    )


@sensor(minimum_interval_seconds=3600, default_status=DefaultSensorStatus.RUNNING)
def expire_failed_run_branches(context: SensorEvaluationContext, lake: LakeResource, workspace: WorkspaceResource):
    """Retention: deletes the branches and scratch folders of failed runs after a week."""
    removed = expire_run_branches(lake.get(), RETENTION_SECONDS)
    folders = expire_folders(Path(workspace.root), RETENTION_SECONDS)
    return SkipReason(f"removed {len(removed)} expired run branches and {len(folders)} scratch folders")
