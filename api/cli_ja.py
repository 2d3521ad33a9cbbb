"""Japanese for click's own words (Usage, Options, "Missing argument", "No such command"…).

click marks its strings for :mod:`gettext` but ships no catalogue, and each of its modules binds
``gettext``/``ngettext`` at import; :func:`install` points those names at the small catalogue below
so that help, usage errors and prompts read in Japanese like the rest of ``tsunagu``.
``TSUNAGU_LANG=en`` keeps click's English.
"""

from __future__ import annotations

import importlib
import os

#: click's message → Japanese (placeholders kept as click fills them).
CATALOGUE = {
    "Usage:": "使い方:",
    "Options": "オプション",
    "Commands": "コマンド",
    "Positional arguments": "引数",
    "Show this message and exit.": "このヘルプを表示して終了します。",
    "Show the version and exit.": "バージョンを表示して終了します。",
    "%(prog)s, version %(version)s": "%(prog)s バージョン %(version)s",
    "Error: {message}": "エラー: {message}",
    "Try '{command} {option}' for help.": "使い方は '{command} {option}' で確かめてください。",
    "Aborted!": "中止しました。",
    "Missing argument": "引数がありません",
    "Missing option": "オプションがありません",
    "Missing parameter": "パラメータがありません",
    "Missing parameter: {param_name}": "パラメータがありません: {param_name}",
    "Missing {param_type}": "{param_type} がありません",
    "Missing command.": "コマンドを指定してください。",
    "No such command {name!r}.": "コマンド {name!r} はありません。",
    "No such option {name!r}.": "オプション {name!r} はありません。",
    "Option {name!r} does not take a value.": "オプション {name!r} は値をとりません。",
    "Invalid value for {param_hint}: {message}": "{param_hint} の値が正しくありません: {message}",
    "Invalid value: {message}": "値が正しくありません: {message}",
    "Argument {name!r} takes {nargs} values.": "引数 {name!r} には値が {nargs} 個要ります。",
    "Value must be an iterable.": "値は並び（リスト）で指定してください。",
    "Do you want to continue?": "続けますか？",
    "Confirm the action without prompting.": "確認せずに実行します。",
    "Could not open file {filename!r}: {message}": "ファイル {filename!r} を開けません: {message}",
    "default: {default}": "既定: {default}",
    "env var: {var}": "環境変数: {var}",
    "deprecated": "廃止予定",
    "required": "必須",
    "file": "ファイル",
    "directory": "フォルダ",
    "path": "パス",
    "unknown error": "不明なエラー",
    "Choose from:\n\t{choices}": "次から選んでください:\n\t{choices}",
    "{name} {filename!r} does not exist.": "{name} {filename!r} がありません。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} はフォルダです。",
    "{name} {filename!r} is a file.": "{name} {filename!r} はファイルです。",
    "{name} {filename!r} is not readable.": "{name} {filename!r} を読めません。",
    "{name} {filename!r} is not writable.": "{name} {filename!r} に書き込めません。",
    "{name} {filename!r} is not executable.": "{name} {filename!r} は実行できません。",
    "{value!r} is not a valid {number_type}.": "{value!r} は正しい{number_type}ではありません。",
    "{value} is not in the range {range}.": "{value} は範囲 {range} の外です。",
    "{value!r} is not a valid UUID.": "{value!r} は正しい UUID ではありません。",
    "Repeat for confirmation": "確認のためもう一度",
    "Error: The value you entered was invalid.": "エラー: 入力した値が正しくありません。",
    "Error: The two entered values do not match.": "エラー: 2回の入力が一致しません。",
}

#: (singular, plural) → their Japanese (click fills each form's own placeholders).
PLURALS = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"):
        ("余分な引数があります（{args}）", "余分な引数があります（{args}）"),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."):
        ("値が {nargs} 個要りますが 1 個です。", "値が {nargs} 個要りますが {len} 個です。"),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"):
        ("もしかして {possibility}?", "（もしかして次のどれか: {possibilities}）"),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."):
        ("オプション {name!r} には値が要ります。", "オプション {name!r} には値が {nargs} 個要ります。"),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."):
        ("{value!r} は {choice} ではありません。", "{value!r} は {choices} のどれでもありません。"),
    ("{value!r} does not match the format {format}.", "{value!r} does not match the formats {formats}."):
        ("{value!r} は形式 {format} に合いません。", "{value!r} は形式 {formats} のどれにも合いません。"),
}

_CLICK_MODULES = ("click.core", "click.exceptions", "click.formatting", "click.parser", "click.types",
                  "click.decorators", "click.termui")


def gettext(message: str) -> str:
    """click's message in Japanese (unknown ones as they are)."""
    return CATALOGUE.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Japanese for a singular/plural pair (unknown pairs in English)."""
    forms = PLURALS.get((singular, plural), (singular, plural))
    return forms[0] if n == 1 else forms[1]


def uninstall() -> None:
    """Give click back its own English (``tsunagu --lang en``)."""
    import gettext as _gettext

    for name in _CLICK_MODULES:
        module = importlib.sys.modules.get(name)
        if module is None:
            continue
        if hasattr(module, "_"):
            module._ = _gettext.gettext
        if hasattr(module, "ngettext"):
            module.ngettext = _gettext.ngettext


def install() -> bool:
    """Point click's ``_``/``ngettext`` at the catalogue; returns False when ``TSUNAGU_LANG=en``."""
    if os.environ.get("TSUNAGU_LANG", "").lower().startswith("en"):
        return False
    for name in _CLICK_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "_"):
            module._ = gettext
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext
    return True
