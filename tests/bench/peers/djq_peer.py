"""Bare django-q2 peer (issue 16, item 6): the substrate under the portal, Redis broker, 2 workers, no-op tasks,
results in a throwaway SQLite file. Chain = each task queues the next (as the portal's continuation would without
its own engine); fan-out = N async_task in one group, timed until the group's N results are saved.

Run with the bench venv's python: ``python djq_peer.py CHAIN FAN_OUT`` (REDIS_URL in the environment).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def settings_module() -> None:
    os.environ.setdefault("DJQ_PEER_DB", os.path.join(tempfile.mkdtemp(), "djq.sqlite3"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "djq_peer_settings"


def noop(*_args):
    return None


def hop(left: int, group_name: str) -> None:
    """One hop of the chain: queue the next until none are left (the last one saves the result)."""
    from django_q.tasks import async_task

    if left > 1:
        async_task("djq_peer.hop", left - 1, group_name, save=False)
    else:
        async_task("djq_peer.noop", group=group_name)


def main() -> None:
    n_chain, n_fan = int(sys.argv[1]), int(sys.argv[2])
    settings_module()
    import django

    django.setup()
    from django.core.management import call_command
    from django_q.tasks import async_task, count_group

    call_command("migrate", verbosity=0)
    worker = subprocess.Popen(
        [sys.executable, "-c", "import djq_peer; djq_peer.cluster()"],
        cwd=HERE,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def wait(group_name: str, n: int) -> None:
        deadline = time.monotonic() + 600
        while (count_group(group_name) or 0) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(group_name)
            time.sleep(0.005)

    try:
        for _ in range(20):
            async_task("djq_peer.noop", group="warm")
        wait("warm", 20)
        started = time.perf_counter()
        async_task("djq_peer.hop", n_chain, "chain", save=False)
        wait("chain", 1)
        chain_ms = (time.perf_counter() - started) / n_chain * 1000
        started = time.perf_counter()
        for _ in range(n_fan):
            async_task("djq_peer.noop", group="fan")
        wait("fan", n_fan)
        fan = n_fan / (time.perf_counter() - started)
        print(json.dumps({"chain_ms_per_hop": chain_ms, "fan_out_per_s": fan}))
    finally:
        worker.terminate()
        worker.wait(30)


def cluster() -> None:
    settings_module()
    import django

    django.setup()
    from django_q.cluster import Cluster

    Cluster().start()


if __name__ == "__main__":
    main()
