"""Receive an upload: stream the request body to a private temp file with a hard size limit, then check its content."""

from __future__ import annotations

import os
import re
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api import uploads
from api.errors import UploadTooLarge
from api.uploads import UPLOAD_SUFFIXES, UploadLimits
from gis.errors import InputDataError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean_name(filename: str) -> str:
    """The base name of a client's file name, without folders or control characters (at most 200 characters)."""
    name = Path(filename.replace("\\", "/")).name
    name = _CONTROL.sub("", name).strip()
    if len(name) > 200:
        stem, suffix = os.path.splitext(name)
        name = stem[: 200 - len(suffix)] + suffix
    return name


def _suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        msg = f"拡張子 {suffix or '（なし）'} のファイルは取り込めません（対応: {', '.join(UPLOAD_SUFFIXES)}）"
        raise InputDataError(msg, source=filename, hint="CSV・Excel・GeoJSON・zip（Shapefile）・GeoPackage で送ってください",
                             en=f"files ending in {suffix or '(none)'} cannot be imported (supported: {', '.join(UPLOAD_SUFFIXES)})",
                             hint_en="send CSV, Excel, GeoJSON, zip (Shapefile) or GeoPackage")
    return suffix


class _Sink:
    """The upload file (0600, in its own 0700 folder), made on first write and named with the upload's suffix."""

    def __init__(self, upload_dir: Path) -> None:
        self.upload_dir = upload_dir
        self.path: Path | None = None
        self._fh = None

    def open(self, filename: str) -> None:
        suffix = _suffix(filename)
        if self._fh is not None:
            msg = "送られたデータにファイルが2つ以上あります。1回に1つのファイルを送ってください"
            raise InputDataError(msg, source=filename, en="the upload holds more than one file; send one file per request")
        self.path, fd = uploads.create_upload_file(self.upload_dir, suffix=suffix)
        self._fh = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self._fh.write(data)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()

    def discard(self) -> None:
        self.close()
        if self.path is not None:
            uploads.remove_upload(self.path)


class _MultipartFile:
    """Feeds multipart chunks to python-multipart and writes the part called ``file`` to a sink."""

    def __init__(self, boundary: bytes, sink: _Sink, field: str = "file") -> None:
        self.sink = sink
        self.field = field
        self.filename: str | None = None
        self.fields: dict[str, str] = {}
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._writing = False
        self._value = bytearray()
        self.file_complete = False
        self.ended = False
        self.parser = MultipartParser(boundary, callbacks={
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: setattr(self, "_header_field", self._header_field + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "_header_value", self._header_value + d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        })

    def _part_begin(self) -> None:
        self._headers, self._name, self._writing, self._value = {}, None, False, bytearray()

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is not None and self._name == self.field:
            self.filename = _clean_name(filename.decode("utf-8", "replace"))
            self.sink.open(self.filename)
            self._writing = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._writing:
            self.sink.write(data[start:end])
        elif len(self._value) < 4096:  # small form fields (kind, replace); anything longer is cut
            self._value += data[start:end]

    def _part_end(self) -> None:
        if self._writing:
            self.file_complete = True
        elif self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")
        self._writing = False

    def _end(self) -> None:
        self.ended = True

    def feed(self, chunk: bytes) -> None:
        self.parser.write(chunk)


async def receive_upload(request: Request, *, limit: int, upload_dir: Path, filename: str | None = None,
                         limits: UploadLimits | None = None) -> tuple[Path, str, dict[str, str]]:
    """Stream the request body to a private temp file, check its content, and return ``(path, filename, form_fields)``.

    A body declared (Content-Length) or found (while streaming) larger than ``limit`` raises
    :class:`UploadTooLarge` — in the first case before any of it is read — and leaves no file.
    Accepts ``multipart/form-data`` (the file in field ``file``) or a raw body with the name in
    ``filename``. Memory use stays at one chunk whatever the upload size. The file is written
    0600 in its own 0700 folder inside ``upload_dir``; then its type is checked by content and a
    zip or workbook for bombs and escaping paths (:func:`api.uploads.check_content`, limits
    ``limits``), and any refusal leaves no file. The caller deletes the returned file with
    :func:`api.uploads.remove_upload` (an import job does it when it ends).
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InputDataError(f"Content-Length {declared!r} が正しくありません", en=f"invalid Content-Length {declared!r}") from None
        if size > limit:
            raise UploadTooLarge(limit, declared=size)

    uploads.trust_upload_dir(upload_dir)
    await run_in_threadpool(uploads.sweep_stale, upload_dir)
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    sink = _Sink(upload_dir)
    multipart = None
    if ctype == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise InputDataError("フォームの区切り（boundary）がない送信です", en="multipart upload without a boundary", hint="フォームからファイルを送ってください",
                                 hint_en="send the file from a form")
        multipart = _MultipartFile(boundary, sink)
    else:
        if not filename:
            msg = "ファイルだけを送るときはファイル名が要ります: ?filename=資源.csv を付けてください（またはフォームで送ってください）"
            raise InputDataError(msg,
                                 en="a raw upload needs its file name: add ?filename=資源.csv (or send multipart/form-data)")
        filename = _clean_name(filename)
        sink.open(filename)

    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise UploadTooLarge(limit)
            if multipart is not None:
                multipart.feed(chunk)
            else:
                sink.write(chunk)
        if multipart is not None:
            multipart.parser.finalize()
            if sink.path is None:
                msg = "フォームの file 欄にファイルがありません"
                en = "the form has no file in the field 'file'"
                raise InputDataError(msg, en=en, hint="ファイルを file という名前の欄で送ってください",
                                     hint_en="send the file in the field named file")
            if not (multipart.file_complete and multipart.ended):
                msg = "ファイルの途中でフォームが終わっています（送信が途切れたか、形式が正しくありません）"
                en = "the multipart form ends before the file does (the upload was cut off or is malformed)"
                raise InputDataError(msg, en=en, source=multipart.filename, hint="フォームからファイルを送り直してください",
                                     hint_en="send the file from the form again")
            filename = multipart.filename
        sink.close()
        await run_in_threadpool(uploads.check_content, sink.path, source=filename, limits=limits)
    except MultipartParseError as exc:
        sink.discard()
        msg = f"フォームを読み取れません（{exc}）"
        en = f"the multipart form could not be read ({exc})"
        raise InputDataError(msg, en=en, hint="フォームからファイルを送り直してください",
                             hint_en="send the file from the form again") from None
    except BaseException:
        sink.discard()
        raise
    return sink.path, filename, (multipart.fields if multipart is not None else {})
