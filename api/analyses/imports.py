"""Import job (import-resources): check an uploaded resource file, write it all or nothing, report every row."""

from __future__ import annotations

from pydantic import Field, field_validator

from api.analyses.base import AnalysisParams, AnalysisResult, Progress, register
from api.store.base import Store
from gis.errors import InputDataError
from gis.schema import RESOURCE_KINDS

#: Name of the job's report table.
REPORT_TABLE = "取り込み結果"


class ImportParams(AnalysisParams):
    """Parameters of import-resources (set by ``POST /resources/import``, which receives the file)."""

    upload: str = Field(description="アップロードしたファイル（アップロードフォルダー内の場所。POST /resources/import が設定）")
    kind: str | None = Field(None, description="種別の列がないファイルの種別（例: salon、サロン）")
    replace: bool = Field(False, description="ファイルにある種別の既存データを置き換える")
    source_name: str | None = Field(None, max_length=255, description="利用者が付けたファイル名（表示用）")
    skip_unmatched: bool = Field(False, description="住所だけの表で、町丁・字と照合できなかった行を除いて取り込む")

    @field_validator("upload")
    @classmethod
    def _inside_upload_dir(cls, value: str) -> str:
        from api.uploads import check_upload_path

        return str(check_upload_path(value))

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str | None) -> str | None:
        from gis.resources import resource_kind

        if value is None or not str(value).strip():
            return None
        key = resource_kind(value)
        if key is None:
            known = "、".join(f"{k}（{v}）" for k, v in RESOURCE_KINDS.items())
            msg = f"種別「{value}」が分かりません。使える種別: {known}"
            raise ValueError(msg)
        return key

    @field_validator("source_name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = "".join(c for c in value.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())
        return cleaned.strip() or None


@register("import-resources", params=ImportParams)
def run_import(store: Store, params: ImportParams, *, progress: Progress, data_dir=None) -> AnalysisResult:
    """Check the uploaded file and import its resources in one transaction; the upload is deleted at the end.

    A file with problems ends the job failed with a Japanese report of every problem and its row
    (nothing is written); a good file gives the table 取り込み結果 (one row per resource).
    """
    from api import uploads
    from api.importing import check_resource_file, write_checked_resources
    from api.settings import Settings

    try:  # again here: a worker process trusts only its own upload folder
        path = uploads.check_upload_path(params.upload)
    except ValueError as exc:
        raise InputDataError(str(exc), source=params.source_name, hint="もう一度アップロードしてください",
                             en=getattr(exc, "english", str(exc)),
                             hint_en="upload it again") from None
    keep = False
    try:
        if not path.is_file():
            msg = "アップロードしたファイルが見つかりません（取り込みが取り消されたか、時間がたって削除されました）"
            raise InputDataError(msg, source=params.source_name, hint="もう一度アップロードしてください",
                                 en="the uploaded file is gone (the import was cancelled, or it was deleted after a while)",
                                 hint_en="upload it again")
        progress(0.1, "ファイルを検査中")
        check = check_resource_file(store, path, kind=params.kind, source_name=params.source_name or path.name,
                                    replace=params.replace, limits=uploads.UploadLimits.from_settings(Settings()),
                                    skip_unmatched=params.skip_unmatched)
        if not check.ok:  # the job fails with the whole report as its error; nothing was written
            raise InputDataError(check.message(), source=check.source, hint="表を直してから、もう一度取り込んでください",
                                 en=check.message(english=True),
                                 hint_en="correct the table, then import it again")
        progress(0.6, f"{len(check.points):,} 件を書き込み中")
        result = write_checked_resources(store, check)
    except BaseException as exc:
        # A worker that stops or lost its lease hands the job back to the queue: keep the file for the next try.
        keep = getattr(exc, "reason", None) in ("stopping", "lost")
        raise
    finally:
        if not keep:
            uploads.remove_upload(path)
    summary = {"source": result["source"], "rows_read": result["rows_read"], "imported": result["imported"],
               "kinds": result["kinds"], "replace": params.replace}
    if result["located"]:  # a table of addresses: how rows were placed and which were left out
        summary |= {"left_out": result["left_out"], "located": result["located"]}
    kinds = "、".join(f"{RESOURCE_KINDS.get(k, k)} {n:,} 件" for k, n in result["kinds"].items())
    notes = [f"「{result['source']}」: {check.message()}（{kinds}）"]
    return AnalysisResult(tables={REPORT_TABLE: check.report()}, summary=summary, notes=notes)
