"""The operational source database (customers and terminals) behind any SQLAlchemy URL."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

CUSTOMERS = "customers"
TERMINALS = "terminals"


def engine(url: str) -> sa.Engine:
    return sa.create_engine(url)


def profiles_to_tables(customers: pd.DataFrame, terminals: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The simulator's profiles as the source database's tables (snake_case columns)."""
    cust = customers.rename(columns={"CUSTOMER_ID": "customer_id", "x_customer_id": "x", "y_customer_id": "y"})[
        ["customer_id", "x", "y", "mean_amount", "std_amount", "mean_nb_tx_per_day", "name", "email", "card_number"]
    ]
    term = terminals.rename(columns={"TERMINAL_ID": "terminal_id", "x_terminal_id": "x", "y_terminal_id": "y"})
    return {CUSTOMERS: cust, TERMINALS: term[["terminal_id", "x", "y"]]}


def load_tables(url: str, tables: dict[str, pd.DataFrame]) -> None:
    """Replaces the tables in one transaction."""
    eng = engine(url)
    try:
        with eng.begin() as conn:
            for name, df in tables.items():
                df.to_sql(name, conn, if_exists="replace", index=False, chunksize=10_000)
    finally:
        eng.dispose()


def read_table(url: str, name: str) -> pd.DataFrame:
    eng = engine(url)
    try:
        with eng.connect() as conn:
            return pd.read_sql_table(name, conn)
    finally:
        eng.dispose()
