"""Analysis forms: the input fields of an analysis, generated from the JSON Schema of its parameters.

Most parameters become plain inputs (numbers, choice lists, checkboxes, comma-separated lists).
Parameters a planner knows by name, not by code, get their own widget (:data:`WIDGETS`): resource
kinds as checkboxes with their Japanese names, shops to close chosen from the workspace's shops
(a list and a small map), points such as mobile-sales stops added by clicking on a map. The
posted form is read back into parameters by :func:`read_form`, and pydantic's complaints are
told in Japanese by :func:`japanese_problems`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from gis import kinds as kind_vocabulary

#: Labels of the web forms that win over a parameter's description: descriptions written for the
#: API name codes (``resource_id``, ``given``) a planner does not know.
WEB_LABELS = {
    "shop_kinds": "食料品店とみなす店の種類",
    "candidate_kinds": "候補地にする施設の種類",
    "candidate_points": "候補地を地図で追加（地図をクリック）",
    "close_shop_ids": "シナリオ：閉店する店（一覧か地図で選ぶ）",
    "add_stops": "シナリオ：移動販売の停留所を追加（地図をクリック）",
    "depot_resource": "拠点にする店（連携先）",
    "depot": "拠点の位置（経度,緯度。店を選ばないとき）",
    "by": "担当地域の決め方",
    "uncovered": "未カバーとして数える人",
    "mode": "経路の種類",
    "k_up_to_candidates": "候補地が足りないときは候補地の数まで減らす",
    "kinds": "対象の活動の種類",
    "kind_thresholds_m": "種類ごとの徒歩圏（m、空欄ならすべて上の距離）",
    "target": "対象者（空欄: 活動の種類ごとの既定）",
    "level": "最初に並べる層（空欄: 公民館区など内側から2番目）",
    "share": "人口に対する対象者の比率（人数がないとき。例 0.15）",
}

#: Parameters drawn with their own widget: ``kinds`` (checkboxes of resource kinds), ``shops``
#: (the workspace's shops, a list and a map), ``shop`` (one shop from a list), ``points``
#: (points added by clicking on a map, each with a name; a stop also with its days).
WIDGETS = {
    "shop_kinds": "kinds",
    "candidate_kinds": "kinds",
    "kinds": "kinds",
    "close_shop_ids": "shops",
    "depot_resource": "shop",
    "add_stops": "points",
    "candidate_points": "points",
}

#: Default names of points added on the map, by parameter (a number is appended).
POINT_NAMES = {"add_stops": "追加の停留所", "candidate_points": "候補地"}

#: Widgets drawn on a map, shown above the other conditions.
MAP_WIDGETS = frozenset({"shops", "points"})

#: Japanese names of enum values (the value itself is shown beside it).
ENUM_LABELS = {
    "walk": "徒歩",
    "drive": "車",
    "given": "指定した担当地域",
    "nearest": "最寄りの拠点",
    "shopping": "買い物弱者（食料品店まで遠い65歳以上）",
    "none": "なし",
    "65+": "65歳以上",
    "75+": "75歳以上",
    "children": "子ども（0〜14歳）",
    "all": "全員",
}

#: Pydantic error types → Japanese (``{limit}`` is the bound from the error's context).
ERROR_TEXTS = {
    "greater_than": "{limit} より大きい値にしてください",
    "greater_than_equal": "{limit} 以上にしてください",
    "less_than": "{limit} より小さい値にしてください",
    "less_than_equal": "{limit} 以下にしてください",
    "float_parsing": "数値を入力してください",
    "float_type": "数値を入力してください",
    "int_parsing": "整数を入力してください",
    "int_type": "整数を入力してください",
    "int_from_float": "整数を入力してください",
    "finite_number": "有限の数値を入力してください",
    "missing": "入力してください",
    "string_too_short": "入力してください",
    "string_too_long": "長すぎます",
    "too_short": "少なくとも {limit} つ選んでください",
    "too_long": "多すぎます（{limit} まで）",
    "literal_error": "一覧から選んでください",
    "enum": "一覧から選んでください",
    "bool_parsing": "はい・いいえで指定してください",
    "list_type": "一覧で指定してください",
}

#: Example JSON for list-of-object parameters (shown as the placeholder).
JSON_EXAMPLES = {
    "CandidatePoint": '[{"name": "候補地A", "lon": 133.62, "lat": 34.79}]',
    "MobileStop": '[{"name": "停留所A", "lon": 133.62, "lat": 34.79, "days": ["火", "金"]}]',
}

#: Field kinds the form script knows how to read back into JSON values.
KINDS = ("number", "integer", "boolean", "enum", "string", "list-number", "list-integer", "list-string", "json",
         "kinds", "shops", "shop", "points")


@dataclass(frozen=True)
class ShopChoice:
    """A shop of the workspace offered by the shop widgets: id, name, kind label, address, position."""

    resource_id: str
    name: str
    kind: str
    kind_label: str
    address: str
    lon: float
    lat: float

    @property
    def caption(self) -> str:
        """「名前（種類・住所）」 as shown in the lists."""
        extra = "・".join(p for p in (self.kind_label, self.address) if p)
        return f"{self.name}（{extra}）" if extra else self.name


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
    widget
        ``""`` for a plain input, else the widget of :data:`WIDGETS`.
    choices
        ``(value, label, checked)`` of a ``kinds``, ``shops`` or ``shop`` widget.
    points
        Points already placed (``points`` widget): dicts of name, lon, lat and days.
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
    widget: str = ""
    choices: tuple[tuple[str, str, bool], ...] = field(default_factory=tuple)
    points: tuple[dict, ...] = field(default_factory=tuple)

    @property
    def on_map(self) -> bool:
        """Drawn with a map (shops to close, points to add)."""
        return self.widget in MAP_WIDGETS

    @property
    def has_days(self) -> bool:
        """A ``points`` widget whose points carry days (mobile-sales stops)."""
        return self.name == "add_stops"


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


def kind_choices(selected: list[str] | tuple[str, ...]) -> tuple[tuple[str, str, bool], ...]:
    """Checkbox choices of resource kinds: the kinds of the groups of ``selected`` (Japanese names), those checked.

    Mobile-sales stops are not a kind of shop one picks (the analysis counts them on its own).
    With nothing selected (a parameter without a default, e.g. activity-coverage's ``kinds``),
    every kind is offered.
    """
    vocabulary = kind_vocabulary.resource_kinds()
    groups = {vocabulary[k].group for k in selected if k in vocabulary}
    keys = [k for k, v in vocabulary.items() if (v.group in groups or not selected) and k != kind_vocabulary.MOBILE_STOP_KIND]
    keys += [k for k in selected if k not in keys]
    return tuple((k, vocabulary[k].label if k in vocabulary else k, k in selected) for k in keys)


def _widget_field(widget: str, default, shops: list[ShopChoice], common: dict) -> FormField:
    """A parameter drawn with its own widget (see :data:`WIDGETS`)."""
    if widget == "kinds":
        return FormField(kind="kinds", widget=widget, choices=kind_choices(list(default or [])), **common)
    if widget == "shops":
        chosen = {str(v) for v in default or []}
        return FormField(kind="shops", widget=widget, **common,
                         choices=tuple((s.resource_id, s.caption, s.resource_id in chosen) for s in shops))
    if widget == "shop":
        return FormField(kind="shop", widget=widget, value=_text(default), **common,
                         choices=tuple((s.resource_id, s.caption, s.resource_id == default) for s in shops))
    points = tuple(p if isinstance(p, dict) else p.model_dump() for p in default or [])
    return FormField(kind="points", widget=widget, points=points, **common)


def form_fields(schema: dict, *, defaults: dict | None = None,
                shops: list[ShopChoice] | None = None) -> list[FormField]:
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
    shops
        The workspace's shops, offered by the shop widgets (close_shop_ids, depot_resource).

    Returns
    -------
    list[FormField]
    """
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        types, nullable, concrete = _types(prop)
        description = (prop.get("description") or "").strip()
        label = WEB_LABELS.get(name) or description or prop.get("title") or name  # every parameter is described in its model
        has_default = "default" in prop or name in (defaults or {})
        default = (defaults or {}).get(name, prop.get("default"))
        common = {"name": name, "label": label, "required": name in required and not has_default,
                  "nullable": nullable or not (name in required)}
        widget = WIDGETS.get(name)
        if widget:
            out.append(_widget_field(widget, default, shops or [], common))
            continue
        enum = prop.get("enum") or next((o["enum"] for o in concrete if "enum" in o), None)
        if enum:
            options = tuple((_text(v), ENUM_LABELS.get(v, _text(v))) for v in enum)
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
            placeholder = "例: 500, 1000" if kind != "list-string" else "例: 火, 金"
            out.append(FormField(kind=kind, value=value, placeholder=placeholder if not value else "", **common))
        elif "object" in types:
            value = json.dumps(default, ensure_ascii=False) if default else ""
            out.append(FormField(kind="json", value=value, placeholder='{"…": "…"}', **common))
        else:
            out.append(FormField(kind="string", value=_text(default), **common))
    return out


# ---------------------------------------------------------------------- reading a posted form

#: ``kinds`` widgets that need at least one kind ticked.
NEEDS_A_KIND = frozenset({"shop_kinds"})


def _split(text: str) -> list[str]:
    return [p for p in (part.strip() for part in text.replace("、", ",").replace("，", ",").split(",")) if p]


def _number(text: str, *, integer: bool):
    """The number in ``text``, or raise ValueError with the Japanese reason."""
    try:
        value = float(text.replace("，", "").replace(",", ""))
    except ValueError:
        msg = "整数を入力してください" if integer else "数値を入力してください"
        raise ValueError(msg) from None
    if not math.isfinite(value):
        msg = "有限の数値を入力してください"
        raise ValueError(msg)
    if integer:
        if not value.is_integer():
            msg = "整数を入力してください"
            raise ValueError(msg)
        return int(value)
    return value


def _points(f: FormField, form) -> list[dict]:
    """The points of a ``points`` widget: parallel ``<name>.name/.lon/.lat/.days`` inputs, one row each."""
    names, lons, lats = (form.getlist(f"{f.name}.{part}") for part in ("name", "lon", "lat"))
    days = form.getlist(f"{f.name}.days")
    out = []
    for i, (lon, lat) in enumerate(zip(lons, lats, strict=False)):
        name = (names[i] if i < len(names) else "").strip() or f"{POINT_NAMES.get(f.name, '地点')}{i + 1}"
        point = {"name": name, "lon": _number(lon, integer=False), "lat": _number(lat, integer=False)}
        if f.has_days and i < len(days) and days[i].strip():
            point["days"] = _split(days[i])
        out.append(point)
    return out


def read_form(fields: list[FormField], form) -> tuple[dict, list[tuple[str, str]]]:
    """Read a posted analysis form back into parameters.

    Parameters
    ----------
    fields
        The form's fields (:func:`form_fields`).
    form
        The posted form (Starlette ``FormData``: ``get`` and ``getlist``).

    Returns
    -------
    tuple[dict, list[tuple[str, str]]]
        The parameters (an empty input is left out: the analysis's default) and the problems
        found, ``(label, Japanese message)`` each.
    """
    params: dict = {}
    problems: list[tuple[str, str]] = []
    for f in fields:
        try:
            if f.kind == "boolean":
                params[f.name] = f.name in form
                continue
            if f.kind == "kinds":
                chosen = [str(v) for v in form.getlist(f.name)]
                if not chosen and f.name in NEEDS_A_KIND:
                    problems.append((f.label, "少なくとも1つ選んでください"))
                params[f.name] = chosen
                continue
            if f.kind == "shops":
                params[f.name] = [str(v) for v in form.getlist(f.name)]
                continue
            if f.kind == "points":
                params[f.name] = _points(f, form)
                continue
            text = str(form.get(f.name) or "").strip()
            if text == "":
                continue
            if f.kind in ("number", "integer"):
                params[f.name] = _number(text, integer=f.kind == "integer")
            elif f.kind in ("list-number", "list-integer"):
                params[f.name] = [_number(p, integer=f.kind == "list-integer") for p in _split(text)]
            elif f.kind == "list-string":
                params[f.name] = _split(text)
            elif f.kind == "json":
                try:
                    params[f.name] = json.loads(text)
                except json.JSONDecodeError:
                    msg = "書き方が正しくありません（例のとおりに入力してください）"
                    raise ValueError(msg) from None
            else:
                params[f.name] = text
        except ValueError as exc:
            problems.append((f.label, str(exc)))
    return params, problems


def japanese_problems(errors: list[dict], fields: list[FormField]) -> list[tuple[str, str]]:
    """Pydantic's validation errors (``ValidationError.errors()``) as ``(field label, Japanese message)``."""
    labels = {f.name: f.label for f in fields}
    out = []
    for err in errors:
        loc = [p for p in err.get("loc", ()) if p != "body"]
        name = str(loc[0]) if loc else ""
        label = labels.get(name, "入力")
        if len(loc) > 1 and isinstance(loc[1], int):
            label += f"（{loc[1] + 1}件目）"
        out.append((label, _error_text(err)))
    return out


def _error_text(err: dict) -> str:
    """One pydantic error in Japanese: :mod:`api.validation_ja` where it exists, else :data:`ERROR_TEXTS`."""
    try:
        from api.validation_ja import message
    except ImportError:
        message = None
    if message is not None:
        return message(err)
    kind = str(err.get("type"))
    text = str(err.get("msg", ""))
    if kind == "value_error" and text.startswith("Value error, "):  # our validators speak Japanese
        return text.removeprefix("Value error, ")
    ctx = err.get("ctx") or {}
    limit = next((ctx[k] for k in ("gt", "ge", "lt", "le", "min_length", "max_length") if k in ctx), "")
    return ERROR_TEXTS.get(kind, "値が正しくありません").format(limit=_text(limit))


def with_values(fields: list[FormField], form) -> list[FormField]:
    """The fields showing what was posted (after a problem, the form keeps the user's input)."""
    from dataclasses import replace

    out = []
    for f in fields:
        if f.kind == "boolean":
            out.append(replace(f, checked=f.name in form))
        elif f.kind in ("kinds", "shops"):
            chosen = {str(v) for v in form.getlist(f.name)}
            out.append(replace(f, choices=tuple((v, label, v in chosen) for v, label, _ in f.choices)))
        elif f.kind == "points":
            rows = zip(*(form.getlist(f"{f.name}.{p}") for p in ("name", "lon", "lat")), strict=False)
            days = form.getlist(f"{f.name}.days")
            points = tuple({"name": n, "lon": lon, "lat": lat, "days": days[i] if i < len(days) else ""}
                           for i, (n, lon, lat) in enumerate(rows))
            out.append(replace(f, points=points))
        else:
            value = str(form.get(f.name) or "")
            choices = tuple((v, label, v == value) for v, label, _ in f.choices)
            out.append(replace(f, value=value, choices=choices))
    return out
