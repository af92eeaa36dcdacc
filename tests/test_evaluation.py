"""The evaluation protocol's metrics and the `evaluate` command on the published data."""

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score
from typer.testing import CliRunner

from bench.card_precision import terminal_risk
from mlplatform.cli import app
from mlplatform.config import handbook_path
from mlplatform.evaluate_file import features_and_labels, split_rows
from mlplatform.evaluation import card_precision_at_k
from mlplatform.features import engines
from mlplatform.features.definitions import FRAUD
from mlplatform.models import FEATURES, FraudMLP, RandDropout, train_mlp, tree_edges
from mlplatform.training_sets import Split
from tests.console import run_main


def test_card_precision_ranks_cards_by_their_best_score_and_drops_found_cards_later():
    test = pd.DataFrame(
        [
            # day 0: card 1 (fraud) scores 0.9 at best, card 2 (genuine) 0.8, card 3 (fraud) 0.1
            (0, 1, 1, 0.2), (0, 1, 0, 0.9), (0, 2, 0, 0.8), (0, 3, 1, 0.1),
            # day 1: card 1 again at the top, but it was already found with a fraud on day 0
            (1, 1, 1, 0.99), (1, 3, 1, 0.5), (1, 2, 0, 0.4), (1, 4, 0, 0.3),
        ],
        columns=["day", "customer_id", "label", "score"],
    )  # fmt: skip
    mean, per_day = card_precision_at_k(test, k=2)
    # Day 0 top 2: card 1 (fraud), card 2 -> 1/2. Day 1 without card 1: card 3 (fraud), card 2 -> 1/2.
    assert per_day == [0.5, 0.5]
    assert mean == 0.5
    # Without the removal, card 1 would have counted again on day 1 (2/2): removal matters.
    assert card_precision_at_k(test[test["day"] == 1], k=2)[1] == [1.0]


def _week(weeks: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(len(weeks), len(FEATURES))), columns=FEATURES)
    return frame.assign(
        label=weeks["label"].to_numpy(),
        tx_datetime=weeks["tx_datetime"].to_numpy(),
        transaction_id=np.arange(len(weeks)),
    )


def test_the_card_precision_bench_counts_a_terminals_labels_a_window_may_read():
    """The bound of `python -m bench card_precision` reads the platform's longest terminal label rate: a fraud at a
    terminal counts from exactly the label delay before the transaction back to the window before that, and only
    at its own terminal."""
    risk = terminal_risk()
    assert (risk.name, risk.window, risk.delay) == ("terminal_risk_30d", timedelta(days=30), timedelta(days=7))
    at = pd.Timestamp("2018-06-30 12:00:00")
    day = pd.Timedelta(days=1)
    history = [  # terminal, time, fraud
        (7, at - 7 * day, 1),  # exactly the delay old: known
        (7, at - 7 * day + pd.Timedelta(seconds=1), 1),  # a second too young
        (7, at - 37 * day, 1),  # the window's open end: too old
        (7, at - 36 * day, 1),  # inside the window
        (7, at - 20 * day, 0),  # a genuine one inside it
        (8, at - 10 * day, 1),  # another terminal
    ]
    # terminal 1,000,000 has no fraud and an id far past every fraud's
    scored_rows = [(7, at, 0), (8, at, 0), (1_000_000, at, 0), (8, at + 30 * day, 0)]
    events = pd.DataFrame(history + scored_rows, columns=["terminal_id", "tx_datetime", "tx_fraud"]).assign(
        transaction_id=np.arange(len(history) + len(scored_rows)), customer_id=1, tx_amount=10.0
    )
    features = engines.compute(events, FRAUD, since=at).set_index("transaction_id")
    rates = features.loc[np.arange(len(history), len(events)), risk.name].tolist()
    assert rates == [2 / 3, 1.0, 0.0, 0.0]


def test_mlp_training_is_deterministic_under_a_seed():
    rng = np.random.default_rng(0)
    base = pd.DataFrame(
        {
            "label": (rng.random(3_000) < 0.05).astype(int),
            "tx_datetime": pd.date_range("2018-04-01", periods=3_000, freq="min"),
        }
    )
    rows = _week(base, 1)
    rows["tx_amount"] += rows["label"] * 2  # a learnable signal
    # Four epochs on a toy window: with frauds weighted up in the loss, the signal is learnt in that many.
    a = train_mlp(rows, seed=3, max_epochs=4, class_weight=True).score(rows)
    b = train_mlp(rows, seed=3, max_epochs=4, class_weight=True).score(rows)
    c = train_mlp(rows, seed=4, max_epochs=4, class_weight=True).score(rows)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert rows.loc[rows["label"] == 1].index.isin(np.argsort(-a)[:400]).mean() > 0.5


def test_rand_dropout_keeps_each_unit_with_probability_1_minus_p_scaled_and_is_the_identity_in_eval():
    layer = RandDropout(0.2)
    x = torch.full((1_000, 1_000), 3.0)
    torch.manual_seed(0)
    out = layer(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.8) < 0.005  # a million draws: the share within 0.005 of 0.8
    assert torch.equal(out[kept], torch.full((int(kept.sum()),), 3.0 / 0.8))
    torch.manual_seed(0)
    assert torch.equal(layer(x), out)  # the global seed decides the mask
    assert layer.eval()(x) is x


def test_tree_edges_find_a_step_and_pad_a_constant_feature():
    rng = np.random.default_rng(0)
    amount = rng.uniform(0, 300, 5_000).astype(np.float32)
    x = np.column_stack([amount, np.full(5_000, 7.0, dtype=np.float32)])
    y = (amount > 220).astype(int)  # every amount above 220 is a fraud, as the simulator's first scenario
    edges = tree_edges(x, y, bins=4, seed=0)
    assert edges.shape == (2, 5)
    assert np.all(np.diff(edges, axis=1) >= 0)
    assert edges[0, 0] == amount.min() and edges[0, -1] == amount.max()
    assert np.any(np.abs(edges[0] - 220) < 1)  # the step is a bin edge
    assert np.all(edges[1] == 7.0)  # nothing to split: every bin is empty


def test_binned_mlp_ranks_a_sharp_step_the_plain_one_blurs():
    """Frauds are the rows above a threshold of one feature, among noise features and a constant one: with
    the tree's bins the network ranks them almost perfectly, without them it blurs the step."""
    rng = np.random.default_rng(0)
    n = 20_000
    rows = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    rows["tx_amount"] = rng.uniform(0, 230, n)
    rows[FEATURES[-1]] = 1.0  # constant over the window: its bins are all empty
    rows = rows.assign(
        label=(rows["tx_amount"] > 220).astype(int),
        tx_datetime=pd.date_range("2018-04-01", periods=n, freq="min"),
        transaction_id=np.arange(n),
    )
    # Six epochs on a toy window: with frauds weighted up in the loss, both learn what they can in that many.
    binned = train_mlp(rows, seed=0, max_epochs=6, bins=4, class_weight=True).score(rows)
    plain = train_mlp(rows, seed=0, max_epochs=6, bins=0, class_weight=True).score(rows)
    assert np.isfinite(binned).all()
    # Measured: 0.99 against 0.82 (seeds 0 to 2 alike).
    assert average_precision_score(rows["label"], binned) > 0.97
    assert average_precision_score(rows["label"], plain) < 0.9


@pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available")
def test_evaluate_command_on_the_reference_split(tmp_path):
    out = tmp_path / "predictions.parquet"
    result = CliRunner().invoke(
        app,
        ["evaluate", "--input", str(handbook_path()), "--train-start", "2018-07-25", "--model", "logreg",
         "--predictions-out", str(out), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output.strip().splitlines()[-1])
    # The protocol's published counts for this split.
    assert (metrics["train_transactions"], metrics["train_frauds"]) == (67_240, 598)
    assert (metrics["test_transactions"], metrics["test_frauds"]) == (58_264, 385)
    # A working pipeline ranks frauds far above chance (0.5 AUC, 0.0066 AP).
    assert metrics["auc_roc"] > 0.85 and metrics["average_precision"] > 0.5
    assert 0 < metrics["card_precision_at_100"] <= 1
    predictions = pd.read_parquet(out)
    assert len(predictions) == 58_264 and predictions["transaction_id"].is_unique
    assert predictions["score"].between(0, 1).all()


@pytest.mark.slow
@pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available")
def test_prequential_evaluation_moves_the_split_a_week_at_a_time(tmp_path):
    chart = tmp_path / "weeks.png"
    args = ["evaluate", "--input", str(handbook_path()), "--model", "logreg", "--json"]
    weekly = CliRunner().invoke(
        app, [*args, "--train-start", "2018-07-18", "--prequential", "--weeks", "2", "--chart", str(chart)]
    )
    assert weekly.exit_code == 0, weekly.output
    report = json.loads(weekly.output.strip().splitlines()[-1])
    first, reference = report["weeks"]
    assert (first["train_start"], first["test_start"]) == ("2018-07-18", "2018-08-01")
    assert (reference["train_start"], reference["test_start"]) == ("2018-07-25", "2018-08-08")
    # Its second week is the reference split: the protocol's counts, and the single-split command's metrics.
    single = CliRunner().invoke(app, [*args, "--train-start", "2018-07-25"])
    expected = json.loads(single.output.strip().splitlines()[-1])
    assert reference["test_frauds"] == expected["test_frauds"] == 385
    for metric in ("auc_roc", "average_precision", "card_precision_at_100"):
        assert reference[f"logreg_{metric}"] == reference[f"baseline_{metric}"] == expected[metric]
    # A tie is not a win.
    assert report["beats_baseline"] == 0 and not reference["beats_baseline"]
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_prequential_evaluation_refuses_more_weeks_than_the_file_holds(tmp_path, capsys):
    if not handbook_path().exists():
        pytest.skip("published dataset not available")
    args = ["evaluate", "--input", str(handbook_path()), "--train-start", "2018-09-01", "--prequential", "--weeks", "3",
            "--chart", str(tmp_path / "c.png")]  # fmt: skip
    code, out, err = run_main(args, capsys)
    assert code == 2 and out == ""
    assert "--weeks" in err and "holds 2 complete split(s) from 2018-09-01, not 3" in err
    assert not (tmp_path / "c.png").exists()


@pytest.mark.skipif(not handbook_path().exists(), reason="published dataset not available")
def test_the_amounts_edges_on_the_reference_window_hold_the_first_scenarios_step():
    """On the reference split's training window (the part before the validation slice) every amount above
    220 is a fraud (88 of them), and amounts a little below are often frauds of cards spent at five times
    their habit: an edge lands on the step (218.01), where a class-weighted tree put 160.3 and 205.7."""
    split = Split(date(2018, 7, 25))
    features, labels = features_and_labels(handbook_path(), pd.Timestamp(split.train_start), split.end)
    train_rows, _ = split_rows(handbook_path(), features, labels, split)
    train_rows = train_rows.sort_values(["tx_datetime", "transaction_id"])
    fit = train_rows.iloc[: int(len(train_rows) * 0.8)]  # as train_mlp: the part before the validation slice
    assert fit.loc[fit["tx_amount"] > 220, "label"].all()
    edges = tree_edges(fit[["tx_amount"]].to_numpy(np.float32), fit["label"].to_numpy(), bins=4, seed=0)
    assert np.any(np.abs(edges[0] - 220) < 2)


def test_the_encoding_reads_a_step_past_each_inner_edge_and_none_past_a_padding_edge():
    """Edges 0 | 10 | 20 | 30, the fourth bin padding: the steps are those past 10 and 20; past 30, the
    padding's, always reads 0, so a value beyond the training window's greatest adds no input of its own."""
    edges = np.array([[0.0, 10.0, 20.0, 30.0, 30.0]], dtype=np.float32)
    module = FraudMLP(np.zeros(1), np.ones(1), hidden=(2,), feature_names=("tx_amount",), edges=edges)
    x = torch.tensor([[5.0], [10.0], [10.5], [25.0], [99.0]])
    encoded = module.encode(x)
    assert encoded.shape == (5, 1 + 4 + 3)  # scaled, four bins' shares, three steps
    assert encoded[:, 5:].tolist() == [[0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0]]
    assert encoded[:, 1:5].tolist()[2] == pytest.approx([1.0, 0.05, 0.0, 0.0])  # 10.5: a twentieth into bin 2
