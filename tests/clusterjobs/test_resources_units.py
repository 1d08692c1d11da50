"""Health and drift rules of ``clusterjobs.resources`` on objects as the API server returns them."""

from clusterjobs.resources import Health, NamespaceLister, drift, object_health


class NoClient:
    def get_json(self, path, **kwargs):
        raise AssertionError(f"no request expected, got {path}")


def test_drift_counts_only_fields_the_release_sets():
    want = {"metadata": {"name": "web", "labels": {"a": "1"}}, "spec": {"ports": [{"port": 80}]}}
    live = {
        "metadata": {"name": "web", "labels": {"a": "1"}, "uid": "u", "resourceVersion": "9"},
        "spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "clusterIP": "10.96.0.10"},
        "status": {"loadBalancer": {}},
    }
    assert drift(want, live) == []
    live["metadata"]["labels"]["a"] = "2"
    assert drift(want, live) == [{"path": "metadata.labels.a", "want": "1", "live": "2"}]


def test_a_hostile_kind_or_api_version_never_becomes_a_request_path():
    lister = NamespaceLister(NoClient(), "uc-0a1b2c3d")

    assert lister.objects("Secret/../../x", "v1") == {}
    assert lister.objects("Widget", "../../api/v1/namespaces/kube-system") == {}
    assert lister.requests == 0


def test_a_rollout_past_its_deadline_is_degraded_and_a_crash_looping_pod_too():
    stalled = {
        "kind": "Deployment",
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
        },
    }
    pod = {
        "kind": "Pod",
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "c", "restartCount": 7, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ],
        },
    }
    assert object_health(stalled)[0] == Health.DEGRADED
    assert object_health(pod) == (Health.DEGRADED, "c: CrashLoopBackOff (7 restarts)")
