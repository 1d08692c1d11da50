"""``manage.py sandbox_cluster``: run the Kubernetes API stand-in as a simulated cluster and register it.

Helm installs into it for real (objects are stored, workloads are reported ready), but nothing runs: it lets
a newcomer follow a whole deployment without a cluster. It is labelled simulated everywhere it appears.
"""

import signal
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clusterjobs import services
from clusterjobs.standin import KubeStandIn


class Command(BaseCommand):
    help = "Start the simulated sandbox cluster (a Kubernetes API stand-in: nothing runs) until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0, help="0 picks a free port (the cluster is re-registered)")
        parser.add_argument("--name", default="sandbox", help="the cluster's name in the portal")
        parser.add_argument("--owner", help="username owning the cluster (default: the 'admin' superuser)")
        parser.add_argument(
            "--install-delay",
            type=float,
            default=0.0,
            help="seconds a new Deployment takes to become ready (to watch progress)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        standin = KubeStandIn(host=options["host"], port=options["port"]).start()
        standin.install_delay_seconds = options["install_delay"]
        standin.request_log_limit = 1000
        try:
            path = standin.write_kubeconfig(Path(settings.DATA_DIR) / "sandbox-kubeconfig.yaml")
            self.stdout.write(self.style.SUCCESS(f"Sandbox cluster (simulated: nothing runs) at {standin.url}"))
            self.stdout.write(f"kubeconfig: {path}")
            self._register(standin, options)
            self._serve_until_interrupted()
        finally:
            standin.stop()
            self.stdout.write("Sandbox cluster stopped.")

    def _register(self, standin: KubeStandIn, options: dict[str, Any]) -> None:
        register = getattr(services, "cluster_register_sandbox", None)
        owner = self._owner(options["owner"])
        if register is None or owner is None:
            self.stdout.write("Not registered in the portal (no owner or no registration service).")
            return
        cluster = register(url=standin.url, kubeconfig=standin.kubeconfig(), owner=owner, name=options["name"])
        username = owner.get_username()
        self.stdout.write(f"Registered as cluster {cluster.name!r} (id {cluster.pk}) for user {username!r}.")

    @staticmethod
    def _owner(username: str | None) -> Any:
        users = get_user_model().objects
        if username:
            owner = users.filter(username=username).first()
            if owner is None:
                raise CommandError(f"no user named {username!r}")
            return owner
        return users.filter(username="admin").first() or users.filter(is_superuser=True).order_by("pk").first()

    @staticmethod
    def _serve_until_interrupted() -> None:
        """Block until Ctrl-C or SIGTERM (how scripts/portal.sh stops it)."""

        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, interrupt)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
