"""Fixtures for the stand-in's tests: a small chart, and real helm (3 and 4) pointed at a fresh stand-in."""

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from clusterjobs.standin import KubeStandIn

CHART_YAML = "apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: '1.0'\n"
VALUES_YAML = "image: nginx:1.27\nreplicas: 2\ngreeting: hello\nneverReady: false\nextra: ''\n"
TEMPLATES = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  labels: {app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/name: web}
  {{- if .Values.neverReady }}
  annotations: {standin.budportal.dev/never-ready: "true"}
  {{- end }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/name: web}
  template:
    metadata:
      labels: {app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/name: web}
    spec:
      containers:
        - name: web
          image: {{ .Values.image }}
          ports: [{containerPort: 80, name: http}]
          env:
            - {name: GREETING, value: {{ .Values.greeting | quote }}}
            {{- with .Values.extra }}
            - {name: EXTRA, value: {{ . | quote }}}
            {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-web
  labels: {app.kubernetes.io/instance: {{ .Release.Name }}}
spec:
  selector: {app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/name: web}
  ports: [{port: 80, targetPort: http, name: http}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels: {app.kubernetes.io/instance: {{ .Release.Name }}}
data:
  greeting: {{ .Values.greeting | quote }}
  {{- with .Values.extra }}
  extra: {{ . | quote }}
  {{- end }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-setup
  labels: {app.kubernetes.io/instance: {{ .Release.Name }}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: setup, image: busybox, command: [echo, {{ .Values.greeting | quote }}]}]
"""

TEST_HOOK = """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations: {"helm.sh/hook": test}
spec:
  restartPolicy: Never
  containers: [{name: probe, image: busybox, command: [wget, "{{ .Release.Name }}-web"]}]
"""


@pytest.fixture(scope="session")
def demo_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A chart with a Deployment, a Service, a ConfigMap, a Job, and a ``helm test`` Pod."""
    chart = tmp_path_factory.mktemp("charts") / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML)
    (chart / "values.yaml").write_text(VALUES_YAML)
    (chart / "templates" / "all.yaml").write_text(TEMPLATES)
    (chart / "templates" / "test.yaml").write_text(TEST_HOOK)
    return chart


@dataclass
class Helm:
    """The real helm CLI, pointed at one stand-in through a kubeconfig file."""

    binary: str
    kubeconfig: Path
    chart: Path
    durations: list[float] = field(default_factory=list)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        result = subprocess.run(
            [self.binary, "--kubeconfig", str(self.kubeconfig), *args], capture_output=True, text=True, timeout=90
        )
        self.durations.append(time.monotonic() - started)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def install(
        self, release: str, namespace: str, *extra: str, check: bool = True, timeout: str = "60s"
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "upgrade",
            "--install",
            release,
            str(self.chart),
            "-n",
            namespace,
            "--create-namespace",
            "--wait",
            "--timeout",
            timeout,
            *extra,
            check=check,
        )

    def status(self, release: str, namespace: str) -> dict[str, Any]:
        return json.loads(self.run("status", release, "-n", namespace, "-o", "json").stdout)

    def history(self, release: str, namespace: str) -> list[dict[str, Any]]:
        return json.loads(self.run("history", release, "-n", namespace, "-o", "json").stdout)


@pytest.fixture(params=["helm3", "helm4"])
def helm(request: pytest.FixtureRequest, kube_standin: KubeStandIn, kubeconfig_file: Path, demo_chart: Path) -> Helm:
    """Each test runs once with Helm 3.17.3 and once with Helm 4.1.4."""
    fixture = "helm_binary" if request.param == "helm3" else "helm4_binary"
    return Helm(request.getfixturevalue(fixture), kubeconfig_file, demo_chart)


@pytest.fixture
def helm3(helm_binary: str, kubeconfig_file: Path, demo_chart: Path) -> Helm:
    return Helm(helm_binary, kubeconfig_file, demo_chart)
