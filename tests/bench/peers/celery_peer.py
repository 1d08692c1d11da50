"""Celery 5 peer (issue 16, item 6): Redis broker and result backend, prefork -c 2, no-op tasks. Chain = one
Celery chain; fan-out = one group; both timed from queueing to the last result.

Run with the bench venv's python (not the app's): ``python celery_peer.py CHAIN FAN_OUT`` (REDIS_URL in the
environment).
"""

import os
import sys

import _peer
import celery
from celery import Celery, chain, group

REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("celery_peer", broker=REDIS, backend=REDIS)
app.conf.update(worker_prefetch_multiplier=4, task_acks_late=False, worker_hijack_root_logger=False)


@app.task
def noop(*_args):
    return None


def main() -> None:
    n_chain, n_fan = _peer.sizes()
    worker = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "celery_peer",
        "worker",
        "-c",
        "2",
        "-P",
        "prefork",
        "-l",
        "WARNING",
    ]
    with _peer.background(worker):
        noop.delay().get(timeout=120)  # worker up
        group(noop.si() for _ in range(20))().get(timeout=120)  # warm both processes
        chain_seconds = _peer.seconds(lambda: chain(*[noop.si() for _ in range(n_chain)])().get(timeout=600))
        fan_seconds = _peer.seconds(lambda: group(noop.si() for _ in range(n_fan))().get(timeout=600))
    _peer.report(
        n_chain=n_chain, chain_seconds=chain_seconds, n_fan=n_fan, fan_seconds=fan_seconds, version=celery.__version__
    )


if __name__ == "__main__":
    main()
