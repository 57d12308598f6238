"""DRF's throttles (per user, per anonymous address, per scope) with their request history
kept compact: the same rule, answers and waits, at a cost that does not grow with the rate.

DRF keeps each client's recent request times as a pickled Python list, read and rewritten
whole at every request and shifted at each insert: at 1,200 a minute (the default for a user)
that is 1,200 floats unpickled and pickled per call, and a benchmark's rate makes it thousands.
Here they are packed float64 bytes in time order (a copy, not an object per time), expired ones
cut with one bisection. A history DRF stored before (a list) is read too.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import Any

from rest_framework.throttling import (
    AnonRateThrottle,
    ScopedRateThrottle,
    SimpleRateThrottle,
    UserRateThrottle,
)


def _times(stored: Any) -> array[float]:
    times = array("d")
    if isinstance(stored, bytes):
        times.frombytes(stored)
    elif isinstance(stored, list):  # DRF's own, newest first
        times.extend(sorted(stored))
    return times


class CompactHistoryMixin(SimpleRateThrottle):
    """SimpleRateThrottle's sliding window, its history oldest first as packed floats."""

    history: Any
    num_requests: int
    duration: int

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        times = _times(self.cache.get(self.key))
        # What DRF pops: every time at or before now - duration.
        del times[: bisect_right(times, self.now - self.duration)]
        self.history = times
        if len(times) >= self.num_requests:
            return self.throttle_failure()
        return self.throttle_success()

    def throttle_success(self) -> bool:
        self.history.append(self.now)
        self.cache.set(self.key, self.history.tobytes(), self.duration)
        return True

    def wait(self) -> float | None:
        if self.history:
            remaining_duration = self.duration - (self.now - self.history[0])  # the oldest
        else:
            remaining_duration = self.duration
        available_requests = self.num_requests - len(self.history) + 1
        if available_requests <= 0:
            return None
        return remaining_duration / float(available_requests)


class UserThrottle(CompactHistoryMixin, UserRateThrottle):
    pass


class AnonThrottle(CompactHistoryMixin, AnonRateThrottle):
    pass


class ScopedThrottle(ScopedRateThrottle, CompactHistoryMixin):
    pass
