"""The registry of analyses: which modules register them, looking one up, validating its parameters.

Apart from :mod:`api.jobs` so that the job worker (:mod:`api.worker`) and the job API both use it
without importing each other.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from api.analysis_catalogue import ANALYSIS_MODULES, BUILT_IN, CATALOGUE, PLANNER_NAMES, Analysis  # noqa: F401
from gis.errors import InputDataError

if TYPE_CHECKING:
    from pydantic import BaseModel

log = logging.getLogger("tsunagu.jobs")


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
    """``Settings().analysis_module_names()``, read once per value of ``TSUNAGU_ANALYSIS_MODULES``.

    Without that variable (in any case, as the settings read it) there are none, and the settings
    are not built: listing the analyses then imports neither pydantic-settings nor an analysis.
    """
    key = os.environ.get("TSUNAGU_ANALYSIS_MODULES")
    if key is None and not any(k.upper() == "TSUNAGU_ANALYSIS_MODULES" for k in os.environ):
        return ()
    names = _modules_by_env.get(key)
    if names is None:
        from api.settings import Settings

        names = _modules_by_env[key] = tuple(Settings().analysis_module_names())
    return names


def _import(module: str) -> None:
    """Import an analysis module; one that is missing, or that lacks something it needs, is logged and skipped."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:  # the module exists but something it needs does not
            log.warning("analysis module %s cannot be imported: %s", module, exc)
        elif module not in ANALYSIS_MODULES:
            log.warning("analysis module %s (TSUNAGU_ANALYSIS_MODULES) not found", module)


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
        _import(module)
    _imported.add(modules)
    return REGISTRY


def load_analysis(name: str):
    """The registered analysis ``name`` (an AnalysisSpec, None when there is none), importing as little as it can.

    A built-in analysis imports only its own module (and the ``Settings.analysis_modules``, which
    may register analyses of their own or replace one); any other name loads every module.
    """
    analysis = BUILT_IN.get(name)
    if analysis is None:
        return load_analyses().get(name)
    modules = (analysis.module, *_settings_modules())
    if modules not in _imported:
        for module in modules:
            _import(module)
        _imported.add(modules)
    from api.analyses.base import REGISTRY

    return REGISTRY.get(name)


def listed_analyses() -> dict[str, str]:
    """Name → Japanese name of every analysis, in a planner's order, importing no built-in analysis.

    The built-in ones come from :data:`CATALOGUE`; the ``Settings.analysis_modules`` are imported
    (they are the only way to know what they register), and analyses registered in this process
    already are listed too, by their label (``tsunagu analyse --help``).
    """
    names = dict(PLANNER_NAMES)
    for module in _settings_modules():
        _import(module)
    base = sys.modules.get("api.analyses.base")  # not imported: nothing registered yet
    for name, spec in (base.REGISTRY.items() if base is not None else ()):
        names.setdefault(name, analysis_name(name, spec.label))
    return {name: names[name] for name in planner_order(names)}


def get_spec(name):
    """The registered analysis ``name``; an unknown name is an :class:`InputDataError` listing the known ones.

    An ``AnalysisSpec`` given instead of a name is returned as it is (Dask workers receive specs).
    Only the module of the analysis asked for is imported (:func:`load_analysis`).
    """
    if not isinstance(name, str) and hasattr(name, "run") and hasattr(name, "params"):
        return name
    spec = load_analysis(name)
    if spec is not None:
        return spec
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
    from pydantic import ValidationError

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
