"""Population attributes of small areas: joining e-Stat age tables by KEY_CODE, with secrecy kept honest."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from gis.errors import InputDataError

#: e-Stat HTKSYORI (秘匿処理): 0 as counted, 1 absorbed neighbours (GASSAN), 2 suppressed (counted in HTKSAKI).
_SUPPRESSED = 2


def join_age_table(
    small_areas: pd.DataFrame, table: pd.DataFrame, *, source: str
) -> tuple[pd.DataFrame, dict]:
    """Set ``pop_65plus`` / ``pop_75plus`` of census small areas from an e-Stat age table.

    Each small area takes the table row with its ``KEY_CODE`` (rows of other levels — the
    municipality, 大字 — are not summed). Suppressed rows (``HTKSYORI`` = 2, ``*``) stay unknown
    (<NA>), never 0: their people are counted in the row named in ``HTKSAKI``, which the report
    records so totals of outer tiers still reconcile.

    Parameters
    ----------
    small_areas
        The innermost tier (``area_id`` = KEY_CODE, ``name``, ``population``).
    table
        Output of :func:`gis.io.read_estat_table` (``attrs["labels"]`` is used to find columns).
    source
        File name for messages.

    Returns
    -------
    (DataFrame, dict)
        ``small_areas`` with the age columns set, and a report: matched, unmatched areas,
        suppressed areas with the area their people are counted in (``absorbed``), and the table
        total against the census population.
    """
    from gis.io import estat_age_columns

    cols = estat_age_columns(table.attrs.get("labels", {}))
    if "pop_65plus" not in cols:
        msg = "表に「65歳以上」の列も、65歳からの5歳階級の列もありません"
        raise InputDataError(
            msg, en="the table has no 65歳以上 column or five-year bands from 65", source=source,
            hint="e-Stat から小地域の「年齢（5歳階級）別人口」をダウンロードしてください",
            hint_en="download 年齢（5歳階級）別人口 for 小地域 from e-Stat",
        )
    if "KEY_CODE" not in table.columns:
        msg = "表に KEY_CODE の列がありません"
        raise InputDataError(msg, en="the table has no KEY_CODE column", source=source)
    rows = table.drop_duplicates("KEY_CODE").set_index("KEY_CODE")
    dup = table[table["KEY_CODE"].duplicated(keep=False) & table["KEY_CODE"].isin(small_areas["area_id"])]
    if len(dup):
        msg = f"KEY_CODE {dup['KEY_CODE'].iloc[0]} が複数の行にあります"
        raise InputDataError(
            msg, en=f"KEY_CODE {dup['KEY_CODE'].iloc[0]} appears on more than one row",
            source=source, row=int(dup.index[0]) + 1,
        )

    def summed(keys: list[str]) -> pd.Series:
        part = rows[keys]
        return part.sum(axis=1, min_count=len(keys)).where(part.notna().all(axis=1)).astype("Int64")

    out = small_areas.copy()
    ids = out["area_id"].astype(str)
    matched = ids.isin(rows.index)
    if not matched.any():
        sample = ", ".join(ids.head(3))
        msg = f"表の KEY_CODE がワークスペースの小地域と1つも一致しません（小地域の例: {'、'.join(ids.head(3))}）"
        raise InputDataError(
            msg, en=f"no KEY_CODE of this table matches the workspace's small areas (e.g. {sample})", source=source,
            hint="境界と同じ国勢調査の年・同じ市町村の表を使ってください",
            hint_en="use the table of the same census year and municipality as the boundaries",
        )
    for key in ("pop_65plus", "pop_75plus"):
        if key in cols:
            values = summed(cols[key])
            out[key] = pd.array(ids.map(values).where(matched, pd.NA), dtype="Int64")
    htk = rows["HTKSYORI"] if "HTKSYORI" in rows.columns else pd.Series(0, index=rows.index)
    saki = rows["HTKSAKI"] if "HTKSAKI" in rows.columns else pd.Series(None, index=rows.index)
    names = dict(zip(ids, out["name"]))
    absorbed = {}
    for aid in ids[matched]:
        if htk.get(aid) == _SUPPRESSED:
            absorbed[aid] = None if pd.isna(saki.get(aid)) else str(saki.get(aid))
    total_col = cols.get("population", [None])[0]
    table_total = None
    if total_col is not None:
        tot = rows.loc[ids[matched], total_col]
        table_total = int(tot.sum()) if len(tot) else 0
    report = {
        "source": source,
        "columns": cols,
        "matched": int(matched.sum()),
        "unmatched": [{"area_id": a, "name": names[a]} for a in ids[~matched]],
        "suppressed": [
            {"area_id": a, "name": names[a], "counted_in": b, "counted_in_name": names.get(b, "")}
            for a, b in absorbed.items()
        ],
        "absorbed": {a: b for a, b in absorbed.items() if b},
        "table_total": table_total,
        "census_population": int(out["population"].sum()) if out["population"].notna().all() else None,
        "pop_65plus": int(out["pop_65plus"].sum()),
    }
    return out, report


def elderly_share(areas: gpd.GeoDataFrame | pd.DataFrame) -> float | None:
    """Share of people aged 65+ among the areas with a known 65+ count (None when unknown everywhere)."""
    known = areas["pop_65plus"].notna() & areas["population"].notna()
    pop = areas.loc[known, "population"].sum()
    return None if not known.any() or pop == 0 else float(areas.loc[known, "pop_65plus"].sum() / pop)
