"""The API throttles keep DRF's rule, answers and waits (portal/api/throttling.py)."""

from __future__ import annotations

import random
from types import SimpleNamespace

from django.core.cache import cache
from rest_framework.throttling import UserRateThrottle

from portal.api.throttling import UserThrottle


def test_the_compact_history_allows_and_waits_as_drf_does(monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "5/minute"})
    request = SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=4242))
    rng = random.Random(17)
    now = 1_000_000.0
    cache.clear()
    answers = {UserRateThrottle: [], UserThrottle: []}
    try:
        for _ in range(300):
            now += rng.choice([0.0, 0.5, 3.0, 11.0, 30.0, 59.9, 60.0, 61.0])
            for kind, seen in answers.items():
                throttle = kind()
                throttle.timer = lambda at=now: at  # type: ignore[method-assign]
                throttle.cache_format = f"{kind.__name__}_%(scope)s_%(ident)s"
                allowed = throttle.allow_request(request, None)
                seen.append((allowed, None if allowed else throttle.wait()))
    finally:
        cache.clear()
    assert answers[UserThrottle] == answers[UserRateThrottle]
    assert {allowed for allowed, _wait in answers[UserThrottle]} == {True, False}


def test_a_history_drf_stored_is_read(monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute"})
    request = SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=4343))
    throttle = UserThrottle()
    throttle.timer = lambda: 1000.0  # type: ignore[method-assign]
    cache.set(throttle.get_cache_key(request, None), [999.0, 990.0, 930.0], 60)
    try:
        assert throttle.allow_request(request, None)  # 930.0 has expired: 2 left, 1 free
        assert not throttle.allow_request(request, None)
        assert throttle.wait() == 50.0  # until 990.0 expires, for the one request
    finally:
        cache.clear()


def test_on_redis_the_history_is_one_round_trip_with_drfs_answers_and_waits(monkeypatch):
    import redis
    from django.core.cache.backends.redis import RedisCache

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "5/minute"})
    shared = RedisCache("redis://127.0.0.1:6379/14", {"KEY_PREFIX": "nuage-throttle-test"})
    shared.clear()
    request = SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=4444))
    rng = random.Random(23)
    now = 1_733_515_000.123456
    answers = {UserRateThrottle: [], UserThrottle: []}
    commands = []
    real = redis.Redis.execute_command

    def counted(self, *args, **kwargs):
        commands.append(args[0])
        return real(self, *args, **kwargs)

    loaded = False
    try:
        for _ in range(200):
            now += rng.choice([0.0, 0.000001, 0.5, 3.0, 11.0, 30.0, 59.9, 60.0, 61.0])
            for kind, seen in answers.items():
                throttle = kind()
                throttle.timer = lambda at=now: at  # type: ignore[method-assign]
                if kind is UserThrottle:
                    throttle.cache = shared
                    monkeypatch.setattr(redis.Redis, "execute_command", counted)
                    commands.clear()
                allowed = throttle.allow_request(request, None)
                monkeypatch.setattr(redis.Redis, "execute_command", real)
                seen.append((allowed, None if allowed else throttle.wait()))
                if kind is UserThrottle and loaded:
                    assert commands == ["EVALSHA"]  # one round trip
                loaded = loaded or kind is UserThrottle  # the script sent once per server
    finally:
        shared.clear()
        cache.clear()
    assert answers[UserThrottle] == answers[UserRateThrottle]
    assert {allowed for allowed, _wait in answers[UserThrottle]} == {True, False}


def test_production_throttles_take_the_redis_script_when_the_default_cache_is_redis(settings):
    """DRF's throttles hold Django's `cache` proxy, not the backend: the way is chosen by what
    the proxy stands for (on Redis: one EVALSHA per request, the history a sorted set)."""
    import redis
    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/14",
            "KEY_PREFIX": "nuage-throttle-proxy-test",
        }
    }
    caches["default"].clear()
    request = SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=4545))
    commands = []
    real = redis.Redis.execute_command

    def counted(self, *args, **kwargs):
        commands.append(args[0])
        return real(self, *args, **kwargs)

    try:
        UserThrottle().allow_request(request, None)  # the script is loaded once per server
        redis.Redis.execute_command = counted  # type: ignore[method-assign]
        try:
            throttle = UserThrottle()
            assert throttle.allow_request(request, None)
        finally:
            redis.Redis.execute_command = real  # type: ignore[method-assign]
        assert commands == ["EVALSHA"]
        key = caches["default"].make_and_validate_key(f"{throttle.key}:z")
        client = caches["default"]._cache.get_client(key)
        assert client.zcard(key) == 2  # both requests, in the sorted set
    finally:
        caches["default"].clear()
