"""Analysis forms: the input fields of an analysis, generated from the JSON Schema of its parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

#: Japanese labels of parameters whose schema has no (Japanese) description.
FIELD_LABELS = {
    "thresholds_m": "徒歩圏の距離（m、複数はカンマ区切り）",
    "threshold_m": "距離の基準（m）",
    "elderly_share": "65歳以上人口の比率（年齢別集計がないとき、0〜1）",
    "cell_size_m": "人口を配分するメッシュの大きさ（m）",
    "mode": "経路の種類",
    "k": "新しく開く数",
    "k_max": "限界効果の曲線を描く最大か所数",
    "candidate_kinds": "候補地にする地域資源の種類（種別キーをカンマ区切り）",
    "candidate_points": "利用者指定の候補地",
    "shop_kinds": "食料品店とみなす種類（種別キーをカンマ区切り）",
    "close_shop_ids": "シナリオ：閉店する店の ID（カンマ区切り）",
    "time_limit_s": "ソルバーの制限時間（秒）",
}

#: Japanese names of enum values (the value itself is shown beside it).
ENUM_LABELS = {
    "walk": "徒歩",
    "drive": "車",
    "given": "指定した担当地域",
    "nearest": "最寄りの拠点",
    "shopping": "買い物弱者（食料品店まで遠い65歳以上）",
    "none": "なし",
}

#: Example JSON for list-of-object parameters (shown as the placeholder).
JSON_EXAMPLES = {
    "CandidatePoint": '[{"name": "候補地A", "lon": 133.62, "lat": 34.79}]',
    "MobileStop": '[{"name": "停留所A", "lon": 133.62, "lat": 34.79, "days": ["火", "金"]}]',
}

#: Field kinds the form script knows how to read back into JSON values.
KINDS = ("number", "integer", "boolean", "enum", "string", "list-number", "list-integer", "list-string", "json")


@dataclass(frozen=True)
class FormField:
    """One input of an analysis form.

    Attributes
    ----------
    name
        Parameter name (the JSON key sent to ``POST /jobs``).
    label
        Japanese label.
    kind
        One of :data:`KINDS`; tells the page which input to draw and how to read it.
    value
        Initial text of the input (the default), ``""`` when none.
    required
        The parameter has no default.
    nullable
        An empty input means "not given" (the analysis decides).
    options
        ``(value, label)`` pairs of an enum.
    checked
        Initial state of a boolean.
    placeholder
        Example shown in an empty input.
    """

    name: str
    label: str
    kind: str
    value: str = ""
    required: bool = False
    nullable: bool = False
    options: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    checked: bool = False
    placeholder: str = ""


def _types(prop: dict) -> tuple[set[str], bool, list[dict]]:
    """Types of a property (``null`` removed), whether null is allowed, and its non-null options."""
    options = [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]
    types: set[str] = set()
    nullable = False
    concrete = []
    for option in options:
        t = option.get("type")
        for one in t if isinstance(t, list) else [t] if t else []:
            if one == "null":
                nullable = True
            else:
                types.add(one)
                concrete.append(option)
        if "$ref" in option or "enum" in option:
            concrete.append(option)
    return types, nullable, concrete


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _example(items: dict, defs: dict) -> str:
    """Placeholder JSON for a list of objects: a known example, else one made from the object's fields."""
    name = _ref_name(items.get("$ref", ""))
    if name in JSON_EXAMPLES:
        return JSON_EXAMPLES[name]
    obj = defs.get(name, items)
    blank = {"string": "…", "number": 0, "integer": 0, "boolean": False, "array": []}
    sample = {}
    for key, prop in obj.get("properties", {}).items():
        types, _, _ = _types(prop)
        sample[key] = next((blank[t] for t in ("string", "number", "integer", "boolean", "array") if t in types), None)
    return json.dumps([sample], ensure_ascii=False) if sample else '[{"…": "…"}]'


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def model_defaults(model) -> dict:
    """Defaults of a pydantic model's optional fields, ``default_factory`` ones included.

    The JSON Schema leaves out defaults made by a factory (``thresholds_m = [500, 1000]``), so
    the form asks the model itself.
    """
    out = {}
    for name, info in model.model_fields.items():
        if not info.is_required():
            try:
                out[name] = info.get_default(call_default_factory=True, validated_data={})
            except TypeError:  # pydantic before validated_data
                out[name] = info.get_default(call_default_factory=True)
    return out


def form_fields(schema: dict, *, defaults: dict | None = None) -> list[FormField]:
    """The inputs of an analysis form from the JSON Schema of its parameter model.

    Numbers and integers become number inputs, booleans checkboxes, enums choice lists, strings
    text inputs, arrays of numbers or strings comma-separated text, and arrays of objects a JSON
    text area. Defaults fill the inputs; a parameter that may be null is left out when its input
    is empty.

    Parameters
    ----------
    schema
        ``model_json_schema()`` of the analysis's parameter model (as ``GET /analyses`` gives it).
    defaults
        Default values by name (see :func:`model_defaults`), for those the schema leaves out.

    Returns
    -------
    list[FormField]
    """
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        types, nullable, concrete = _types(prop)
        description = (prop.get("description") or "").strip()
        label = description or FIELD_LABELS.get(name) or prop.get("title") or name
        has_default = "default" in prop or name in (defaults or {})
        default = (defaults or {}).get(name, prop.get("default"))
        common = {"name": name, "label": label, "required": name in required and not has_default,
                  "nullable": nullable or not (name in required)}
        enum = prop.get("enum") or next((o["enum"] for o in concrete if "enum" in o), None)
        if enum:
            options = tuple((_text(v), f"{ENUM_LABELS[v]}（{v}）" if v in ENUM_LABELS else _text(v)) for v in enum)
            out.append(FormField(kind="enum", value=_text(default), options=options, **common))
        elif types == {"boolean"}:
            out.append(FormField(kind="boolean", checked=bool(default), **common))
        elif types == {"integer"}:
            out.append(FormField(kind="integer", value=_text(default), **common))
        elif types and types <= {"number", "integer"}:
            out.append(FormField(kind="number", value=_text(default), **common))
        elif "array" in types:
            items = next((o.get("items", {}) for o in concrete if o.get("type") == "array"), {})
            item_types, _, _ = _types(items)
            if "$ref" in items or "object" in item_types:
                example = _example(items, schema.get("$defs", {}))
                value = json.dumps(default, ensure_ascii=False) if default else ""
                out.append(FormField(kind="json", value=value, placeholder=example, **common))
                continue
            kind = ("list-integer" if item_types == {"integer"} else
                    "list-number" if item_types and item_types <= {"number", "integer"} else "list-string")
            value = ", ".join(_text(v) for v in default) if isinstance(default, list) else ""
            placeholder = "例: 500, 1000" if kind != "list-string" else "例: kominkan, meeting_hall"
            out.append(FormField(kind=kind, value=value, placeholder=placeholder if not value else "", **common))
        elif "object" in types:
            value = json.dumps(default, ensure_ascii=False) if default else ""
            out.append(FormField(kind="json", value=value, placeholder='{"…": "…"}', **common))
        else:
            out.append(FormField(kind="string", value=_text(default), **common))
    return out
