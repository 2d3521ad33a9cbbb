"""Welfare tiers (福祉圏域): the configurable, nested levels a city organises community welfare in."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from gis.errors import InputDataError


@dataclass(frozen=True)
class TierLevel:
    """One tier level of a city profile.

    Attributes
    ----------
    key
        Machine name (``"kominkan"``), used in URLs, tables and the store.
    label
        Japanese label for maps and tables (``"公民館区"``).
    short
        Short Japanese label for legends.
    """

    key: str
    label: str
    short: str = ""

    def __post_init__(self) -> None:
        if not self.key or not self.key.replace("_", "").isalnum() or not self.key.isascii():
            msg = f"層のキー「{self.key}」には半角の英字・数字・「_」だけを使ってください（例: kominkan）"
            raise InputDataError(
                msg,
                en=f"tier key {self.key!r} must be ASCII letters, digits and '_' (e.g. 'kominkan')",
            )
        if not self.short:
            object.__setattr__(self, "short", self.label)


@dataclass(frozen=True)
class CityProfile:
    """The tier levels one city uses, inner (smallest) to outer (the whole city).

    The innermost level carries census population; every outer level is a union of
    inner areas, and the outermost is the whole municipality.
    """

    levels: tuple[TierLevel, ...]
    name: str = ""
    description: str = ""
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = [lv.key for lv in self.levels]
        if len(keys) < 2:
            msg = "市のプロファイルには層が2つ以上必要です（内側の層と市全体）"
            raise InputDataError(
                msg,
                en="a city profile needs at least two tier levels (an inner one and the city)",
            )
        if len(set(keys)) != len(keys):
            msg = f"層のキーが重複しています: {'、'.join(keys)}"
            raise InputDataError(msg, en=f"tier levels repeat a key: {keys}")

    @property
    def keys(self) -> list[str]:
        """Level keys, inner to outer."""
        return [lv.key for lv in self.levels]

    @property
    def base(self) -> TierLevel:
        """The innermost level (census small areas)."""
        return self.levels[0]

    @property
    def top(self) -> TierLevel:
        """The outermost level (the whole city)."""
        return self.levels[-1]

    def level(self, key: str) -> TierLevel:
        """Return the level called ``key``; the error lists the known keys."""
        for lv in self.levels:
            if lv.key == key:
                return lv
        msg = f"層「{key}」はありません。この市の層は {'、'.join(self.keys)} です"
        raise InputDataError(msg, en=f"unknown tier level {key!r}; this city uses {', '.join(self.keys)}")

    def parent_of(self, key: str) -> TierLevel | None:
        """Return the level directly outside ``key`` (None for the outermost)."""
        i = self.keys.index(self.level(key).key)
        return self.levels[i + 1] if i + 1 < len(self.levels) else None

    def child_of(self, key: str) -> TierLevel | None:
        """Return the level directly inside ``key`` (None for the innermost)."""
        i = self.keys.index(self.level(key).key)
        return self.levels[i - 1] if i > 0 else None

    def to_dict(self) -> dict:
        """Serialise to a JSON-ready mapping (stored with the workspace)."""
        return {
            "name": self.name,
            "description": self.description,
            "notes": dict(self.notes),
            "levels": [{"key": lv.key, "label": lv.label, "short": lv.short} for lv in self.levels],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "CityProfile":
        """Build a profile from :meth:`to_dict` output or a parsed profile TOML."""
        try:
            levels = tuple(TierLevel(**lv) for lv in data["levels"])
        except (KeyError, TypeError) as exc:
            msg = f"市のプロファイルには key と label を書いた [[levels]] が必要です（{exc}）"
            raise InputDataError(
                msg,
                en=f"a city profile needs [[levels]] entries with key and label ({exc})",
            ) from exc
        return cls(
            levels=levels,
            name=data.get("name", ""),
            description=data.get("description", ""),
            notes=dict(data.get("notes", {})),
        )

    def with_note(self, level: str, note: str) -> "CityProfile":
        """Return a copy with a note on a level (e.g. which source stands in for it)."""
        self.level(level)
        return CityProfile(self.levels, self.name, self.description, {**self.notes, level: note})


def load_profile(name_or_path: str | Path = "default") -> CityProfile:
    """Load a city profile: a bundled one by name (``default``, ``mine``, ``mimasaka``) or a TOML file.

    Parameters
    ----------
    name_or_path
        Bundled profile name or a path to a TOML file with ``[[levels]]`` (inner to outer).
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text = path.read_text(encoding="utf-8")
        source = str(path)
    else:
        bundled = resources.files("gis") / "profiles" / f"{name_or_path}.toml"
        if not bundled.is_file():
            known = sorted(p.name.removesuffix(".toml") for p in (resources.files("gis") / "profiles").iterdir())
            msg = f"市のプロファイル「{name_or_path}」はありません。同梱のプロファイルは {'、'.join(known)} です"
            raise InputDataError(
                msg, en=f"no city profile {str(name_or_path)!r}; bundled profiles: {', '.join(known)}",
                hint="同梱のものを選ぶか、.toml ファイルを指定してください", hint_en="or give a .toml file",
            )
        text = bundled.read_text(encoding="utf-8")
        source = f"profile {name_or_path}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputDataError(f"TOML として読めません（{exc}）", en=f"not valid TOML: {exc}", source=source) from exc
    return CityProfile.from_dict(data)


#: The four usual tiers: neighbourhood ⊂ kominkan ⊂ junior_high ⊂ city.
DEFAULT_PROFILE = load_profile("default")
