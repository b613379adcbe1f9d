"""Delineate settings. Every value comes from the environment (see .env.example) with an embedded default."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from webapp.env import ConfigError, env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigError("SECRET_KEY must be set when DEBUG is off (make run sets DEBUG=true for local use)")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Behind a TLS-terminating proxy (deploy/nginx): trust its X-Forwarded-Proto, so HTTP (CSRF) and the
# WebSocket origin check (webapp/origin.py) both know the site is https, and send cookies only over TLS.
TRUST_X_FORWARDED_PROTO = env_bool("TRUST_X_FORWARDED_PROTO", False)
if TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "annotator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webapp.middleware.BusyDatabaseMiddleware",
]

ROOT_URLCONF = "webapp.urls"
ASGI_APPLICATION = "webapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "annotator" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web servers, workers and the launcher share one file. WAL lets readers run beside the one writer;
    # IMMEDIATE takes the write lock when a transaction begins, so a second writer waits up to the busy
    # timeout instead of failing at once with "database is locked" (a deferred transaction that upgrades
    # from read to write cannot wait: SQLite refuses it to avoid a deadlock; the probe saw 41 of 80
    # concurrent saves fail that way). synchronous=NORMAL is the documented safe pairing with WAL.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env_int("SQLITE_BUSY_TIMEOUT_S", 20),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# E-mail: invitations by e-mail send their join link this way. The embedded default prints mails to the web
# server's log (no mail server needed); the owner also sees the link on the project page.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "delineate@localhost")
# How long an e-mail invitation's join link works.
INVITATION_TTL_HOURS = env_int("INVITATION_TTL_HOURS", 7 * 24)

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [d for d in [BASE_DIR / "frontend" / "dist"] if d.exists()]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Redis: the embedded server that `make run` starts listens here unless REDIS_URL points elsewhere.
EMBEDDED_REDIS_PORT = env_int("EMBEDDED_REDIS_PORT", 6390)
REDIS_URL = env_str("REDIS_URL", f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")
# Set by `make run` for its children: the token its embedded Redis holds (/healthz checks it).
REDIS_INSTALL_TOKEN = env_str("REDIS_INSTALL_TOKEN", "")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # The layer blocks on Redis for up to 5 s per read; a socket timeout at or under that drops
        # consumers under load (seen in the browser tests), so it must stay well above it.
        # After a Redis restart every pooled connection is dead: without retries the first command on each
        # fails (a worker's prompt result or propagation slice vanished, a socket closed with 1011; seen in
        # `make test-stack`). Retried on a fresh connection, with back-off, for ~6 s (a restart takes ~1 s).
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_timeout": 30,
                    "socket_connect_timeout": 5,
                    "retry": Retry(ExponentialBackoff(cap=2.0, base=0.1), 6),
                    "retry_on_error": [RedisConnectionError],
                    "health_check_interval": 15,
                }
            ],
            "capacity": 1500,
            "expiry": 30,
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Long work (imports, exports, propagation, training) is acknowledged only when done, so a worker that dies
# leaves its message in Redis, which hands it out again after the visibility timeout. That timeout must
# exceed the longest task, or a task still running would be delivered a second time meanwhile
# (webapp/celery.py applies both; JOB_TIME_LIMIT_S is also the hard time limit of those tasks).
JOB_TIME_LIMIT_S = env_int("JOB_TIME_LIMIT_S", 4 * 3600)
CELERY_VISIBILITY_TIMEOUT_S = env_int("CELERY_VISIBILITY_TIMEOUT_S", JOB_TIME_LIMIT_S + 3600)
if CELERY_VISIBILITY_TIMEOUT_S <= JOB_TIME_LIMIT_S:
    raise ConfigError(
        f"CELERY_VISIBILITY_TIMEOUT_S={CELERY_VISIBILITY_TIMEOUT_S} must exceed JOB_TIME_LIMIT_S="
        f"{JOB_TIME_LIMIT_S}: a task still running would be delivered a second time"
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_S}

# Jobs whose worker died (annotator/actions/reaper.py, run by every embed worker every REAPER_INTERVAL_S).
# A running job's worker records a heartbeat every JOB_HEARTBEAT_S, even through a long step that reports
# no progress; a job silent for JOB_HEARTBEAT_TIMEOUT_S is reaped: sent to a worker again when its task can
# start over (imports, exports; at most JOB_MAX_ATTEMPTS claims in all), failed with the reason otherwise.
JOB_HEARTBEAT_S = env_int("JOB_HEARTBEAT_S", 10)
JOB_HEARTBEAT_TIMEOUT_S = env_int("JOB_HEARTBEAT_TIMEOUT_S", 120)
if JOB_HEARTBEAT_TIMEOUT_S < 3 * JOB_HEARTBEAT_S:
    raise ConfigError("JOB_HEARTBEAT_TIMEOUT_S must be at least three heartbeats (3 × JOB_HEARTBEAT_S)")
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)
# A pending job no worker has claimed (its message lost with a Redis restart) is sent again after
# JOB_PENDING_RESEND_S (a duplicate of a message still queued is harmless: only one claim can win), and
# failed once it has waited JOB_PENDING_MAX_S in all.
JOB_PENDING_RESEND_S = env_int("JOB_PENDING_RESEND_S", 600)
JOB_PENDING_MAX_S = env_int("JOB_PENDING_MAX_S", 6 * 3600)
REAPER_INTERVAL_S = env_int("REAPER_INTERVAL_S", 30)

# Retention (annotator/actions/reaper.py, every RETENTION_INTERVAL_S): export zips are removed this many
# days after they were made; embedding files of series that no longer exist are removed.
EXPORT_RETENTION_DAYS = env_int("EXPORT_RETENTION_DAYS", 7)
RETENTION_INTERVAL_S = env_int("RETENTION_INTERVAL_S", 3600)

MODEL_DIR = Path(env_str("MODEL_DIR", str(VAR_DIR / "models")))
DEVICE = env_choice("DEVICE", "auto", {"auto", "cpu", "cuda"})
INFERENCE_BACKEND = env_choice("INFERENCE_BACKEND", "auto", {"auto", "torch", "openvino"})
DEFAULT_MODEL = env_str("DEFAULT_MODEL", "lite_medsam")

MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 2 * 1024**3)
# Uploads (imports, reference labels) per user: a folder is one upload, so 10 a minute with bursts of 20
# never slows a person and bounds what one account can make the server parse (annotator/ratelimit.py).
UPLOAD_RATE_PER_MINUTE = env_int("UPLOAD_RATE_PER_MINUTE", 10)
UPLOAD_BURST = env_int("UPLOAD_BURST", 20)
# Import limits (defaults and reasons in annotator/imaging/limits.py).
IMPORT_ZIP_MAX_ENTRIES = env_int("IMPORT_ZIP_MAX_ENTRIES", 20_000)
IMPORT_ZIP_MAX_BYTES = env_int("IMPORT_ZIP_MAX_BYTES", 4 * 1024**3)
IMPORT_MAX_PIXELS = env_int("IMPORT_MAX_PIXELS", 100_000_000)
IMPORT_MAX_VOXELS = env_int("IMPORT_MAX_VOXELS", 600_000_000)
IMPORT_SYNC_MAX_SLICES = env_int("IMPORT_SYNC_MAX_SLICES", 8)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "annotator.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI schema of the REST API (/api/schema/) and its Swagger UI (/api/docs/), for signed-in users;
# the UI's files come from the drf-spectacular-sidecar package, never a CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": "Delineate API",
    "DESCRIPTION": "Projects, studies, masks, tasks and review of Delineate. Errors answer "
    '{"error": {"code", "message", "details"}}; state-changing requests need the CSRF token of the session.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": "/api/",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "annotator.api.schema.error_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Embeddings: float16 files shared by all workers, plus a bounded LRU in each worker's memory.
EMBEDDING_DIR = Path(env_str("EMBEDDING_DIR", str(MEDIA_ROOT / "embeddings")))
# 256×64×64 float32 is 4 MiB per slice: 512 MB holds ~120 slices, a whole CT series around the view.
EMBEDDING_CACHE_MB = env_int("EMBEDDING_CACHE_MB", 512)
# Which slices of a series have embeddings is kept in Redis (annotator/scheduling.py) for this long after the
# series was last viewed or embedded; the embedding files themselves follow the retention of their series.
EMBEDDING_READY_TTL_DAYS = env_int("EMBEDDING_READY_TTL_DAYS", 7)
# Background embedding runners. On a 2-core CPU one encoder call already uses both cores.
EMBED_RUNNERS = env_int("EMBED_RUNNERS", 1)
