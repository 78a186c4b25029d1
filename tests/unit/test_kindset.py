"""KindSet, the engine's compact set of suppressed alert kinds, behaves as a set would."""

from __future__ import annotations

import random

from careplug.domain.engine import KindSet
from careplug.domain.model import AlertKind


def test_kindset_follows_a_plain_set() -> None:
    """Random adds and discards: the same members, order-free, as a ``set``."""
    rnd = random.Random(7)
    kinds = list(AlertKind)
    compact, plain = KindSet(), set[AlertKind]()
    for _ in range(500):
        kind = rnd.choice(kinds)
        if rnd.random() < 0.5:
            compact.add(kind)
            plain.add(kind)
        else:
            compact.discard(kind)
            plain.discard(kind)
        assert set(compact) == plain and len(compact) == len(plain)
        assert all((k in compact) == (k in plain) for k in kinds)
    members = KindSet([AlertKind.INACTIVITY])
    assert "inactivity" in members and "offline" not in members and 3 not in members
    assert sorted(k.value for k in KindSet([AlertKind.UNPLUGGED, AlertKind.INACTIVITY])) == [
        "inactivity",
        "unplugged",
    ]
