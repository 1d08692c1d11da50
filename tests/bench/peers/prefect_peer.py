"""Prefect 3 peer (issue 16, item 6): a local Prefect server on SQLite in a throwaway PREFECT_HOME, one flow run
whose no-op tasks run on a thread pool of 2 (``ThreadPoolTaskRunner(max_workers=2)``, Prefect's way to run tasks
concurrently in one process). Chain = each task submitted with ``wait_for`` its predecessor; fan-out = N tasks
submitted at once; both timed inside the flow from the first submit to the last result, as the Celery and
django-q2 peers time theirs from the first task queued (creating and finishing the flow run itself is not
counted, as starting the Celery workers is not). Task states reach the server as events, as in any Prefect 3 run.

Run with the bench venv's python: ``python prefect_peer.py CHAIN FAN_OUT``.
"""

import os
import sys
import tempfile
import urllib.request

import _peer


def configure(home: str) -> list[str]:
    """Settings for this process and the server (Prefect reads them at import): returns the server command."""
    port = _peer.free_port()
    os.environ.update(
        {
            "PREFECT_HOME": home,
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
    )
    return [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]


def healthy() -> bool:
    try:
        with urllib.request.urlopen(os.environ["PREFECT_API_URL"] + "/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def main() -> None:
    n_chain, n_fan = _peer.sizes()
    with tempfile.TemporaryDirectory(prefix="prefect-peer-") as home:
        measure(n_chain, n_fan, configure(home))


def measure(n_chain: int, n_fan: int, server: list[str]) -> None:
    import prefect
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.futures import wait
    from prefect.task_runners import ThreadPoolTaskRunner

    @task(cache_policy=NO_CACHE, persist_result=False)
    def noop(*_args):
        return None

    def chain() -> None:
        future = noop.submit()
        for _ in range(n_chain - 1):
            future = noop.submit(wait_for=[future])
        future.result()

    def fan_out() -> None:
        futures = [noop.submit() for _ in range(n_fan)]
        wait(futures)
        for future in futures:
            future.result()  # raises if a task failed

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2), persist_result=False)
    def bench() -> tuple[float, float]:
        wait([noop.submit() for _ in range(20)])  # warm both threads and the client's connection
        return _peer.seconds(chain), _peer.seconds(fan_out)

    with _peer.background(server):
        _peer.wait_until(healthy, "prefect server", timeout=180, interval=0.2)
        chain_seconds, fan_seconds = bench()
    _peer.report(
        n_chain=n_chain, chain_seconds=chain_seconds, n_fan=n_fan, fan_seconds=fan_seconds, version=prefect.__version__
    )


if __name__ == "__main__":
    main()
