"""``python -m budportal.serve``: N web processes (uvicorn, or daphne) answering on one port.

One process (one Python thread for the sync views) is the web tier's ceiling. This supervisor binds the port once
and hands the listening socket to ``WEB_PROCESSES`` children (``--fd``); the kernel gives each new connection to
one of them. A child that dies is started again; SIGTERM / SIGINT stop them all. Every child is a whole portal
web process: SSE streams are woken through the channel layer (Redis) or, on the embedded default, by each
child's own SQLite watcher (pipelines.sse_wakeup).

The server is uvicorn with httptools and uvloop by default (``WEB_SERVER``): it spends about a third of daphne's
(Twisted's) CPU per request (tests/bench/README.md). Both run the same ASGI application; Channels does not care.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from prometheus_client import multiprocess

RESTART_PAUSE_SECONDS = 1.0
STOP_GRACE_SECONDS = 20


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # uvicorn opens an inherited descriptor as a UNIX socket (socket.fromfd(fd, AF_UNIX, ...)), so neither it
    # nor the event loop sets TCP_NODELAY on the connections it accepts; Linux copies it from the listening
    # socket. Without it, Nagle held each response's body until the client's delayed ACK: +40 ms per request
    # on a keep-alive connection.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


SERVERS = ("uvicorn", "daphne")


def server_argv(server: str, fd: int, extra: list[str]) -> list[str]:
    """``-m <server>`` with this very interpreter: the same environment, and the working directory on sys.path."""
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "--fd", str(fd), *extra, "budportal.asgi:application"]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--fd",
        str(fd),
        # Like daphne: X-Forwarded-For is believed only through TRUSTED_PROXIES (budportal/client_ip.py), never
        # from any peer on 127.0.0.1 as uvicorn's default would.
        "--no-proxy-headers",
        "--lifespan",
        "off",  # the Channels router has no lifespan protocol
        "--ws",
        "none",  # the portal serves no websockets
        "--no-access-log",  # a log line per request costs as much as the request; /metrics counts them
        "--no-server-header",
        "--timeout-graceful-shutdown",
        str(STOP_GRACE_SECONDS // 2),  # open SSE streams would otherwise hold a stopping child until killed
        *extra,
        "budportal.asgi:application",
    ]


class Supervisor:
    def __init__(self, sock: socket.socket, processes: int, extra: list[str], server: str = "uvicorn") -> None:
        self.sock, self.processes, self.extra, self.server = sock, processes, extra, server
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def spawn(self) -> None:
        fd = self.sock.fileno()
        child = subprocess.Popen(server_argv(self.server, fd, self.extra), pass_fds=(fd,))
        self.children[child.pid] = child

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        for child in self.children.values():
            child.send_signal(signal.SIGTERM)
        signal.signal(signal.SIGALRM, self.kill)
        signal.alarm(STOP_GRACE_SECONDS)

    def kill(self, signum: int, frame: FrameType | None) -> None:
        for child in self.children.values():  # still closing connections after the grace period
            child.kill()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for _ in range(self.processes):
            self.spawn()
        while self.children:
            pid, status = os.wait()
            child = self.children.pop(pid, None)
            if child is None:
                continue
            forget_metrics_of(pid)
            if not self.stopping:
                print(f"web process {pid} exited ({status}); starting another", file=sys.stderr, flush=True)
                time.sleep(RESTART_PAUSE_SECONDS)  # a child that cannot start must not spin the CPU
                self.spawn()
        return 0


def forget_metrics_of(pid: int) -> None:
    """A dead child's open SSE streams are closed: drop its live gauges from the multiprocess directory."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        multiprocess.mark_process_dead(pid, directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-b", "--bind", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("-n", "--processes", type=int, default=int(os.environ.get("WEB_PROCESSES") or 1))
    parser.add_argument("-s", "--server", choices=SERVERS, default=os.environ.get("WEB_SERVER") or "uvicorn")
    args, extra = parser.parse_known_args(argv)  # anything else goes to the server (e.g. --timeout-keep-alive 30)
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    sock = listening_socket(args.bind, args.port)
    print(
        f"{args.processes} {args.server} web process(es) on http://{args.bind}:{args.port}/",
        file=sys.stderr,
        flush=True,
    )
    return Supervisor(sock, args.processes, extra, args.server).run()


if __name__ == "__main__":
    sys.exit(main())
