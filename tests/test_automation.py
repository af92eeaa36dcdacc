"""What the downstream automation requests, from published partitions worked out by hand."""

import pandas as pd

from mlplatform.automation import Request, plan

WEEKS = [str(d.date()) for d in pd.date_range("2018-04-04", periods=10, freq="7D")]  # Wednesdays


def days(first: str, last: str) -> set[str]:
    return {str(d.date()) for d in pd.date_range(first, last)}


def published(**assets: set[str]) -> dict[str, set[str]]:
    empty = ["transaction_features", "raw_fraud_reports", "training_set", "batch_predictions", "feature_drift"]
    return {name: assets.get(name, set()) for name in empty}


FORTY_DAYS = days("2018-04-01", "2018-05-10")


def test_weeks_whose_days_are_all_published_get_their_training_sets_in_one_run():
    # Week 2018-04-04 reads features to 04-24 and reports to 05-01; 04-11 to 05-08; 04-18 would need 05-15.
    state = published(transaction_features=FORTY_DAYS, raw_fraud_reports=FORTY_DAYS)
    assert plan(state, set(), set(), WEEKS, []) == [
        Request("training", "2018-04-04", "2018-04-11", "training-2018-04-04-2018-04-11")
    ]
    assert plan(state, set(), {"training"}, WEEKS, []) == []  # a training run unfinished or unpublished: wait
    gap = published(transaction_features=FORTY_DAYS - {"2018-04-20"}, raw_fraud_reports=FORTY_DAYS)
    assert plan(gap, set(), set(), WEEKS, []) == []  # both weeks read 04-20


def test_models_are_requested_one_week_at_a_time_in_order():
    state = published(
        transaction_features=FORTY_DAYS, raw_fraud_reports=FORTY_DAYS, training_set={"2018-04-04", "2018-04-11"}
    )
    assert plan(state, set(), set(), WEEKS, []) == [Request("models", "2018-04-04", "2018-04-04", "models-2018-04-04")]
    # Week 1 decided (promoted or refused: either way a registered version): week 2 next.
    assert plan(state, {"2018-04-04"}, set(), WEEKS, []) == [
        Request("models", "2018-04-11", "2018-04-11", "models-2018-04-11")
    ]
    assert plan(state, {"2018-04-04"}, {"models"}, WEEKS, []) == []


def test_predictions_wait_for_every_week_that_could_still_make_their_champion():
    state = published(
        transaction_features=FORTY_DAYS, raw_fraud_reports=FORTY_DAYS, training_set={"2018-04-04", "2018-04-11"}
    )
    # Week 1's champion is in force from 05-02; week 2, undecided, could be champion from its decision day 05-09.
    assert plan(state, {"2018-04-04"}, {"models"}, WEEKS, ["2018-05-02"]) == [
        Request("predictions", "2018-05-02", "2018-05-08", "predictions-2018-05-02-2018-05-08")
    ]
    both = plan(state, {"2018-04-04", "2018-04-11"}, set(), WEEKS, ["2018-05-02", "2018-05-09"])
    assert both == [Request("predictions", "2018-05-02", "2018-05-10", "predictions-2018-05-02-2018-05-10")]
    assert plan(state, {"2018-04-04", "2018-04-11"}, set(), WEEKS, []) == []  # no champion yet: nothing to score


SCORED = days("2018-05-02", "2018-05-10")


def scored_state(monitored: set[str]) -> dict[str, set[str]]:
    """Forty days published, both weeks trained, 05-02..05-10 scored, `monitored` of them monitored."""
    return published(
        transaction_features=FORTY_DAYS,
        raw_fraud_reports=FORTY_DAYS,
        training_set={"2018-04-04", "2018-04-11"},
        batch_predictions=SCORED,
        feature_drift=monitored,
    )


def test_newly_scored_days_get_their_monitoring():
    state = scored_state(days("2018-05-02", "2018-05-06"))
    assert plan(state, {"2018-04-04", "2018-04-11"}, set(), WEEKS, ["2018-05-02"]) == [
        Request("monitoring", "2018-05-07", "2018-05-10", "monitoring-2018-05-07-2018-05-10-reports-2018-05-10")
    ]
    state["feature_drift"] = SCORED
    assert plan(state, {"2018-04-04", "2018-04-11"}, set(), WEEKS, ["2018-05-02"]) == []


def test_a_scored_day_is_monitored_again_while_its_chargebacks_keep_coming():
    scored = SCORED
    state = scored_state(SCORED)
    decided, starts = {"2018-04-04", "2018-04-11"}, ["2018-05-02"]
    # 05-03's performance counted reports to 05-08; main now has them to 05-10.
    counted = {d: "2018-05-10" for d in scored} | {"2018-05-03": "2018-05-08"}
    assert plan(state, decided, set(), WEEKS, starts, counted) == [
        Request("monitoring", "2018-05-03", "2018-05-03", "monitoring-2018-05-03-2018-05-03-reports-2018-05-10")
    ]
    assert plan(state, decided, set(), WEEKS, starts, {d: "2018-05-10" for d in scored}) == []
    # 30 days after a day its figures are final: later reports do not make it stale.
    state["raw_fraud_reports"] = days("2018-04-01", "2018-06-20")
    final = {"2018-05-02": "2018-06-01"}
    assert [r.job for r in plan(state, decided, set(), WEEKS, starts, final)] == ["training"]  # week 04-18 is ready
