"""Bud Portal settings.

Embedded defaults (SQLite, the django-q2 ORM broker, the in-memory channel layer) need no services.
``DATABASE_URL`` switches to PostgreSQL and ``REDIS_URL`` to channels-redis plus the django-q2 Redis broker.
"""

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def database_from_url(url: str) -> dict:
    """Parse ``postgres://user:pass@host:port/name?sslmode=...`` into a Django DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ValueError(f"DATABASE_URL scheme {parsed.scheme!r} is not supported (use postgres://)")
    options = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")),
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        # Under ASGI every request thread opens its own connection, and persistent ones pile up until
        # PostgreSQL refuses clients ("too many clients already"), so the web process closes them per request.
        # Workers, which reuse one thread, set DATABASE_CONN_MAX_AGE=60 (scripts/portal.sh, the chart).
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 0),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": options,
    }


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY") or "dev-insecure-change-me-" + "x" * 40  # an empty value counts as unset
if not DEBUG and SECRET_KEY.startswith("dev-insecure"):
    raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = [h for h in env_str("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in env_str("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    "budportal",
    "pipelines",
    "clusterjobs",
    "usecases",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "budportal.urls"
ASGI_APPLICATION = "budportal.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

DATA_DIR = Path(env_str("BUDPORTAL_DATA_DIR", str(BASE_DIR / "var")))

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    # Several processes (daphne, qcluster workers) write one file: WAL, a busy timeout and IMMEDIATE
    # transactions keep "database is locked" away under load.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(DATA_DIR / "budportal.sqlite3")),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=20000; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# django-q2 prefers "orm" over "redis" when both are present, so exactly one broker key is set.
Q_CLUSTER = {
    "name": "budportal",
    "workers": env_int("Q_WORKERS", 2),
    "timeout": env_int("Q_TIMEOUT", 3900),
    "retry": env_int("Q_RETRY", 4000),
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": env_int("Q_SAVE_LIMIT", 1000),
    "poll": env_float("Q_POLL", 0.2),
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))

# A request body larger than this is refused before a view sees it (YAML/JSON bombs, huge uploads).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 2 * 1024 * 1024)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is a domain-wide commitment browsers keep for months and needs max-age >= 1 year: opt in only.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]  # "preload not set": off on purpose (above)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Bud Portal -----------------------------------------------------------------------------------
# Key material for encrypting cluster kubeconfigs at rest; derived from SECRET_KEY unless given.
KUBECONFIG_ENCRYPTION_KEY = env_str("KUBECONFIG_ENCRYPTION_KEY")
HELM_BINARY = env_str("HELM_BINARY") or shutil.which("helm") or str(BASE_DIR / ".venv" / "bin" / "helm")
HELM_DEFAULT_TIMEOUT_SECONDS = env_int("HELM_DEFAULT_TIMEOUT_SECONDS", 600)
CHARTS_DIR = BASE_DIR / "charts"
USECASE_CATALOG_DIR = BASE_DIR / "usecases" / "catalog"
USE_PIPELINE_ORCHESTRATION = env_bool("USE_PIPELINE_ORCHESTRATION", True)
# How often the periodic sweep enforces timeouts, recovers stale steps and re-dispatches events.
PIPELINE_SWEEP_SECONDS = env_int("PIPELINE_SWEEP_SECONDS", 5)
# A RUNNING step whose lease is older than this is taken as abandoned by a killed worker.
PIPELINE_STEP_LEASE_SECONDS = env_int("PIPELINE_STEP_LEASE_SECONDS", 60)
# Fairness: at most this many steps of one user hold (or are queued for) a worker; the rest wait, ready, until
# one of theirs finishes. The default leaves one worker process free for other users; 0 = no limit.
PIPELINE_MAX_RUNNING_STEPS_PER_USER = env_int("PIPELINE_MAX_RUNNING_STEPS_PER_USER", max(1, Q_CLUSTER["workers"] - 1))
# Retention: the sweep deletes finished executions (steps, events) and events older than this, at most
# PIPELINE_RETENTION_BATCH of each per run; never those of a deployment in flight. 0 keeps everything.
PIPELINE_RETENTION_SECONDS = env_int("PIPELINE_RETENTION_SECONDS", 30 * 24 * 3600)
PIPELINE_RETENTION_BATCH = env_int("PIPELINE_RETENTION_BATCH", 500)
# Backpressure: while more tasks than this wait in the broker, new executions are refused with 429 and
# Retry-After (work already running is never refused). 0 = no limit.
PIPELINE_MAX_QUEUE_DEPTH = env_int("PIPELINE_MAX_QUEUE_DEPTH", 20000)
# Ceiling of the ``delay`` action's ``seconds`` (a DAG asking for more is refused with 422).
PIPELINE_MAX_DELAY_SECONDS = env_int("PIPELINE_MAX_DELAY_SECONDS", 60)
SSE_POLL_SECONDS = env_float("SSE_POLL_SECONDS", 1.0)
SSE_HEARTBEAT_SECONDS = env_float("SSE_HEARTBEAT_SECONDS", 15.0)
NOTIFICATION_WEBHOOK_TIMEOUT_SECONDS = env_int("NOTIFICATION_WEBHOOK_TIMEOUT_SECONDS", 5)
API_TOKEN_FAILURES_PER_MINUTE = env_int("API_TOKEN_FAILURES_PER_MINUTE", 30)
