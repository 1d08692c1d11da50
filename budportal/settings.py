"""Bud Portal settings.

Embedded defaults (SQLite, the django-q2 ORM broker, the in-memory channel layer) need no services.
``DATABASE_URL`` switches to PostgreSQL and ``REDIS_URL`` to channels-redis plus the django-q2 Redis broker.
"""

import os
import shutil
import tempfile
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import unquote, urlparse

from csp.constants import NONE, SELF

from budportal.logconfig import logging_config

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
    # TCP keepalives (libpq): a load balancer or NAT that drops an idle connection without a word (AWS NLB after
    # 350 s, Azure after 4 min) keeps it while the probes flow, and a peer gone silent is noticed within ~90 s.
    # The pool's check (budportal/postgresql/base.py) sees only what reached the socket. The URL may override.
    options: dict[str, object] = {"keepalives": "1", "keepalives_idle": "60", "keepalives_interval": "10"}
    options["keepalives_count"] = "3"
    for part in parsed.query.split("&"):
        if "=" in part:
            key, value = part.split("=", 1)
            options[key] = value
    conn_max_age = env_int("DATABASE_CONN_MAX_AGE", 0)
    pool_size = env_int("DATABASE_POOL_SIZE", 8)
    if conn_max_age == 0 and pool_size > 0:
        # Opening a PostgreSQL connection per request (a backend process forked, authentication, Django's
        # session set-up) cost more than the request itself; a psycopg pool lends each request thread an open
        # one and takes it back at the request's end. At most pool_size per process, so N web processes hold at
        # most N × pool_size connections however many clients wait (a request waits up to 10 s for one).
        options["pool"] = {"min_size": min(2, pool_size), "max_size": pool_size, "timeout": 10}
    return {
        # Django's backend with a pool health check that costs no round trip (budportal/postgresql/base.py).
        "ENGINE": "budportal.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")),
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        # Under ASGI every request thread opens its own connection, and persistent ones pile up until
        # PostgreSQL refuses clients ("too many clients already"), so the web process hands them back per
        # request, to the pool above. Workers, which reuse one thread, set DATABASE_CONN_MAX_AGE=60 instead
        # (scripts/portal.sh, the chart): a pool and persistent connections exclude each other.
        "CONN_MAX_AGE": conn_max_age,
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
    "axes",
    "csp",
    "ninja",  # serves /api/docs with its bundled Swagger UI from static/ (no CDN: offline, CSP-friendly)
    "budportal",
    "pipelines",
    "clusterjobs",
    "usecases",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "budportal.middleware.RequestSizeLimitMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "budportal.middleware.BrandedNotFoundMiddleware",  # before CommonMiddleware: see the module
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout flagged during the view into its lockout answer.
    "axes.middleware.AxesMiddleware",
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

# Threads per web process that run requests (budportal/asgi_handler.py): as many as the database pool lends
# connections, so a request never waits for a connection another thread of its process holds.
WEB_THREADS = env_int("WEB_THREADS", env_int("DATABASE_POOL_SIZE", 8) or 8)

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
Q_WORKERS = env_int("Q_WORKERS", 2)
Q_CLUSTER = {
    "name": "budportal",
    "workers": Q_WORKERS,
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
# Content-Security-Policy (django-csp), defence in depth against injected markup: scripts, styles and
# connections only from the portal itself, no inline code (templates use static/js/portal.js and the
# stylesheet), no framing. Swagger UI (/api/docs) and the admin run under the same policy.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    },
}

# django-axes: failed log-ins are counted per username AND client address (so a stranger cannot lock a user out
# from elsewhere), in the database (shared by every web process). Staff unlock in the admin (Axes → Access
# attempts: delete) or with `manage.py axes_reset_username <name>`; a successful log-in clears the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "budportal.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "budportal.views.login_locked_out"
AXES_HTTP_RESPONSE_CODE = 429
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

# Structured logs (budportal.logconfig): JSON lines with the execution/step/deployment ids in production,
# readable text in development.
LOG_FORMAT = env_str("LOG_FORMAT") or ("text" if DEBUG else "json")
LOGGING = logging_config(fmt=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO"))

# Functions that hold a decrypted kubeconfig are marked sensitive_variables; hidden even with DEBUG on.
DEFAULT_EXCEPTION_REPORTER_FILTER = "budportal.debug.AlwaysSafeExceptionReporterFilter"

# --- Bud Portal -----------------------------------------------------------------------------------
# Key material for encrypting cluster kubeconfigs at rest; derived from SECRET_KEY unless given.
KUBECONFIG_ENCRYPTION_KEY = env_str("KUBECONFIG_ENCRYPTION_KEY")
HELM_BINARY = env_str("HELM_BINARY") or shutil.which("helm") or str(BASE_DIR / ".venv" / "bin" / "helm")
HELM_DEFAULT_TIMEOUT_SECONDS = env_int("HELM_DEFAULT_TIMEOUT_SECONDS", 600)
CHARTS_DIR = BASE_DIR / "charts"
# Remote charts (README "Chart sources"): fetched once per install, cached by digest, bounded.
CHART_CACHE_DIR = env_str("CHART_CACHE_DIR") or str(Path(tempfile.gettempdir()) / "budportal-chart-cache")
CHART_CACHE_MAX_BYTES = env_int("CHART_CACHE_MAX_BYTES", 512 * 1024 * 1024)
CHART_MAX_BYTES = env_int("CHART_MAX_BYTES", 20 * 1024 * 1024)
CHART_FETCH_TIMEOUT_SECONDS = env_int("CHART_FETCH_TIMEOUT_SECONDS", 120)
# git:// (the git daemon protocol) is unencrypted and unauthenticated: off unless a trusted network asks for it.
CHART_ALLOW_GIT_PROTOCOL = env_bool("CHART_ALLOW_GIT_PROTOCOL", False)
GIT_CHART_MAX_BYTES = env_int("GIT_CHART_MAX_BYTES", 100 * 1024 * 1024)  # the shallow clone of one ref
USECASE_CATALOG_DIR = BASE_DIR / "usecases" / "catalog"
USE_PIPELINE_ORCHESTRATION = env_bool("USE_PIPELINE_ORCHESTRATION", True)
# How often the periodic sweep enforces timeouts, recovers stale steps and re-dispatches events.
PIPELINE_SWEEP_SECONDS = env_int("PIPELINE_SWEEP_SECONDS", 5)
# Health of running deployments (their releases' objects, read from the cluster): checked every
# HEALTH_CHECK_INTERVAL_SECONDS, at most HEALTH_SWEEP_BATCH deployments per sweep (oldest-checked first); a
# cluster that cannot be read is asked again after a doubling back-off of at most HEALTH_BACKOFF_MAX_SECONDS.
HEALTH_CHECK_INTERVAL_SECONDS = env_int("HEALTH_CHECK_INTERVAL_SECONDS", 60)
HEALTH_SWEEP_BATCH = env_int("HEALTH_SWEEP_BATCH", 25)
HEALTH_BACKOFF_MAX_SECONDS = env_int("HEALTH_BACKOFF_MAX_SECONDS", 1800)
# A RUNNING step whose lease is older than this is taken as abandoned by a killed worker.
PIPELINE_STEP_LEASE_SECONDS = env_int("PIPELINE_STEP_LEASE_SECONDS", 60)
# Jinja renders (step params, template value previews, deployment plans) run in a pool of worker processes
# with OS limits, so no template can hold the web process or a pipeline worker: wall time per render, address
# space a worker may add, size of a rendered result (JSON bytes), worker processes per portal process.
RENDER_TIMEOUT_SECONDS = env_float("RENDER_TIMEOUT_SECONDS", 2.0)
RENDER_MEMORY_MB = env_int("RENDER_MEMORY_MB", 256)
RENDER_MAX_OUTPUT_BYTES = env_int("RENDER_MAX_OUTPUT_BYTES", 2_000_000)
RENDER_WORKERS = env_int("RENDER_WORKERS", 2)
# Fairness: at most this many steps of one user hold (or are queued for) a worker; the rest wait, ready, until
# one of theirs finishes. The default leaves one worker process free for other users; 0 = no limit.
PIPELINE_MAX_RUNNING_STEPS_PER_USER = env_int("PIPELINE_MAX_RUNNING_STEPS_PER_USER", max(1, Q_WORKERS - 1))
# Retention: the sweep deletes finished executions (steps, events) and events older than this, at most
# PIPELINE_RETENTION_BATCH of each per run; never those of a deployment in flight. 0 keeps everything.
PIPELINE_RETENTION_SECONDS = env_int("PIPELINE_RETENTION_SECONDS", 30 * 24 * 3600)
PIPELINE_RETENTION_BATCH = env_int("PIPELINE_RETENTION_BATCH", 500)
# Backpressure: while more tasks than this wait in the broker, new executions are refused with 429 and
# Retry-After (work already running is never refused). 0 = no limit.
PIPELINE_MAX_QUEUE_DEPTH = env_int("PIPELINE_MAX_QUEUE_DEPTH", 20000)
# Ceiling of the ``delay`` action's ``seconds`` (a DAG asking for more is refused with 422).
PIPELINE_MAX_DELAY_SECONDS = env_int("PIPELINE_MAX_DELAY_SECONDS", 60)
# The safety-net re-read of the event log by every open stream (2 queries each time). With Redis every web process
# gets the workers' wake-ups, so 100 open streams need not cost 200 queries a second: 5 s there, 1 s otherwise.
SSE_POLL_SECONDS = env_float("SSE_POLL_SECONDS", 5.0 if REDIS_URL else 1.0)
# Embedded (SQLite, no Redis): how often each web process asks SQLite whether anything was committed, to wake
# its streams (pipelines/sse_wakeup.py). 0 turns it off (streams then wait up to SSE_POLL_SECONDS).
SSE_WAKE_SECONDS = env_float("SSE_WAKE_SECONDS", 0.02)
SSE_HEARTBEAT_SECONDS = env_float("SSE_HEARTBEAT_SECONDS", 15.0)
NOTIFICATION_WEBHOOK_TIMEOUT_SECONDS = env_int("NOTIFICATION_WEBHOOK_TIMEOUT_SECONDS", 5)
API_TOKEN_FAILURES_PER_MINUTE = env_int("API_TOKEN_FAILURES_PER_MINUTE", 30)
# A web process remembers a valid bearer token (and its user) this long: a token revoked or a user deactivated
# elsewhere stops working within it (at once in the process that made the change). 0: look up every request.
API_TOKEN_CACHE_SECONDS = env_float("API_TOKEN_CACHE_SECONDS", 5.0)
# The hottest reads run as prepared statements on PostgreSQL (usecases.selectors.rows). Off behind a pooler in
# transaction mode that cannot keep them (PgBouncer before 1.22, or without max_prepared_statements).
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
# Networks that http_request steps, webhooks and https:// / oci:// chart refs may reach although they are not
# public (comma-separated CIDRs, e.g. "10.20.0.0/16"); empty: only public addresses (see pipelines/outbound.py).
OUTBOUND_ALLOWED_NETWORKS = [n.strip() for n in env_str("OUTBOUND_ALLOWED_NETWORKS", "").split(",") if n.strip()]
# Proxies (CIDRs) whose X-Forwarded-For is believed; empty = the direct peer is the client (budportal.client_ip).
# A typo fails at start-up rather than on the first request.
TRUSTED_PROXIES = [str(ip_network(c.strip(), strict=False)) for c in env_str("TRUSTED_PROXIES").split(",") if c.strip()]
# GET /metrics answers only ``Authorization: Bearer <METRICS_TOKEN>``; empty: no /metrics at all (404).
METRICS_TOKEN = env_str("METRICS_TOKEN")
# prometheus-client's multiprocess mode: every process of this host writes its samples here, and /metrics of
# any web process reports them all. The directory must exist before the first sample (scripts/portal.sh and the
# chart empty it at start).
if env_str("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(env_str("PROMETHEUS_MULTIPROC_DIR"), exist_ok=True)
