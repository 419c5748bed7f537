"""Crash points for the fault tests: a process kills itself (SIGKILL) at a named moment.

Off unless LENDING_CRASH_POINT names a point; then each pass through that point kills the
process with probability LENDING_CRASH_PROBABILITY (seeded by LENDING_CRASH_SEED and the pid,
so a run is repeatable). A real `kill -9`: no finally blocks, no flush, no goodbye.
"""

from __future__ import annotations

import os
import random
import signal

RELAY_AFTER_PUBLISH = "relay.after_publish"
RELAY_BEFORE_PUBLISH = "relay.before_publish"
CONSUMER_AFTER_COMMIT = "consumer.after_commit"
POINTS = (RELAY_AFTER_PUBLISH, RELAY_BEFORE_PUBLISH, CONSUMER_AFTER_COMMIT)

_point = os.environ.get("LENDING_CRASH_POINT") or None
_probability = float(os.environ.get("LENDING_CRASH_PROBABILITY", "0") or 0)
_rng = random.Random(int(os.environ.get("LENDING_CRASH_SEED", "0") or 0) * 1_000_003 + os.getpid())


def crash_point(name: str) -> None:
    """Die here, abruptly, if the fault tests asked for it."""
    if _point == name and _rng.random() < _probability:
        os.kill(os.getpid(), signal.SIGKILL)
