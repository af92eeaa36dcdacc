"""The reference features, checked against a brute-force reading of shared/docs/features.md (the default
engine's file), and each in-process engine's point-in-time correctness."""

import numpy as np
import pandas as pd
import pytest

from mlplatform.config import handbook_path
from mlplatform.features import engines
from mlplatform.features.definitions import FRAUD, REFERENCE
from mlplatform.features.files import compute_file

DAY = 86_400
ENGINES_OF_FRAMES = ["numpy", "duckdb"]  # the engines that compute data frames (Spark computes files)


@pytest.fixture(scope="module")
def weeks() -> pd.DataFrame:
    """Six weeks of the published data."""
    path = handbook_path()
    if not path.exists():
        pytest.skip(f"published dataset not found at {path}")
    return pd.read_parquet(path, filters=[("TX_TIME_DAYS", "<", 42)])


@pytest.fixture(scope="module")
def computed(weeks, tmp_path_factory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("features")
    weeks.to_parquet(folder / "tx.parquet")
    rows = compute_file(folder / "tx.parquet", folder / "features.parquet")
    assert rows == len(weeks)
    return pd.read_parquet(folder / "features.parquet").set_index("TRANSACTION_ID")


def _expected(tx: pd.DataFrame, row: pd.Series) -> dict[str, float]:
    """Each feature by its definition, with plain masks over the whole table."""
    t = row.TX_TIME_SECONDS
    secs = tx["TX_TIME_SECONDS"].to_numpy()
    out = {
        "TX_DURING_WEEKEND": int(row.TX_DATETIME.weekday() >= 5),
        "TX_DURING_NIGHT": int(row.TX_DATETIME.hour <= 6),
    }
    same_customer = tx["CUSTOMER_ID"].to_numpy() == row.CUSTOMER_ID
    same_terminal = tx["TERMINAL_ID"].to_numpy() == row.TERMINAL_ID
    for n in (1, 7, 30):
        in_window = same_customer & (secs > t - n * DAY) & (secs <= t)
        out[f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"] = in_window.sum()
        out[f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"] = tx["TX_AMOUNT"].to_numpy()[in_window].mean()
        delayed = same_terminal & (secs > t - (7 + n) * DAY) & (secs <= t - 7 * DAY)
        out[f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW"] = delayed.sum()
        frauds = tx["TX_FRAUD"].to_numpy()[delayed]
        out[f"TERMINAL_ID_RISK_{n}DAY_WINDOW"] = frauds.mean() if len(frauds) else 0.0
    return out


def test_output_has_the_reference_names_and_one_row_per_transaction(computed, weeks):
    expected = [f.reference_name for f in REFERENCE.features if f.name != "tx_amount"]
    assert list(computed.columns) == expected
    assert len(expected) == 14
    assert sorted(computed.index) == sorted(weeks["TRANSACTION_ID"])


def test_features_match_their_definitions(computed, weeks):
    rng = np.random.default_rng(1)
    # A random sample, plus transactions that share their second with another of the same customer.
    tied = weeks[weeks.duplicated(["CUSTOMER_ID", "TX_TIME_SECONDS"], keep=False)]
    sample = pd.concat([weeks.iloc[rng.choice(len(weeks), 250, replace=False)], tied])
    assert len(tied) > 0
    for row in sample.itertuples():
        got = computed.loc[row.TRANSACTION_ID]
        for name, value in _expected(weeks, row).items():
            assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (row.TRANSACTION_ID, name)


def test_ties_are_time_based(computed, weeks):
    tied = weeks[weeks.duplicated(["CUSTOMER_ID", "TX_TIME_SECONDS"], keep=False)]
    counts = computed.loc[tied["TRANSACTION_ID"], "CUSTOMER_ID_NB_TX_1DAY_WINDOW"]
    # Transactions of one customer at one second see each other: equal counts within each group.
    groups = tied.assign(n=counts.to_numpy()).groupby(["CUSTOMER_ID", "TX_TIME_SECONDS"])["n"].nunique()
    assert (groups == 1).all()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES_OF_FRAMES)
def test_point_in_time_no_later_event_and_no_recent_label_is_used(weeks, engine):
    events = weeks.rename(columns=str.lower)[
        ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud"]
    ]
    cutoff = pd.Timestamp("2018-05-01")
    before = engines.compute(events, FRAUD, engine=engine).set_index("transaction_id")
    # Rewrite the future: every later amount, and every label younger than 7 days at the cutoff.
    changed = events.copy()
    later = changed["tx_datetime"] > cutoff
    changed.loc[later, "tx_amount"] = changed.loc[later, "tx_amount"] * 3 + 1
    recent = changed["tx_datetime"] > cutoff - pd.Timedelta(days=7)
    changed.loc[recent, "tx_fraud"] = 1 - changed.loc[recent, "tx_fraud"]
    after = engines.compute(changed, FRAUD, engine=engine).set_index("transaction_id")
    up_to_cutoff = events.loc[~later, "transaction_id"]
    pd.testing.assert_frame_equal(before.loc[up_to_cutoff], after.loc[up_to_cutoff])
    # The perturbation is real: it changes features after the cutoff.
    assert not before.loc[events.loc[later, "transaction_id"]].equals(after.loc[events.loc[later, "transaction_id"]])


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES_OF_FRAMES)
def test_a_day_computed_with_its_history_equals_the_full_computation(weeks, engine):
    events = weeks.rename(columns=str.lower)[
        ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud"]
    ]
    day = pd.Timestamp("2018-05-10")
    assert FRAUD.history == pd.Timedelta(days=37)
    history = events[
        (events["tx_datetime"] >= day - FRAUD.history) & (events["tx_datetime"] < day + pd.Timedelta(days=1))
    ]
    partial = engines.compute(history, FRAUD, since=day, engine=engine)
    full = engines.compute(events, FRAUD, engine=engine)
    full = full[(full["tx_datetime"] >= day) & (full["tx_datetime"] < day + pd.Timedelta(days=1))]
    pd.testing.assert_frame_equal(partial.reset_index(drop=True), full.reset_index(drop=True))
