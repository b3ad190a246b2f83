"""What of a report page is live markup: elements, scripts and event handlers, also inside the JSON that
Snakemake's report keeps in its ``<script>`` blocks and renders as HTML in the browser."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

# elements and attributes a payload in a name or a cell would bring; the report itself uses none of them
FOREIGN_TAGS = {"svg", "iframe", "object", "embed", "img", "math"}


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self._script: dict | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script, self._text = dict(attrs), []

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._text.append(data)


def elements(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def live_markup(html: str, expected_scripts: int | None = None) -> list[str]:
    """Every element or attribute of ``html`` that a payload could have planted: foreign tags, ``on*`` event
    handlers, a data ``<script>`` block (``var x = <JSON>;``) whose JSON no longer parses (a ``</script>``
    inside it ended it early), and the same inside the HTML fragments those JSON blocks hold."""
    found = []
    parsed = elements(html)
    for tag, attributes in parsed.tags:
        if tag in FOREIGN_TAGS:
            found.append(f"<{tag}> element")
        found += [f"{name}= on <{tag}>" for name in attributes if name.startswith("on")]
    if expected_scripts is not None and len(parsed.scripts) != expected_scripts:
        found.append(f"{len(parsed.scripts)} script blocks, not {expected_scripts}")
    for attributes, text in parsed.scripts:
        if attributes.get("id") in DATA_SCRIPTS:
            assignment = re.fullmatch(r"\s*var [\w$]+ = (.*);\s*", text, re.S)
            try:
                value = json.loads(assignment.group(1) if assignment else text)
            except json.JSONDecodeError:
                found.append(f"script {attributes.get('id')!r} is not whole JSON")
                continue
            for fragment in _strings(value):
                if "<" in fragment:
                    found += [f"{issue} (in script {attributes.get('id')!r})" for issue in live_markup(fragment)]
    return found


# Snakemake's report keeps its data as JSON in these blocks (report/html_reporter/template/index.html.jinja2)
DATA_SCRIPTS = {"workflow-desc", "results", "categories", "rulegraph", "runtimes", "timeline", "rules", "metadata"}


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
