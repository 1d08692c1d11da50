"""Bare django-q2 peer (issue 16, item 6): the substrate under the portal, Redis broker, 2 workers, no-op tasks,
results in a throwaway SQLite file. Chain = each task queues the next (as the portal's continuation would without
its own engine); fan-out = N async_task in one group, timed until the group's N results are saved.

Run with the bench venv's python: ``python djq_peer.py CHAIN FAN_OUT`` (REDIS_URL in the environment).
"""

import os
import sys
import tempfile
from importlib.metadata import version

import _peer


def settings_module() -> None:
    """djq_peer_settings, with DJQ_PEER_DB (set by main, inherited by the cluster) as its database."""
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
    with tempfile.TemporaryDirectory(prefix="djq-peer-") as data:
        os.environ["DJQ_PEER_DB"] = os.path.join(data, "djq.sqlite3")
        measure(*_peer.sizes())


def measure(n_chain: int, n_fan: int) -> None:
    settings_module()
    import django

    django.setup()
    from django.core.management import call_command
    from django_q.tasks import async_task, count_group

    call_command("migrate", verbosity=0)

    def until(group_name: str, n: int) -> None:
        _peer.wait_until(lambda: (count_group(group_name) or 0) >= n, group_name)

    def chain() -> None:
        async_task("djq_peer.hop", n_chain, "chain", save=False)
        until("chain", 1)

    def fan_out() -> None:
        for _ in range(n_fan):
            async_task("djq_peer.noop", group="fan")
        until("fan", n_fan)

    # The cluster imports this module as djq_peer (its cwd is this directory), so the task paths resolve.
    with _peer.background([sys.executable, "-c", "import djq_peer; djq_peer.cluster()"]):
        for _ in range(20):
            async_task("djq_peer.noop", group="warm")
        until("warm", 20)
        chain_seconds = _peer.seconds(chain)
        fan_seconds = _peer.seconds(fan_out)
    _peer.report(
        n_chain=n_chain, chain_seconds=chain_seconds, n_fan=n_fan, fan_seconds=fan_seconds, version=version("django-q2")
    )


def cluster() -> None:
    settings_module()
    import django

    django.setup()
    from django_q.cluster import Cluster

    Cluster().start()


if __name__ == "__main__":
    main()
