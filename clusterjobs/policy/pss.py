"""Kubernetes Pod Security Standards (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
"baseline" and "restricted" profiles, as of Kubernetes 1.33, on one pod spec.

Every control is an allowlist, as upstream writes it: a field is fine when it is absent or holds one of the
allowed values, and anything else is a problem, whatever its type. So ``privileged: "y"`` (a string the API
server would refuse anyway) is a problem here too; only values that can never mean "on" pass.
Problems read ``<path>: <what> (<control>)`` with the dotted path from the object's root.
One addition to baseline: an explicit ``allowPrivilegeEscalation: true`` stays refused, as it was before.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    BASELINE = "baseline"
    RESTRICTED = "restricted"


CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
FALSE_OR_UNSET = (None, False)


def _is(value: Any, allowed: tuple[Any, ...]) -> bool:
    # ``0 == False`` and ``1 == True`` in Python: compare types too, as JSON does.
    return any(value is a or (type(value) is type(a) and value == a) for a in allowed)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def containers(spec: dict[str, Any], at: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate(_list(spec.get(list_name))):
            yield f"{at}.{list_name}[{index}]", _dict(container)


def _security_contexts(spec: dict[str, Any], at: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The pod's securityContext, then each container's."""
    yield f"{at}.securityContext", _dict(spec.get("securityContext"))
    for path, container in containers(spec, at):
        yield f"{path}.securityContext", _dict(container.get("securityContext"))


# ---- baseline ----------------------------------------------------------------------------------------------


def _host_process(spec: dict[str, Any], at: str) -> list[str]:
    return [
        f"{path}.windowsOptions.hostProcess: {ctx['windowsOptions']['hostProcess']!r} (HostProcess)"
        for path, ctx in _security_contexts(spec, at)
        if not _is(_dict(ctx.get("windowsOptions")).get("hostProcess"), FALSE_OR_UNSET)
    ]


def _host_namespaces(spec: dict[str, Any], at: str) -> list[str]:
    return [
        f"{at}.{field}: {spec[field]!r} (host namespaces)"
        for field in ("hostNetwork", "hostPID", "hostIPC")
        if not _is(spec.get(field), FALSE_OR_UNSET)
    ]


def _privileged(spec: dict[str, Any], at: str) -> list[str]:
    return [
        f"{path}.securityContext.privileged: {c['securityContext']['privileged']!r} (privileged containers)"
        for path, c in containers(spec, at)
        if not _is(_dict(c.get("securityContext")).get("privileged"), FALSE_OR_UNSET)
    ]


def _added_capabilities(spec: dict[str, Any], at: str, allowed: frozenset[str], control: str) -> list[str]:
    problems = []
    for path, container in containers(spec, at):
        added = _dict(_dict(container.get("securityContext")).get("capabilities")).get("add")
        if added is not None and not isinstance(added, list):
            problems.append(f"{path}.securityContext.capabilities.add: {added!r} ({control})")
        for index, capability in enumerate(_list(added)):
            if not (isinstance(capability, str) and capability in allowed):
                problems.append(f"{path}.securityContext.capabilities.add[{index}]: {capability!r} ({control})")
    return problems


def _host_path_volumes(spec: dict[str, Any], at: str) -> list[str]:
    return [
        f"{at}.volumes[{index}].hostPath ({_dict(volume).get('name', '?')}) (hostPath volumes)"
        for index, volume in enumerate(_list(spec.get("volumes")))
        if _dict(volume).get("hostPath") is not None
    ]


def _host_ports(spec: dict[str, Any], at: str) -> list[str]:
    return [
        f"{path}.ports[{index}].hostPort: {port['hostPort']!r} (host ports)"
        for path, container in containers(spec, at)
        for index, port in enumerate(_list(container.get("ports")))
        if not _is(_dict(port).get("hostPort"), (None, 0))
    ]


def _apparmor(spec: dict[str, Any], at: str, metadata: dict[str, Any], meta_at: str) -> list[str]:
    problems = [
        f"{path}.appArmorProfile.type: {ctx['appArmorProfile'].get('type')!r} (AppArmor)"
        for path, ctx in _security_contexts(spec, at)
        if "appArmorProfile" in ctx and not _is(_dict(ctx["appArmorProfile"]).get("type"), (None, *PROFILE_TYPES))
    ]
    for key, value in _dict(metadata.get("annotations")).items():
        if str(key).startswith(APPARMOR_ANNOTATION) and not (
            value == "runtime/default" or (isinstance(value, str) and value.startswith("localhost/"))
        ):
            problems.append(f"{meta_at}.annotations[{key}]: {value!r} (AppArmor)")
    return problems


def _selinux(spec: dict[str, Any], at: str) -> list[str]:
    problems = []
    for path, ctx in _security_contexts(spec, at):
        options = ctx.get("seLinuxOptions")
        if options is None:
            continue
        options = _dict(options)
        if not _is(options.get("type"), (None, *SELINUX_TYPES)):
            problems.append(f"{path}.seLinuxOptions.type: {options['type']!r} (SELinux)")
        problems += [
            f"{path}.seLinuxOptions.{field}: {options[field]!r} (SELinux)"
            for field in ("user", "role")
            if not _is(options.get(field), (None, ""))
        ]
    return problems


def _proc_mount(spec: dict[str, Any], at: str) -> list[str]:
    return [
        f"{path}.securityContext.procMount: {c['securityContext']['procMount']!r} (/proc mount type)"
        for path, c in containers(spec, at)
        if not _is(_dict(c.get("securityContext")).get("procMount"), (None, "Default"))
    ]


def _seccomp(spec: dict[str, Any], at: str) -> list[str]:
    return [
        f"{path}.seccompProfile.type: {ctx['seccompProfile'].get('type')!r} (seccomp)"
        for path, ctx in _security_contexts(spec, at)
        if "seccompProfile" in ctx and not _is(_dict(ctx["seccompProfile"]).get("type"), (None, *PROFILE_TYPES))
    ]


def _sysctls(spec: dict[str, Any], at: str) -> list[str]:
    sysctls = _dict(spec.get("securityContext")).get("sysctls")
    return [
        f"{at}.securityContext.sysctls[{index}].name: {_dict(item).get('name')!r} (sysctls)"
        for index, item in enumerate(_list(sysctls))
        if _dict(item).get("name") not in SAFE_SYSCTLS
    ]


def baseline_problems(spec: dict[str, Any], at: str, metadata: dict[str, Any], meta_at: str) -> list[str]:
    return [
        *_host_process(spec, at),
        *_host_namespaces(spec, at),
        *_privileged(spec, at),
        *_added_capabilities(spec, at, BASELINE_CAPABILITIES, "capabilities"),
        *_host_path_volumes(spec, at),
        *_host_ports(spec, at),
        *_apparmor(spec, at, metadata, meta_at),
        *_selinux(spec, at),
        *_proc_mount(spec, at),
        *_seccomp(spec, at),
        *_sysctls(spec, at),
    ]


# ---- restricted --------------------------------------------------------------------------------------------


def _volume_types(spec: dict[str, Any], at: str) -> list[str]:
    problems = []
    for index, volume in enumerate(_list(spec.get("volumes"))):
        sources = [key for key in _dict(volume) if key != "name"]
        problems += [
            f"{at}.volumes[{index}].{source} (volume types)"
            for source in sources
            if source not in RESTRICTED_VOLUME_TYPES
        ]
    return problems


def _privilege_escalation(spec: dict[str, Any], at: str) -> list[str]:
    return [
        f"{path}.securityContext.allowPrivilegeEscalation: must be false (privilege escalation)"
        for path, c in containers(spec, at)
        if not _is(_dict(c.get("securityContext")).get("allowPrivilegeEscalation"), (False,))
    ]


def _run_as_non_root(spec: dict[str, Any], at: str) -> list[str]:
    pod_value = _dict(spec.get("securityContext")).get("runAsNonRoot")
    problems = []
    if not _is(pod_value, (None, True)):
        problems.append(f"{at}.securityContext.runAsNonRoot: must be true (running as non-root)")
    for path, container in containers(spec, at):
        value = _dict(container.get("securityContext")).get("runAsNonRoot")
        if not (_is(value, (True,)) or (value is None and _is(pod_value, (True,)))):
            problems.append(
                f"{path}.securityContext.runAsNonRoot: must be true, here or for the pod (running as non-root)"
            )
    return problems


def _run_as_user(spec: dict[str, Any], at: str) -> list[str]:
    return [
        f"{path}.runAsUser: {ctx['runAsUser']!r} (running as non-root user)"
        for path, ctx in _security_contexts(spec, at)
        if "runAsUser" in ctx
        and not (ctx["runAsUser"] is None or (type(ctx["runAsUser"]) is int and ctx["runAsUser"] != 0))
    ]


def _seccomp_required(spec: dict[str, Any], at: str) -> list[str]:
    pod_type = _dict(_dict(spec.get("securityContext")).get("seccompProfile")).get("type")
    if _is(pod_type, tuple(PROFILE_TYPES)):
        return []  # set for the pod; a container that sets its own is checked by the baseline control
    return [
        f"{path}.securityContext.seccompProfile.type: must be RuntimeDefault or Localhost, here or for the "
        "pod (seccomp)"
        for path, c in containers(spec, at)
        if not _is(_dict(_dict(c.get("securityContext")).get("seccompProfile")).get("type"), tuple(PROFILE_TYPES))
    ]


def _drop_all(spec: dict[str, Any], at: str) -> list[str]:
    return [
        f"{path}.securityContext.capabilities.drop: must include ALL (capabilities)"
        for path, c in containers(spec, at)
        if "ALL" not in _list(_dict(_dict(c.get("securityContext")).get("capabilities")).get("drop"))
    ]


def restricted_problems(spec: dict[str, Any], at: str) -> list[str]:
    return [
        *_volume_types(spec, at),
        *_privilege_escalation(spec, at),
        *_run_as_non_root(spec, at),
        *_run_as_user(spec, at),
        *_seccomp_required(spec, at),
        *_drop_all(spec, at),
        *_added_capabilities(spec, at, RESTRICTED_CAPABILITIES, "capabilities, restricted"),
    ]


def _explicit_privilege_escalation(spec: dict[str, Any], at: str) -> list[str]:
    # Not a baseline control upstream, but the portal refused it before PSS and keeps doing so: asking for
    # it explicitly is never needed by a workload the portal deploys.
    return [
        f"{path}.securityContext.allowPrivilegeEscalation: "
        f"{c['securityContext']['allowPrivilegeEscalation']!r} (privilege escalation)"
        for path, c in containers(spec, at)
        if not _is(_dict(c.get("securityContext")).get("allowPrivilegeEscalation"), FALSE_OR_UNSET)
    ]


def pod_spec_problems(
    spec: dict[str, Any],
    *,
    at: str,
    metadata: dict[str, Any] | None = None,
    meta_at: str = "metadata",
    level: Level = Level.BASELINE,
) -> list[str]:
    """Every Pod Security Standards problem of one pod spec at dotted path ``at`` (its pod metadata, for
    the AppArmor annotations, at ``meta_at``)."""
    problems = baseline_problems(spec, at, _dict(metadata), meta_at)
    if level == Level.RESTRICTED:
        return problems + [p for p in restricted_problems(spec, at) if p not in problems]
    return problems + _explicit_privilege_escalation(spec, at)
