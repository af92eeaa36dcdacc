"""One week's model: train the MLP and the baseline, evaluate both and the champion, register, decide.

The training set's test window is scored by the challenger, the logistic baseline trained on the
same rows, and the champion in force on the challenger's decision day; the promotion rule decides,
and the decision is written in the week's model card. Publishing the run applies it to the registry
(`promote_published`), so a run that fails or is never published leaves the champion as it was.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

import pandas as pd

from mlplatform.curves import curves
from mlplatform.evaluation import Metrics, evaluate
from mlplatform.models import (
    BINS,
    CLASS_WEIGHT,
    FEATURES,
    HIDDEN,
    LEARNING_RATE,
    MAX_EPOCHS,
    train_logreg,
    train_mlp,
)
from mlplatform.promotion import Decision, PromotionPolicy, decide
from mlplatform.tracking import (
    MODEL_NAME,
    ModelRecord,
    Tracking,
    TrainingRun,
    champion_on,
    load_model,
    log_and_register,
    promote,
    version,
)
from mlplatform.training_sets import Split


@dataclass(frozen=True)
class TrainingOptions:
    seed: int = 0
    features: tuple[str, ...] = tuple(FEATURES)
    hidden: tuple[int, ...] = HIDDEN
    max_epochs: int = MAX_EPOCHS
    learning_rate: float = LEARNING_RATE
    bins: int = BINS
    class_weight: bool = CLASS_WEIGHT


@dataclass
class WeekResult:
    record: ModelRecord
    decision: Decision
    metrics: Metrics
    baseline: Metrics
    champion: ModelRecord | None
    champion_metrics: Metrics | None
    figures: dict[str, bytes] = field(repr=False)

    def card(self) -> pd.DataFrame:
        """The week's model as one row for the lake: what was trained, on what, and the decision."""
        r = self.record
        row = {
            "model_name": MODEL_NAME,
            "model_version": r.version,
            "mlflow_run_id": r.run_id,
            "week": r.week,
            "train_start": r.train_start,
            "cutoff": r.cutoff,
            "decision_day": r.decision_day,
            "training_set_commit": r.training_set_commit,
            "features": ",".join(r.features),
            **{f"test_{k}": v for k, v in asdict(self.metrics).items()},
            **{f"baseline_{k}": v for k, v in asdict(self.baseline).items() if k in ("auc_roc", "average_precision")},
            "champion_compared": self.champion.version if self.champion else "",
            "promoted": self.decision.promote,
            "reason": self.decision.reason,
        }
        return pd.DataFrame([row])


def train_week(
    tracking: Tracking,
    rows: pd.DataFrame,
    week: str,
    options: TrainingOptions,
    policy: PromotionPolicy,
    training_set: tuple[str, str, str],  # lake URI, commit, content sha256
    tags: dict[str, str],
) -> WeekResult:
    split = Split(date.fromisoformat(week))
    train_rows = rows[rows["split"] == "train"].reset_index(drop=True)
    test = rows[rows["split"] == "test"].reset_index(drop=True)
    if train_rows.empty or test.empty or not train_rows["label"].any():
        raise ValueError(f"training set {week} has {len(train_rows)} training rows with no fraud or no test rows")
    test = test.assign(day=(test["tx_datetime"] - pd.Timestamp(split.train_start)).dt.days)

    model = train_mlp(
        train_rows,
        seed=options.seed,
        max_epochs=options.max_epochs,
        learning_rate=options.learning_rate,
        hidden=options.hidden,
        features=options.features,
        bins=options.bins,
        class_weight=options.class_weight,
    )
    baseline_model = train_logreg(train_rows, options.seed)
    scores = {"challenger": model.score(test), "baseline (logreg)": baseline_model.score(test)}
    day = split.decision_day
    champion = champion_on(tracking, day)
    if champion is not None:
        scores[f"champion v{champion.version}"] = load_model(tracking, champion.version).score(test)
    metrics = {name: evaluate(test.assign(score=s)) for name, s in scores.items()}
    ours, base = metrics["challenger"], metrics["baseline (logreg)"]
    theirs = metrics[f"champion v{champion.version}"] if champion else None
    figures = curves(test["label"].to_numpy(), scores, f"test {split.test_start.date()}..{split.end.date()}")

    uri, commit, digest = training_set
    record = log_and_register(
        tracking,
        TrainingRun(
            model=model,
            week=week,
            train_start=str(split.train_start),
            cutoff=str(split.cutoff.date()),
            decision_day=day,
            train_rows=train_rows,
            training_set_uri=uri,
            training_set_commit=commit,
            training_set_digest=digest,
            metrics=ours,
            baseline=base,
            params={
                **{k: ",".join(map(str, v)) if isinstance(v, tuple) else v for k, v in asdict(options).items()},
                "epochs_trained": model.epochs_trained,
                "promotion_metric": policy.metric,
                "promotion_margin": policy.margin,
                "baseline_margin": policy.baseline_margin,
                "week": week,
            },
            figures=figures,
            tags={**tags, "training_set_sha256": digest, "mlflow.source.git.commit": tags.get("code_version", "")},
        ),
    )
    # The decision is recorded; the alias moves only when the run is published (assets/publishing.py).
    decision = decide(policy, ours, base, theirs)
    return WeekResult(record, decision, ours, base, champion, theirs, figures)


def promote_published(tracking: Tracking, card: pd.DataFrame) -> bool:
    """Applies a published model card's decision: its version becomes champion from its decision day (idempotent)."""
    row = card.iloc[0]
    if not bool(row["promoted"]):
        return False
    promote(tracking, version(tracking, str(row["model_version"])))
    return True
