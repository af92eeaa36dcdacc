"""Training sets per shared/docs/evaluation.md: train, delay and test windows, late labels respected.

Labels carry when they became known (`known_at`). A training row's label is the one known by the
cutoff (the start of the test window, when the model is trained). For test day k, cards with a
fraud known before that day, among transactions from the training start up to day k - (delay + 1),
are known to be compromised: their transactions that day are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from mlplatform.lake import Lake
from mlplatform.lake.tables import read_table, table_path

SPLIT_COLUMN = "split"
LABEL = "label"
# Test labels are complete this many days after the test window (chargebacks arrive late): a set reads
# reports until then, and its model is decided and in force from then on.
LABEL_HORIZON_DAYS = 7


@dataclass(frozen=True)
class Split:
    train_start: date
    train_days: int = 7
    delay_days: int = 7
    test_days: int = 7

    def _at(self, days: int) -> pd.Timestamp:
        return pd.Timestamp(self.train_start) + pd.Timedelta(days=days)

    @property
    def test_start(self) -> pd.Timestamp:
        return self._at(self.train_days + self.delay_days)

    @property
    def end(self) -> pd.Timestamp:
        return self._at(self.train_days + self.delay_days + self.test_days)

    @property
    def cutoff(self) -> pd.Timestamp:
        """When the model is trained: labels known after this are not used for training."""
        return self.test_start

    @property
    def decision_day(self) -> str:
        """When the test window's labels are complete (LABEL_HORIZON_DAYS after it): the model can be
        evaluated, promoted, and used from then on."""
        return str((self.end + pd.Timedelta(days=LABEL_HORIZON_DAYS)).date())

    @property
    def feature_days(self) -> list[str]:
        """Days of features a set reads: the training start to the test end."""
        return self._days(self.train_days + self.delay_days + self.test_days)

    @property
    def report_days(self) -> list[str]:
        """Days of fraud reports a set reads: until its decision day."""
        return self._days(self.train_days + self.delay_days + self.test_days + LABEL_HORIZON_DAYS)

    def _days(self, n: int) -> list[str]:
        return [str(self._at(i).date()) for i in range(n)]


def labels_from_reports(reports: pd.DataFrame) -> pd.DataFrame:
    """Labels (transaction_id, label, known_at) from fraud reports: the first report makes a fraud known."""
    first = reports.groupby("transaction_id", as_index=False)["reported_at"].min()
    return pd.DataFrame({"transaction_id": first["transaction_id"], LABEL: 1, "known_at": first["reported_at"]})


def build(features: pd.DataFrame, labels: pd.DataFrame, split: Split) -> pd.DataFrame:
    """Rows of the training and test windows with a `split` column and the label each may use.

    `features` has transaction_id, tx_datetime, customer_id and the feature columns; `labels` has
    transaction_id, label (1 = fraud) and known_at. Transactions without a label row are genuine.
    """
    known = features.merge(labels[["transaction_id", LABEL, "known_at"]], on="transaction_id", how="left")
    known[LABEL] = known[LABEL].fillna(0).astype("int64")
    day = (known["tx_datetime"] - pd.Timestamp(split.train_start)).dt.days

    train = known[(day >= 0) & (day < split.train_days)].copy()
    train[LABEL] = (train[LABEL].eq(1) & (train["known_at"] < split.cutoff)).astype("int64")

    test_parts = []
    first_test_day = split.train_days + split.delay_days
    for k in range(split.test_days):
        test_day = first_test_day + k
        when = split._at(test_day)
        seen = known[(day >= 0) & (day <= test_day - (split.delay_days + 1))]
        compromised = seen.loc[seen[LABEL].eq(1) & (seen["known_at"] < when), "customer_id"].unique()
        today = known[(day == test_day) & ~known["customer_id"].isin(compromised)]
        test_parts.append(today)
    test = pd.concat(test_parts, ignore_index=True)

    out = pd.concat([train.assign(**{SPLIT_COLUMN: "train"}), test.assign(**{SPLIT_COLUMN: "test"})])
    out = out.drop(columns=["known_at"]).sort_values(["tx_datetime", "transaction_id"], ignore_index=True)
    return out[[SPLIT_COLUMN, *[c for c in out.columns if c != SPLIT_COLUMN]]]


def build_week(features: dict[str, pd.DataFrame], reports: dict[str, pd.DataFrame], week: str) -> pd.DataFrame:
    """The set of the week starting `week`, from features and reports by day (it reads only its own days,
    so a week's set is the same whichever range of weeks was built with it)."""
    split = Split(date.fromisoformat(week))
    rows = pd.concat([features[d] for d in split.feature_days], ignore_index=True)
    labels = labels_from_reports(pd.concat([reports[d] for d in split.report_days], ignore_index=True))
    return build(rows, labels, split)


def rebuild(lake: Lake, features_commit: str, reports_commit: str, week: str) -> pd.DataFrame:
    """The training set rebuilt from the lake commits it recorded."""
    split = Split(date.fromisoformat(week))
    features = {
        d: read_table(lake, features_commit, table_path(["transaction_features"], d)) for d in split.feature_days
    }
    reports = {d: read_table(lake, reports_commit, table_path(["raw_fraud_reports"], d)) for d in split.report_days}
    return build_week(features, reports, week)
