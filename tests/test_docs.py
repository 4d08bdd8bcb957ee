"""The documentation: the README is a front page whose links hold, every experiment in its table
has a page, and the site builds with ``mkdocs build --strict`` (slow)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    return [README, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]


def relative_links(path: Path) -> list[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    links = (m.group(1) for m in _LINK.finditer(text))
    return [link for link in links if not re.match(r"^([a-z]+:|#)", link)]


def test_readme_is_a_front_page():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= 200, f"README.md has {n} lines; at most 200 (write-ups go to docs/experiments/)"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files(path):
    missing = [link for link in relative_links(path)
               if not (path.parent / link.partition("#")[0]).exists()]
    assert not missing, f"{path.relative_to(ROOT)} links to missing files: {missing}"


def test_every_experiment_in_the_readme_table_has_a_page():
    names = re.findall(r"^\|\s*`physnn run ([\w-]+)`", README.read_text(encoding="utf-8"), re.M)
    assert len(names) >= 13, names
    missing = [n for n in names if not (ROOT / "docs" / "experiments" / f"{n}.md").exists()]
    assert not missing, f"no docs/experiments/<name>.md for {missing}"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert (site / "index.html").exists()
    assert (site / "records" / "sto-locking" / "arnold_tongue.png").exists()
