"""The point-in-time join against a brute-force reading of its definition."""

import numpy as np
import pandas as pd
import pytest

from mlplatform.features.asof import FeatureView, point_in_time_join


def _data(seed=0, n_spine=3_000, n_view=20_000, entities=200):
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2018-04-01")
    view = pd.DataFrame(
        {
            "customer_id": rng.integers(0, entities, n_view),
            "ts": base + pd.to_timedelta(rng.integers(0, 30 * 86_400, n_view), unit="s"),
            "f": rng.normal(size=n_view),
        }
    ).drop_duplicates(["customer_id", "ts"])
    spine = pd.DataFrame(
        {
            # Some entities never appear in the view; some spine rows are exact duplicates.
            "customer_id": rng.integers(0, entities + 20, n_spine),
            "ts": base + pd.to_timedelta(rng.integers(0, 30 * 86_400, n_spine), unit="s"),
            "label": rng.integers(0, 2, n_spine),
        }
    )
    spine = pd.concat([spine, spine.iloc[:50]], ignore_index=True)
    # Spine rows exactly at a view timestamp take that value (at or before).
    exact = view.sample(100, random_state=seed)[["customer_id", "ts"]].assign(label=1)
    return pd.concat([spine, exact], ignore_index=True), view


@pytest.mark.slow
def test_latest_value_at_or_before_never_after_and_row_count_preserved():
    spine, view = _data()
    out = point_in_time_join(spine, "ts", [FeatureView("cust", view, "customer_id", "ts", ("f",))])
    assert len(out) == len(spine)
    pd.testing.assert_frame_equal(out[spine.columns], spine)  # same rows, same order
    for row, got in zip(spine.itertuples(), out["cust__f"], strict=True):
        earlier = view[(view["customer_id"] == row.customer_id) & (view["ts"] <= row.ts)]
        if earlier.empty:
            assert np.isnan(got)
        else:
            assert got == earlier.loc[earlier["ts"].idxmax(), "f"]


def test_several_views_with_different_entities():
    spine, view = _data(seed=1)
    spine["terminal_id"] = spine["customer_id"] % 17
    terminal_view = view.rename(columns={"customer_id": "terminal_id", "f": "risk"})
    terminal_view["terminal_id"] %= 17
    terminal_view = terminal_view.drop_duplicates(["terminal_id", "ts"])
    out = point_in_time_join(
        spine,
        "ts",
        [
            FeatureView("cust", view, "customer_id", "ts", ("f",)),
            FeatureView("term", terminal_view, "terminal_id", "ts", ("risk",)),
        ],
    )
    assert len(out) == len(spine)
    row = spine.iloc[123]
    earlier = terminal_view[(terminal_view["terminal_id"] == row.terminal_id) & (terminal_view["ts"] <= row.ts)]
    expected = earlier.loc[earlier["ts"].idxmax(), "risk"] if len(earlier) else np.nan
    assert out["term__risk"].iloc[123] == expected or (np.isnan(expected) and np.isnan(out["term__risk"].iloc[123]))
