"""Fake controllers: what kube-controller-manager and the kubelet would report, without running anything.

Deployments get a ReplicaSet (controller owner reference, ``pod-template-hash``) and become Available; Jobs
complete; StatefulSets and DaemonSets report ready replicas; PVCs bind; Pods run; LoadBalancer Services get an
ingress address. Nothing becomes ready while the controllers are switched off, for a release marked failing,
or for an object annotated ``standin.budportal.dev/never-ready: "true"`` -- except that a Deployment
template that was ready once stays ready (a rollback to the last good revision succeeds, as on a real
cluster). Status timestamps reuse ``creationTimestamp`` so that a repeated reconcile writes nothing (and wakes
no watch).
"""

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .discovery import resource_for_kind
from .store import Store, owner_uids

logger = logging.getLogger(__name__)
NEVER_READY = "standin.budportal.dev/never-ready"
RELEASE_LABEL = "app.kubernetes.io/instance"
RELEASE_ANNOTATION = "meta.helm.sh/release-name"
KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "PersistentVolumeClaim", "Pod", "Service")


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _condition(obj: dict[str, Any], kind: str, status: bool, reason: str, message: str = "") -> dict[str, Any]:
    when = _meta(obj).get("creationTimestamp")
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastUpdateTime": when,
        "lastTransitionTime": when,
    }


def template_hash(template: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


class Controllers:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.enabled = True
        self.install_delay_seconds = 0.0
        self.failing_releases: set[str] = set()
        # Health switches, by (namespace, Deployment name): they apply after install too (ready once or not).
        self.unready: set[tuple[str, str]] = set()
        self.crash_looping: set[tuple[str, str]] = set()
        self._first_seen: dict[tuple[str, int], float] = {}
        self._waiting = False
        self._proven: set[tuple[str, str]] = set()  # (Deployment uid, ReplicaSet name) seen ready
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kube-standin-controllers", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        seen = -1
        while not self.store.closed:
            current = self.store.resource_version
            if current != seen or self._waiting:
                seen = current
                self.reconcile_safely()
            self.store.wait_for_change(seen, 0.05 if self._waiting else 1.0)

    def reconcile_safely(self) -> None:
        try:
            self.reconcile()
        except Exception:  # the controller thread must outlive any surprise (it also serves the sandbox)
            logger.exception("kube stand-in: reconcile failed")

    def reconcile(self) -> None:
        """One pass over every workload. The server also calls this right after a write, so that Helm's first
        readiness poll already sees the result (Helm 3 polls every 2 s)."""
        if not self.enabled:
            return
        with self._lock:
            self._reconcile_all()

    def _reconcile_all(self) -> None:
        self._waiting = False
        handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "Deployment": self._deployment,
            "StatefulSet": self._statefulset,
            "DaemonSet": self._daemonset,
            "Job": self._job,
            "PersistentVolumeClaim": self._pvc,
            "Pod": self._pod,
            "Service": self._service,
        }
        for kind, handler in handlers.items():
            for obj in self.store.list_objects(resource_for_kind(kind), "", lambda o: True)[0]:
                try:
                    handler(obj)
                except Exception:  # one malformed object must not stop the others from becoming ready
                    logger.exception("kube stand-in: reconciling %s %s failed", kind, _meta(obj).get("name"))

    # ---- readiness policy --------------------------------------------------------------------------------

    def _is_failing(self, obj: dict[str, Any]) -> bool:
        meta = _meta(obj)
        annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
        if annotations.get(NEVER_READY) == "true":
            return True
        return bool({labels.get(RELEASE_LABEL), annotations.get(RELEASE_ANNOTATION)} & self.failing_releases)

    def _ready(self, obj: dict[str, Any]) -> bool:
        """Ready unless failing; a new generation waits ``install_delay_seconds`` first."""
        if self._is_failing(obj):
            return False
        key = (_meta(obj).get("uid", ""), _meta(obj).get("generation", 1))
        first = self._first_seen.setdefault(key, time.monotonic())
        if time.monotonic() - first < self.install_delay_seconds:
            self._waiting = True
            return False
        return True

    def _write(self, kind: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = _meta(obj)
        self.store.write_status(resource_for_kind(kind), meta.get("namespace", ""), meta["name"], status)

    # ---- Deployments and their ReplicaSets -----------------------------------------------------------------

    def _switched_off(self, dep: dict[str, Any]) -> bool:
        key = (_meta(dep).get("namespace", ""), _meta(dep).get("name", ""))
        return key in self.unready or key in self.crash_looping

    def _deployment(self, dep: dict[str, Any]) -> None:
        replicas = dep["spec"].get("replicas", 1)
        current = self._sync_replicasets(dep, replicas)
        # A template that was ready once stays ready, so rolling back from a failing upgrade succeeds.
        ready = (_meta(dep)["uid"], _meta(current)["name"]) in self._proven or self._ready(dep)
        if ready:
            self._proven.add((_meta(dep)["uid"], _meta(current)["name"]))
        ready = ready and not self._switched_off(dep)
        available = replicas if ready else 0
        self._sync_pods(dep, current, replicas)
        self._write(
            "ReplicaSet",
            current,
            {
                "replicas": replicas,
                "fullyLabeledReplicas": replicas,
                "readyReplicas": available,
                "availableReplicas": available,
                "observedGeneration": _meta(current).get("generation", 1),
            },
        )
        status = self._deployment_status(dep, current, replicas, available)
        if (_meta(dep).get("namespace", ""), _meta(dep)["name"]) in self.crash_looping:
            # What the Deployment controller reports once progressDeadlineSeconds passed without progress.
            message = f'ReplicaSet "{_meta(current)["name"]}" has timed out progressing.'
            status["conditions"][1] = _condition(dep, "Progressing", False, "ProgressDeadlineExceeded", message)
        self._write("Deployment", dep, status)

    @staticmethod
    def _deployment_status(dep: dict[str, Any], rs: dict[str, Any], replicas: int, available: int) -> dict[str, Any]:
        done = available >= replicas
        progress = (
            f'ReplicaSet "{_meta(rs)["name"]}" has successfully progressed.'
            if done
            else f'ReplicaSet "{_meta(rs)["name"]}" is progressing.'
        )
        status = {
            "observedGeneration": _meta(dep).get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": available,
            "availableReplicas": available,
            "conditions": [
                _condition(
                    dep,
                    "Available",
                    done,
                    "MinimumReplicasAvailable" if done else "MinimumReplicasUnavailable",
                    "Deployment has minimum availability."
                    if done
                    else "Deployment does not have minimum availability.",
                ),
                _condition(
                    dep, "Progressing", True, "NewReplicaSetAvailable" if done else "ReplicaSetUpdated", progress
                ),
            ],
        }
        if not done:
            status["unavailableReplicas"] = replicas - available
        return status

    def _sync_replicasets(self, dep: dict[str, Any], replicas: int) -> dict[str, Any]:
        """Create the ReplicaSet for the current template; scale the Deployment's older ones to zero."""
        meta = _meta(dep)
        rs_kind = resource_for_kind("ReplicaSet")
        wanted = self._replicaset_for(dep, replicas)
        for rs in self.store.list_objects(rs_kind, meta["namespace"], lambda o: meta["uid"] in owner_uids(o))[0]:
            if _meta(rs)["name"] != _meta(wanted)["name"] and rs["spec"].get("replicas") != 0:
                scaled = {**rs, "spec": {**rs["spec"], "replicas": 0}}
                scaled = self.store.replace(rs_kind, meta["namespace"], _meta(rs)["name"], scaled)
                self._write("ReplicaSet", scaled, {"replicas": 0, "observedGeneration": _meta(scaled)["generation"]})
        live = self.store.find(rs_kind, meta["namespace"], _meta(wanted)["name"])
        if live is None:
            return self.store.create(rs_kind, meta["namespace"], wanted)
        if live["spec"].get("replicas") != replicas:
            return self.store.replace(rs_kind, meta["namespace"], _meta(live)["name"], {**live, "spec": wanted["spec"]})
        return live

    def _sync_pods(self, dep: dict[str, Any], rs: dict[str, Any], replicas: int) -> None:
        """Pods owned by the current ReplicaSet (``<rs>-<n>``), as many as it wants; its older ReplicaSets' Pods
        went with their scale-down."""
        ns, rs_meta = _meta(dep)["namespace"], _meta(rs)
        pod_kind = resource_for_kind("Pod")
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_meta["name"], "uid": rs_meta["uid"]}
        owner.update(controller=True, blockOwnerDeletion=True)
        for index in range(replicas):
            suffix = hashlib.sha256(f"{rs_meta['uid']}/{index}".encode()).hexdigest()[:5]
            name = f"{rs_meta['name']}-{suffix}"
            if self.store.find(pod_kind, ns, name) is None:
                template = rs["spec"].get("template") or {}
                metadata = {**(template.get("metadata") or {}), "name": name, "ownerReferences": [owner]}
                self.store.create(pod_kind, ns, {"metadata": metadata, "spec": template.get("spec") or {}})
                self._event(
                    dep, "Normal", "ScalingReplicaSet", f"Scaled up replica set {rs_meta['name']} to {replicas}"
                )
        for rs_old in self._owned("ReplicaSet", ns, _meta(dep)["uid"]):
            if _meta(rs_old)["name"] != rs_meta["name"]:
                for pod in self._owned("Pod", ns, _meta(rs_old)["uid"]):
                    self.store.delete(pod_kind, ns, _meta(pod)["name"])
        for pod in self._owned("Pod", ns, rs_meta["uid"])[replicas:]:
            self.store.delete(pod_kind, ns, _meta(pod)["name"])

    def _owned(self, kind: str, namespace: str, uid: str) -> list[dict[str, Any]]:
        def owned(obj: dict[str, Any]) -> bool:
            return uid in owner_uids(obj)

        return self.store.list_objects(resource_for_kind(kind), namespace, owned)[0]

    def _event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Record an Event about ``obj`` once per (object, reason, message), as the kubelet/controllers would."""
        meta = _meta(obj)
        digest = hashlib.sha256(f"{meta.get('uid')}{reason}{message}".encode()).hexdigest()[:10]
        name = f"{meta['name']}.{digest}"
        events = resource_for_kind("Event")
        if self.store.find(events, meta["namespace"], name) is not None:
            return
        involved = {
            "kind": obj.get("kind"),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        }
        when = meta.get("creationTimestamp")
        event = {
            "metadata": {"name": name},
            "involvedObject": involved,
            "type": type_,
            "reason": reason,
            "message": message,
            "count": 1,
            "firstTimestamp": when,
            "lastTimestamp": when,
            "source": {"component": "kube-standin"},
        }
        self.store.create(events, meta["namespace"], event)

    @staticmethod
    def _replicaset_for(dep: dict[str, Any], replicas: int) -> dict[str, Any]:
        meta, spec = _meta(dep), dep["spec"]
        template = json.loads(json.dumps(spec.get("template") or {}))
        pod_hash = template_hash(template)
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
        selector = json.loads(json.dumps(spec.get("selector") or {}))
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        owner = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta["namespace"],
                "labels": template["metadata"]["labels"],
                "ownerReferences": [owner],
                "annotations": {"deployment.kubernetes.io/revision": str(meta.get("generation", 1))},
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }

    # ---- the other workloads -----------------------------------------------------------------------------

    def _statefulset(self, sts: dict[str, Any]) -> None:
        replicas = sts["spec"].get("replicas", 1)
        ready = replicas if self._ready(sts) else 0
        revision = f"{_meta(sts)['name']}-{template_hash(sts['spec'].get('template') or {})}"
        self._write(
            "StatefulSet",
            sts,
            {
                "observedGeneration": _meta(sts).get("generation", 1),
                "replicas": replicas,
                "readyReplicas": ready,
                "currentReplicas": replicas,
                "updatedReplicas": replicas,
                "availableReplicas": ready,
                "currentRevision": revision,
                "updateRevision": revision,
                "collisionCount": 0,
            },
        )

    def _daemonset(self, ds: dict[str, Any]) -> None:
        ready = 1 if self._ready(ds) else 0
        status = {
            "observedGeneration": _meta(ds).get("generation", 1),
            "desiredNumberScheduled": 1,
            "currentNumberScheduled": 1,
            "updatedNumberScheduled": 1,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
        }
        if not ready:
            status["numberUnavailable"] = 1
        self._write("DaemonSet", ds, status)

    def _job(self, job: dict[str, Any]) -> None:
        started = _meta(job).get("creationTimestamp")
        if not self._ready(job):
            self._write("Job", job, {"startTime": started, "active": 1, "ready": 0})
            return
        self._write(
            "Job",
            job,
            {
                "startTime": started,
                "completionTime": started,
                "active": 0,
                "ready": 0,
                "succeeded": job["spec"].get("completions") or 1,
                "conditions": [
                    _condition(job, "SuccessCriteriaMet", True, "CompletionsReached"),
                    _condition(job, "Complete", True, "CompletionsReached"),
                ],
            },
        )

    def _pvc(self, pvc: dict[str, Any]) -> None:
        if not self._ready(pvc):
            self._write("PersistentVolumeClaim", pvc, {"phase": "Pending"})
            return
        spec = pvc.get("spec") or {}
        capacity = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        self._write(
            "PersistentVolumeClaim",
            pvc,
            {"phase": "Bound", "accessModes": spec.get("accessModes", []), "capacity": {"storage": capacity}},
        )

    def _pod_switch(self, pod: dict[str, Any]) -> str:
        """``crash``/``unready`` when the Deployment owning this Pod (through its ReplicaSet) is switched."""
        meta = _meta(pod)
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") != "ReplicaSet":
                continue
            rs = self.store.find(resource_for_kind("ReplicaSet"), meta.get("namespace", ""), ref.get("name", ""))
            for dep_ref in _meta(rs or {}).get("ownerReferences") or []:
                key = (meta.get("namespace", ""), dep_ref.get("name", ""))
                if key in self.crash_looping:
                    return "crash"
                if key in self.unready:
                    return "unready"
        return ""

    def _pod(self, pod: dict[str, Any]) -> None:
        """Pods that are meant to finish (``helm test`` hooks) succeed; the others run and are ready, unless
        their Deployment is switched to crash-loop (waiting in CrashLoopBackOff) or to be unready."""
        if not self._ready(pod):
            self._write("Pod", pod, {"phase": "Pending"})
            return
        spec, started = pod.get("spec") or {}, _meta(pod).get("creationTimestamp")
        finishes = spec.get("restartPolicy") in ("Never", "OnFailure")
        switch = self._pod_switch(pod)
        state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started}}
        running: dict[str, Any] = {"running": {"startedAt": started}}
        if switch == "crash":
            message = "back-off 5m0s restarting failed container"
            running = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
            self._event(pod, "Warning", "BackOff", "Back-off restarting failed container")
        elif switch == "unready":
            self._event(pod, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
        ok = not finishes and not switch
        containers = [
            {
                "name": c.get("name"),
                "ready": ok,
                "started": not finishes and switch != "crash",
                "restartCount": 5 if switch == "crash" else 0,
                "state": state if finishes else running,
            }
            for c in spec.get("containers") or []
        ]
        kinds = ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        self._write(
            "Pod",
            pod,
            {
                "phase": "Succeeded" if finishes else "Running",
                "podIP": "10.244.0.10",
                "startTime": started,
                "conditions": [_condition(pod, k, ok or k in kinds[:2], "") for k in kinds],
                "containerStatuses": containers,
            },
        )

    def _service(self, svc: dict[str, Any]) -> None:
        if (svc.get("spec") or {}).get("type") == "LoadBalancer" and self._ready(svc):
            self._write("Service", svc, {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}})
