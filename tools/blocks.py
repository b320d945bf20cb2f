"""Generated blocks in documents: the text between ``<!-- KIND:NAME -->`` and ``<!-- /KIND:NAME -->``
lines (HTML comments: invisible on GitHub, in Jupyter and in the book), which a tool rewrites
from one source of truth (tools/times.py: the chapters' times; tools/api.py: the helper API)."""

from __future__ import annotations

import re


def block(kind: str, name: str) -> re.Pattern:
    """The pattern of one block: group 1 the opening line, 2 the content, 3 the closing line."""
    return re.compile(rf"(<!-- {kind}:{name} -->\n)(.*?)(<!-- /{kind}:{name} -->)", re.S)


def replace(text: str, kind: str, name: str, content: str, where: str) -> str:
    """``text`` with its one ``KIND:NAME`` block holding ``content``; a ValueError naming ``where``
    when the text holds no such block, or more than one."""
    pattern = block(kind, name)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"{where} must hold one '<!-- {kind}:{name} -->' ... '<!-- /{kind}:{name} -->' block")
    return pattern.sub(lambda m: m.group(1) + content + "\n" + m.group(3), text)
