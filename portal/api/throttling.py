"""DRF's throttles (per user, per anonymous address, per scope) with their request history
kept compact: the same rule, answers and waits, at a cost that does not grow with the rate.

DRF keeps each client's recent request times as a pickled Python list, read and rewritten
whole at every request and shifted at each insert: at 1,200 a minute (the default for a user)
that is 1,200 floats unpickled and pickled per call, and a benchmark's rate makes it thousands.
Here they are packed float64 bytes in time order (a copy, not an object per time), expired ones
cut with one bisection. A history DRF stored before (a list) is read too.

On Redis (production's cache) the history is a sorted set instead, cut, counted and added to by
one script: one round trip per request where DRF makes two (read, write), and two requests at
the same moment can no longer both read the same history and lose one of their times.
"""

from __future__ import annotations

import os
from array import array
from bisect import bisect_right
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from django.core.cache.backends.redis import RedisCache
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


# KEYS[1]: the history; ARGV: now, the oldest time that has expired (now - duration, written
# by Python: Lua would round it), the limit, the history's life in ms, a name for this request.
# Answers whether it is allowed, the history's length, its oldest time (17 digits: exact).
_SLIDE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  count = count + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {allowed, count, oldest[2] or false}
"""
_slide: Any = None


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
        # DRF's throttles hold Django's `cache`, a proxy to the default cache of this thread:
        # what it stands for decides the way.
        backend = caches[DEFAULT_CACHE_ALIAS] if self.cache is default_cache else self.cache
        if isinstance(backend, RedisCache):
            return self._allow_on_redis(backend)
        times = _times(self.cache.get(self.key))
        # What DRF pops: every time at or before now - duration.
        del times[: bisect_right(times, self.now - self.duration)]
        self.history = times
        if len(times) >= self.num_requests:
            return self.throttle_failure()
        return self.throttle_success()

    def _allow_on_redis(self, cache: RedisCache) -> bool:
        global _slide
        key = cache.make_and_validate_key(f"{self.key}:z")
        client = cache._cache.get_client(key, write=True)
        if _slide is None:
            _slide = client.register_script(_SLIDE)
        now = float(self.now)
        allowed, count, oldest = _slide(
            keys=[key],
            args=[
                repr(now),
                repr(now - self.duration),
                self.num_requests,
                int(self.duration * 1000) + 1,
                f"{now!r}/{os.urandom(6).hex()}",
            ],  # fmt: skip
            client=client,
        )
        self._count, self._oldest = int(count), None if oldest is None else float(oldest)
        return bool(allowed)

    def throttle_success(self) -> bool:
        self.history.append(self.now)
        self.cache.set(self.key, self.history.tobytes(), self.duration)
        return True

    def throttle_failure(self) -> bool:
        self._count, self._oldest = len(self.history), self.history[0] if self.history else None
        return False

    def wait(self) -> float | None:
        if self._oldest is not None:
            remaining_duration = self.duration - (self.now - self._oldest)
        else:
            remaining_duration = self.duration
        available_requests = self.num_requests - self._count + 1
        if available_requests <= 0:
            return None
        return remaining_duration / float(available_requests)


class UserThrottle(CompactHistoryMixin, UserRateThrottle):
    pass


class AnonThrottle(CompactHistoryMixin, AnonRateThrottle):
    pass


class ScopedThrottle(ScopedRateThrottle, CompactHistoryMixin):
    pass
