"""Settings for the test suite: production settings with test-only defaults."""

import hashlib
import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("DEBUG", "0")

from portal.settings import *  # noqa: E402,F403

CELERY_TASK_EAGER_PROPAGATES = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
NUAGE["STOP_GRACE_SECONDS"] = 5.0  # noqa: F405
# The suite's webhook receivers listen on 127.0.0.1; tests of the address rule turn this off.
NUAGE["WEBHOOK_ALLOW_PRIVATE"] = True  # noqa: F405
# One queue in tests (tests/support/worker.py runs a worker on a private one), unless a test's
# worker is told otherwise through the environment.
for _kind in NUAGE["QUEUES"]:  # noqa: F405
    if not os.environ.get(f"CELERY_QUEUE_{_kind.upper()}"):
        NUAGE["QUEUES"][_kind] = ""  # noqa: F405

# One test database per checkout, so that two checkouts on one machine (a CI job beside a
# developer's run) never drop each other's database mid-run.
_checkout = hashlib.sha1(str(BASE_DIR).encode()).hexdigest()[:8]  # noqa: F405, S324
DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_nuage_{_checkout}"  # noqa: F405

# Tests and benches are never throttled (tests of the throttles lower the rates themselves).
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {  # noqa: F405
    "anon": "1000000/minute",
    "user": "1000000/minute",
    "login": "1000000/minute",
}
