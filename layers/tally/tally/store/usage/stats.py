"""What the usage store asked of DynamoDB, counted for bench/ (moto reports no capacity for
transactions)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Stats:
    requests: int = 0
    write_units: int = 0
    read_units: float = 0.0
    items_read: int = 0

    def reset(self) -> None:
        self.requests = self.write_units = self.items_read = 0
        self.read_units = 0.0


STATS = Stats()
