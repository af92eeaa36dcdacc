"""The reference for bench/serving.py: a BentoML service that does nothing, on the framework's defaults."""

import bentoml
from pydantic import BaseModel


class Transaction(BaseModel):
    transaction_id: int
    tx_datetime: str
    customer_id: int
    terminal_id: int
    tx_amount: float


@bentoml.service
class Echo:
    @bentoml.api
    def score(self, transaction: Transaction) -> Transaction:
        return transaction
