"""Text from the data (folder and file names, table cells) as the report may show it: never as markup.

Snakemake embeds the params of every rule with a report output raw in the HTML report's ``<script>`` blocks
(its template does not escape ``</``), and the verdict's reStructuredText page is rendered as HTML; a data
folder named ``x</script><svg onload=...>`` or holding ``.. raw:: html`` on a second line would otherwise
become live markup there.
"""

from __future__ import annotations

from pathlib import Path

# what a shown name keeps besides letters and digits (of any script): no <, >, &, quotes, backslashes or
# backticks, nothing that starts markup in HTML, JSON-in-script or reStructuredText
_KEPT = frozenset(" ._-+()/,")


def plain_name(text: str) -> str:
    """``text`` on one line with every character that is not a letter, a digit or one of `` ._-+()/,``
    replaced by ``_``."""
    flat = " ".join(str(text).split())
    return "".join(char if char.isalnum() or char in _KEPT else "_" for char in flat)


def shown_root(data_root: str) -> str:
    """The part of ``data_root`` the verdict names (its folder, or a table file with its folder), as a plain
    name: all the report's aggregate rule receives of the path."""
    if not data_root:
        return ""
    path = Path(data_root)
    name = f"{path.parent.name}/{path.name}" if path.suffix and path.parent.name else path.name
    return plain_name(name)


def rst_text(text: str, specials: str = "\\*`|_") -> str:
    """``text`` as reStructuredText shows it as written: on one line (a newline could start a directive), its
    inline markup characters escaped, and a leading punctuation mark escaped (``..`` or ``-`` opening a cell or
    a paragraph would start a directive or a list)."""
    text = " ".join(str(text).split())
    for special in specials:
        text = text.replace(special, "\\" + special)
    if text and not text[0].isalnum() and text[0] not in "\\ ":
        text = "\\" + text
    return text
