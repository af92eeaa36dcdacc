"""Runs launched outside the daemon (the demo, the command line): one job over a partition range,
executed in process on the project's Dagster instance, then published exactly as the publish sensor
publishes a run the daemon launched."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime

from dagster import DagsterEventType, DagsterInstance, Definitions

from assets.partitions import TRAINING_WEEKS
from assets.publishing import Effects, NotPublishable, publish_run
from mlplatform.config import DAGSTER_STORAGE, Settings
from mlplatform.lake import Lake, MergeConflict
from mlplatform.lake.wap import StaleInputs
from mlplatform.training_sets import Split

PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"
COUNTS = ("rows_in", "accepted", "quarantined", "row_count")


@dataclass
class RunOutcome:
    job: str
    first: str
    last: str
    run_id: str
    success: bool
    published: bool = False
    commit: str = ""  # the merge commit on main ("" when not published or nothing changed)
    changed_paths: int = 0
    error: str = ""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # asset -> rows_in, accepted, ...
    checks: dict[str, dict[str, object]] = field(default_factory=dict)  # "asset:check" -> passed + metadata


def project_instance(settings: Settings) -> DagsterInstance:
    """The project's Dagster instance (the one `mlplatform ui` opens), its own telemetry off: runs, events and
    schedules in SQLite files under MLPLATFORM_HOME/dagster, or in PostgreSQL (dagster-postgres) when
    MLPLATFORM_DAGSTER_STORAGE names a database."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = "telemetry:\n  enabled: false\n"
    if settings.dagster_storage:  # the URL is read from the variable by each process, never written here
        config += f"storage:\n  postgres:\n    postgres_url:\n      env: {DAGSTER_STORAGE}\n"
    path = home / "dagster.yaml"
    if not path.exists() or path.read_text() != config:
        path.write_text(config)
    return DagsterInstance.from_config(str(home))


def ensure_dagster_home(settings: Settings) -> DagsterInstance:
    """The project-local instance, made this process's DAGSTER_HOME too (runs launched from here use it)."""
    instance = project_instance(settings)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    return instance


def complete_training_weeks(days: list[str]) -> list[str]:
    """Training weeks whose every input day (features to the test end, reports a week beyond) is in `days`."""
    weeks = TRAINING_WEEKS.get_partition_keys(current_time=datetime(2100, 1, 1))
    return [w for w in weeks if w >= days[0] and Split(date.fromisoformat(w)).report_days[-1] <= days[-1]]


def partition_range(defs: Definitions, job: str, first: str | None, last: str | None) -> tuple[str, str]:
    """The range first..last checked against the job's partitions ("", "" for a job without partitions)."""
    names = sorted(j.name for j in defs.jobs or [] if not j.name.startswith("__"))
    if job not in names:
        raise ValueError(f"no job {job!r}: choose one of {', '.join(names)}")
    partitions = defs.resolve_job_def(job).partitions_def
    if partitions is None:
        if first or last:
            raise ValueError(f"the {job} job has no partitions: leave out --partition and --to")
        return "", ""
    if not first:
        raise ValueError(f"the {job} job needs --partition (e.g. {partitions.get_first_partition_key()})")
    keys = partitions.get_partition_keys(current_time=datetime(2100, 1, 1))
    for key in (first, last or first):
        if key not in keys:
            raise ValueError(f"{key!r} is not a partition of the {job} job (they run {keys[0]}, {keys[1]}, ...)")
    if (last or first) < first:
        raise ValueError(f"--to {last} comes before --partition {first}")
    return first, last or first


def run_and_publish(
    defs: Definitions,
    instance: DagsterInstance,
    lake: Lake,
    job: str,
    first: str,
    last: str,
    run_config: dict | None = None,
    effects: Effects | None = None,
) -> RunOutcome:
    """Executes `job` for the partitions first..last in one run (both "" for unpartitioned assets), then
    publishes it if it succeeded."""
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance,
        tags={PARTITION_RANGE_START: first, PARTITION_RANGE_END: last} if first else {},
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}, **(run_config or {})},
    )
    outcome = RunOutcome(job, first, last, result.run_id, result.success)
    _collect(instance, outcome)
    try:
        publication = publish_run(instance, result.run_id, lake, effects)
    except (NotPublishable, MergeConflict, StaleInputs) as error:
        outcome.error = str(error)
        return outcome
    outcome.published = True
    if publication and publication.commit:
        outcome.commit, outcome.changed_paths = publication.commit.id, publication.changed_paths
    return outcome


def _collect(instance: DagsterInstance, outcome: RunOutcome) -> None:
    """Row counts per asset and check results, from the run's events."""
    for record in instance.get_records_for_run(outcome.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records:
        mat = record.asset_materialization
        if mat is None:
            continue
        totals = outcome.counts.setdefault(mat.asset_key.to_user_string(), {})
        for key in COUNTS:
            value = mat.metadata[key].value if key in mat.metadata else None
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
    checks = instance.get_records_for_run(outcome.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    for record in checks:
        evaluation = record.event_log_entry.asset_check_evaluation
        if evaluation is not None:
            metadata = {k: v.value for k, v in evaluation.metadata.items()}
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            outcome.checks[name] = {"passed": evaluation.passed, **metadata}
    if not outcome.success and not outcome.error:
        failures = instance.get_records_for_run(outcome.run_id, of_type=DagsterEventType.STEP_FAILURE).records
        for record in failures:
            event = record.event_log_entry.dagster_event
            error = event.step_failure_data.error if event is not None else None
            outcome.error = f"{record.event_log_entry.step_key}: {error.message.strip() if error else 'failed'}"
            break
