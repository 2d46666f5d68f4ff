"""The in-memory counterpart of `chalicelib.storage.Tx`: areas' fakes contribute conditions and
effects to one transaction, which checks every condition first and then applies every effect, or
nothing, under one lock shared by all fakes (as DynamoDB's transaction spans tables)."""

from __future__ import annotations

import threading
from collections.abc import Callable

LOCK = threading.RLock()


class FakeTx:
    def __init__(self) -> None:
        self._conditions: list[tuple[str, Callable[[], bool]]] = []
        self._effects: list[Callable[[], None]] = []

    def require(self, label: str, holds: Callable[[], bool]) -> None:
        """A condition, evaluated at commit; `label` is reported when it does not hold."""
        self._conditions.append((label, holds))

    def then(self, effect: Callable[[], None]) -> None:
        """A change, applied at commit only if every condition holds."""
        self._effects.append(effect)

    def commit(self) -> frozenset[str]:
        """Apply everything and return no labels, or apply nothing and return the failed labels."""
        with LOCK:
            failed = frozenset(label for label, holds in self._conditions if not holds())
            if not failed:
                for effect in self._effects:
                    effect()
            return failed
