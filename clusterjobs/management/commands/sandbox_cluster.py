"""``manage.py sandbox_cluster``: run the Kubernetes API stand-in as a simulated cluster and register it.

Helm installs into it for real (objects are stored, workloads are reported ready), but nothing runs: it lets
a newcomer follow a whole deployment without a cluster. It is labelled simulated everywhere it appears.

While it runs, ``manage.py sandbox_cluster --switch crash|unready|heal|delete --namespace NS --object NAME``
(from another shell) flips the running sandbox's health switches through its admin endpoint, whose URL and
token the running command keeps in ``DATA_DIR/sandbox-admin.json`` (0600), so a person can watch a
deployment's health change.
"""

import http.client
import json
import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clusterjobs import services
from clusterjobs.standin import KubeStandIn
from clusterjobs.standin.switches import ADMIN_ACTIONS, ADMIN_PREFIX

ADMIN_FILE = "sandbox-admin.json"


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

        parser.add_argument(
            "--switch",
            choices=ADMIN_ACTIONS,
            help="flip a switch of the running sandbox instead of starting one: crash (its Pods crash-loop), "
            "unready, heal, delete (the object, out of band)",
        )
        parser.add_argument("--namespace", help="with --switch: the deployment's namespace (uc-...)")
        parser.add_argument("--object", help="with --switch: the Deployment (or, for delete, object) name")
        parser.add_argument("--kind", default="Deployment", help="with --switch delete: the object's kind")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["switch"]:
            self._flip(options)
            return
        standin = KubeStandIn(host=options["host"], port=options["port"]).start()
        standin.install_delay_seconds = options["install_delay"]
        standin.request_log_limit = 1000
        try:
            path = standin.write_kubeconfig(Path(settings.DATA_DIR) / "sandbox-kubeconfig.yaml")
            standin.write_admin_file(Path(settings.DATA_DIR) / ADMIN_FILE)
            self.stdout.write(self.style.SUCCESS(f"Sandbox cluster (simulated: nothing runs) at {standin.url}"))
            self.stdout.write(f"kubeconfig: {path}")
            self._register(standin, options)
            self._serve_until_interrupted()
        finally:
            standin.stop()
            self.stdout.write("Sandbox cluster stopped.")

    def _flip(self, options: dict[str, Any]) -> None:
        if not options["namespace"] or not options["object"]:
            raise CommandError("--switch needs --namespace and --object")
        try:
            admin = json.loads((Path(settings.DATA_DIR) / ADMIN_FILE).read_text())
        except (OSError, ValueError):
            raise CommandError("no running sandbox found (start manage.py sandbox_cluster first)") from None
        url = urlsplit(str(admin.get("url", "")))
        if url.scheme != "http" or not url.hostname:
            raise CommandError(f"{ADMIN_FILE} names no usable URL")
        body = {"namespace": options["namespace"], "name": options["object"], "kind": options["kind"]}
        connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
        try:
            connection.request(
                "POST",
                ADMIN_PREFIX + options["switch"],
                body=json.dumps(body),
                headers={"Authorization": f"Bearer {admin.get('token', '')}", "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            answer = json.loads(response.read() or b"{}")
        except (OSError, ValueError) as exc:
            raise CommandError(f"the sandbox did not answer: {exc}") from None
        finally:
            connection.close()
        if response.status != 200:
            raise CommandError(f"the sandbox refused: {answer.get('message', response.status)}")
        self.stdout.write(f"{options['switch']}: {options['namespace']}/{options['object']}")

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
