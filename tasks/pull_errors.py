"""Images the nodes pull (pod networks and add-ons installed from upstream
manifests): which ones the nodes lack, one trial pull, and what a pull's
error comes down to: containerd and the kubelet wrap the network's error in
several layers (`failed to pull and unpack image "...": failed to resolve
image: failed to do request: Head "https://...": dial tcp: lookup quay.io:
no such host`); the user needs the last one."""

from __future__ import annotations

from tasks.errors import UserError

PULL_DEADLINE = 30  # seconds for the one trial pull

CAUSES = ("dial tcp: ", "failed to do request: ")


def cause(text: str, limit: int = 200) -> str:
    """The innermost cause in a pull error (its last line; crictl's `msg="..."` unwrapped)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    if "msg=" in line:
        line = line[line.index("msg=") + 5 :].rstrip('"')
    for marker in CAUSES:
        if marker in line:
            line = line[line.index(marker) :]
            break
    return line.replace('\\"', '"')[:limit]


def missing_images(images: tuple[str, ...], cluster) -> list[str]:
    """The images some node does not hold."""
    held = [set(cluster.image_ids(spec.name)) for spec in cluster.nodes]
    return [image for image in images if not all(_held(image, refs) for refs in held)]


def _held(image: str, refs: set[str]) -> bool:
    # containerd names docker.io's images in full (docker.io/calico/cni:...)
    return image in refs or f"docker.io/{image}" in refs or f"docker.io/library/{image}" in refs


def check_pull(cluster, title: str, missing: list[str], instead: str) -> None:
    """One trial pull on the master of the first missing image: when even that
    fails, the pods would wait for ever, so stop with one line saying how to
    provide the images, and what to use INSTEAD."""
    result = cluster.objects.exec(cluster.master, ["crictl", "pull", missing[0]], deadline=PULL_DEADLINE)
    if result.exit_code == 0:
        return
    reason = f"no answer within {PULL_DEADLINE}s" if result.exit_code == 124 else cause(result.output)
    raise UserError(
        f"{title} needs images the nodes do not have and cannot pull ({missing[0]}: {reason}): "
        f"{', '.join(missing)}; provide them with `docker pull` where a registry is reachable and "
        f"`local-cluster load {' '.join(missing)}`, or {instead}"
    )
