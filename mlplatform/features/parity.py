"""Online/offline parity: a day replayed through the online engine, feature by feature against the
offline engine's values for the same transactions.

A transaction that shares its second with a later one of the same entity is a documented tie: the
offline windows are time-based and include both, while online the later one has not arrived yet. Such
rows are counted and named, and left out of the comparison; every other row must match (within 1e-9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlplatform.features.definitions import FeatureSet, WindowFeature
from mlplatform.features.online import OnlineEngine, replay, transactions
from mlplatform.online_store import OnlineStore, open_online_store

TOLERANCE = 1e-9


@dataclass(frozen=True)
class DayParity:
    day: str
    rows: int
    matched: dict[str, float]  # feature -> share of compared rows within TOLERANCE
    tie_rows: list[int]  # transaction ids left out (a same-second transaction of the same entity came after)
    mismatched_rows: list[int]  # transaction ids of other rows that differ on any feature

    @property
    def passed(self) -> bool:
        return not self.mismatched_rows


def tie_rows(day: pd.DataFrame, features: FeatureSet) -> np.ndarray:
    """Rows (a mask over `day`, in replay order by time then id) followed by a same-second transaction of the
    same entity, for entities with windows ending at t."""
    ties = np.zeros(len(day), dtype=bool)
    ordered = day.sort_values(["tx_datetime", "transaction_id"])
    for entity in {f.entity for f in features.features if isinstance(f, WindowFeature) and not f.delay}:
        later = ordered.duplicated([entity, "tx_datetime"], keep="last")
        ties |= later.reindex(day.index).to_numpy(bool)
    return ties


def check(
    features: FeatureSet,
    transactions_by_day: dict[str, pd.DataFrame],
    reports_by_day: dict[str, pd.DataFrame],
    offline_by_day: dict[str, pd.DataFrame],
    store: OnlineStore | None = None,
) -> list[DayParity]:
    """Replays the days of `offline_by_day` in order, after loading every earlier day given as history (or on
    `store`, which holds the earlier days already, e.g. as the stream's consumer wrote them)."""
    days = sorted(offline_by_day)
    filled = store is not None
    store = store if store is not None else open_online_store("memory://", features)
    engine = OnlineEngine(features, store)
    history = [d for d in transactions_by_day if d < days[0]]
    if history and not filled:
        store.write(transactions(pd.concat([transactions_by_day[d] for d in history]), store.entities))
    if history:
        earlier = pd.concat([reports_by_day[d] for d in reports_by_day if d < days[0]])
        engine.label(earlier["transaction_id"].to_numpy(np.int64), _us(earlier["reported_at"]))
    results = []
    for day in days:
        # Replayed in a defined order, the one `tie_rows` assumes: by time, then id.
        today = transactions_by_day[day].sort_values(["tx_datetime", "transaction_id"], ignore_index=True)
        online = replay(engine, today, reports_by_day[day])
        offline = offline_by_day[day].set_index("transaction_id").loc[today["transaction_id"], features.names]
        differs = np.abs(online - offline.to_numpy(np.float64)) > TOLERANCE
        ties = tie_rows(today, features)
        compared = differs[~ties]
        matched = {n: float(1 - compared[:, i].mean()) if len(compared) else 1.0 for i, n in enumerate(features.names)}
        ids = today["transaction_id"].to_numpy()
        results.append(
            DayParity(day, len(today), matched, ids[ties].tolist(), ids[differs.any(axis=1) & ~ties].tolist())
        )
    return results


def _us(stamps: pd.Series) -> np.ndarray:
    return stamps.to_numpy("datetime64[us]").astype(np.int64)
