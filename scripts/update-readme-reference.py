"""Regenerate the README's configuration reference from tasks/settings/ and config/defaults.yaml."""

import re
from pathlib import Path

from tasks.settings import reference_markdown

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- reference:start -->", "<!-- reference:end -->"


def updated(text: str) -> str:
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    return pattern.sub(lambda _: f"{START}\n{reference_markdown()}{END}", text)


if __name__ == "__main__":
    README.write_text(updated(README.read_text()))
