"""Pure policy functions: every Pod Security Standards control, go-yaml (YAML 1.1) reading, request scoping.

The same controls are exercised end to end, with the real helm through the policy proxy, in
``test_policy_proxy.py``.
"""

import copy

import pytest

from clusterjobs.helm.manifests import check_manifests
from clusterjobs.policy import yaml11
from clusterjobs.policy.objects import flatten, object_problems
from clusterjobs.policy.pss import Level, pod_spec_problems
from clusterjobs.policy.scope import Policy, Refused, check_request

NS = "uc-0a1b2c3d"

# A pod spec that meets "restricted" (hence "baseline" too).
RESTRICTED_POD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "app",
            "image": "busybox",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
            },
        }
    ],
    "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "x"}}],
}


def pod(**changes):
    """The restricted pod spec with ``changes`` merged in: ``pod=..`` keys go to the spec, ``c=..`` to the
    first container, ``psc=..`` / ``csc=..`` to the pod's / the container's securityContext."""
    spec = copy.deepcopy(RESTRICTED_POD)
    spec.update(changes.get("pod", {}))
    spec["containers"][0].update(changes.get("c", {}))
    spec["securityContext"].update(changes.get("psc", {}))
    spec["containers"][0]["securityContext"].update(changes.get("csc", {}))
    return spec


BASELINE_VIOLATIONS = [
    (
        "HostProcess (pod)",
        pod(psc={"windowsOptions": {"hostProcess": True}}),
        "spec.securityContext.windowsOptions.hostProcess: True (HostProcess)",
    ),
    (
        "HostProcess (container)",
        pod(csc={"windowsOptions": {"hostProcess": True}}),
        "spec.containers[0].securityContext.windowsOptions.hostProcess",
    ),
    ("hostNetwork", pod(pod={"hostNetwork": True}), "spec.hostNetwork: True (host namespaces)"),
    ("hostPID", pod(pod={"hostPID": True}), "spec.hostPID: True (host namespaces)"),
    ("hostIPC", pod(pod={"hostIPC": True}), "spec.hostIPC: True (host namespaces)"),
    ("privileged", pod(csc={"privileged": True}), "securityContext.privileged: True (privileged containers)"),
    ("privileged as a string", pod(csc={"privileged": "y"}), "privileged: 'y' (privileged containers)"),
    ("SYS_ADMIN", pod(csc={"capabilities": {"add": ["SYS_ADMIN"]}}), "capabilities.add[0]: 'SYS_ADMIN'"),
    ("SYS_MODULE", pod(csc={"capabilities": {"add": ["SYS_MODULE"]}}), "capabilities.add[0]: 'SYS_MODULE'"),
    ("SYS_PTRACE", pod(csc={"capabilities": {"add": ["SYS_PTRACE"]}}), "capabilities.add[0]: 'SYS_PTRACE'"),
    ("DAC_READ_SEARCH", pod(csc={"capabilities": {"add": ["DAC_READ_SEARCH"]}}), "'DAC_READ_SEARCH'"),
    ("NET_RAW", pod(csc={"capabilities": {"add": ["NET_RAW"]}}), "'NET_RAW' (capabilities)"),
    ("ALL", pod(csc={"capabilities": {"add": ["ALL"]}}), "capabilities.add[0]: 'ALL'"),
    ("CAP_ prefix", pod(csc={"capabilities": {"add": ["CAP_SYS_ADMIN"]}}), "'CAP_SYS_ADMIN'"),
    (
        "hostPath",
        pod(pod={"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}),
        "spec.volumes[0].hostPath (root) (hostPath volumes)",
    ),
    (
        "hostPort",
        pod(c={"ports": [{"containerPort": 80, "hostPort": 80}]}),
        "spec.containers[0].ports[0].hostPort: 80 (host ports)",
    ),
    ("AppArmor field", pod(csc={"appArmorProfile": {"type": "Unconfined"}}), "appArmorProfile.type: 'Unconfined'"),
    (
        "AppArmor pod field",
        pod(psc={"appArmorProfile": {"type": "Unconfined"}}),
        "spec.securityContext.appArmorProfile.type",
    ),
    ("SELinux type", pod(csc={"seLinuxOptions": {"type": "spc_t"}}), "seLinuxOptions.type: 'spc_t' (SELinux)"),
    ("SELinux user", pod(psc={"seLinuxOptions": {"user": "system_u"}}), "seLinuxOptions.user: 'system_u'"),
    ("SELinux role", pod(csc={"seLinuxOptions": {"role": "sysadm_r"}}), "seLinuxOptions.role: 'sysadm_r'"),
    ("procMount", pod(csc={"procMount": "Unmasked"}), "procMount: 'Unmasked' (/proc mount type)"),
    (
        "seccomp pod",
        pod(psc={"seccompProfile": {"type": "Unconfined"}}),
        "spec.securityContext.seccompProfile.type: 'Unconfined' (seccomp)",
    ),
    (
        "seccomp container",
        pod(csc={"seccompProfile": {"type": "Unconfined"}}),
        "spec.containers[0].securityContext.seccompProfile.type: 'Unconfined'",
    ),
    (
        "unsafe sysctl",
        pod(psc={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}),
        "sysctls[0].name: 'kernel.msgmax' (sysctls)",
    ),
    (
        "init container",
        pod(pod={"initContainers": [{"name": "i", "securityContext": {"privileged": True}}]}),
        "spec.initContainers[0].securityContext.privileged",
    ),
    (
        "ephemeral container",
        pod(pod={"ephemeralContainers": [{"name": "e", "securityContext": {"capabilities": {"add": ["SYS_PTRACE"]}}}]}),
        "spec.ephemeralContainers[0].securityContext.capabilities",
    ),
]


@pytest.mark.parametrize(("control", "spec", "expected"), BASELINE_VIOLATIONS, ids=[v[0] for v in BASELINE_VIOLATIONS])
def test_it_refuses_each_baseline_control(control, spec, expected):
    problems = pod_spec_problems(spec, at="spec")

    assert any(expected in p for p in problems), problems


def test_it_refuses_an_unconfined_apparmor_annotation_on_the_pod_template():
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "template": {
                "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}},
                "spec": pod(),
            }
        },
    }

    assert object_problems(deployment, level=Level.BASELINE) == [
        (
            "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]: 'unconfined' "
            "(AppArmor)"
        )
    ]


@pytest.mark.parametrize(
    "spec",
    [
        pod(),
        pod(
            psc={"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}},
            csc={
                "appArmorProfile": {"type": "RuntimeDefault"},
                "seLinuxOptions": {"type": "container_t"},
                "procMount": "Default",
                "privileged": False,
            },
        ),
        pod(
            pod={"hostNetwork": False, "hostPID": None},
            c={"ports": [{"containerPort": 80, "hostPort": 0}]},
            psc={"sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"}]},
        ),
    ],
    ids=["restricted", "allowed-profiles", "allowed-values"],
)
def test_it_accepts_the_values_each_control_allows(spec):
    assert pod_spec_problems(spec, at="spec", level=Level.RESTRICTED) == []


def test_it_accepts_baseline_capabilities_at_baseline_but_not_at_restricted():
    spec = pod(csc={"capabilities": {"drop": ["ALL"], "add": ["CHOWN", "SETUID"]}})

    assert pod_spec_problems(spec, at="spec") == []
    assert pod_spec_problems(spec, at="spec", level=Level.RESTRICTED) == [
        "spec.containers[0].securityContext.capabilities.add[0]: 'CHOWN' (capabilities, restricted)",
        "spec.containers[0].securityContext.capabilities.add[1]: 'SETUID' (capabilities, restricted)",
    ]


RESTRICTED_VIOLATIONS = [
    (
        "volume types",
        pod(pod={"volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}]}),
        "spec.volumes[0].nfs (volume types)",
    ),
    (
        "allowPrivilegeEscalation unset",
        pod(csc={"allowPrivilegeEscalation": None}),
        "allowPrivilegeEscalation: must be false",
    ),
    ("runAsNonRoot unset", pod(psc={"runAsNonRoot": None}), "runAsNonRoot: must be true, here or for the pod"),
    (
        "runAsNonRoot false in a container",
        pod(csc={"runAsNonRoot": False}),
        "spec.containers[0].securityContext.runAsNonRoot",
    ),
    ("runAsUser 0", pod(csc={"runAsUser": 0}), "spec.containers[0].securityContext.runAsUser: 0"),
    ("runAsUser 0 for the pod", pod(psc={"runAsUser": 0}), "spec.securityContext.runAsUser: 0"),
    ("seccomp unset", pod(psc={"seccompProfile": None}), "seccompProfile.type: must be RuntimeDefault or Localhost"),
    ("drop ALL", pod(csc={"capabilities": {"drop": ["NET_RAW"]}}), "capabilities.drop: must include ALL"),
    (
        "add beyond NET_BIND_SERVICE",
        pod(csc={"capabilities": {"drop": ["ALL"], "add": ["KILL"]}}),
        "add[0]: 'KILL' (capabilities, restricted)",
    ),
]


@pytest.mark.parametrize(
    ("control", "spec", "expected"), RESTRICTED_VIOLATIONS, ids=[v[0] for v in RESTRICTED_VIOLATIONS]
)
def test_it_refuses_each_restricted_control_only_at_restricted(control, spec, expected):
    assert any(expected in p for p in pod_spec_problems(spec, at="spec", level=Level.RESTRICTED))
    assert not any(expected in p for p in pod_spec_problems(spec, at="spec", level=Level.BASELINE))


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("Pod", ("spec",)),
        ("PodTemplate", ("template", "spec")),
        ("ReplicationController", ("spec", "template", "spec")),
        ("ReplicaSet", ("spec", "template", "spec")),
        ("DaemonSet", ("spec", "template", "spec")),
        ("Job", ("spec", "template", "spec")),
        ("CronJob", ("spec", "jobTemplate", "spec", "template", "spec")),
        ("Rollout", ("spec", "template", "spec")),  # a custom resource: found by its shape
    ],
)
def test_it_finds_the_pod_spec_of_every_workload_kind(kind, path):
    obj = {"kind": kind, "metadata": {"name": "x"}}
    node = obj
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = pod(pod={"hostPID": True})

    assert object_problems(obj, level=Level.BASELINE) == [f"{'.'.join(path)}.hostPID: True (host namespaces)"]


def test_it_refuses_host_volumes_in_persistent_volumes_and_pod_security_labels_on_namespaces():
    pv = {"kind": "PersistentVolume", "spec": {"hostPath": {"path": "/etc"}}}
    namespace = {"kind": "Namespace", "metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}

    assert object_problems(pv, level=Level.BASELINE) == ["spec.hostPath (a volume on the node's filesystem)"]
    assert "pod-security.kubernetes.io/enforce" in object_problems(namespace, level=Level.BASELINE)[0]


def test_it_refuses_a_service_that_claims_external_ips():
    service = {"kind": "Service", "spec": {"externalIPs": ["10.96.0.1"], "ports": [{"port": 443}]}}

    assert object_problems(service, level=Level.BASELINE) == ["spec.externalIPs (a Service may not claim external IPs)"]
    assert object_problems({"kind": "Service", "spec": {"externalIPs": []}}, level=Level.BASELINE) == []


def test_it_unwraps_list_objects_like_helm_does():
    evil = {"kind": "Pod", "metadata": {"name": "p", "namespace": "kube-system"}, "spec": pod(pod={"hostPID": True})}
    wrapped = {"apiVersion": "v1", "kind": "List", "items": [{"kind": "ConfigMapList", "items": [evil]}]}

    assert list(flatten([wrapped])) == [evil]
    problems = check_manifests([wrapped], policy=Policy(namespace=NS))
    assert problems == [
        f"Pod/kube-system/p: metadata.namespace 'kube-system' is outside the deployment's namespace {NS}",
        "Pod/kube-system/p: spec.hostPID: True (host namespaces)",
    ]


def test_the_early_check_refuses_cluster_scoped_kinds_unless_the_cluster_allows_them():
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b"}}

    assert "cluster-scoped ClusterRoleBinding" in check_manifests([binding], policy=Policy(namespace=NS))[0]
    assert (
        check_manifests([binding], policy=Policy(namespace=NS, allowed_cluster_kinds=frozenset({"ClusterRoleBinding"})))
        == []
    )


# ---- YAML as the API server reads it ------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"])
def test_it_reads_yaml_1_1_true_words_as_true(word):
    assert yaml11.load(f"privileged: {word}") == {"privileged": True}


@pytest.mark.parametrize("word", ["n", "N", "no", "off", "OFF", "false"])
def test_it_reads_yaml_1_1_false_words_as_false(word):
    assert yaml11.load(f"privileged: {word}") == {"privileged": False}


def test_it_reads_numbers_like_go_yaml_and_leaves_quoted_words_alone():
    assert yaml11.load("a: 0x0\nb: 0_0\nc: 010\nd: '0'\ne: \"y\"\nf: 1:30\ng: ~") == {
        "a": 0,
        "b": 0,
        "c": 8,
        "d": "0",
        "e": "y",
        "f": "1:30",
        "g": None,
    }


@pytest.mark.parametrize(
    "text",
    ["a: 1\na: 2", "spec: {hostNetwork: false, hostNetwork: true}", "a: !!bool maybe", "a: [", "---\na: 1\n---\nb: 2"],
)
def test_it_refuses_yaml_it_cannot_read_unambiguously(text):
    with pytest.raises(yaml11.YAMLBodyError):
        yaml11.load(text)


# ---- request scope ----------------------------------------------------------------------------------------

RESOURCES = {
    ("v1", "secrets"): ("Secret", True),
    ("v1", "namespaces"): ("Namespace", False),
    ("apps/v1", "deployments"): ("Deployment", True),
    ("v1", "nodes"): ("Node", False),
    ("rbac.authorization.k8s.io/v1", "clusterroles"): ("ClusterRole", False),
    ("apiextensions.k8s.io/v1", "customresourcedefinitions"): ("CustomResourceDefinition", False),
}


def resolve(group_version, plural):
    return RESOURCES.get((group_version, plural))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/version"),
        ("GET", "/apis/apps/v1"),
        ("GET", "/openapi/v3/apis/apps/v1"),
        ("GET", f"/api/v1/namespaces/{NS}/secrets"),
        ("POST", f"/apis/apps/v1/namespaces/{NS}/deployments"),
        ("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/web"),
        ("DELETE", f"/api/v1/namespaces/{NS}/secrets/s"),
        ("POST", "/api/v1/namespaces"),
        ("PATCH", f"/api/v1/namespaces/{NS}"),
        ("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"),
    ],
)
def test_it_allows_what_helm_needs_in_the_deployments_namespace(method, path):
    check_request(method, path, Policy(namespace=NS), resolve)


@pytest.mark.parametrize(
    ("method", "path", "reason"),
    [
        ("GET", "/api/v1/namespaces/kube-system/secrets/admin-token", "outside the deployment's namespace"),
        ("GET", "/api/v1/secrets", "across all namespaces"),
        ("POST", "/apis/apps/v1/namespaces/kube-system/deployments", "outside the deployment's namespace"),
        ("GET", "/api/v1/namespaces", "is not the deployment's namespace"),
        ("DELETE", "/api/v1/namespaces/default", "is not the deployment's namespace"),
        ("GET", "/api/v1/nodes", "cluster-scoped Node"),
        ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", "cluster-scoped ClusterRole"),
        ("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "cluster-scoped CustomResourceDefinition"),
        ("GET", f"/api/v1/namespaces/{NS}/pods/p/exec", "subresource"),
        ("DELETE", f"/api/v1/namespaces/{NS}/secrets", "deleting every Secret"),
        ("GET", "/api/v1/namespaces/x/services/y/proxy/", "subresource"),
        ("GET", "/metrics", "not a Kubernetes resource path"),
        ("POST", "/apis/apps/v1", "discovery is read-only"),
        ("GET", "/apis/evil.example.com/v1/things", "has no resource"),
        ("CONNECT", "/version", "not something a Helm release needs"),
        ("GET", f"/api/v1/namespaces/{NS}/secrets/..", "not in canonical form"),
        ("GET", f"/api/v1/namespaces/{NS}/../kube-system/secrets", "not in canonical form"),
        ("GET", f"/api/v1/namespaces/{NS}/secrets/a%2F..%2F..%2Fkube-system", "not in canonical form"),
        ("GET", "/api/v1/namespaces/kube%2Dsystem/secrets", "not in canonical form"),
        ("GET", f"/api/v1//namespaces/{NS}/secrets", "not in canonical form"),
        ("GET", "http://evil.example.com/api/v1/namespaces", "not in canonical form"),
    ],
)
def test_it_refuses_everything_else_with_the_reason(method, path, reason):
    with pytest.raises(Refused, match=reason):
        check_request(method, path, Policy(namespace=NS), resolve)


def test_it_allows_a_cluster_scoped_kind_the_cluster_allows():
    policy = Policy(namespace=NS, allowed_cluster_kinds=frozenset({"ClusterRole.rbac.authorization.k8s.io"}))

    target = check_request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", policy, resolve)

    assert target.kind == "ClusterRole"
    assert not target.namespaced


def test_it_reads_rendered_manifests_as_helm_does_the_last_duplicate_key_winning():
    rendered = (
        "kind: Pod\nspec:\n  containers:\n  - securityContext: {privileged: false}\n"
        "    securityContext: {privileged: y}\n---\nkind: ConfigMap"
    )

    assert yaml11.load_all(rendered) == [
        {"kind": "Pod", "spec": {"containers": [{"securityContext": {"privileged": True}}]}},
        {"kind": "ConfigMap"},
    ]
