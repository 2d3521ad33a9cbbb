"""pydantic's validation errors in Japanese: one sentence per problem, pydantic's error type kept as ``code``.

pydantic (v2) writes its messages in English (「Input should be a valid number…」); users of the API,
the web forms and ``tsunagu analyse --param`` read :func:`message` instead, made from the error's
``type`` and ``ctx`` (the limits it broke). Types not listed here fall back to a general sentence;
the English stays in the log and, for programs, ``code`` names the rule exactly.
"""

from __future__ import annotations

from collections.abc import Iterable


def _ctx(err: dict, key: str, default="?"):
    value = (err.get("ctx") or {}).get(key, default)
    return f"{value:g}" if isinstance(value, float) else value


def _expected(err: dict) -> str:
    text = str(_ctx(err, "expected", ""))
    return text.replace(" or ", "、").replace("'", "")


#: pydantic error type → Japanese sentence (``err`` is pydantic's error dict).
MESSAGES = {
    "missing": lambda e: "値がありません（必須の項目です）",
    "extra_forbidden": lambda e: "この項目は使えません（余分な項目です）",
    "int_parsing": lambda e: "整数を入力してください",
    "int_type": lambda e: "整数を入力してください",
    "int_from_float": lambda e: "小数ではなく整数を入力してください",
    "float_parsing": lambda e: "数値を入力してください",
    "float_type": lambda e: "数値を入力してください",
    "finite_number": lambda e: "有限の数値を入力してください（NaN や無限大は使えません）",
    "decimal_parsing": lambda e: "数値を入力してください",
    "bool_parsing": lambda e: "はい／いいえ（true／false）で指定してください",
    "bool_type": lambda e: "はい／いいえ（true／false）で指定してください",
    "string_type": lambda e: "文字列を入力してください",
    "string_too_short": lambda e: f"{_ctx(e, 'min_length')} 文字以上で入力してください",
    "string_too_long": lambda e: f"{_ctx(e, 'max_length')} 文字以下で入力してください",
    "string_pattern_mismatch": lambda e: "使えない文字が含まれているか、形式が違います",
    "too_short": lambda e: f"{_ctx(e, 'min_length')} 個以上指定してください",
    "too_long": lambda e: f"{_ctx(e, 'max_length')} 個以下にしてください",
    "greater_than": lambda e: f"{_ctx(e, 'gt')} より大きい値を入力してください",
    "greater_than_equal": lambda e: f"{_ctx(e, 'ge')} 以上の値を入力してください",
    "less_than": lambda e: f"{_ctx(e, 'lt')} より小さい値を入力してください",
    "less_than_equal": lambda e: f"{_ctx(e, 'le')} 以下の値を入力してください",
    "multiple_of": lambda e: f"{_ctx(e, 'multiple_of')} の倍数を入力してください",
    "literal_error": lambda e: f"次のどれかを指定してください: {_expected(e)}",
    "enum": lambda e: f"次のどれかを指定してください: {_expected(e)}",
    "list_type": lambda e: "並び（リスト）で指定してください",
    "tuple_type": lambda e: "並び（リスト）で指定してください",
    "set_type": lambda e: "並び（リスト）で指定してください",
    "dict_type": lambda e: "「名前 → 値」のオブジェクトで指定してください",
    "model_type": lambda e: "「名前 → 値」のオブジェクトで指定してください",
    "model_attributes_type": lambda e: "「名前 → 値」のオブジェクトで指定してください",
    "json_invalid": lambda e: f"JSON として読めません（{_ctx(e, 'error', '')}）",
    "json_type": lambda e: "JSON の文字列で指定してください",
    "date_parsing": lambda e: "日付を YYYY-MM-DD の形で入力してください",
    "date_from_datetime_parsing": lambda e: "日付を YYYY-MM-DD の形で入力してください",
    "date_type": lambda e: "日付を YYYY-MM-DD の形で入力してください",
    "time_parsing": lambda e: "時刻を HH:MM の形で入力してください",
    "datetime_parsing": lambda e: "日時を YYYY-MM-DDTHH:MM の形で入力してください",
    "datetime_from_date_parsing": lambda e: "日時を YYYY-MM-DDTHH:MM の形で入力してください",
    "uuid_parsing": lambda e: "UUID の形で指定してください",
    "url_parsing": lambda e: "URL の形で指定してください",
    "none_required": lambda e: "値は指定しないでください",
}

_VALUE_ERROR_PREFIXES = ("Value error, ", "Assertion failed, ")


def message(err: dict) -> str:
    """The Japanese sentence for one pydantic error (``{"type", "msg", "ctx", …}``)."""
    kind = str(err.get("type", ""))
    words = MESSAGES.get(kind)
    if words is not None:
        return words(err)
    text = str(err.get("msg", ""))
    if kind in ("value_error", "assertion_error"):  # our own validators: their text is the message
        for prefix in _VALUE_ERROR_PREFIXES:
            if text.startswith(prefix):
                return text[len(prefix):]
        return text
    return "値が正しくありません"


def where(loc: Iterable) -> str:
    """``("body", "params", "threshold_m")`` → ``params.threshold_m`` (the request part left out)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts)


def problems(errors: Iterable[dict], *, finite=lambda v: v) -> list[dict]:
    """Each error as ``{"loc", "field", "msg" (Japanese), "code" (pydantic's type), "type", "input"}``."""
    out = []
    for err in errors:
        code = str(err.get("type", ""))
        out.append({"loc": finite(list(err.get("loc", ()))), "field": where(err.get("loc", ())),
                    "msg": message(err), "code": code, "type": code, "input": finite(err.get("input"))})
    return out


def summary_en(errors: Iterable[dict]) -> str:
    """pydantic's own English for the first problem (``TSUNAGU_LANG=en``): ``'params.threshold_m': Input should be …``."""
    errors = list(errors)
    if not errors:
        return "the request is not in the expected form"
    first = errors[0]
    field = where(first.get("loc", ()))
    head = f"{field!r}: {first.get('msg')}" if field else str(first.get("msg"))
    return head + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")


def summary(items: list[dict]) -> str:
    """「項目「params.threshold_m」: 0 より大きい値を入力してください（ほか 1 件）」 for the first problem."""
    if not items:
        return "リクエストの形式が正しくありません"
    first = items[0]
    head = f"項目「{first['field']}」: {first['msg']}" if first["field"] else first["msg"]
    return head + (f"（ほか {len(items) - 1} 件）" if len(items) > 1 else "")
