"""The generated wrapper modules, version stamps and `go build -v` progress (no Go needed)."""

import sys

import pytest

from tasks.build import gobuild
from tasks.build.artifacts import crictl_version
from tasks.errors import UserError

UPSTREAM = """module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
	k8s.io/api v0.0.0
	k8s.io/client-go v0.0.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	k8s.io/cri-api => ./staging/src/k8s.io/cri-api
)
"""


def test_wrapper_pins_every_staging_module_to_the_release(tmp_path):
    values = gobuild.kubernetes_module_values("v1.34.4", UPSTREAM)
    gobuild.write_module(tmp_path, "kubernetes.go.mod", values)
    text = (tmp_path / "go.mod").read_text()
    assert "require k8s.io/kubernetes v1.34.4" in text
    for name in ("k8s.io/api", "k8s.io/client-go", "k8s.io/cri-api"):
        assert f"\t{name} => {name} v0.34.4\n" in text
    assert "=> ./staging" not in text
    for command in gobuild.KUBERNETES_COMMANDS:
        assert f"\tk8s.io/kubernetes/cmd/{command}\n" in text
    assert "\ngo 1.24.0\n" in text and "godebug default=go1.24" in text


def test_older_release_keeps_its_go_defaults():
    values = gobuild.kubernetes_module_values("v1.31.0", UPSTREAM.replace("go 1.24.0", "go 1.22.0"))
    assert values["go"] == "1.24" and values["godebug"] == "1.22"


def test_a_go_mod_without_staging_modules_is_refused():
    with pytest.raises(UserError, match="lists no staging modules"):
        gobuild.kubernetes_module_values("v1.34.4", "module k8s.io/kubernetes\n\ngo 1.24.0\n")


def test_ldflags_stamp_the_version_for_kubeadm_and_client_go():
    flags = gobuild.kubernetes_ldflags("v1.34.4", "2026-02-10T12:53:36Z")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion=v1.34.4" in flags
        assert f"-X {package}.gitMinor=34" in flags
        assert f"-X {package}.buildDate=2026-02-10T12:53:36Z" in flags


def test_crictl_follows_the_kubernetes_minor():
    available = ["v1.33.0", "v1.34.0", "v1.35.0-rc.0", "v1.37.0"]
    assert crictl_version("v1.34.4", available) == "v1.34.0"
    assert crictl_version("v1.36.3", available) == "v1.34.0"
    assert crictl_version("v1.37.2", available) == "v1.37.0"
    with pytest.raises(UserError, match=r"no cri-tools release suits Kubernetes v1\.30\.1"):
        crictl_version("v1.30.1", available)


def test_newest_stable_skips_pre_releases():
    from tasks.versions import newest_stable

    assert newest_stable(["v1.34.4", "v1.37.2", "v1.38.0-alpha.1", "v1.9.11"]) == "v1.37.2"


# ---------------------------------------------------------------- go build -v, counted

GO_BUILD_V = """\
internal/goarch
go: downloading github.com/coredns/caddy v1.1.1
runtime
k8s.io/kubernetes/cmd/kubeadm/app/cmd
command-line-arguments
# k8s.io/kubernetes/pkg/broken
pkg/broken/broken.go:12:3: undefined: missing
note: module requires Go 1.26

"""


def test_go_build_v_lines_are_counted_and_nothing_else(monkeypatch):
    texts: list[str] = []
    monkeypatch.setattr(gobuild.CONSOLE, "progress", texts.append)
    count = gobuild.PackageCount(total=1040)
    counted = [line for line in GO_BUILD_V.split("\n") if count(line)]
    assert counted == ["internal/goarch", "runtime", "k8s.io/kubernetes/cmd/kubeadm/app/cmd", "command-line-arguments"]
    assert texts[0] == "compiled 1 package (of 1040)"
    assert texts[-1] == "compiled 4 packages (of 1040)"
    assert gobuild.PackageCount(total=None).text() == "compiled 0 packages"


def test_counted_lines_stay_out_of_the_failure_tail(tmp_path, capsys):
    from tasks.commands import run_logged
    from tasks.console import CONSOLE

    CONSOLE.configure(1)
    script = "import sys; print('\\n'.join(['runtime'] * 50)); print('./a.go:1:2: undefined: x'); sys.exit(1)"
    log_file = tmp_path / "build.log"
    with pytest.raises(UserError, match="building x failed"):
        run_logged([sys.executable, "-c", script], log_file, "building x", on_line=gobuild.PackageCount(None))
    shown = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert "./a.go:1:2: undefined: x" in shown and "runtime" not in shown
    assert log_file.read_text().splitlines().count("runtime") == 50  # the log keeps everything
