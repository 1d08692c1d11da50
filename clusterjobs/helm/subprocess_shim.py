"""Make pyhelm3 run ``helm`` directly instead of through ``/bin/sh -c``.

pyhelm3 0.5.8 starts every command with ``asyncio.create_subprocess_shell(shlex.join(argv))``. On Debian
``/bin/sh`` is dash, which forks rather than execs the command, so when a job is cancelled pyhelm3's
``proc.terminate()`` kills the shell while ``helm`` keeps running (and keeps its pipes open) until its own
``--timeout``. pyhelm3 looks ``asyncio`` up in its module namespace; giving it this shim, whose
``create_subprocess_shell`` splits the (shlex-joined, so exactly reversible) command line and execs it,
makes ``terminate()`` reach helm itself, and removes the shell from the path altogether.
"""

from __future__ import annotations

import asyncio
import shlex
import types
from typing import Any

import pyhelm3.command


async def _exec_instead_of_shell(cmd: str, **kwargs: Any) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(*shlex.split(cmd), **kwargs)


def install() -> None:
    if isinstance(pyhelm3.command.asyncio, types.SimpleNamespace):
        return
    shim = types.SimpleNamespace(**{name: getattr(asyncio, name) for name in dir(asyncio) if not name.startswith("__")})
    shim.subprocess = asyncio.subprocess
    shim.create_subprocess_shell = _exec_instead_of_shell
    pyhelm3.command.asyncio = shim
