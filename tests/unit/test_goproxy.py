"""The Go module proxy read with Python alone (tasks/build/goproxy.py), against
a fake proxy: a local HTTP server serving files the test writes, in the
proxy protocol's layout. The real proxy is tests/integration/test_python_only_client.py's."""

import functools
import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest

from tasks.build import goproxy
from tasks.errors import UserError

# A real record: sum.golang.org's line for this go.mod, and the go.mod itself.
TOML_GO_MOD = b"module github.com/BurntSushi/toml\n\ngo 1.18\n"
TOML_GO_MOD_H1 = "h1:ukJfTF/6rtPPRCnwkur4qwRxa8vTRFBF0uk2lLoLwho="


def test_hash1_is_what_the_checksum_database_records():
    assert goproxy.hash1([("go.mod", TOML_GO_MOD)]) == TOML_GO_MOD_H1


def test_module_paths_are_case_encoded_as_go_does():
    assert goproxy.escape("github.com/BurntSushi/toml") == "github.com/!burnt!sushi/toml"


def test_the_proxy_is_the_first_http_entry_of_goproxy():
    assert goproxy.proxy_url({}) == "https://proxy.golang.org"
    assert goproxy.proxy_url({"GOPROXY": "direct|https://goproxy.example.invalid/,off"}) == (
        "https://goproxy.example.invalid"
    )
    with pytest.raises(UserError, match="GOPROXY=off names no proxy"):
        goproxy.proxy_url({"GOPROXY": "off"})


MODULE, VERSION = "example.invalid/Thing", "v1.2.0"


def module_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"{MODULE}@{VERSION}/{name}", data)
    return buffer.getvalue()


@pytest.fixture
def fake_proxy(tmp_path):
    """A fake proxy: files under root, served by http.server; returns (url, root)."""
    root = tmp_path / "proxy"
    go_mod = b"module example.invalid/Thing\n\ngo 1.22\n"
    data = module_zip({"go.mod": go_mod, "VERSION": b"1.2.0\n", "cmd/x/main.go": b"package main\n"})
    base = root / goproxy.escape(MODULE) / "@v"
    base.mkdir(parents=True)
    (base / "list").write_text("v1.10.0\nv1.2.0\nv1.2.0-rc.1\n")
    (base / f"{VERSION}.info").write_text(json.dumps({"Version": VERSION, "Time": "2026-01-02T03:04:05Z"}))
    (base / f"{VERSION}.mod").write_bytes(go_mod)
    (base / f"{VERSION}.zip").write_bytes(data)
    lookup = root / "sumdb" / "sum.golang.org" / "lookup"
    lookup.mkdir(parents=True)
    zip_h1 = goproxy.zip_hash(data)
    mod_h1 = goproxy.hash1([("go.mod", go_mod)])
    (lookup / f"{goproxy.escape(MODULE)}@{VERSION}").parent.mkdir(parents=True, exist_ok=True)
    (lookup / f"{goproxy.escape(MODULE)}@{VERSION}").write_text(
        f"42\n{MODULE} {VERSION} {zip_h1}\n{MODULE} {VERSION}/go.mod {mod_h1}\n\ngo.sum database tree\n"
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def test_facts_are_what_go_mod_download_says_and_the_source_is_unpacked(fake_proxy, tmp_path):
    url, _ = fake_proxy
    proxy = goproxy.Proxy(tmp_path / "cache", {"GOPROXY": url})
    facts = proxy.facts(MODULE, VERSION)
    assert Path(facts["GoMod"]).read_bytes() == b"module example.invalid/Thing\n\ngo 1.22\n"
    assert json.loads(Path(facts["Info"]).read_text())["Time"] == "2026-01-02T03:04:05Z"
    assert (Path(facts["Dir"]) / "cmd/x/main.go").read_text() == "package main\n"
    assert facts["Dir"].endswith("example.invalid/!thing@v1.2.0")
    assert proxy.versions(MODULE) == ["v1.2.0-rc.1", "v1.2.0", "v1.10.0"]


def test_a_zip_the_checksum_database_does_not_know_is_refused_and_not_kept(fake_proxy, tmp_path):
    url, root = fake_proxy
    (root / goproxy.escape(MODULE) / "@v" / f"{VERSION}.zip").write_bytes(module_zip({"go.mod": b"module evil\n"}))
    proxy = goproxy.Proxy(tmp_path / "cache", {"GOPROXY": url})
    with pytest.raises(UserError, match=r"its zip .* hashes to h1:.*, the checksum database says h1:.*: refused"):
        proxy.facts(MODULE, VERSION)
    assert not list((tmp_path / "cache").rglob("*.zip"))


def test_what_the_proxy_does_not_have_is_one_line(fake_proxy, tmp_path):
    url, _ = fake_proxy
    proxy = goproxy.Proxy(tmp_path / "cache", {"GOPROXY": url})
    with pytest.raises(
        UserError, match=r"cannot get .*example.invalid/!thing@v9.9.9 from the Go module proxy: HTTP 404"
    ):
        proxy.facts(MODULE, "v9.9.9")
