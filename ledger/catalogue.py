"""Every aggregate the ledger knows: event type names resolve through this, not module paths.

Aggregates register by subclassing `LedgerAggregate`; importing `ledger.ledger` imports every
domain module, so the catalogue is complete by the time an application builds its mapper.
"""

from __future__ import annotations

from ledger.domain.base import LedgerAggregate
from ledger.record import Catalogue


def _subclasses(cls: type[LedgerAggregate]) -> list[type[LedgerAggregate]]:
    found: list[type[LedgerAggregate]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def build_catalogue() -> Catalogue:
    """The catalogue of every `LedgerAggregate` subclass imported so far."""
    return Catalogue(_subclasses(LedgerAggregate))
