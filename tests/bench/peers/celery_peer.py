"""Celery 5 peer (issue 16, item 6): Redis broker and result backend, prefork -c 2, no-op tasks.

Run with the bench venv's python (not the app's): ``python celery_peer.py REDIS_URL CHAIN FAN_OUT``; prints one
JSON line {"chain_ms_per_hop", "fan_out_per_s"}.
"""

import json
import os
import subprocess
import sys
import time

from celery import Celery, chain, group

REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("celery_peer", broker=REDIS, backend=REDIS)
app.conf.update(worker_prefetch_multiplier=4, task_acks_late=False, worker_hijack_root_logger=False)


@app.task
def noop(*_args):
    return None


def main() -> None:
    n_chain, n_fan = int(sys.argv[1]), int(sys.argv[2])
    here = os.path.dirname(os.path.abspath(__file__))
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_peer", "worker", "-c", "2", "-P", "prefork", "-l", "WARNING"],
        cwd=here,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        noop.delay().get(timeout=120)  # worker up
        group(noop.si() for _ in range(20))().get(timeout=120)  # warm both processes
        started = time.perf_counter()
        chain(*[noop.si() for _ in range(n_chain)])().get(timeout=600)
        chain_ms = (time.perf_counter() - started) / n_chain * 1000
        started = time.perf_counter()
        group(noop.si() for _ in range(n_fan))().get(timeout=600)
        fan = n_fan / (time.perf_counter() - started)
        print(json.dumps({"chain_ms_per_hop": chain_ms, "fan_out_per_s": fan}))
    finally:
        worker.terminate()
        worker.wait(30)


if __name__ == "__main__":
    main()
