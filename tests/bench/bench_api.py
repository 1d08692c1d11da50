"""``GET /api/deployments/{id}`` under 50 concurrent clients against a LiveStack's web processes; the deployment
is a real one (valkey-cache on the Kubernetes API stand-in).

The clients are ApacheBench (``ab -k -c 50``, C, one process) when it is installed, so the load generator does not
eat the Python CPU it measures; otherwise 50 threads with a keep-alive ``http.client`` connection each. Besides
latency and throughput the table gives the web processes' own CPU time per request (utime + stime from /proc,
summed over the supervisor's children), which a busy machine barely changes.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from tests.bench import Table
from tests.bench._live import available_configs, live_stack, median, percentile

CLIENTS = 50
REQUESTS_PER_CLIENT = 40
AB_REQUESTS = int(os.environ.get("BENCH_AB_REQUESTS", "6000"))


def _deployment(stack, standin) -> str:
    _, cluster = stack.api("POST", "/api/clusters", json={"name": "bench", "kubeconfig": standin.kubeconfig()})
    _, created = stack.api(
        "POST", "/api/deployments", json={"name": "bench", "template": "valkey-cache", "cluster_id": cluster["id"]}
    )
    stack.api("POST", f"/api/deployments/{created['id']}/start")
    path = f"/api/deployments/{created['id']}"
    stack.wait_for(lambda: stack.api("GET", path)[1]["status"] == "running", timeout=120)
    return path


def _client(stack, path: str, latencies: list[float], errors: list[int], start: threading.Barrier) -> None:
    url = urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Bearer {stack.token}"}
    start.wait()
    for _ in range(REQUESTS_PER_CLIENT):
        began = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append((time.perf_counter() - began) * 1000)
        if response.status != 200:
            errors.append(response.status)
            if response.status == 429:  # rate limited: not this benchmark's subject, and it would skew it
                break
    conn.close()


def web_pids(stack) -> list[int]:
    """The web processes: the supervisor's children (budportal.serve), or the single daphne itself."""
    top = stack.processes["daphne"].pid
    if b"budportal.serve" not in Path(f"/proc/{top}/cmdline").read_bytes():
        return [top]  # a lone daphne (its children are render workers, not web processes)
    out = subprocess.run(["ps", "--ppid", str(top), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def measure_ab(stack, path: str) -> list:
    """ApacheBench: one C process drives the 50 keep-alive connections."""
    argv = ["ab", "-q", "-k", "-c", str(CLIENTS), "-n", str(AB_REQUESTS), "-l", "-s", "60"]
    argv += ["-H", f"Authorization: Bearer {stack.token}", "-e", "/dev/stdout", f"{stack.url}{path}"]
    pids = web_pids(stack)
    cpu = cpu_seconds(pids)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
    cpu = cpu_seconds(pids) - cpu
    percent = {int(p): float(ms) for p, ms in re.findall(r"^(\d+),([\d.]+)$", out, re.M)}
    rate = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    done = int(re.search(r"Complete requests:\s+(\d+)", out).group(1))
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    errors = failed + (int(non2xx.group(1)) if non2xx else 0)
    return [percent[50], percent[99], rate, str(errors), round(cpu / done * 1000, 2)]


def measure(stack, path: str) -> list:
    if shutil.which("ab") and not os.environ.get("BENCH_THREADS"):
        return measure_ab(stack, path)
    latencies: list[float] = []
    errors: list[int] = []
    start = threading.Barrier(CLIENTS + 1)
    pids = web_pids(stack)
    cpu = cpu_seconds(pids)
    threads = [threading.Thread(target=_client, args=(stack, path, latencies, errors, start)) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    cpu = cpu_seconds(pids) - cpu
    by_status = ", ".join(f"{n}× {code}" for code, n in sorted(Counter(errors).items())) or "0"
    per_request = round(cpu / len(latencies) * 1000, 2)
    return [median(latencies), percentile(latencies, 99), len(latencies) / wall, by_status, per_request]


def run() -> list[Table]:
    from clusterjobs.standin import KubeStandIn

    table = Table(
        f"GET /api/deployments/{{id}}, {CLIENTS} concurrent clients (LiveStack, 2 workers)",
        ["config", "server", "web processes", "p50 (ms)", "p99 (ms)", "requests/s", "errors", "web CPU ms/request"],
        note=f"{CLIENTS} keep-alive clients (ab when installed). Target: ≥ 800 req/s.",
    )
    for config in available_configs():
        for server in web_servers():
            for processes in web_processes():
                env = {"WEB_PROCESSES": str(processes), "WEB_SERVER": server}
                with KubeStandIn().start() as standin, live_stack(config, **env) as stack:
                    path = _deployment(stack, standin)
                    table.rows.append([config, server, processes, *measure(stack, path)])
                    print("row:", table.rows[-1], flush=True)
    return [table]


def web_processes() -> list[int]:
    """``BENCH_WEB_PROCESSES=1,2`` measures one web process and then two behind ``budportal.serve``."""
    return [int(n) for n in os.environ.get("BENCH_WEB_PROCESSES", "1").split(",") if n.strip()]


def web_servers() -> list[str]:
    """``BENCH_WEB_SERVERS=uvicorn,daphne`` (default: uvicorn) picks ``budportal.serve --server``."""
    return [s.strip() for s in os.environ.get("BENCH_WEB_SERVERS", "uvicorn").split(",") if s.strip()]
