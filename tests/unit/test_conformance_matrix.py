"""scripts/conformance-matrix.py: the table it writes into docs/conformance.md
(the runs themselves are the script's job, not a test's)."""

import importlib.util

from tasks.paths import REPO_DIR

spec = importlib.util.spec_from_file_location("matrix", REPO_DIR / "scripts" / "conformance-matrix.py")
matrix = importlib.util.module_from_spec(spec)
spec.loader.exec_module(matrix)

ROWS = {
    "v1.37.2": {
        "version": "v1.37.2",
        "date": "2026-12-01",
        "parallel": {"passed": 400, "failed": 1, "skipped": 0, "failures": ["DNS x"], "minutes": 15.2, "exit": 1},
    },
    "v1.35.4": {"version": "v1.35.4", "date": "2026-12-01", "error": "up failed (exit 1): ✗ kubeadm init: ..."},
}


def test_the_table_has_a_row_per_version_oldest_first():
    lines = matrix.table(ROWS).splitlines()
    assert lines[2] == "| v1.35.4 | 2026-12-01 | up failed (exit 1): ✗ kubeadm init: ... | | |"
    assert lines[3] == "| v1.37.2 | 2026-12-01 | 400 of 401 passed (15.2 min) | not run | DNS x |"


def test_the_table_replaces_its_block_and_nothing_else(tmp_path, monkeypatch):
    doc = tmp_path / "conformance.md"
    doc.write_text(f"# Conformance runs\n\nbefore\n\n{matrix.BEGIN}\nold table\n{matrix.END}\n\nafter\n")
    monkeypatch.setattr(matrix, "DOC", doc)
    matrix.write_doc(ROWS)
    text = doc.read_text()
    assert text.startswith("# Conformance runs\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "old table" not in text and "| v1.37.2 |" in text
