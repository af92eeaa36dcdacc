"""The promotion rule: a challenger becomes champion only if it beats the champion and the baseline.

All three are scored on the challenger's own test window, so the comparison is like for like. The
champion compared against is the one in force on the challenger's decision day, which was trained
on earlier data, so scoring that window with it leaks nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlplatform.evaluation import Metrics

METRICS = ("auc_roc", "average_precision", "card_precision_at_100")


@dataclass(frozen=True)
class PromotionPolicy:
    metric: str = "average_precision"
    margin: float = 0.0  # the challenger must reach the champion's value plus this
    baseline_margin: float = 0.0  # ... and the baseline's value plus this

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"promotion metric {self.metric!r} is not one of {', '.join(METRICS)}")


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    metric: str
    challenger: float
    baseline: float
    champion: float | None  # None when there is no champion yet

    def as_metadata(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def decide(policy: PromotionPolicy, challenger: Metrics, baseline: Metrics, champion: Metrics | None) -> Decision:
    """Promote iff challenger >= baseline + baseline_margin and (no champion or >= champion + margin)."""
    m = policy.metric
    ours, base = getattr(challenger, m), getattr(baseline, m)
    theirs = getattr(champion, m) if champion is not None else None
    failures = []
    if ours < base + policy.baseline_margin:
        failures.append(f"{m} {ours:.4f} < baseline {base:.4f} + margin {policy.baseline_margin}")
    if theirs is not None and ours < theirs + policy.margin:
        failures.append(f"{m} {ours:.4f} < champion {theirs:.4f} + margin {policy.margin}")
    if failures:
        reason = "refused: " + "; ".join(failures)
    elif theirs is None:
        reason = f"promoted: no champion yet and {m} {ours:.4f} >= baseline {base:.4f} + {policy.baseline_margin}"
    else:
        reason = f"promoted: {m} {ours:.4f} >= champion {theirs:.4f} + {policy.margin} and baseline {base:.4f}"
    return Decision(not failures, reason, m, ours, base, theirs)
