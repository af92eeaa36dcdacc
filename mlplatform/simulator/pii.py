"""Synthetic personal data for the source database: names, emails and card numbers.

Faker draws a pool of first and last names once; customers combine them with NumPy, so 50,000
customers cost what 500 Faker calls do. Emails and card numbers embed the customer id, so they
are unique, and card numbers carry a valid Luhn check digit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from faker import Faker

POOL = 500


def luhn_check_digit(digits: np.ndarray) -> np.ndarray:
    """Check digits for rows of payload digits (n, k), so that payload + check passes Luhn."""
    doubled = digits[:, ::-1].copy()
    doubled[:, ::2] *= 2  # from the right, every other digit of the payload is doubled
    doubled[doubled > 9] -= 9
    return (10 - doubled.sum(axis=1) % 10) % 10


def card_numbers(customer_ids: np.ndarray, rng: np.random.Generator) -> list[str]:
    """16-digit Visa-like numbers: 4, five random digits, the 9-digit customer id, a Luhn digit."""
    n = len(customer_ids)
    random_part = rng.integers(0, 10, size=(n, 5))
    id_part = (customer_ids[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    payload = np.hstack([np.full((n, 1), 4), random_part, id_part])
    digits = np.hstack([payload, luhn_check_digit(payload)[:, None]])
    return ["".join(map(str, row)) for row in digits]


def personal_data(customer_ids: np.ndarray, seed: int) -> pd.DataFrame:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    first = np.array([fake.first_name() for _ in range(POOL)])
    last = np.array([fake.last_name() for _ in range(POOL)])
    domains = np.array([fake.free_email_domain() for _ in range(20)])
    rng = np.random.default_rng(seed)
    f, la, d = (
        rng.integers(0, POOL, len(customer_ids)),
        rng.integers(0, POOL, len(customer_ids)),
        rng.integers(0, 20, len(customer_ids)),
    )
    names = np.char.add(np.char.add(first[f], " "), last[la])
    local = np.char.lower(np.char.add(np.char.add(first[f], "."), last[la]))
    emails = [f"{loc}{cid}@{dom}" for loc, cid, dom in zip(local, customer_ids, domains[d], strict=True)]
    return pd.DataFrame({"name": names.astype(object), "email": emails, "card_number": card_numbers(customer_ids, rng)})
