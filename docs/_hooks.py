"""mkdocs hooks: serve the repository files that the docs link to from outside docs/.

The Markdown in docs/ links the way GitHub renders it: ``../../records/<name>/fig.png`` from an
experiment page, ``../CHANGELOG.md`` from a top-level page. mkdocs only knows files inside
``docs_dir``, so this hook adds the records and the top-level Markdown pages (CHANGELOG.md,
BENCHMARKS.md) to the site at their repository paths, and rewrites links that leave docs/ so that
they point there. A link to any other file outside docs/ (source code, data) becomes plain text
in the site; tests/test_docs.py checks that every relative link points to an existing file.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
TOP_PAGES = ("CHANGELOG.md", "BENCHMARKS.md")
_LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s]+)\)")


def on_files(files: Files, config) -> Files:
    site = config["site_dir"]
    udu = config["use_directory_urls"]
    for name in TOP_PAGES:
        files.append(File(name, str(ROOT), site, udu))
    for path in sorted((ROOT / "records").rglob("*")):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and "/checkpoints/" not in rel and path.suffix in (".png", ".json"):
            files.append(File(rel, str(ROOT), site, udu))
    return files


def _rewrite(page_src: Path, page_uri: str, docs_dir: Path, served: set[str]):
    def repl(m: re.Match) -> str:
        text, target = m.group(1), m.group(2)
        if re.match(r"^[a-z]+:", target) or target.startswith(("#", "/")):
            return m.group(0)
        path, _, frag = target.partition("#")
        resolved = Path(os.path.normpath(page_src.parent / path))
        try:
            resolved.relative_to(docs_dir)
            in_docs = True
        except ValueError:
            in_docs = False
        try:
            rel_root = resolved.relative_to(ROOT).as_posix()
        except ValueError:
            return m.group(0)
        if in_docs:
            uri = resolved.relative_to(docs_dir).as_posix()
        elif rel_root in served:
            uri = rel_root
        elif rel_root == "README.md":
            uri = "index.md"
        else:  # a source file or folder: not part of the site
            return text[1:-1] if not text.startswith("!") else m.group(0)
        new = posixpath.relpath(uri, posixpath.dirname(page_uri) or ".")
        return f"{text}({new}{'#' + frag if frag else ''})"

    return repl


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    docs_dir = Path(config["docs_dir"]).resolve()
    served = {f.src_uri for f in files}
    page_src = Path(page.file.abs_src_path)
    return _LINK.sub(_rewrite(page_src, page.file.src_uri, docs_dir, served), markdown)
