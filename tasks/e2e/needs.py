"""Which test images a Kubernetes version's conformance tests use, read from
that version's own sources (not from a list made for one release).

e2e.test lists every image any test may use (`--list-images`), not which
test uses which. The release's test/conformance/testdata/conformance.yaml
names the file of every conformance test; the images those files name
(`imageutils.Agnhost`, ...) are resolved through test/utils/image/manifest.go
(`configs[Agnhost] = Config{list.PromoterE2eRegistry, "agnhost", "2.59"}`
and the registries' defaults). A file holds other tests too, so this is a
superset: an image named here but not made is reported before the run as one
a conformance test may wait for; the run reports a pod that does (pulls.py)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

CONFORMANCE_LIST = "test/conformance/testdata/conformance.yaml"
IMAGE_MANIFEST = "test/utils/image/manifest.go"


def registries(manifest_go: str) -> dict[str, str]:
    """RegistryList's field -> its default (`PromoterE2eRegistry: "registry.k8s.io/e2e-test-images"`)."""
    return dict(re.findall(r'\b(\w+Registry):\s*"([^"]+)"', manifest_go))


def image_repositories(manifest_go: str) -> dict[str, str]:
    """imageutils' constant -> the repository it names (registry/name)."""
    known = registries(manifest_go)
    found = re.findall(r'configs\[(\w+)\]\s*=\s*Config\{list\.(\w+),\s*"([^"]+)"', manifest_go)
    return {constant: f"{known[registry]}/{name}" for constant, registry, name in found if registry in known}


def conformance_repositories(source: Path) -> list[str]:
    """The repositories the files of the version's conformance tests name, sorted."""
    entries = yaml.safe_load((source / CONFORMANCE_LIST).read_text()) or []
    files = sorted({entry["file"] for entry in entries if entry.get("file")})
    repositories = image_repositories((source / IMAGE_MANIFEST).read_text())
    used: set[str] = set()
    for name in files:
        path = source / name
        if path.is_file():
            used.update(re.findall(r"\bimageutils\.(\w+)\b", path.read_text()))
    return sorted({repositories[constant] for constant in used if constant in repositories})
