"""Test helper: what a planner reads on a web page, and the English or raw JSON in it.

Used by the TestClient walk (tests/test_web_planner.py) and the browser walk
(tests/test_browser_planner.py): both fail on any English word outside :data:`ALLOWED` and on
anything that looks like raw JSON or a Python dict shown to a user.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: Technical words a Japanese planner meets in Japanese tools too.
ALLOWED = frozenset(w.lower() for w in (
    "Tsunagu", "CSV", "Excel", "CSW", "ID", "GeoJSON", "Leaflet", "OpenStreetMap", "OSM", "km", "m", "e-Stat",
    "e", "Stat", "PDF", "URL", "GeoPackage", "PostGIS", "API", "Shapefile", "zip",
    "A27", "A32", "N03", "P29", "P04",  # 国土数値情報 dataset codes, as the official pages name them
))

#: Attributes a user sees (or hears from a screen reader).
SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")

#: Tokens that are no words: file paths and URLs, ids and hashes (``33209-3f9a…``, UUIDs), times.
_NOT_WORDS = re.compile(
    r"^(?:[\w.-]*[/\\][^\s]*|[\w-]+\.(?:gpkg|csv|xlsx|json|png|svg)|[0-9a-f]{6,}(?:-[0-9a-f]+)*|"
    r"\d+-[0-9a-f]{6,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z_]*")
_RAW_JSON = re.compile(r"[\[{]\s*[\"'][^\"']+[\"']\s*:|[\"'][A-Za-z_]+[\"']\s*:\s|\b[a-z]+_[a-z_]+\b")


class _Visible(HTMLParser):
    """Collects the text of a page a user sees: text outside scripts and styles, shown attributes, input values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self._hidden += 1
        a = dict(attrs)
        self.parts.extend(a[k] for k in SHOWN_ATTRIBUTES if a.get(k))
        if tag == "input" and a.get("type", "text") in ("text", "number", "submit", "button") and a.get("value"):
            self.parts.append(a["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(data)


def visible_text(page: str) -> list[str]:
    """The pieces of text a user sees on ``page`` (HTML)."""
    parser = _Visible()
    parser.feed(page)
    return parser.parts


def english_words(texts, *, also_allowed=()) -> list[str]:
    """English words in ``texts`` that are not technical words of :data:`ALLOWED` (or ``also_allowed``)."""
    allowed = ALLOWED | {w.lower() for w in also_allowed}
    found = []
    for text in texts:
        for token in re.split(r"[\s、。，．（）()「」『』：:；;／|,]+", text):
            if not token or _NOT_WORDS.match(token) or token.lower() in allowed:
                continue
            found += [w for w in _WORD.findall(token) if w.lower() not in allowed]
    return sorted(set(found))


def raw_json(texts) -> list[str]:
    """Pieces of text that look like program output: JSON objects, dict reprs, snake_case keys."""
    out = []
    for text in texts:
        words = " ".join(t for t in text.split() if not _NOT_WORDS.match(t))  # paths and ids are no JSON
        if _RAW_JSON.search(words):
            out.append(text.strip()[:120])
    return out
