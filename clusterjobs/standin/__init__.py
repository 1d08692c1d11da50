"""A Kubernetes API stand-in for the real ``helm`` binary: tests and the simulated sandbox cluster.

It is a contract fake, not Kubernetes: objects are stored and reported ready by fake controllers, and
nothing runs. See ``KubeStandIn``.
"""

from .standin import KubeStandIn

__all__ = ["KubeStandIn"]
