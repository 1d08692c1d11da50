"""Minimal Django settings for the bare django-q2 peer (tests/bench/peers/djq_peer.py)."""

import os

SECRET_KEY = "bench-peer-" + "k" * 40
INSTALLED_APPS = ["django_q"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["DJQ_PEER_DB"]}}
USE_TZ = True
Q_CLUSTER = {
    "name": "djq-peer",
    "workers": 2,
    "redis": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    "timeout": 60,
    "retry": 120,
    "save_limit": 0,
    "poll": 0.01,
    "log_level": "WARNING",
}
