"""Check uploaded files before anything reads them: type by content, zip bombs, escaping paths, private folders.

An upload lives in its own private folder (``tsunagu-upload-*``, mode 0700, file 0600) inside
the upload folder, so a job (in this process or in a worker sharing the folder) can find it and
delete it when done. Nothing here trusts a file name or a zip header alone: the type is read
from the bytes, and a zip is checked from its central directory and counted again while it is
extracted.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gis.errors import InputDataError

#: File types the resource importer reads.
UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".geojson", ".json", ".zip", ".gpkg")

#: Prefix of every private upload folder (what jobs accept and the sweeper removes).
UPLOAD_PREFIX = "tsunagu-upload-"

#: Bytes read to tell a file's type.
SNIFF_BYTES = 64 * 1024

#: Content kind → what to call it in messages.
KIND_LABELS = {
    "text": "テキスト（CSV）",
    "json": "JSON（GeoJSON）",
    "zip": "zip 圧縮ファイル",
    "xlsx": "Excel ブック（.xlsx）",
    "docx": "Word 文書（.docx）",
    "pptx": "PowerPoint（.pptx）",
    "odf": "OpenDocument ファイル",
    "ole": "古い形式の Office 文書（.xls / .doc）",
    "sqlite": "SQLite データベース（GeoPackage）",
    "shp": "Shapefile の .shp 単体",
    "png": "PNG 画像",
    "jpeg": "JPEG 画像",
    "gif": "GIF 画像",
    "tiff": "TIFF 画像",
    "webp": "WebP 画像",
    "pdf": "PDF 文書",
    "exe": "Windows の実行ファイル（.exe / .dll）",
    "elf": "Linux の実行ファイル",
    "macho": "macOS の実行ファイル",
    "script": "シェルスクリプト",
    "gzip": "gzip 圧縮ファイル",
    "7z": "7-Zip 圧縮ファイル",
    "rar": "RAR 圧縮ファイル",
    "html": "HTML（ウェブページ）",
    "xml": "XML 文書",
    "utf16": "UTF-16 のテキスト",
    "binary": "テキストではないデータ（バイナリ）",
    "empty": "空のファイル（0 バイト）",
}

#: Declared suffix → content kinds accepted for it.
EXPECTED_KINDS = {
    ".csv": {"text"}, ".tsv": {"text"}, ".txt": {"text"},
    ".xlsx": {"xlsx"}, ".xlsm": {"xlsx"}, ".xls": {"ole"},
    ".geojson": {"json"}, ".json": {"json"}, ".topojson": {"json"},
    ".zip": {"zip"}, ".gpkg": {"sqlite"}, ".shp": {"shp"},
    ".kml": {"xml"}, ".gml": {"xml"},
}

_MAGIC = (
    (b"SQLite format 3\x00", "sqlite"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"%PDF-", "pdf"),
    (b"\x7fELF", "elf"),
    (b"\xcf\xfa\xed\xfe", "macho"),
    (b"\xce\xfa\xed\xfe", "macho"),
    (b"\xca\xfe\xba\xbe", "macho"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x00\x00\x27\x0a", "shp"),
    (b"\xff\xfe", "utf16"),
    (b"\xfe\xff", "utf16"),
    (b"#!", "script"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_HTML_START = re.compile(rb"^(<!doctype\s+html|<html|<head|<body|<script|<iframe|<meta|<title|<!--)", re.IGNORECASE)
_JSON_START = re.compile(r'^(\{\s*("|\}|$)|\[\s*(\{|\[|\]|"|-?\d|$))')
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Layer files looked for in an extracted zip, in this order; then tables.
_LAYER_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".topojson", ".kml", ".gml")
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")
_COMPRESSIONS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


@dataclass(frozen=True)
class UploadLimits:
    """How much an upload may unpack to.

    Attributes
    ----------
    max_unpacked_bytes
        Sum of the uncompressed sizes of a zip's (or .xlsx's) members, declared and actual.
    max_ratio
        Largest compression ratio of one member of at least ``ratio_min_bytes``.
    max_entries
        Most members a zip may hold.
    ratio_min_bytes
        Members smaller than this are not ratio-checked (tiny files compress oddly).
    """

    max_unpacked_bytes: int = 1024 * 1024 * 1024
    max_ratio: float = 100.0
    max_entries: int = 1000
    ratio_min_bytes: int = 1024 * 1024

    @classmethod
    def from_settings(cls, settings) -> UploadLimits:
        """The limits a :class:`~api.settings.Settings` sets."""
        return cls(max_unpacked_bytes=settings.max_unpacked_bytes, max_ratio=settings.max_zip_ratio,
                   max_entries=settings.max_zip_entries)


def _mb(n: float) -> str:
    return f"{n / (1024 * 1024):,.0f} MB"


# ---------------------------------------------------------------------- content type


def sniff(path: str | Path) -> str:
    """Tell what a file is from its first bytes (a key of :data:`KIND_LABELS`).

    Zip containers are looked into: an Office Open XML workbook is ``"xlsx"`` (``docx``,
    ``pptx`` likewise), other zips ``"zip"``. Text is ``"html"``, ``"xml"``, ``"json"`` or
    ``"text"`` when it decodes as UTF-8 (with or without BOM) or Shift_JIS (cp932) and has no
    control characters besides tab and line breaks; anything else is ``"binary"``.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        return "empty"
    if head.startswith(_ZIP_MAGIC):
        return _zip_kind(path)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.startswith(b"MZ") and _is_pe(head):
        return "exe"
    return _text_kind(head, complete=len(head) < SNIFF_BYTES)


def _is_pe(head: bytes) -> bool:
    if len(head) >= 64:
        offset = int.from_bytes(head[60:64], "little")
        if head[offset:offset + 4] == b"PE\x00\x00":
            return True
    return b"This program cannot be run in DOS mode" in head[:512]


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            mimetype = zf.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, KeyError, NotImplementedError, RuntimeError, ValueError):
        return "zip"  # a broken zip: check_zip says what is wrong with it
    if "[Content_Types].xml" in names:
        if any(n.startswith("xl/") for n in names):
            return "xlsx"
        if any(n.startswith("word/") for n in names):
            return "docx"
        if any(n.startswith("ppt/") for n in names):
            return "pptx"
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        return "odf"
    return "zip"


def _decodes(head: bytes, encoding: str, *, complete: bool) -> str | None:
    try:
        return codecs.getincrementaldecoder(encoding)().decode(head, final=complete)
    except UnicodeDecodeError:
        return None


def _text_kind(head: bytes, *, complete: bool) -> str:
    if b"\x00" in head:
        return "binary"
    text = _decodes(head, "utf-8-sig", complete=complete)
    if text is None:
        text = _decodes(head, "cp932", complete=complete)
    if text is None:
        return "binary"
    controls = sum(1 for c in text if (ord(c) < 32 and c not in "\t\n\r\f") or ord(c) == 127)
    if controls > max(2, len(text) // 1000):
        return "binary"
    start = text.lstrip()
    lowered = start[:200].lower().encode("utf-8", "replace")
    if _HTML_START.match(lowered):
        return "html"
    if lowered.startswith(b"<?xml") or lowered.startswith(b"<svg"):
        return "html" if b"<html" in text[:2000].lower().encode("utf-8", "replace") else "xml"
    if start.startswith("<") and re.match(r"^<[A-Za-z!?/]", start):
        return "xml"
    if _JSON_START.match(start[:100]):
        return "json"
    return "text"


def check_content(path: str | Path, *, source: str, suffix: str | None = None,
                  limits: UploadLimits | None = None) -> str:
    """Check a file is what its name says, by content; zips and workbooks are also checked for bombs.

    Parameters
    ----------
    path
        The file (its own suffix is used when ``suffix`` is None).
    source
        The name the user gave it (named in messages).
    suffix
        The declared suffix (``.csv`` ...).
    limits
        Zip limits (defaults of :class:`UploadLimits` when None).

    Returns
    -------
    str
        The content kind (``"text"``, ``"xlsx"``, ``"zip"`` ...).

    Raises
    ------
    InputDataError
        The content is not what the suffix says (naming what it really is), the suffix is not
        supported, an old .xls, or a zip / workbook that :func:`check_zip` refuses.
    """
    path = Path(path)
    suffix = (suffix or path.suffix).lower()
    if suffix not in EXPECTED_KINDS:
        msg = f"拡張子 {suffix or '（なし）'} のファイルは取り込めません（対応: {', '.join(UPLOAD_SUFFIXES)}）"
        raise InputDataError(msg, source=source, hint="CSV・Excel・GeoJSON・zip（Shapefile）・GeoPackage で送ってください",
                             en=f"files ending in {suffix or '(none)'} cannot be imported (supported: {', '.join(UPLOAD_SUFFIXES)})",
                             hint_en="send CSV, Excel, GeoJSON, zip (Shapefile) or GeoPackage")
    kind = sniff(path)
    if kind == "empty":
        msg = "ファイルが空です（0 バイト）"
        raise InputDataError(msg, source=source, hint="書き出しに失敗しているかもしれません。もう一度書き出して送ってください",
                             en="the file is empty (0 bytes)",
                             hint_en="the export may have failed; export it again and send it")
    if kind not in EXPECTED_KINDS[suffix]:
        expected = "・".join(KIND_LABELS[k] for k in sorted(EXPECTED_KINDS[suffix]))
        msg = f"ファイル名は {suffix} ですが、中身は{KIND_LABELS.get(kind, kind)}です（{suffix} なら{expected}のはずです）"
        hint, hint_en = _mismatch_hint(kind)
        raise InputDataError(msg, source=source, hint=hint,
                             en=f"the file is named {suffix} but holds {kind} content (a {suffix} file should hold {' or '.join(sorted(EXPECTED_KINDS[suffix]))})",
                             hint_en=hint_en)
    if kind == "ole":
        msg = "古い形式の Excel（.xls）は読めません"
        raise InputDataError(msg, source=source, hint="Excel で「.xlsx」か「CSV UTF-8」として保存し直して送ってください",
                             en="old-format Excel (.xls) cannot be read",
                             hint_en="save it from Excel as .xlsx or as CSV UTF-8 and send it again")
    if kind in ("zip", "xlsx"):
        check_zip(path, source=source, limits=limits, extracting=kind == "zip")
    return kind


def _mismatch_hint(kind: str) -> tuple[str, str]:
    """What to do about a file whose content is ``kind``: ``(Japanese, English)``."""
    if kind == "xlsx":
        return "Excel ブックは拡張子 .xlsx のまま送ってください", "send an Excel workbook with its .xlsx extension"
    if kind == "utf16":
        return ("Excel で「CSV UTF-8（コンマ区切り）」として保存し直して送ってください",
                "save it again from Excel as 'CSV UTF-8 (Comma delimited)' and send that")
    if kind == "html":
        return ("ウェブページや HTML 形式で書き出した表は読めません。CSV か .xlsx で保存して送ってください",
                "a web page or a table exported as HTML cannot be read; save it as CSV or .xlsx and send that")
    if kind == "shp":
        return ("Shapefile は .shp・.shx・.dbf・.prj をまとめて zip にして送ってください",
                "zip a Shapefile's .shp, .shx, .dbf and .prj together and send the zip")
    if kind == "text":
        return "CSV は拡張子 .csv で送ってください", "send a CSV with the extension .csv"
    return ("正しいファイルを選んだか確かめ、CSV・Excel・GeoJSON・zip（Shapefile）・GeoPackage で送ってください",
            "check that you chose the right file, and send CSV, Excel, GeoJSON, zip (Shapefile) or GeoPackage")


# ---------------------------------------------------------------------- zips


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as the archiver meant it (cp932 names of Japanese Windows zips fixed)."""
    name = info.filename
    if not info.flag_bits & 0x800:
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            name = name.encode("cp437").decode("cp932")
    return name


def _unsafe_reason(name: str) -> tuple[str, str] | None:
    """Why a member name could escape the folder it is unpacked to: ``(Japanese, English)``, or None."""
    if "\x00" in name:
        return "名前に NUL 文字があります", "the name holds a NUL character"
    norm = name.replace("\\", "/")
    if norm.startswith("/"):
        return "絶対パスです", "it is an absolute path"
    if _DRIVE.match(norm):
        return "ドライブ名（C: など）で始まっています", "it starts with a drive letter (such as C:)"
    if any(part == ".." for part in norm.split("/")):
        return "「..」でフォルダーの外を指しています", "'..' points outside the folder"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def check_zip(path: str | Path, *, source: str, limits: UploadLimits | None = None,
              extracting: bool = True) -> list[zipfile.ZipInfo]:
    """Refuse zip bombs and members that could escape the folder they are extracted to.

    Checks, from the central directory: number of members, sum of declared uncompressed sizes,
    compression ratio of large members, declared compressed sizes that overlap (more than the
    archive holds), encryption and compression method; and, when ``extracting``, member names
    (absolute, drive letters, ``..``, NUL, duplicates) and symbolic links.

    Returns
    -------
    list of zipfile.ZipInfo
        The members (directories included).

    Raises
    ------
    InputDataError
        Naming the member and the rule it breaks.
    """
    limits = limits or UploadLimits()
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        msg = f"zip として読めません（壊れているか、zip ではありません: {exc}）"
        raise InputDataError(msg, source=source, hint="もう一度 zip に圧縮して送ってください",
                             en=f"cannot read the file as a zip (damaged, or not a zip: {exc})",
                             hint_en="zip it again and send it") from exc
    if len(infos) > limits.max_entries:
        msg = f"zip の中のファイルが多すぎます（{len(infos):,} 個、上限 {limits.max_entries:,} 個）"
        raise InputDataError(msg, source=source, hint="取り込む層のファイルだけを zip にしてください",
                             en=f"too many files in the zip ({len(infos):,}; the limit is {limits.max_entries:,})",
                             hint_en="zip only the files of the layer to import")
    declared = 0
    packed = 0
    seen: set[str] = set()
    archive = path.stat().st_size
    for info in infos:
        name = _member_name(info)
        if info.flag_bits & 0x1:
            msg = f"パスワード付きの zip は読めません（{name}）"
            raise InputDataError(msg, source=source, feature=name, hint="パスワードなしで圧縮し直してください",
                                 en=f"password-protected zips cannot be read ({name})",
                                 hint_en="zip it again without a password")
        if info.compress_type not in _COMPRESSIONS:
            msg = f"対応していない圧縮方式です（{name}、方式 {info.compress_type}）"
            raise InputDataError(msg, source=source, feature=name, hint="標準の zip（Deflate）で圧縮し直してください",
                                 en=f"unsupported compression method ({name}, method {info.compress_type})",
                                 hint_en="zip it again with standard zip (Deflate)")
        if extracting:
            for candidate in {info.orig_filename, info.filename, name}:  # orig_filename keeps what follows a NUL
                reason = _unsafe_reason(candidate)
                if reason:
                    reason, reason_en = reason
                    msg = f"zip の中のファイル名 {candidate!r} は展開先の外を指すため取り込めません（{reason}）"
                    raise InputDataError(msg, source=source, feature=candidate,
                                         hint="フォルダーの中身だけを普通に zip に圧縮し直してください",
                                         en=f"the file name {candidate!r} in the zip points outside the folder it is unpacked to ({reason_en})",
                                         hint_en="zip only the contents of the folder, the ordinary way")
            if _is_symlink(info):
                msg = f"zip の中の {name!r} はシンボリックリンクです。リンクは取り込めません"
                raise InputDataError(msg, source=source, feature=name, hint="実際のファイルを zip に入れてください",
                                     en=f"{name!r} in the zip is a symbolic link; links cannot be imported",
                                     hint_en="put the real file in the zip")
            key = name.replace("\\", "/").strip("/").lower()
            if key in seen and not info.is_dir():
                msg = f"zip の中に同じ名前のファイルが2つあります（{name}）"
                raise InputDataError(msg, source=source, feature=name, hint="zip を作り直してください",
                                     en=f"the zip holds two files with the same name ({name})",
                                     hint_en="make the zip again")
            seen.add(key)
        declared += info.file_size
        packed += info.compress_size
        if declared > limits.max_unpacked_bytes:
            msg = (f"zip を展開すると {_mb(declared)} を超えます（上限 {_mb(limits.max_unpacked_bytes)}）。"
                   "zip 爆弾の可能性があるため取り込みません")
            raise InputDataError(msg, source=source, feature=name, hint="必要な層だけを zip にしてください",
                                 en=(f"the zip would unpack to more than {_mb(declared)} (the limit is {_mb(limits.max_unpacked_bytes)}); "
                                     "not imported: it may be a zip bomb"),
                                 hint_en="zip only the layers you need")
        if info.file_size >= limits.ratio_min_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            msg = (f"zip の中の {name!r} の圧縮率が異常です（{_mb(info.file_size)} が {info.compress_size:,} バイトに、"
                   f"{ratio:,.0f} 対 1、上限 {limits.max_ratio:,.0f} 対 1）。zip 爆弾の可能性があるため取り込みません")
            raise InputDataError(msg, source=source, feature=name, hint="元のファイルを確かめ、普通に zip に圧縮し直してください",
                                 en=(f"the compression ratio of {name!r} in the zip is abnormal ({_mb(info.file_size)} in {info.compress_size:,} bytes, "
                                     f"{ratio:,.0f} to 1; the limit is {limits.max_ratio:,.0f} to 1); not imported: it may be a zip bomb"),
                                 hint_en="check the original files and zip them again the ordinary way")
    if packed > archive:
        msg = (f"zip の目録が示す圧縮データ（{packed:,} バイト）がファイルの大きさ（{archive:,} バイト）を超えています。"
               "重なり合うファイルを持つ zip 爆弾の可能性があるため取り込みません")
        raise InputDataError(msg, source=source, hint="zip を作り直してください",
                             en=(f"the zip's directory declares more compressed data ({packed:,} bytes) than the file holds ({archive:,} bytes); "
                                 "not imported: it may be a zip bomb with overlapping members"),
                             hint_en="make the zip again")
    return infos


def extract_zip(path: str | Path, dest: str | Path, *, source: str, limits: UploadLimits | None = None) -> list[Path]:
    """Check a zip (:func:`check_zip`) and extract it into ``dest``, counting bytes as they are written.

    Folders are made 0700 and files 0600, each file opened exclusively (no overwrite, no
    following links). A member that inflates to more than it declared, or a total over
    ``limits.max_unpacked_bytes``, stops the extraction with an error (the caller removes
    ``dest``).

    Returns
    -------
    list of pathlib.Path
        The extracted files.
    """
    limits = limits or UploadLimits()
    dest = Path(dest).resolve()
    infos = check_zip(path, source=source, limits=limits)
    total = 0
    written: list[Path] = []
    chunk = 1024 * 1024
    try:
        with zipfile.ZipFile(path) as zf:
            for info in infos:
                rel = PurePosixPath(_member_name(info).replace("\\", "/").strip("/"))
                if not rel.parts or info.is_dir():
                    continue
                target = dest.joinpath(*rel.parts)
                if os.path.commonpath([dest, target.resolve()]) != str(dest):  # belt and braces
                    msg = f"zip の中のファイル名 {info.filename!r} は展開先の外を指すため取り込めません"
                    raise InputDataError(msg, source=source, feature=info.filename,
                                         en=f"the file name {info.filename!r} in the zip points outside the folder it is unpacked to")
                _make_dirs(dest, target.parent)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
                count = 0
                with os.fdopen(fd, "wb") as out, zf.open(info) as member:
                    written.append(target)
                    while True:
                        data = member.read(chunk)
                        if not data:
                            break
                        count += len(data)
                        total += len(data)
                        if count > info.file_size:
                            msg = (f"zip の中の {rel.as_posix()!r} が目録の大きさ（{info.file_size:,} バイト）より"
                                   "大きく展開されました。壊れているか細工された zip です")
                            raise InputDataError(msg, source=source, feature=rel.as_posix(),
                                                 en=(f"{rel.as_posix()!r} in the zip unpacked to more than its declared size ({info.file_size:,} bytes); "
                                                     "the zip is damaged or tampered with"))
                        if total > limits.max_unpacked_bytes:
                            msg = (f"zip を展開すると {_mb(limits.max_unpacked_bytes)} を超えました。"
                                   "zip 爆弾の可能性があるため取り込みません")
                            raise InputDataError(msg, source=source, feature=rel.as_posix(),
                                                 en=(f"the zip unpacked to more than {_mb(limits.max_unpacked_bytes)}; "
                                                     "not imported: it may be a zip bomb"))
                        out.write(data)
    except InputDataError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, ValueError,
            zlib.error) as exc:
        msg = f"zip を展開できません（壊れているか細工されています: {exc}）"
        raise InputDataError(msg, source=source, hint="もう一度 zip に圧縮して送ってください",
                             en=f"cannot unpack the zip (damaged or tampered with: {exc})",
                             hint_en="zip it again and send it") from exc
    except FileExistsError as exc:
        msg = f"zip の中に同じ名前のファイルが2つあります（{Path(exc.filename).name}）"
        raise InputDataError(msg, source=source, hint="zip を作り直してください",
                             en=f"the zip holds two files with the same name ({Path(exc.filename).name})",
                             hint_en="make the zip again") from exc
    return written


def _make_dirs(root: Path, folder: Path) -> None:
    missing = []
    cur = folder
    while cur != root and not cur.exists():
        missing.append(cur)
        cur = cur.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700)


def pick_layer(files: list[Path], *, source: str) -> Path:
    """The file to read among those extracted from a zip: the map layer (one Shapefile...), else a table."""
    usable = [f for f in files if "__MACOSX" not in f.parts and not f.name.startswith(".")]
    for suffix in _LAYER_SUFFIXES:
        found = sorted(f for f in usable if f.suffix.lower() == suffix)
        if len(found) > 1 and suffix == ".shp":
            msg = f"zip に Shapefile が {len(found)} 個あります（{', '.join(f.name for f in found)}）"
            raise InputDataError(msg, source=source, hint="1つの zip には1つの層だけを入れてください",
                                 en=f"the zip holds {len(found)} Shapefiles ({', '.join(f.name for f in found)})",
                                 hint_en="put one layer in each zip")
        if found:
            return found[0]
    tables = sorted(f for f in usable if f.suffix.lower() in _TABLE_SUFFIXES)
    if len(tables) == 1:
        return tables[0]
    listing = ", ".join(f.name for f in usable[:10]) or "なし"
    msg = f"zip の中に読める地図の層がありません（中身: {listing}）"
    raise InputDataError(msg, source=source, hint="Shapefile なら .shp・.shx・.dbf・.prj をまとめて zip にしてください",
                         en=f"the zip holds no map layer that can be read (contents: {listing})",
                         hint_en="for a Shapefile, zip the .shp, .shx, .dbf and .prj together")


@contextlib.contextmanager
def readable(path: str | Path, *, source: str, limits: UploadLimits | None = None,
             scratch: str | Path | None = None) -> Iterator[Path]:
    """The file an importer should read: the file itself, or for a zip the layer inside it, safely extracted.

    The content is checked first (:func:`check_content`); a zip is extracted into a private
    temporary folder (0700) inside ``scratch`` (default: beside the file), removed on exit.
    A suffix :data:`EXPECTED_KINDS` does not know (a GDAL format given to the CLI) is passed
    through unchecked; uploads never have one (:data:`UPLOAD_SUFFIXES`).
    """
    path = Path(path)
    if path.suffix.lower() not in EXPECTED_KINDS:  # the CLI reads other GDAL formats; uploads never get here
        yield path
        return
    kind = check_content(path, source=source, limits=limits)
    if kind != "zip":
        yield path
        return
    folder = private_dir(Path(scratch) if scratch else path.parent, prefix="unzipped-")
    try:
        files = extract_zip(path, folder, source=source, limits=limits)
        chosen = pick_layer(files, source=source)
        if chosen.suffix.lower() in EXPECTED_KINDS:
            check_content(chosen, source=f"{source} 内の {chosen.name}", limits=limits)
        yield chosen
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------- folders


def private_dir(parent: str | Path, *, prefix: str = UPLOAD_PREFIX) -> Path:
    """Make a new private folder (mode 0700) in ``parent`` (made 0700 too when missing)."""
    parent = Path(parent)
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def create_upload_file(upload_dir: str | Path, *, suffix: str) -> tuple[Path, int]:
    """A new empty upload file (0600) in its own private folder; returns ``(path, open fd)``."""
    folder = private_dir(upload_dir)
    stem = "upload" + suffix
    fd = os.open(folder / stem, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    return folder / stem, fd


def remove_upload(path: str | Path) -> None:
    """Delete an upload and its private folder (only a ``tsunagu-upload-*`` folder is removed)."""
    path = Path(path)
    folder = path.parent
    if folder.name.startswith(UPLOAD_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def sweep_stale(upload_dir: str | Path, *, max_age_s: float = 24 * 3600) -> int:
    """Remove upload folders older than ``max_age_s`` (left by cancelled jobs or a crash); returns how many."""
    upload_dir = Path(upload_dir)
    if not upload_dir.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for entry in upload_dir.iterdir():
        try:
            if (entry.name.startswith(UPLOAD_PREFIX) and entry.is_dir() and not entry.is_symlink()
                    and entry.stat().st_mtime < cutoff and entry.stat().st_uid == os.getuid()):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


# ---------------------------------------------------------------------- upload paths in job params

_TRUSTED: set[str] = set()


def trust_upload_dir(upload_dir: str | Path) -> None:
    """Accept uploads from ``upload_dir`` in job parameters (the API registers its settings' folder)."""
    _TRUSTED.add(os.path.realpath(upload_dir))


def trusted_upload_dirs() -> list[str]:
    """Folders job parameters may point into: ``TSUNAGU_UPLOAD_DIR`` (or its default) and registered ones."""
    from api.settings import Settings

    roots = set(_TRUSTED)
    with contextlib.suppress(Exception):
        roots.add(os.path.realpath(Settings().upload_dir))
    return sorted(roots)


def check_upload_path(value: str | Path) -> Path:
    """An upload path from job parameters, checked to be an upload inside a trusted upload folder.

    It must name a file directly inside a ``tsunagu-upload-*`` folder of a trusted upload
    folder, with no ``..`` and neither the folder nor the file a symbolic link (the upload
    folder itself may sit behind one, like macOS's ``/tmp``); anything else (``/etc/passwd``,
    ``../``, a link planted in an upload folder) is an :class:`InputDataError` (a ``ValueError``).
    """
    text = str(value)
    if not text or "\x00" in text or not os.path.isabs(text) or ".." in Path(text).parts:
        msg = "アップロードしたファイルの場所が正しくありません（アップロードフォルダー内の絶対パスが必要です）"
        raise InputDataError(msg, en="the uploaded file's location is not valid (an absolute path inside the upload folder is needed)")
    path = Path(text)
    folder = path.parent
    if not folder.name.startswith(UPLOAD_PREFIX) or os.path.islink(folder) or os.path.islink(path):
        msg = "アップロードしたファイルの場所が正しくありません（取り込みはアップロードしたファイルだけを読みます）"
        raise InputDataError(msg, en="the uploaded file's location is not valid (an import reads only uploaded files)")
    root = os.path.realpath(folder.parent)
    if root not in trusted_upload_dirs():
        msg = "アップロードしたファイルがアップロードフォルダーの外にあります。取り込みはアップロードしたファイルだけを読みます"
        raise InputDataError(msg, en="the uploaded file is outside the upload folder; an import reads only uploaded files")
    return Path(root) / folder.name / path.name


__all__ = [
    "EXPECTED_KINDS", "KIND_LABELS", "UPLOAD_PREFIX", "UPLOAD_SUFFIXES", "UploadLimits", "check_content",
    "check_upload_path", "check_zip", "create_upload_file", "extract_zip", "pick_layer", "private_dir",
    "readable", "remove_upload", "sniff", "sweep_stale", "trust_upload_dir", "trusted_upload_dirs",
]
