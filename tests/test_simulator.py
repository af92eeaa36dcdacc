import numpy as np
import pandas as pd
import pytest

from mlplatform.config import handbook_path
from mlplatform.simulator import SimulationConfig, simulate

SORT = ["TX_TIME_SECONDS", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT"]


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    path = handbook_path()
    if not path.exists():
        pytest.skip(f"published dataset not found at {path}")
    return pd.read_parquet(path)


@pytest.mark.slow
def test_exact_mode_reproduces_the_published_dataset(published):
    sim = simulate(SimulationConfig())
    ours = sim.transactions.sort_values(SORT, ignore_index=True).drop(columns="TRANSACTION_ID")
    theirs = published.sort_values(SORT, ignore_index=True).drop(columns="TRANSACTION_ID")
    assert len(ours) == 1_754_155
    pd.testing.assert_frame_equal(ours, theirs[ours.columns], check_dtype=False)
    # Ids are positions in time order, as published.
    assert sim.transactions["TRANSACTION_ID"].tolist() == list(range(len(ours)))
    assert sim.transactions["TX_DATETIME"].is_monotonic_increasing


def test_profiles_carry_pii_for_the_source_database():
    sim = simulate(SimulationConfig(customers=50, terminals=200, days=3))
    assert {"name", "email", "card_number"} <= set(sim.customers.columns)
    assert sim.customers["card_number"].str.fullmatch(r"\d{16}").all()
    assert sim.customers["email"].str.contains("@").all()
    assert sim.customers["card_number"].is_unique and sim.customers["email"].is_unique
    assert all(_luhn_valid(number) for number in sim.customers["card_number"])


def _luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


@pytest.mark.slow
def test_fast_mode_is_statistically_equivalent_to_exact():
    # The published population (fast mode scales the compromised cards and terminals per day with it).
    exact = simulate(SimulationConfig(days=60)).transactions
    fast = simulate(SimulationConfig(days=60, mode="fast", seed=7)).transactions
    # Transaction counts are sums of ~300k Poisson draws: within 3 % of each other.
    assert abs(len(fast) / len(exact) - 1) < 0.03
    assert abs(fast["TX_AMOUNT"].median() / exact["TX_AMOUNT"].median() - 1) < 0.03
    time_of_day = lambda tx: tx["TX_TIME_SECONDS"] % 86_400  # noqa: E731
    assert abs(time_of_day(fast).mean() - time_of_day(exact).mean()) < 300
    assert abs(fast["TX_FRAUD"].mean() - exact["TX_FRAUD"].mean()) < 0.004
    assert set(fast["TX_FRAUD_SCENARIO"].unique()) == {0, 1, 2, 3}
    assert fast["TERMINAL_ID"].between(0, 9_999).all()
    assert np.all(np.diff(fast["TX_TIME_SECONDS"].to_numpy()) >= 0)
