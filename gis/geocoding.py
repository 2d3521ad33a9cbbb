"""Place addresses: jageocoder where its dictionary is installed, else the census 町丁・字 names."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.crs import STORAGE_CRS

#: The note every point placed at a small area's representative point carries (attribute, popup, export).
SMALL_AREA_NOTE = "位置は町丁・字の代表点（概略）"
#: The note of points placed by jageocoder at an 大字・字 (not a 街区 or 地番).
JAGEOCODER_COARSE_NOTE = "位置は大字・字の代表点（概略、jageocoder）"
#: The note of points placed by jageocoder at a 街区 or 地番.
JAGEOCODER_NOTE = "位置は住所から推定（jageocoder）"
#: Attribute key holding the note on a resource.
PRECISION_ATTRIBUTE = "location_precision"

_KANJI_DIGITS = {"〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_PREFECTURES = re.compile(r"^(北海道|東京都|京都府|大阪府|[^\d\s]{2,3}県)")
_POSTCODE = re.compile(r"^〒?\d{3}-?\d{4}")
_KANJI = r"[\u4e00-\u9fff々]"


def _kanji_number(text: str) -> int:
    """一 → 1, 十二 → 12, 二十三 → 23 (丁目 numbers are small)."""
    if "十" not in text:
        return int("".join(str(_KANJI_DIGITS[c]) for c in text))
    tens, _, ones = text.partition("十")
    return (_KANJI_DIGITS[tens] if tens else 1) * 10 + (_KANJI_DIGITS[ones] if ones else 0)


def normalise_address(text: str, *, city_names: Sequence[str] = ()) -> str:
    """Normalise a Japanese address for matching against census 町丁・字 names.

    NFKC (全角 → 半角), no spaces, no 〒 postcode, prefecture and city prefix removed,
    大字/字/小字 dropped, 丁目 numbers in arabic digits (三丁目 → 3), ヶ/ヵ/が between kanji → ケ,
    之/ノ between kanji → の, dashes unified to ``-``; the 番地 that follows is kept (matching
    stops at the area name).
    """
    s = unicodedata.normalize("NFKC", str(text or ""))
    s = re.sub(r"\s+", "", s)
    s = re.sub(r"[‐‑‒–—―−ー－](?=\d)|(?<=\d)[‐‑‒–—―−ー－]", "-", s)
    s = _POSTCODE.sub("", s)
    s = _PREFECTURES.sub("", s)
    for name in sorted({n for n in city_names if n}, key=len, reverse=True):
        if s.startswith(name):
            s = s[len(name):]
            break
    s = re.sub(r"([〇一二三四五六七八九十]+)丁目", lambda m: f"{_kanji_number(m.group(1))}丁目", s)
    s = re.sub(r"(\d+)丁目", r"\1-", s)
    s = s.replace("大字", "").replace("小字", "")
    s = re.sub(rf"(?<={_KANJI})字(?={_KANJI})", "", s)
    s = re.sub(r"^字", "", s)
    s = re.sub(rf"(?<={_KANJI})[ヶヵケがガ](?={_KANJI})", "ケ", s)
    s = re.sub(rf"(?<={_KANJI})[之ノ](?={_KANJI})", "の", s)
    return s


def _name_key(name: str) -> str:
    """Census MOJI normalised the way :func:`normalise_address` normalises an address."""
    return normalise_address(name)


@dataclass
class AreaMatch:
    """Where an address was placed: the matched area name(s), id(s) and the representative point."""

    name: str
    area_ids: list[str]
    lon: float
    lat: float


@dataclass
class _Entry:
    key: str
    name: str
    area_ids: list[str]


@dataclass
class SmallAreaGazetteer:
    """Census 町丁・字 names of one city, for placing addresses at a small area's representative point.

    Built from the workspace's innermost tier (``area_id`` = KEY_CODE, ``name`` = MOJI). A census
    name with alternatives (「中井町津々入野，横内」) is known under each; a 町丁 split into 字
    (KEY_CODEs sharing their first 9 digits) or into 上/下 parts (「栄町１上」「栄町１下」) is also
    known under its common name, placed at the union's representative point.
    """

    areas: gpd.GeoDataFrame
    city_names: list[str]
    crs: str
    entries: list[_Entry] = field(default_factory=list)

    @classmethod
    def from_areas(cls, areas: gpd.GeoDataFrame, *, city_name: str, crs: str) -> SmallAreaGazetteer:
        """Build the gazetteer; ``city_name`` as the workspace names it (e.g. 高梁市, 小田郡矢掛町)."""
        short = re.sub(r"^.+?郡", "", city_name)
        gun = city_name[: len(city_name) - len(short)]
        names = [city_name, short] + ([gun] if gun else [])
        areas = areas[["area_id", "name", "geometry"]].copy()
        areas["area_id"] = areas["area_id"].astype(str)
        self = cls(areas=areas.reset_index(drop=True), city_names=names, crs=crs)
        self._index()
        return self

    def _index(self) -> None:
        by_key: dict[str, set[str]] = {}
        display: dict[str, str] = {}

        def add(key: str, shown: str, ids: Sequence[str]) -> None:
            if len(key) < 2:
                return
            by_key.setdefault(key, set()).update(ids)
            display.setdefault(key, shown)

        first_parts = {}
        for aid, name in zip(self.areas["area_id"], self.areas["name"]):
            parts = [p for p in re.split(r"[，,、]", unicodedata.normalize("NFKC", str(name))) if p]
            if not parts:
                continue
            first_parts[aid] = _name_key(parts[0])
        # 町丁 groups: KEY_CODEs of 11 digits sharing their first 9
        groups: dict[str, list[str]] = {}
        for aid in first_parts:
            if len(aid) == 11:
                groups.setdefault(aid[:9], []).append(aid)
        parent_of: dict[str, str] = {}
        for members in groups.values():
            keys = [first_parts[a] for a in members]
            common = _common_prefix(keys) if len(keys) > 1 else ""
            if len(common) >= 2:
                add(common, common, members)
                for a in members:
                    parent_of[a] = common
        for aid, name in zip(self.areas["area_id"], self.areas["name"]):
            parts = [_name_key(p) for p in re.split(r"[，,、]", unicodedata.normalize("NFKC", str(name))) if p]
            if not parts:
                continue
            add(parts[0], str(name), [aid])
            for alt in parts[1:]:
                if re.match(r"\d", alt):  # 「鍛冶町2下，3上」: the alternative replaces the number on
                    stem = re.split(r"\d", parts[0], maxsplit=1)[0]
                else:
                    stem = parent_of.get(aid) or parts[0][: max(len(parts[0]) - len(alt), 0)]
                add(stem + alt, str(name), [aid])
        # 「栄町1上」「栄町1下」 → 「栄町1」
        for key in list(by_key):
            m = re.match(r"^(.*\d+)[上中下東西南北]$", key)
            if m:
                add(m.group(1), m.group(1), by_key[key])
        self.entries = sorted((_Entry(k, display[k], sorted(v)) for k, v in by_key.items()),
                              key=lambda e: (-len(e.key), -len(e.area_ids)))

    def match(self, address: str) -> AreaMatch | None:
        """The longest census name the address starts with (None when none does)."""
        text = normalise_address(address, city_names=self.city_names)
        for entry in self.entries:
            if not text.startswith(entry.key):
                continue
            rest = text[len(entry.key):]
            if entry.key[-1].isdigit() and rest[:1].isdigit():
                continue  # 「本町3」 is not the start of 「本町35番地」
            return self._place(entry)
        return None

    def closest(self, address: str, *, n: int = 3) -> list[str]:
        """The census names closest to the address (for the list of unmatched rows)."""
        text = normalise_address(address, city_names=self.city_names)
        head = re.split(r"[\d-]", text, maxsplit=1)[0] or text
        keys = {e.key: e.name for e in self.entries}
        found = difflib.get_close_matches(head, list(keys), n=n, cutoff=0.3)
        return [keys[k] for k in found]

    def _place(self, entry: _Entry) -> AreaMatch:
        part = self.areas[self.areas["area_id"].isin(entry.area_ids)]
        geom = part.to_crs(self.crs).union_all()
        point = gpd.GeoSeries([geom.representative_point()], crs=self.crs).to_crs(STORAGE_CRS).iloc[0]
        return AreaMatch(entry.name, list(entry.area_ids), float(point.x), float(point.y))


def _common_prefix(keys: Sequence[str]) -> str:
    prefix = keys[0]
    for k in keys[1:]:
        while not k.startswith(prefix):
            prefix = prefix[:-1]
    return prefix


def jageocoder_available() -> bool:
    """True when jageocoder is installed and its address dictionary can be opened."""
    return _jageocoder() is not None


def _jageocoder():
    try:
        import jageocoder
    except ImportError:
        return None
    try:
        if not jageocoder.is_initialized():
            jageocoder.init()
    except Exception:  # noqa: BLE001 - no dictionary installed: JageocoderError and friends
        return None
    return jageocoder


@dataclass
class Located:
    """Result of :func:`locate_addresses`: one row per address (NaN where unmatched)."""

    lon: np.ndarray
    lat: np.ndarray
    notes: list[str | None]
    matched: list[str | None]
    method: str
    unmatched: list[tuple[int, str, list[str]]]


def locate_addresses(
    addresses: Sequence[str],
    *,
    gazetteer: SmallAreaGazetteer,
    use_jageocoder: bool = True,
) -> Located:
    """Place each address: jageocoder when its dictionary is installed, else a census 町丁・字 match.

    Parameters
    ----------
    addresses
        One address per row (blank ones stay unmatched).
    gazetteer
        The city's census small-area names (:meth:`SmallAreaGazetteer.from_areas`).
    use_jageocoder
        Try jageocoder first (when installed with a dictionary).

    Returns
    -------
    Located
        Coordinates, the precision note per row, and the unmatched rows as
        ``(row (1-based), address, closest census names)``.
    """
    n = len(addresses)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    notes: list[str | None] = [None] * n
    matched: list[str | None] = [None] * n
    jg = _jageocoder() if use_jageocoder else None
    method = "jageocoder" if jg is not None else "町丁・字名の照合"
    city_prefix = gazetteer.city_names[0]
    for i, address in enumerate(addresses):
        text = "" if address is None or (isinstance(address, float) and np.isnan(address)) else str(address).strip()
        if not text:
            continue
        if jg is not None:
            query = text if any(c in text for c in gazetteer.city_names if c) else city_prefix + text
            hit = _jageocoder_point(jg, query)
            if hit is not None:
                lon[i], lat[i], level, name = hit
                notes[i] = JAGEOCODER_NOTE if level >= 7 else JAGEOCODER_COARSE_NOTE
                matched[i] = name
                continue
        m = gazetteer.match(text)
        if m is not None:
            lon[i], lat[i], notes[i], matched[i] = m.lon, m.lat, SMALL_AREA_NOTE, m.name
    unmatched = [(i + 1, "" if addresses[i] is None else str(addresses[i]), gazetteer.closest(str(addresses[i] or "")))
                 for i in range(n) if np.isnan(lon[i])]
    return Located(lon, lat, notes, matched, method, unmatched)


def _jageocoder_point(jg, query: str):
    """(lon, lat, level, name) of jageocoder's best candidate when it reaches an 大字 (level ≥ 5)."""
    try:
        result = jg.search(query)
    except Exception:  # noqa: BLE001 - a geocoder failure falls back to the census names
        return None
    if isinstance(result, list):
        result = result[0] if result else {}
    candidates = result.get("candidates") or []
    if not candidates:
        return None
    best = candidates[0]
    x, y, level = best.get("x"), best.get("y"), int(best.get("level") or 0)
    if x is None or y is None or level < 5 or abs(float(x)) > 180 or abs(float(y)) > 90:
        return None
    name = "".join(best.get("fullname") or []) or str(best.get("name") or "")
    return float(x), float(y), level, name


def needs_geocoding(table: pd.DataFrame, columns: dict[str, str]) -> bool:
    """True when a table has an address column and no coordinate columns."""
    return "address" in columns and not ("lat" in columns and "lon" in columns)
