"""Build the notebooks (.ipynb) from their percent-format sources (.py) beside them.

The ``.py`` files are the sources to read and edit; the ``.ipynb`` files are generated, without
outputs, so that a diff shows only what changed in the text. The format is jupytext's "percent"
format, so ``jupytext --to ipynb`` reads the same files:

- ``# %%`` starts a code cell (a title after it, ``# %% Setup``, is ignored);
- ``# %% [markdown]`` starts a Markdown cell, whose lines are comments (``# `` is removed);
- in code cells, a commented IPython magic (``# %matplotlib inline``) becomes the magic, so the
  source stays valid Python.

    python examples/notebooks/build.py            # rewrite every .ipynb from its .py
    python examples/notebooks/build.py --check    # exit 1 if an .ipynb is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
CELL = re.compile(r"^# %%(?P<rest>.*)$")
MARKDOWN = re.compile(r"^\s*\[(markdown|md)\]")
MAGIC = re.compile(r"^# (%{1,2}[A-Za-z]\w*.*)$")  # "# %matplotlib inline", not "# %% cell"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def sources(directory: Path = HERE) -> list[Path]:
    """The notebook sources: every ``.py`` here except this script."""
    return sorted(p for p in directory.glob("*.py") if p.name != Path(__file__).name)


def _trim(lines: list[str]) -> str:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "\n".join(lines)


def _markdown_line(line: str, path: Path, number: int) -> str:
    if line.strip() == "#" or not line.strip():
        return ""
    if not line.startswith("# "):
        raise ValueError(f"{path.name}:{number}: a Markdown cell's lines must be comments "
                         f"('# text'), got {line!r}")
    return line[2:]


def parse(path: Path) -> list[tuple[str, str]]:
    """The cells of a percent-format file as (kind, source) pairs, kind "code" or "markdown"."""
    cells: list[tuple[str, list[str]]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        marker = CELL.match(line)
        if marker:
            kind = "markdown" if MARKDOWN.match(marker["rest"]) else "code"
            cells.append((kind, []))
        elif not cells:
            if line.strip():
                raise ValueError(f"{path.name}:{number}: text before the first '# %%' cell "
                                 f"marker: {line!r}")
        elif cells[-1][0] == "markdown":
            cells[-1][1].append(_markdown_line(line, path, number))
        else:
            magic = MAGIC.match(line)
            cells[-1][1].append(magic[1] if magic else line)
    return [(kind, _trim(lines)) for kind, lines in cells if _trim(lines)]


def notebook(path: Path) -> str:
    """The .ipynb text of the source at ``path`` (deterministic: stable cell ids, no
    outputs, no execution counts)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    for index, (kind, text) in enumerate(parse(path)):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(text, id=f"{path.stem[:40]}-{index:03d}"))
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def stale(directory: Path = HERE) -> list[Path]:
    """The .ipynb files that are missing or differ from what their .py source gives."""
    out = []
    for source in sources(directory):
        target = source.with_suffix(".ipynb")
        if not target.is_file() or target.read_text(encoding="utf-8") != notebook(source):
            out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that every .ipynb is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        for path in outdated:
            print(f"out of date: {path.name} (run python {Path(__file__).name})")
        return 1 if outdated else 0
    for source in sources():
        target = source.with_suffix(".ipynb")
        target.write_text(notebook(source), encoding="utf-8")
        print(f"wrote {target.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
