"""Django settings for Nuage, read from the environment (twelve-factor)."""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# The one-command demo runs on embedded defaults (SQLite, filesystem broker, test-driver hosts).
DEMO = env.bool("NUAGE_DEMO", default=False)
VAR_DIR = Path(env("NUAGE_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=DEMO)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEMO:
        raise ImproperlyConfigured("SECRET_KEY must be set (only the demo may run without one).")
    SECRET_KEY = "demo-only-" + "x" * 50  # noqa: S105 - never used outside NUAGE_DEMO
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal",
    "compute",
    "metering",
    "billing",
    "quotas",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Opens the request's memo of the user's memberships (portal/permissions.py).
    "portal.permissions.request_memo_middleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out login into a clear 429 answer.
    "axes.middleware.AxesMiddleware",
]

# Failed logins (form, admin and the token endpoint) are counted per username and address by
# django-axes; after AXES_FAILURE_LIMIT the pair is locked out for AXES_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.views.locked_out"

# Optional single sign-on with OpenID Connect: on when OIDC_RP_CLIENT_ID is set. Users are
# found by the ID token's (issuer, subject) only (portal/oidc.py); the first sign-on links a
# verified e-mail's SSO-only account or creates a user (named after OIDC_USERNAME_CLAIM).
OIDC_ENABLED = bool(env("OIDC_RP_CLIENT_ID", default=""))
if OIDC_ENABLED:
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.append("portal.oidc.NuageOIDCBackend")
    OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET")
    OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", default="RS256")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT", default="")
    OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", default="openid email profile")
    OIDC_USERNAME_CLAIM = env("OIDC_USERNAME_CLAIM", default="preferred_username")
    OIDC_CREATE_USER = env.bool("OIDC_CREATE_USER", default=True)
    # When set, ID tokens from another issuer are refused.
    OIDC_OP_ISSUER = env("OIDC_OP_ISSUER", default="")
    LOGIN_REDIRECT_URL_FAILURE = "/login/"

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
# uvicorn serves this: the site and the consoles' websockets (no channel layer is needed).
ASGI_APPLICATION = "portal.asgi.application"
AUTH_USER_MODEL = "portal.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "ui:vm-list"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.nav",
                "portal.session_replay.replay",
            ],
        },
    },
]

DATABASES = {
    "default": env.db(
        "DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'nuage.sqlite3'}"
        if DEMO
        else "postgres://postgres@127.0.0.1:5432/nuage",
    )
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Persistent connections: a web process keeps its database connection between requests for
# NUAGE_DB_CONN_MAX_AGE seconds (opening one cost more than a page's queries), checked before
# reuse so that a restarted PostgreSQL costs one failed check, not a failed request. A
# `conn_max_age` in DATABASE_URL wins, for web processes and workers alike; 0: one per request.
# Each gunicorn worker (thread) holds one connection: keep workers x threads, plus the Celery
# workers' processes, under PostgreSQL's max_connections.
DB_CONN_MAX_AGE_FROM_URL = "CONN_MAX_AGE" in DATABASES["default"]
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("NUAGE_DB_CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault(
    "CONN_HEALTH_CHECKS", env.bool("NUAGE_DB_CONN_HEALTH_CHECKS", default=True)
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's, with a health check that needs no round trip while the server is silent.
    DATABASES["default"]["ENGINE"] = "portal.db.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web server and worker threads write at the same time: a transaction takes the
    # write lock when it begins (waiting up to `timeout` s) rather than failing with "database is
    # locked" when a read turns into a write; WAL lets readers go on meanwhile.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_redis_url = env("REDIS_URL", default="")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _redis_url}
    if _redis_url
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Sessions are read from the cache when it is shared (Redis): a page then reads no session row
# (a polled partial costs one query less); written through to the database, so a restarted
# Redis loses no session. A per-process cache (no REDIS_URL) would let a session deleted by
# one process live on in another's: there, the database alone.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if _redis_url
    else "django.contrib.sessions.backends.db"
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
FORMAT_MODULE_PATH = ["portal.formats"]  # one date format per language (portal/formats/)
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS: list[Path | tuple[str, Path]] = [BASE_DIR / "static"]
# Browser libraries from the npm registry (package.json; scripts/bootstrap.sh runs `npm ci`),
# served from node_modules under static/vendor/, never committed.
_NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS += [
    (prefix, _NODE_MODULES / sub)
    for prefix, sub in (
        ("vendor/xterm", "@xterm/xterm"),
        ("vendor/xterm-addon-fit", "@xterm/addon-fit"),
        ("vendor/novnc", "@novnc/novnc"),
    )
    if (_NODE_MODULES / sub).is_dir()
]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Without collectstatic (demo, tests) WhiteNoise serves straight from the app folders.
WHITENOISE_USE_FINDERS = True

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="nuage@localhost")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's JSON, encoded in C (portal/api/renderers.py); the browsable API as before.
    "DEFAULT_RENDERER_CLASSES": [
        "portal.api.renderers.FastJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Nuage API",
    "DESCRIPTION": "Self-service virtual machines on libvirt hosts.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "VMStateEnum": "compute.choices.VMState",
        "MembershipRoleEnum": "portal.choices.Role",
        "OperationStatusEnum": "compute.choices.OperationStatus",
        "DrsModeEnum": "compute.choices.DrsMode",
        "HostStatusEnum": "compute.choices.HostStatus",
        "DrsRecommendationStatusEnum": "compute.choices.RecommendationStatus",
        "InvoiceStatusEnum": "billing.choices.InvoiceStatus",
        "InvoiceKindEnum": "billing.choices.InvoiceKind",
        "NetworkKindEnum": "compute.choices.NetworkKind",
        "VMKindEnum": "compute.choices.VMKind",
        "ImageKindEnum": "compute.choices.ImageKind",
        "DomainTypeEnum": "compute.choices.DomainType",
        "ImportStatusEnum": "compute.choices.ImportStatus",
    },
}

# Celery: Redis in production; kombu's filesystem transport for the serverless demo.
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://" if DEMO else "")
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("in", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Without it kombu writes its exchange tables to ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
    }
else:
    # Longer than the longest task, so an unacked message is redelivered only after a real loss.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900)
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="nuage")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "reconcile": {
        "task": "compute.reconcile",
        "schedule": env.float("NUAGE_RECONCILE_INTERVAL", default=30.0),
    },
    "webhook-redeliver": {"task": "portal.webhook_redeliver", "schedule": 60.0},
    "heartbeat": {
        "task": "compute.heartbeat",
        "schedule": env.float("NUAGE_HEARTBEAT_INTERVAL", default=10.0),
        # A heartbeat that waited longer than its interval is stale: the next one is due.
        "options": {"expires": env.float("NUAGE_HEARTBEAT_INTERVAL", default=10.0)},
    },
    "quota-drift": {
        "task": "quotas.drift_check",
        "schedule": env.float("NUAGE_QUOTA_DRIFT_INTERVAL", default=300.0),
    },
    # Budget thresholds (80 %, 100 %, actual or forecast): announced once each per month.
    "budget-check": {
        "task": "billing.budget_check",
        "schedule": env.float("NUAGE_BUDGET_CHECK_INTERVAL", default=900.0),
    },
    # Metering: every host's running VMs sampled each interval; rollups catch up every complete
    # hour and day since their last run (recomputing the last one), then prune raw samples.
    "meter-sample": {
        "task": "metering.dispatch",
        "schedule": env.float("NUAGE_METER_INTERVAL_SECONDS", default=60.0),
        "options": {"expires": env.float("NUAGE_METER_INTERVAL_SECONDS", default=60.0)},
    },
    "meter-rollup": {
        "task": "metering.rollup",
        "schedule": env.float("NUAGE_METER_ROLLUP_INTERVAL", default=900.0),
    },
    # Load balancing: the tick only checks the mode and the interval an admin set (DrsSettings);
    # a cycle runs when the interval has passed since the last run.
    "drs": {
        "task": "compute.drs_cycle",
        "schedule": env.float("NUAGE_DRS_TICK_SECONDS", default=60.0),
        "options": {"expires": env.float("NUAGE_DRS_TICK_SECONDS", default=60.0)},
    },
    # Daily: every tenant whose month has ended in its zone gets last month's draft (or an
    # unchanged one is left alone); a tenant's month ends at a different UTC hour per zone.
    "invoice-drafts": {
        "task": "billing.invoices_draft_due",
        "schedule": crontab(minute=15, hour=env.int("NUAGE_INVOICE_DRAFT_HOUR", default=3)),
    },
    # Scheduled VM snapshots: each run takes the due ones, or prunes one beyond the retention.
    "snapshot-schedules": {
        "task": "compute.snapshot_schedules_run",
        "schedule": env.float("NUAGE_SNAPSHOT_SCHEDULE_TICK_SECONDS", default=60.0),
        "options": {"expires": env.float("NUAGE_SNAPSHOT_SCHEDULE_TICK_SECONDS", default=60.0)},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Nuage's own knobs.
NUAGE = {
    # Outgoing webhooks: per-attempt timeout, attempts before giving up, first retry delay
    # (doubled at each retry: 30 s, 1 min, 2 min, 4 min...).
    "WEBHOOK_TIMEOUT_SECONDS": env.float("NUAGE_WEBHOOK_TIMEOUT_SECONDS", default=5.0),
    "WEBHOOK_MAX_ATTEMPTS": env.int("NUAGE_WEBHOOK_MAX_ATTEMPTS", default=6),
    "WEBHOOK_BACKOFF_SECONDS": env.float("NUAGE_WEBHOOK_BACKOFF_SECONDS", default=30.0),
    # Links in e-mails point here.
    "BASE_URL": env("NUAGE_BASE_URL", default="http://127.0.0.1:8000"),
    # Personal API tokens: the expiry given when none is asked for, and the longest allowed.
    "TOKEN_DEFAULT_DAYS": env.int("NUAGE_TOKEN_DEFAULT_DAYS", default=30),
    "TOKEN_MAX_DAYS": env.int("NUAGE_TOKEN_MAX_DAYS", default=366),
    # High availability: a host that misses this many heartbeats in a row is declared down
    # (with the default 10 s interval: about 30 s after it stopped answering).
    "HA_MISSES": env.int("NUAGE_HA_MISSES", default=3),
    # A transitional state older than this with no progress is re-dispatched by the reconciler.
    "STALE_SECONDS": env.int("NUAGE_STALE_SECONDS", default=120),
    # After this many re-dispatches the VM goes to error with the reason.
    "MAX_ATTEMPTS": env.int("NUAGE_MAX_ATTEMPTS", default=3),
    # How long a Celery worker keeps its database connection between tasks (seconds), when
    # DATABASE_URL sets no conn_max_age: one connection per task costs more than a step's
    # queries (portal/celery.py). Web processes use NUAGE_DB_CONN_MAX_AGE.
    "WORKER_CONN_MAX_AGE": env.int("NUAGE_WORKER_CONN_MAX_AGE", default=300),
    # Seconds a libvirt call to a host may take before the caller gets a clear error and the
    # connection is dropped (compute/hypervisor/connection.py); opening a connection, and the
    # heartbeat's ping, get the shorter one. Migrations, snapshots with memory and image copies
    # have no deadline: libvirt's keepalive closes the connection of a host that stops answering.
    "LIBVIRT_CALL_TIMEOUT": env.float("NUAGE_LIBVIRT_CALL_TIMEOUT", default=60.0),
    "LIBVIRT_CONNECT_TIMEOUT": env.float("NUAGE_LIBVIRT_CONNECT_TIMEOUT", default=10.0),
    # Pause between provisioning steps; 0 in production, set by tests to observe a step.
    "STEP_DELAY_SECONDS": env.float("NUAGE_STEP_DELAY_SECONDS", default=0.0),
    # A provisioning task runs up to this many consecutive quick steps (1: one task per step),
    # and starts no further step after this many seconds (the rest goes in the next task).
    "STEP_BATCH": env.int("NUAGE_STEP_BATCH", default=10),
    "STEP_BATCH_SECONDS": env.float("NUAGE_STEP_BATCH_SECONDS", default=10.0),
    # Where QEMU writes each guest's serial console (read by tests and the UI log view).
    "SERIAL_LOG_DIR": env("NUAGE_SERIAL_LOG_DIR", default="/var/log/libvirt/qemu"),
    # Where each system container's copy of its rootfs image is made, on its (local) host.
    "CONTAINER_ROOT": env(
        "NUAGE_CONTAINER_ROOT",
        default="/var/lib/libvirt/nuage-containers"
        if os.geteuid() == 0
        else str(VAR_DIR / "containers"),
    ),
    # How long a stop waits for the guest to power off before pulling the plug.
    "STOP_GRACE_SECONDS": env.float("NUAGE_STOP_GRACE_SECONDS", default=60.0),
    # Placement: "spread" (most free memory first) or "pack" (fill hosts one by one), and the
    # overcommit ratios of hosts that set none of their own.
    "PLACEMENT_MODE": env("NUAGE_PLACEMENT_MODE", default="spread"),
    "CPU_RATIO": env.float("NUAGE_CPU_RATIO", default=4.0),
    "RAM_RATIO": env.float("NUAGE_RAM_RATIO", default=1.0),
    "DISK_RATIO": env.float("NUAGE_DISK_RATIO", default=1.0),
    # The currency Nuage bills in; price lists in other currencies are kept but not applied.
    "CURRENCY": env("NUAGE_CURRENCY", default="EUR"),
    # Invoices: the VAT rate in percent for tenants that set none of their own, the days
    # between issue and due date, and the issuer printed on every invoice and credit note
    # (copied into each one when issued). NUAGE_ISSUER_ADDRESS: lines separated by "|".
    "VAT_RATE": env("NUAGE_VAT_RATE", default="20.00"),
    "PAYMENT_TERMS_DAYS": env.int("NUAGE_PAYMENT_TERMS_DAYS", default=30),
    # The demo prints a made-up issuer, so that its invoices show every block.
    "ISSUER": {
        "name": env("NUAGE_ISSUER_NAME", default="Nuage Cloud Services"),
        "address": env(
            "NUAGE_ISSUER_ADDRESS", default="8 avenue des Nuages|69002 Lyon" if DEMO else ""
        ),
        "country": env("NUAGE_ISSUER_COUNTRY", default="FR" if DEMO else ""),
        "vat_number": env("NUAGE_ISSUER_VAT_NUMBER", default="FR12345678901" if DEMO else ""),
        "registration": env("NUAGE_ISSUER_REGISTRATION", default=""),
        "email": env("NUAGE_ISSUER_EMAIL", default="billing@nuage.example" if DEMO else ""),
        "bank": env(
            "NUAGE_ISSUER_BANK",
            default="IBAN FR76 3000 6000 0112 3456 7890 189 (demo)" if DEMO else "",
        ),
    },
    # Quota checks and accounting; off only to measure their cost (bench/quota_contention.py).
    "QUOTA_ENFORCE": env.bool("NUAGE_QUOTA_ENFORCE", default=True),
    # Metering: seconds between two samples of a host's VMs; days raw samples are kept once
    # their hour is rolled up; the longest gap between two samples of a VM that still gives a
    # CPU rate.
    "METER_INTERVAL_SECONDS": env.float("NUAGE_METER_INTERVAL_SECONDS", default=60.0),
    "METER_RETENTION_DAYS": env.float("NUAGE_METER_RETENTION_DAYS", default=2.0),
    "METER_MAX_GAP_SECONDS": env.float("NUAGE_METER_MAX_GAP_SECONDS", default=600.0),
    # Hosts per sampling task: one task and one transaction per host cost more than the
    # sampling itself at thousands of hosts; a slow host delays only its task's others.
    "METER_HOSTS_PER_TASK": env.int("NUAGE_METER_HOSTS_PER_TASK", default=20),
    # Sampling split over this many queues by host (`metering.<host id mod N>`, each consumed by
    # one worker), so that each worker keeps connections to its own hosts only; 0: one queue.
    "METER_SHARDS": env.int("NUAGE_METER_SHARDS", default=0),
    # Host TCP ports forwarded to the SSH of guests on `user` networks ("first-last"); each live
    # NIC holds one, bound on the libvirt host's loopback.
    "USER_NET_PORTS": env("NUAGE_USER_NET_PORTS", default="22000-22999"),
    # Guests on `user` networks are restricted (QEMU's restrict=on): they cannot reach the
    # libvirt host's loopback services through QEMU's 10.0.2.2 alias, nor anything beyond the
    # host; their forwarded SSH port still works. 1 lifts that for every guest defined from
    # then on (a lab whose guests must fetch packages, say): only where every guest is trusted.
    "USER_NET_HOST_ACCESS": env.bool("NUAGE_USER_NET_HOST_ACCESS", default=False),
    # Browser consoles: seconds between two checks that an open session may go on (the user
    # still may use the VM, the VM still runs).
    "CONSOLE_CHECK_SECONDS": env.float("NUAGE_CONSOLE_CHECK_SECONDS", default=2.0),
    # How long a VM's serial console stream stays open after its last tab closed (a reload or a
    # new tab then answers at once; QEMU notices a newly opened console within a second only).
    "CONSOLE_LINGER_SECONDS": env.float("NUAGE_CONSOLE_LINGER_SECONDS", default=30.0),
    # Where browsers open the consoles' websockets (ws:// or wss://, no path): a separate
    # uvicorn process in production; empty = the site's own address (the demo's one server).
    "CONSOLE_URL": env("NUAGE_CONSOLE_URL", default="").rstrip("/"),
}
try:
    if not 0 <= Decimal(NUAGE["VAT_RATE"]) <= 100:
        raise ArithmeticError(NUAGE["VAT_RATE"])
except ArithmeticError:
    raise ImproperlyConfigured("NUAGE_VAT_RATE must be a percentage, 0 to 100.") from None
if NUAGE["PLACEMENT_MODE"] not in ("spread", "pack"):
    raise ImproperlyConfigured("NUAGE_PLACEMENT_MODE must be 'spread' or 'pack'.")
try:
    _first, _last = (int(p) for p in NUAGE["USER_NET_PORTS"].split("-"))
    if not 1024 <= _first <= _last <= 65535:
        raise ValueError(NUAGE["USER_NET_PORTS"])
except ValueError:
    raise ImproperlyConfigured(
        "NUAGE_USER_NET_PORTS must be 'first-last' within 1024-65535, e.g. 22000-22999."
    ) from None
NUAGE["USER_NET_PORTS"] = (_first, _last)

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    # Production is HTTPS only: plain HTTP is redirected and browsers told to remember it.
    # Behind a TLS-terminating proxy that sends X-Forwarded-Proto, these hold as they are; set
    # SECURE_SSL_REDIRECT=0 only to try Nuage over plain HTTP.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# One JSON object per line in production (LOG_FORMAT=json), plain lines when DEBUG; both carry
# the request id (portal/requestid.py), also inside the Celery tasks a request caused.
LOG_FORMAT = env("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'plain'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "portal.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# Task events (received, started, succeeded, failed: what Flower shows of each task) are sent
# once a monitor asks for them: Flower (docker-compose.yml) turns them on in every worker while
# it runs (the `enable_events` control command, repeated every few seconds); without Flower,
# `celery -A portal control enable_events` does (then `celery -A portal events`). Sent from the
# start, they cost every task a Redis round trip in the worker before the task starts (its
# "received" event) and about 1 ms of the worker's CPU, a tenth of a snapshot's fixed cost
# (bench/snapshots.py). CELERY_WORKER_SEND_TASK_EVENTS=1 sends them from the start.
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", default=False)
# The publisher's own "task-sent" event is off by default: it is one more Redis round trip in
# every request that dispatches a task (after the task's message, before the response and the
# next on_commit dispatch), and Flower only needs it to list tasks no worker has received yet
# (the queues' lengths show those). CELERY_TASK_SEND_SENT_EVENT=1 brings it back.
CELERY_TASK_SEND_SENT_EVENT = env.bool("CELERY_TASK_SEND_SENT_EVENT", default=False)

# Operators' endpoints (portal/health.py, docs/operations.md). /metrics answers a bearer token
# (NUAGE_METRICS_TOKEN) or a client in NUAGE_METRICS_ALLOWED_NETWORKS (CIDRs); with neither set
# it is a 404. Probes are never redirected to HTTPS (a kubelet or compose probes plain HTTP).
MIDDLEWARE.insert(0, "portal.requestid.RequestIdMiddleware")
NUAGE["METRICS_TOKEN"] = env("NUAGE_METRICS_TOKEN", default="")
NUAGE["METRICS_ALLOWED_NETWORKS"] = env.list(
    "NUAGE_METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"] if DEMO else []
)
try:
    import ipaddress as _ipaddress

    for _net in NUAGE["METRICS_ALLOWED_NETWORKS"]:
        _ipaddress.ip_network(_net, strict=False)
except ValueError as _exc:
    raise ImproperlyConfigured(f"NUAGE_METRICS_ALLOWED_NETWORKS: {_exc}") from None
# Seconds /readyz waits for the broker and for a worker's answer to its ping.
NUAGE["READY_TIMEOUT_SECONDS"] = env.float("NUAGE_READY_TIMEOUT_SECONDS", default=1.0)
# A worker serves its own counters and histograms on this port (0: not at all).
NUAGE["WORKER_METRICS_PORT"] = env.int("NUAGE_WORKER_METRICS_PORT", default=0)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# Separate queues (portal/routing.py): provisioning steps, metering, notifications (webhooks and
# e-mail); everything else on CELERY_QUEUE. An empty name sends that kind to CELERY_QUEUE.
NUAGE["QUEUES"] = {
    "provisioning": env("CELERY_QUEUE_PROVISIONING", default="provisioning"),
    "metering": env("CELERY_QUEUE_METERING", default="metering"),
    "notifications": env("CELERY_QUEUE_NOTIFICATIONS", default="notifications"),
}
CELERY_TASK_ROUTES = ("portal.routing.route_task",)

# Webhooks (portal/delivery/safeurl.py): only global addresses unless this is on (tests, labs);
# at most this many per tenant; one test ping per webhook per this many seconds.
NUAGE["WEBHOOK_ALLOW_PRIVATE"] = env.bool("NUAGE_WEBHOOK_ALLOW_PRIVATE", default=False)
NUAGE["WEBHOOKS_PER_TENANT"] = env.int("NUAGE_WEBHOOKS_PER_TENANT", default=20)
NUAGE["WEBHOOK_PING_SECONDS"] = env.float("NUAGE_WEBHOOK_PING_SECONDS", default=10.0)
# API pages: `?limit=` is capped at 500 (portal/api/pagination.py).
REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"] = "portal.api.pagination.CappedLimitOffsetPagination"

# Hardening (issue 14). How many reverse proxies of ours stand in front of Nuage: the client's
# address is then read from X-Forwarded-For (portal/security.py) for the audit log, django-axes
# and the API throttles; 0 (the default) trusts REMOTE_ADDR only.
NUAGE["TRUSTED_PROXY_COUNT"] = env.int("NUAGE_TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "portal.security.axes_client_ip"
AUTH_PASSWORD_VALIDATORS.append(
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"}
)
# A browser session unused this long is logged out (0: never).
SESSION_IDLE_TIMEOUT_SECONDS = env.int("NUAGE_SESSION_IDLE_MINUTES", default=30) * 60
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.messages.middleware.MessageMiddleware") + 1,
    "portal.security.SessionIdleTimeoutMiddleware",
)
# Around it: a form sent after the session ended comes back, after login, on its page with what
# was typed (portal/session_replay.py), instead of a 405 on the form's address.
MIDDLEWARE.insert(
    MIDDLEWARE.index("portal.security.SessionIdleTimeoutMiddleware"),
    "portal.session_replay.SessionReplayMiddleware",
)
# API throttles: per user, per anonymous address, and a stricter one on the token login.
# DRF's, with the history kept compact (portal/api/throttling.py).
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "portal.api.throttling.AnonThrottle",
    "portal.api.throttling.UserThrottle",
]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": env("NUAGE_THROTTLE_ANON", default="60/minute"),
    "user": env("NUAGE_THROTTLE_USER", default="1200/minute"),
    "login": env("NUAGE_THROTTLE_LOGIN", default="10/minute"),
}
REST_FRAMEWORK["NUM_PROXIES"] = NUAGE["TRUSTED_PROXY_COUNT"]
# How long an invitation link to join a tenant stays valid.
NUAGE["INVITATION_DAYS"] = env.int("NUAGE_INVITATION_DAYS", default=7)
# Id filters (?tenant=, ?environment=...) choose among what the user may see (api/filters.py).
REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"] = ["portal.api.filters.ScopedFilterBackend"]

# OVF: OVA exports (kept on the worker for EXPORT_TTL_HOURS, then swept) and imports (an upload
# over OVA_MAX_UPLOAD_BYTES, or a disk larger than OVA_MAX_DISK_GIB as the guest sees it, is
# refused before anything is written).
NUAGE["EXPORT_DIR"] = env("NUAGE_EXPORT_DIR", default=str(VAR_DIR / "exports"))
NUAGE["EXPORT_TTL_HOURS"] = env.float("NUAGE_EXPORT_TTL_HOURS", default=24.0)
# An export still running after this long is failed by the sweep (its VM may start again).
NUAGE["EXPORT_TIMEOUT_MINUTES"] = env.float("NUAGE_EXPORT_TIMEOUT_MINUTES", default=240.0)
NUAGE["OVA_MAX_UPLOAD_BYTES"] = env.int("NUAGE_OVA_MAX_UPLOAD_BYTES", default=20 * 2**30)
NUAGE["OVA_MAX_DISK_GIB"] = env.int("NUAGE_OVA_MAX_DISK_GIB", default=512)
CELERY_BEAT_SCHEDULE["export-sweep"] = {
    "task": "compute.export_sweep",
    "schedule": env.float("NUAGE_EXPORT_SWEEP_INTERVAL", default=600.0),
}
# An import runs on a worker (compute/services/ovf_import.py): it touches its job every
# IMPORT_HEARTBEAT_SECONDS; one silent for IMPORT_STALE_SECONDS is a dead worker's, and the
# sweep starts it again (up to IMPORT_MAX_ATTEMPTS runs) or fails it, as one still running after
# IMPORT_TIMEOUT_MINUTES.
NUAGE["IMPORT_HEARTBEAT_SECONDS"] = env.float("NUAGE_IMPORT_HEARTBEAT_SECONDS", default=30.0)
NUAGE["IMPORT_STALE_SECONDS"] = env.float("NUAGE_IMPORT_STALE_SECONDS", default=300.0)
NUAGE["IMPORT_TIMEOUT_MINUTES"] = env.float("NUAGE_IMPORT_TIMEOUT_MINUTES", default=240.0)
NUAGE["IMPORT_MAX_ATTEMPTS"] = env.int("NUAGE_IMPORT_MAX_ATTEMPTS", default=3)
# Uploads over FILE_UPLOAD_MAX_MEMORY_SIZE are written in EXPORT_DIR/imports/.incoming (not
# /tmp): an OVA is then kept for its import by a hard link, not copied within the request.
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "compute.uploads.IncomingUploadHandler",
]
CELERY_BEAT_SCHEDULE["import-sweep"] = {
    "task": "compute.import_sweep",
    "schedule": env.float("NUAGE_IMPORT_SWEEP_INTERVAL", default=120.0),
}

# Two-factor sign-in (portal/twofactor.py, docs/operations.md): TOTP authenticators and recovery
# codes from django-otp; required for platform roles, optional for everyone else.
INSTALLED_APPS[INSTALLED_APPS.index("portal") : INSTALLED_APPS.index("portal")] = [
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]
MIDDLEWARE.insert(
    MIDDLEWARE.index("portal.security.SessionIdleTimeoutMiddleware") + 1,
    "portal.twofactor.TwoFactorMiddleware",
)
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "portal.api.authentication.PersonalTokenAuthentication",
    "portal.api.authentication.VerifiedSessionAuthentication",
]
OTP_TOTP_ISSUER = env("NUAGE_TOTP_ISSUER", default="Nuage")
# The admin never shows an authenticator's secret.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Content-Security-Policy (portal/csp.py): scripts from Nuage's own files only. Report-only
# mode (browsers report, nothing is blocked) is for trying a change of policy.
NUAGE["CSP_REPORT_ONLY"] = env.bool("NUAGE_CSP_REPORT_ONLY", default=False)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "portal.csp.ContentSecurityPolicyMiddleware",
)

# Leases (compute/services/leases.py): environments may give VMs a lifetime; the beat task sets
# leases where a policy is new, warns owners 7 days and 1 day before, stops expired VMs and
# deletes them LEASE_GRACE_DAYS later.
NUAGE["LEASE_GRACE_DAYS"] = env.float("NUAGE_LEASE_GRACE_DAYS", default=7.0)
CELERY_BEAT_SCHEDULE["leases"] = {
    "task": "compute.leases_run",
    "schedule": env.float("NUAGE_LEASE_INTERVAL", default=300.0),
}

# The reads every API call makes are prepared statements on PostgreSQL (portal/prepared.py); 0
# behind a connection pooler in transaction mode that does not keep them (PgBouncer < 1.21).
NUAGE["DB_PREPARE"] = env.bool("NUAGE_DB_PREPARE", default=True)
