from tasks.build.debian import host_debian_mirror


def test_mirror_from_deb822_sources(tmp_path):
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\nURIs: http://mirror.example.invalid/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example.invalid/debian-security\n"
    )
    assert host_debian_mirror((sources,)) == "http://mirror.example.invalid/debian"


def test_mirror_from_a_one_line_list(tmp_path):
    listing = tmp_path / "sources.list"
    listing.write_text("deb [arch=amd64] http://mirror.example.invalid/debian/ bookworm main\n")
    assert host_debian_mirror((listing,)) == "http://mirror.example.invalid/debian/"


def test_no_debian_mirror_leaves_the_default(tmp_path):
    listing = tmp_path / "sources.list"
    listing.write_text("deb http://archive.example.invalid/ubuntu jammy main\n")
    assert host_debian_mirror((listing, tmp_path / "missing")) == ""
