"""The open-data files a city needs: where each is found (bundled conversion or official download), what is missing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import data as _manifest

#: Datasets `tsunagu demo` reads for a city, in the order a planner gets them.
CITY_FILES = ("small_areas", "municipalities", "junior_high_districts", "elementary_districts",
              "food_permits", "shelters", "rail_stations")


@dataclass
class FileStatus:
    """One dataset of a city: its manifest entry, the files found and what is expected."""

    key: str
    title: str
    needed: str
    edition: str
    download: str
    expected: list[str]
    found: list[Path]

    @property
    def present(self) -> bool:
        return bool(self.found)

    @property
    def required(self) -> bool:
        return self.needed == "必須"


def _fill(pattern: str, *, code: str | None, name: str | None) -> str:
    return (pattern.replace("{code}", code or "?????").replace("{pref}", (code or "??")[:2])
            .replace("{municipality_name}", name or "<市町村名>").replace("{municipality_code6}", f"{code or '?????'}?")
            .replace("{kind}", "*"))


def locate(data_dir: Path, key: str, *, city_code: str | None = None, city_name: str | None = None) -> list[Path]:
    """Files of dataset ``key`` in ``data_dir``: the bundled conversion (manifest ``path``) first,
    else the official download (manifest ``official`` patterns, searched in the folder and below)."""
    entry = _manifest.manifest()[key]
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return []
    if "path" in entry:
        found = sorted(p for p in data_dir.glob(_fill(entry["path"], code=city_code, name=city_name)) if p.is_file())
        if found:
            return found
    for pattern in entry.get("official", []):
        found = sorted(p for p in data_dir.rglob(_fill(pattern, code=city_code, name=city_name)) if p.is_file())
        if found:
            return found
    return []


def is_official(data_dir: Path, key: str, path: Path, *, city_code: str | None = None,
                city_name: str | None = None) -> bool:
    """True when ``path`` (found by :func:`locate`) is an official download, not the bundled conversion."""
    entry = _manifest.manifest()[key]
    if "path" not in entry:
        return True
    bundled = {p.resolve() for p in Path(data_dir).glob(_fill(entry["path"], code=city_code, name=city_name))}
    return Path(path).resolve() not in bundled


def city_files(data_dir: Path, *, city_code: str, city_name: str | None = None) -> list[FileStatus]:
    """What the data folder holds for a city, one :class:`FileStatus` per dataset of :data:`CITY_FILES`."""
    out = []
    for key in CITY_FILES:
        entry = _manifest.manifest()[key]
        expected = []
        if "path" in entry:
            expected.append(_fill(entry["path"], code=city_code, name=city_name))
        expected += [_fill(p, code=city_code, name=city_name) for p in entry.get("official", [])[:1]]
        out.append(FileStatus(key, entry["title"], entry.get("needed", "任意"),
                              _fill(entry.get("edition", ""), code=city_code, name=city_name),
                              entry.get("download", ""), expected,
                              locate(data_dir, key, city_code=city_code, city_name=city_name)))
    return out


def describe(data_dir: Path, statuses: list[FileStatus], *, city_code: str | None = None) -> str:
    """A Japanese listing: each dataset, present or missing, the file expected, the edition and the download page."""
    lines = [f"データフォルダ: {data_dir}" + ("" if Path(data_dir).is_dir() else "（フォルダがありません）")]
    for st in statuses:
        mark = "○ あり" if st.present else ("× ない（必須）" if st.required else "－ ない")
        lines.append(f"{mark}  {st.title}［{st.needed}］")
        if st.present:
            lines += [f"      読むファイル: {p}" for p in st.found[:3]]
            if len(st.found) > 3:
                lines.append(f"      ほか {len(st.found) - 3} ファイル")
        else:
            lines.append(f"      置くファイル: {' または '.join(st.expected)}")
        if st.edition:
            lines.append(f"      版: {st.edition}")
        if st.download:
            lines.append(f"      入手先: {st.download}")
        form = _manifest.manifest()[st.key].get("official_form")
        if form and not st.present:
            lines.append(f"      公式の形のまま: {_fill(form, code=city_code, name=None)}")
    missing = [st for st in statuses if st.required and not st.present]
    if missing:
        lines.append(f"必須のファイルが {len(missing)} つありません。上の入手先から取得し、データフォルダに置いてください"
                     "（TSUNAGU_DATA_DIR または --data-dir でフォルダを指定できます）")
    else:
        lines.append("必須のファイルはそろっています: tsunagu demo でこの市町村を作れます")
    return "\n".join(lines)


def missing_message(data_dir: Path, key: str, *, city_code: str | None = None, english: bool = False) -> str:
    """The Japanese message for one missing dataset: the file expected, its edition and where to get it.

    ``english=True``: the same in English (for the log and ``--lang en``; the dataset's title stays as published).
    """
    entry = _manifest.manifest()[key]
    expected = []
    if "path" in entry:
        expected.append(str(Path(data_dir) / _fill(entry["path"], code=city_code, name=None)))
    as_published = " (the official file as downloaded)" if english else "（公式のファイルのまま）"
    expected += [f"{Path(data_dir)}/{_fill(p, code=city_code, name=None)}{as_published}" for p in entry.get("official", [])[:1]]
    if english:
        text = (f"no file for {entry['title']}. Put there: {' or '.join(expected)}. "
                f"Edition: {_fill(entry.get('edition', ''), code=city_code, name=None)}. Download: {entry.get('download', '')}")
        if entry.get("official_form"):
            text += f". In its official form: {_fill(entry['official_form'], code=city_code, name=None)}"
        return text + ". tsunagu data --city <code> lists the files a city needs"
    text = (f"{entry['title']}のファイルがありません。置くファイル: {' または '.join(expected)}。"
            f"版: {_fill(entry.get('edition', ''), code=city_code, name=None)}。入手先: {entry.get('download', '')}")
    if entry.get("official_form"):
        text += f"。公式の形のまま: {_fill(entry['official_form'], code=city_code, name=None)}"
    return text + "。tsunagu data --city <コード> で必要なファイルの一覧を確かめられます"
