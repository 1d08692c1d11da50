"""Test settings: everything from the real settings, with only what tests need overridden."""

import os
import tempfile

os.environ.setdefault("BUDPORTAL_DATA_DIR", tempfile.mkdtemp(prefix="budportal-test-"))
# Under pytest-xdist every worker gets Redis databases of its own (pytest-django already gives it its own test
# database): its consumers' channel groups and the queues of the processes it starts never meet another worker's.
if os.environ.get("REDIS_URL") and os.environ.get("PYTEST_XDIST_WORKER"):
    from tests.production.services import redis_url_for_this_worker

    os.environ["REDIS_URL"] = redis_url_for_this_worker(os.environ["REDIS_URL"], os.environ["PYTEST_XDIST_WORKER"])

from budportal.settings import *  # noqa: E402,F403
from budportal.settings import Q_CLUSTER  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tasks run inline; tests that need real workers start a qcluster process themselves.
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
# The production pass of scripts/test.sh sets REDIS_URL: then the consumers run on channels-redis, as deployed.
if "REDIS_URL" not in os.environ:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
if "DATABASE_URL" not in os.environ:
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}  # noqa: F405
# pytest-django runs each test in one transaction on one connection: no pool (processes tests start keep theirs).
DATABASES["default"]["OPTIONS"].pop("pool", None)  # noqa: F405
# Tests start with no templates; tests that need the catalog run sync_templates themselves.
USECASE_CATALOG_AUTOLOAD = False
# The existing tests run their HTTP servers, chart repositories and webhooks on 127.0.0.1; the SSRF tests
# (tests/security/test_outbound.py) override this back to empty to prove the refusals.
OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
# Remote charts are cached per test process, not in the machine-wide default that parallel workers would share.
CHART_CACHE_DIR = os.path.join(os.environ["BUDPORTAL_DATA_DIR"], "chart-cache")
