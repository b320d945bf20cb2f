"""The helper API, `gan_helpers` as the chapters and tools see it, on one page of the book.

    python tools/api.py write    # rewrite book/api.md's table from the package and the chapters
    python tools/api.py check    # say whether the page, the package and its users agree (exit 1)

The one way in is flat: a chapter writes ``import gan_helpers as gh`` and then ``gh.NAME`` for a
name in ``gan_helpers.__all__``. The table on book/api.md (between ``<!-- api:table -->`` lines)
gives each name, what it does (the first sentence of its docstring), the module it lives in and
the chapters that use it; tests/test_api.py lists the names, so that a change is deliberate.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

import blocks
import book

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "api.md"
TOOLS = ROOT / "tools"


def exported() -> list[str]:
    """``gan_helpers.__all__``, in its order."""
    import gan_helpers

    return list(gan_helpers.__all__)


def code_of(notebook: Path) -> str:
    import nbformat

    return "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")


def imported_names(clause: str) -> list[str]:
    """The names of an import clause: ``a, b as c`` or ``(a,\n b)``, comments left out."""
    clause = re.sub(r"#[^\n]*", "", clause).strip().strip("()")
    return [part.split(" as ")[0].strip() for part in clause.split(",") if part.strip()]


IMPORT = r"import (\([^)]*\)|[^\n]*)"


def names_used(code: str) -> set[str]:
    """The names a piece of code reaches as ``gh.NAME`` or imports ``from gan_helpers import``."""
    used = set(re.findall(r"\bgh\.([A-Za-z_]\w*)", code))
    for clause in re.findall(r"from gan_helpers " + IMPORT, code):
        used |= set(imported_names(clause))
    return used


def module_reaches(code: str) -> list[tuple[str, str]]:
    """(module, name) for every name reached through a module of the package: ``gh.fid.kid``,
    ``gan_helpers.fid.kid``, ``from gan_helpers.fid import kid``."""
    found = re.findall(r"\b(?:gh|gan_helpers)\.([a-z_]+)\.([A-Za-z_]\w*)", code)
    for module, clause in re.findall(r"from gan_helpers\.(\w+) " + IMPORT, code):
        found += [(module, name) for name in imported_names(clause)]
    return found


def second_ways(who: str, code: str) -> list[str]:
    """The reaches through a module that the flat API replaces. A chapter reaches nothing
    through a module (``gh.reference`` is itself a name of the API); a tool or a page of the book
    may use a maintainer's internal (``gan_helpers.classifier.CifarClassifier``), but not an
    exported name by a second way."""
    names = set(exported())
    modules = {path.stem for path in (ROOT / "gan_helpers").glob("*.py")} - names
    return sorted({f"gan_helpers.{module}.{name}" for module, name in module_reaches(code)
                   if module in modules and (who[:2].isdigit() or name in names)})


def users() -> dict[str, str]:
    """{who: code or text} for every chapter (by its number), the tools in tools/ (``tools``) and
    the book's pages and README (``book``): what may use the API."""
    result = {notebook.stem[:2]: code_of(notebook) for notebook in book.chapter_notebooks()}
    result["tools"] = "\n".join(path.read_text() for path in sorted(TOOLS.glob("*.py")) if path.name != "api.py")
    pages = [ROOT / "README.md"] + [path for path in sorted((ROOT / "book").glob("*.md")) if path != PAGE]
    result["book"] = "\n".join(path.read_text() for path in pages)
    return result


def module_of(name: str) -> str:
    import gan_helpers

    obj = getattr(gan_helpers, name)
    if inspect.ismodule(obj):
        return obj.__name__.removeprefix("gan_helpers.")
    module = getattr(obj, "__module__", None)
    if module and module.startswith("gan_helpers."):
        return module.removeprefix("gan_helpers.")
    for path in sorted(Path(gan_helpers.__file__).parent.glob("*.py")):  # a constant: where it is assigned
        if re.search(rf"^{name}\s*[:=]", path.read_text(), re.M):
            return path.stem
    raise ValueError(f"cannot tell where gan_helpers.{name} is defined")


def summary(name: str) -> str:
    """The first sentence of the object's docstring, on one line (a constant: its comment)."""
    import gan_helpers

    obj = getattr(gan_helpers, name)
    doc = inspect.getdoc(obj) if (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj)) else None
    if not doc:
        source = (Path(gan_helpers.__file__).parent / f"{module_of(name)}.py").read_text()
        match = re.search(rf"^{name}\s*[:=].*#\s*(.+)$", source, re.M)
        if match is None:
            raise ValueError(f"gan_helpers.{name} has no docstring (nor a comment where it is assigned): write one")
        doc = match.group(1)
    paragraph = " ".join(doc.split("\n\n", 1)[0].split())
    sentence = re.sub(r":\w+:`([^`]+)`", r"`\1`", first_sentence(paragraph)).replace("``", "`")  # reST -> Markdown
    return sentence.replace("|", "\\|")


def first_sentence(text: str) -> str:
    """Up to the first full stop that ends a sentence outside brackets, without it."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if depth == 0 and char == "." and (i + 1 == len(text) or text[i + 1] == " "):
            return text[:i]
    return text


def table() -> str:
    """The API table in Markdown: name, what it does, module, chapters (and tools) using it."""
    who = users()
    used_by = {who_: names_used(code) for who_, code in who.items()}
    rows = ["| name | what it does | module | used in |", "| --- | --- | --- | --- |"]
    for name in sorted(exported(), key=lambda n: (module_of(n), n.lower())):
        chapters = [who_ for who_ in who if name in used_by[who_]]
        rows.append(f"| `gh.{name}` | {summary(name)} | {module_of(name)} | {', '.join(chapters) or '-'} |")
    return "\n".join(rows)


def problems() -> list[str]:
    """What disagrees: a name exported but used by no chapter or tool, a name used but not
    exported, a reach through a module, or a page that is not the table of today's package."""
    found = []
    who = users()
    used = set().union(*(names_used(code) for code in who.values()))
    names = set(exported())
    for name in sorted(names - used):
        found.append(f"gan_helpers exports {name}, which no chapter, tool or page of the book uses: drop it from __all__")
    for who_, code in who.items():
        where = f"chapter {who_}" if who_[:2].isdigit() else {"tools": "tools/", "book": "the book's pages"}[who_]
        for name in sorted(names_used(code) - names):
            found.append(f"{where} uses gh.{name}, which gan_helpers does not export")
        for reach in second_ways(who_, code):
            found.append(f"{where} reaches {reach} through its module: use gh.{reach.rsplit('.', 1)[1]}"
                         " (export it if a chapter needs it)")
    page = PAGE.read_text()
    if blocks.replace(page, "api", "table", table(), "book/api.md") != page:
        found.append("book/api.md's table is not today's API: run `python tools/api.py write`")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["write", "check"])
    args = parser.parse_args()
    if args.command == "write":
        PAGE.write_text(blocks.replace(PAGE.read_text(), "api", "table", table(), "book/api.md"))
    found = problems()
    print("\n".join(found) or "the API page, the package and its users agree")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
