"""What an image pull's error comes down to: containerd and the kubelet wrap
the network's error in several layers (`failed to pull and unpack image
"...": failed to resolve image: failed to do request: Head "https://...":
dial tcp: lookup quay.io: no such host`); the user needs the last one."""

from __future__ import annotations

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
