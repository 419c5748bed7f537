"""Crash points for the fault tests: a process kills itself (SIGKILL) at a named moment.

Off unless LENDING_CRASH_POINT names a point. Then the process dies on its first, second or
third pass through that point (drawn from LENDING_CRASH_SEED and the pid), so every process
that reaches the point is killed at least once, and after that on each pass with probability
LENDING_CRASH_PROBABILITY. A real `kill -9`: no finally blocks, no flush, no goodbye.
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
_countdown = _rng.randint(1, 3)


def crash_point(name: str) -> None:
    """Die here, abruptly, if the fault tests asked for it."""
    global _countdown
    if _point != name:
        return
    _countdown -= 1
    if _countdown == 0 or (_countdown < 0 and _rng.random() < _probability):
        os.kill(os.getpid(), signal.SIGKILL)
