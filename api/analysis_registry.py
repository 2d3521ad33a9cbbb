"""The registry of analyses: which modules register them, looking one up, validating its parameters.

Apart from :mod:`api.jobs` so that the job worker (:mod:`api.worker`) and the job API both use it
without importing each other.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Iterable

from pydantic import BaseModel, ValidationError

from gis.errors import InputDataError

log = logging.getLogger("tsunagu.jobs")

#: Modules that register the analyses; each is optional (imported when present). More can be
#: named in ``Settings.analysis_modules`` (``TSUNAGU_ANALYSIS_MODULES``).
ANALYSIS_MODULES = ("api.analyses.salons", "api.analyses.shopping", "api.analyses.catchments",
                    "api.analyses.mobile_sales", "api.analyses.outreach", "api.analyses.coverage")

#: The analyses in the order a planner meets them, each with the name a planner knows it by
#: (``tsunagu analyse --help``, the web form list and ``GET /analyses`` all use this order and these names).
PLANNER_NAMES = {
    "salon-gaps": "サロンの空白地域",
    "salon-sites": "新しいサロンの候補地",
    "shopping-refugees": "買い物弱者",
    "catchments": "圏域（キャッチメント）",
    "mobile-sales": "移動販売の計画",
    "activity-coverage": "活動の徒歩圏カバー率",
    "outreach": "訪問ルート",
    "import-resources": "地域資源の取り込み",
}


def analysis_name(name: str, label: str | None = None) -> str:
    """The Japanese name of an analysis (its registered label when it has no planner's name)."""
    return PLANNER_NAMES.get(name) or label or name


def planner_order(names) -> list[str]:
    """``names`` in a planner's order (:data:`PLANNER_NAMES`), others after them by name."""
    known = list(PLANNER_NAMES)
    return sorted(names, key=lambda n: (known.index(n) if n in known else len(known), n))



#: ``TSUNAGU_ANALYSIS_MODULES`` value → the module names the settings read from it (Settings is
#: built once per value: building it on every GET /jobs was a third of the server's CPU).
_modules_by_env: dict[str | None, tuple[str, ...]] = {}
#: Module lists already imported (each is imported, or found missing, once per process).
_imported: set[tuple[str, ...]] = set()


def _settings_modules() -> tuple[str, ...]:
    """``Settings().analysis_module_names()``, read once per value of ``TSUNAGU_ANALYSIS_MODULES``."""
    key = os.environ.get("TSUNAGU_ANALYSIS_MODULES")
    names = _modules_by_env.get(key)
    if names is None:
        from api.settings import Settings

        names = _modules_by_env[key] = tuple(Settings().analysis_module_names())
    return names


def load_analyses(extra: Iterable[str] | None = None) -> dict:
    """Import the analysis modules that exist and return the registry (name → AnalysisSpec).

    ``extra`` names more modules to import (default: ``Settings.analysis_modules``); a worker
    process finds analyses registered outside :data:`ANALYSIS_MODULES` this way. Each list of
    modules is imported once per process; later calls only return the registry.
    """
    from api.analyses.base import REGISTRY

    modules = (*ANALYSIS_MODULES, *(_settings_modules() if extra is None else extra))
    if modules in _imported:
        return REGISTRY
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the module exists but something it needs does not
                log.warning("analysis module %s cannot be imported: %s", module, exc)
            elif module not in ANALYSIS_MODULES:
                log.warning("analysis module %s (TSUNAGU_ANALYSIS_MODULES) not found", module)
    _imported.add(modules)
    return REGISTRY


def get_spec(name):
    """The registered analysis ``name``; an unknown name is an :class:`InputDataError` listing the known ones.

    An ``AnalysisSpec`` given instead of a name is returned as it is (Dask workers receive specs).
    """
    if not isinstance(name, str) and hasattr(name, "run") and hasattr(name, "params"):
        return name
    registry = load_analyses()
    if name not in registry:
        known = "、".join(f"「{n}」（{registry[n].label}）" for n in sorted(registry)) or "（なし）"
        msg = f"解析「{name}」はありません（あるもの: {known}）"
        raise InputDataError(msg, feature="analysis", hint="解析の名前は GET /analyses（コマンドでは tsunagu analyse --help）の一覧から選んでください",
                             en=f"no analysis {name!r} (analyses: {known})",
                             hint_en="choose an analysis from GET /analyses (on the command line: tsunagu analyse --help)")
    return registry[name]


def validate_params(spec, params: dict | None) -> BaseModel:
    """Validate ``params`` with the analysis's pydantic model; errors name the field (InputDataError → 422)."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        msg = f"params は「名前 → 値」のオブジェクトで指定してください（{type(params).__name__} が渡されました）"
        raise InputDataError(msg, feature="params",
                             en=f"give params as an object of name -> value ({type(params).__name__} given)")
    try:
        return spec.params.model_validate(params)
    except ValidationError as exc:
        from api.validation_ja import message

        problems, problems_en = [], []
        first = None
        for err in exc.errors():
            field = ".".join(str(p) for p in err.get("loc", ())) or "params"
            first = first or field
            problems.append(f"「{field}」は{message(err)}（指定値 {err.get('input')!r}）")
            problems_en.append(f"{field!r}: {err.get('msg')} (given {err.get('input')!r})")
        msg = f"{spec.label}のパラメータが正しくありません: " + "。".join(problems)
        hint = f"パラメータの一覧は tsunagu analyse {spec.name} --help（API では GET /analyses）で確かめられます"
        raise InputDataError(msg, feature=first, hint=hint,
                             en=f"invalid parameters for {spec.name}: " + "; ".join(problems_en),
                             hint_en=f"the parameters are listed by tsunagu analyse {spec.name} --help (in the API: GET /analyses)") from None


def parse_param_pairs(spec, pairs: list[str] | tuple[str, ...]) -> dict:
    """Turn CLI ``key=value`` strings into a params dict, typed from the model's JSON schema.

    Values are read as JSON where that fits the field (``500``, ``true``, ``[1, 2]``); list
    fields also take ``500,1000``; text fields keep the text as given.
    """
    properties = spec.params.model_json_schema().get("properties", {})
    out: dict = {}
    for pair in pairs:
        if "=" not in pair:
            msg = f"パラメータ {pair!r} が「名前=値」の形ではありません"
            raise InputDataError(msg, feature=pair, hint="例: --param threshold_m=500",
                                 en=f"parameter {pair!r} is not of the form name=value",
                                 hint_en="e.g. --param threshold_m=500")
        key, value = (part.strip() for part in pair.split("=", 1))
        key = key.replace("-", "_")
        if key not in properties:
            known = "、".join(f"「{k}」" + (f"（{p['description']}）" if p.get("description") else "")
                             for k, p in properties.items()) or "（なし）"
            msg = f"{spec.label}にパラメータ「{key}」はありません（使えるもの: {known}）"
            raise InputDataError(msg, feature=key,
                                 en=f"{spec.name} has no parameter {key!r} (parameters: {known})")
        types = _schema_types(properties[key])
        if types == {"string"}:
            out[key] = value
            continue
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        if "array" in types and not isinstance(parsed, list):
            parsed = [_json_or_text(v.strip()) for v in value.split(",") if v.strip()]
        out[key] = parsed
    return out


def _schema_types(prop: dict) -> set[str]:
    types = set()
    for option in [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]:
        t = option.get("type")
        if isinstance(t, list):
            types.update(t)
        elif t:
            types.add(t)
    types.discard("null")
    return types


def _json_or_text(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def describe_analyses() -> list[dict]:
    """Every registered analysis in a planner's order: name, Japanese name (``label``), its full
    registered label (``title``) and parameter JSON schema (each parameter with a Japanese title and description)."""
    registry = load_analyses()
    return [{"name": name, "label": analysis_name(name, registry[name].label), "title": registry[name].label,
             "params": registry[name].params.model_json_schema()}
            for name in planner_order(registry)]
