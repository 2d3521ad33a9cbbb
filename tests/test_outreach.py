"""CSW outreach days: routes per CSW, breaks, priorities, reasons, bad input, privacy of the CLI run."""

from __future__ import annotations

import csv
import io
import re
import stat
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from gis.access import StraightLineEngine
from gis.errors import InputDataError
from gis.outreach import (
    CSW,
    REASON_BREAK,
    REASON_FULL,
    REASON_SHIFT,
    REASON_UNREACHABLE,
    REASON_WINDOW,
    OutreachVisit,
    make_csws,
    parse_break,
    parse_windows,
    plan_outreach,
)
from gis.routing import check_plan

CRS = "EPSG:6673"  # JGD2011 zone V (岡山県)
STATION = {"station_id": "st-1", "name": "テスト拠点", "lon": 133.6166, "lat": 34.7930}
REASONS = {REASON_BREAK, REASON_FULL, REASON_SHIFT, REASON_UNREACHABLE, REASON_WINDOW}
H = 3600


def engine():
    return StraightLineEngine(crs=CRS)


def sample_visits(n: int, seed: int = 0, spread_deg: float = 0.03) -> list[OutreachVisit]:
    """A SAMPLE visit list (サンプル: made-up households around the station), half with appointments."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(1, n + 1):
        windows = ()
        if k % 2:
            start = 9 * H + int(rng.integers(0, 12)) * 1800
            windows = ((start, start + 90 * 60),)
        out.append(OutreachVisit(
            visit_id=f"サンプル-{k:02d}",
            lon=STATION["lon"] + float(rng.normal(0, spread_deg)),
            lat=STATION["lat"] + float(rng.normal(0, spread_deg)),
            duration_s=int(rng.choice([30, 45, 60])) * 60,
            windows=windows,
            priority=int(rng.choice([1, 2, 3])),
        ))
    return out


def served(plan) -> dict[str, object]:
    return {v.visit_id: v for r in plan.routes for v in r.visits}


def recheck(plan):
    """Every solved group passes the independent checker of gis.routing."""
    assert plan.checks, "no solved problem kept for checking"
    for problem, routing_plan in plan.checks:
        assert check_plan(problem, routing_plan) == []


# --------------------------------------------------------------------------- plans


def test_two_csws_every_visit_fitted_or_listed_with_a_reason():
    visits = sample_visits(16, seed=3)
    plan = plan_outreach(STATION, visits, make_csws(2), engine=engine(), time_limit_s=1, seed=0)
    assert len(plan.routes) == 2 and all(r.visits for r in plan.routes)
    got = served(plan)
    unfitted = dict(plan.unfitted)
    assert set(got) | set(unfitted) == {v.visit_id for v in visits}
    assert not set(got) & set(unfitted)
    assert len(plan.unfitted) == len(unfitted)  # nobody listed twice
    assert all(reason in REASONS for reason in unfitted.values())
    recheck(plan)
    # independently of the solver: straight line × 1.3 at 30 km/h, visit inside its window, hours kept
    by_id = {v.visit_id: v for v in visits}
    eng = engine()
    for r in plan.routes:
        assert r.leave_s >= 8 * H + 1800 and r.return_s <= 17 * H + 900
        prev_xy, prev_end = (STATION["lon"], STATION["lat"]), r.leave_s
        for stop in r.visits:
            v = by_id[stop.visit_id]
            d = _metres(eng, prev_xy, (v.lon, v.lat)) * 1.3
            travel = d / (30_000 / 3600)
            brk = sum(b - a for a, b in r.breaks if prev_end <= a and b <= stop.start_s)
            assert stop.start_s + 1 >= prev_end + travel + brk
            assert stop.end_s - stop.start_s >= v.duration_s
            if v.windows:
                assert any(a <= stop.start_s and stop.end_s <= b for a, b in v.windows), stop
            prev_xy, prev_end = (v.lon, v.lat), stop.end_s
    table = plan.timetable()
    assert set(table.loc[table["種別"] == "訪問", "訪問先"]) == set(got)


def _metres(eng, a, b) -> float:
    import geopandas as gpd
    from shapely.geometry import Point

    pa = gpd.GeoSeries([Point(*a)], crs="EPSG:4326").to_crs(eng.crs).iloc[0]
    pb = gpd.GeoSeries([Point(*b)], crs="EPSG:4326").to_crs(eng.crs).iloc[0]
    return pa.distance(pb)


def test_breaks_are_taken_in_their_window_and_never_during_a_visit():
    csws = make_csws(2, break_window=(12 * H, 13 * H), break_s=45 * 60)
    plan = plan_outreach(STATION, sample_visits(14, seed=5), csws, engine=engine(), time_limit_s=1)
    recheck(plan)
    for r in plan.routes:
        assert r.visits
        assert len(r.breaks) == 1
        (bs, be), = r.breaks
        assert 12 * H <= bs and be <= 13 * H and be - bs >= 45 * 60
        for v in r.visits:
            assert v.end_s <= bs or v.start_s >= be, (v, r.breaks)
    assert (plan.timetable()["種別"] == "休憩").sum() == 2


def test_no_break_plans_with_pyvrp_and_still_checks_clean():
    csws = make_csws(1, break_window=None, break_s=0)
    plan = plan_outreach(STATION, sample_visits(8, seed=2), csws, engine=engine(), time_limit_s=1)
    recheck(plan)
    assert plan.routes[0].breaks == []
    assert plan.solver == "pyvrp"


def test_higher_priorities_kept_when_overloaded():
    # one CSW, 3 hours, 12 visits of 30 minutes close together: about 5 fit
    rng = np.random.default_rng(1)
    visits = [OutreachVisit(f"H-{k:03d}", STATION["lon"] + rng.normal(0, 0.004), STATION["lat"] + rng.normal(0, 0.004),
                            30 * 60, (), priority=1 + k % 3) for k in range(12)]
    csw = [CSW("c1", "CSW 1", hours=(9 * H, 12 * H), break_window=None, break_s=0)]
    plan = plan_outreach(STATION, visits, csw, engine=engine(), time_limit_s=1)
    recheck(plan)
    pri = {v.visit_id: v.priority for v in visits}
    kept = Counter(pri[v] for v in served(plan))
    dropped = Counter(pri[v] for v, _ in plan.unfitted)
    assert dropped, "the test must overload the day"
    assert dropped[1] == 0 and kept[1] == 4  # every 高 visit kept
    if dropped[2]:
        assert kept[3] == 0  # no 低 visit while a 中 one is left out
    assert all(reason == REASON_FULL for _, reason in plan.unfitted)


def test_higher_priorities_kept_with_breaks_and_two_csws():
    rng = np.random.default_rng(7)
    visits = [OutreachVisit(f"H-{k:03d}", STATION["lon"] + rng.normal(0, 0.01), STATION["lat"] + rng.normal(0, 0.01),
                            60 * 60, (), priority=1 + k % 3) for k in range(24)]
    plan = plan_outreach(STATION, visits, make_csws(2), engine=engine(), time_limit_s=1)
    recheck(plan)
    pri = {v.visit_id: v.priority for v in visits}
    kept = Counter(pri[v] for v in served(plan))
    dropped = Counter(pri[v] for v, _ in plan.unfitted)
    assert dropped and kept[1] == 8 and dropped[1] == 0
    assert not (dropped[2] and kept[3])


def test_reasons_for_visits_that_cannot_fit():
    near = (STATION["lon"] + 0.005, STATION["lat"])
    far = (STATION["lon"] + 0.30, STATION["lat"])  # ~27 km: ~70 min by car on straight line × 1.3
    visits = [
        OutreachVisit("H-001", *near, 45 * 60, ((10 * H, 11 * H),), 2),        # fits
        OutreachVisit("H-002", *far, 30 * 60, ((8 * H + 1800, 9 * H + 900),), 1),  # cannot be reached by 9:15
        OutreachVisit("H-003", *near, 60 * 60, ((12 * H, 13 * H),), 2),        # eats the whole lunch window
        OutreachVisit("H-004", *far, 60 * 60, ((16 * H, 17 * H + 900),), 2),   # cannot be back by 17:15
    ]
    plan = plan_outreach(STATION, visits, make_csws(1), engine=engine(), time_limit_s=1)
    recheck(plan)
    reasons = dict(plan.unfitted)
    assert "H-001" in served(plan)
    assert reasons == {"H-002": REASON_WINDOW, "H-003": REASON_BREAK, "H-004": REASON_SHIFT}


def test_a_walk_too_long_for_the_day_and_an_unreachable_household():
    class HoleEngine(StraightLineEngine):
        """Straight line, except that the point at position 2 has no road to anywhere."""

        def within(self, origins, facilities, *, max_distance_m):
            out = super().within(origins, facilities, max_distance_m=max_distance_m)
            return out[(out["origin"] != 2) & (out["facility"] != 2)].reset_index(drop=True)

    visits = [OutreachVisit("H-001", STATION["lon"] + 0.003, STATION["lat"], 30 * 60),
              OutreachVisit("H-002", STATION["lon"] + 0.004, STATION["lat"], 30 * 60),
              OutreachVisit("H-003", STATION["lon"] + 0.25, STATION["lat"], 30 * 60)]  # 23 km on foot
    csws = [CSW("w1", "CSW 徒歩", mode="walk")]
    plan = plan_outreach(STATION, visits, csws, engine=HoleEngine(crs=CRS), time_limit_s=1)
    recheck(plan)
    assert dict(plan.unfitted) == {"H-002": REASON_UNREACHABLE, "H-003": REASON_SHIFT}
    assert any("時速4km" in n for n in plan.notes)


def test_walking_and_driving_csws_in_one_day():
    visits = sample_visits(12, seed=11, spread_deg=0.02)
    csws = [CSW("w1", "CSW 徒歩", mode="walk"), CSW("c1", "CSW 車", mode="car")]
    plan = plan_outreach(STATION, visits, csws, engine=engine(), time_limit_s=1)
    recheck(plan)
    assert len(plan.checks) == 2
    assert any("徒歩の CSW" in n for n in plan.notes)
    assert set(served(plan)) | {v for v, _ in plan.unfitted} == {v.visit_id for v in visits}


def test_same_seed_same_plan():
    visits = sample_visits(12, seed=4)
    a = plan_outreach(STATION, visits, make_csws(2), engine=engine(), time_limit_s=1, seed=3)
    b = plan_outreach(STATION, visits, make_csws(2), engine=engine(), time_limit_s=1, seed=3)
    pd.testing.assert_frame_equal(a.timetable(), b.timetable())
    assert a.unfitted == b.unfitted


def test_parse_windows_and_break():
    assert parse_windows("10:00-11:00、14:00～15:30") == [(10 * H, 11 * H), (14 * H, 15 * H + 1800)]
    assert parse_windows("") == [] and parse_windows(None) == [] and parse_windows("指定なし") == []
    assert parse_break("12:00-13:00/45") == ((12 * H, 13 * H), 45 * 60)
    assert parse_break("なし") == (None, 0)
    with pytest.raises(ValueError):
        parse_windows("朝")


# --------------------------------------------------------------------------- bad input


def _visit(**kw) -> OutreachVisit:
    base = {"visit_id": "H-003", "lon": STATION["lon"] + 0.01, "lat": STATION["lat"], "duration_s": 45 * 60,
            "windows": ((10 * H, 11 * H),), "priority": 2}
    return OutreachVisit(**{**base, **kw})


@pytest.mark.parametrize(("visits", "words"), [
    ([_visit(windows=((11 * H, 10 * H),))], "終わりが始まりより前"),
    ([_visit(windows=((18 * H, 19 * H),))], "勤務時間"),
    ([_visit(windows=((6 * H, 8 * H),))], "勤務時間"),
    ([_visit(), _visit(lon=STATION["lon"] + 0.02)], "重複"),
    ([_visit(lon=-0.1, lat=51.5)], "日本の範囲外"),
    ([_visit(lon=34.79, lat=133.61)], "日本の範囲外"),  # swapped
    ([_visit(windows=((10 * H, 10 * H + 1800),))], "訪問時間"),
    ([_visit(priority=5)], "優先度"),
    ([_visit(duration_s=0)], "訪問時間"),
])
def test_bad_visits_are_named_by_label_only(visits, words):
    with pytest.raises(InputDataError) as err:
        plan_outreach(STATION, [_visit(visit_id="H-001", windows=())] + visits, make_csws(2), engine=engine())
    text = str(err.value)
    assert "訪問先 H-003" in text and words in text
    for v in visits:  # coordinates never echoed
        assert f"{v.lon:.3f}" not in text and f"{v.lat:.3f}" not in text


def test_zero_csws_and_bad_hours():
    with pytest.raises(InputDataError, match="CSW が0人"):
        plan_outreach(STATION, [_visit()], [], engine=engine())
    with pytest.raises(InputDataError, match="CSW が0人"):
        make_csws(0)
    with pytest.raises(InputDataError, match="勤務時間"):
        plan_outreach(STATION, [_visit()], [CSW("c", "CSW 1", hours=(17 * H, 9 * H))], engine=engine())
    with pytest.raises(InputDataError, match="休憩"):
        plan_outreach(STATION, [_visit()], [CSW("c", "CSW 1", break_window=(12 * H, 12 * H + 1800), break_s=45 * 60)],
                      engine=engine())


def test_bad_rows_in_a_visits_file_name_the_label_not_the_person(tmp_path):
    from api.private import read_households

    good = {"id": "H-001", "氏名": "高梁 一郎", "住所": "高梁市中之町1", "緯度": 34.79, "経度": 133.61,
            "訪問時間(分)": 45, "希望時間帯": "10:00-11:00", "優先度": 1}
    cases = [
        ({"id": "H-003", "氏名": "備中 花子", "住所": "高梁市原田北町9", "緯度": 133.61, "経度": 34.79}, "日本の範囲外"),
        ({"id": "H-003", "氏名": "備中 花子", "住所": "高梁市原田北町9", "緯度": 34.8, "経度": 133.6,
          "希望時間帯": "朝いちばん"}, "希望時間帯"),
        ({"id": "H-003", "氏名": "備中 花子", "住所": "高梁市原田北町9", "緯度": 34.8, "経度": 133.6, "優先度": "至急"}, "優先度"),
        ({"id": "H-003", "氏名": "備中 花子", "住所": "高梁市原田北町9", "緯度": 34.8, "経度": 133.6, "訪問時間(分)": -5},
         "訪問時間"),
        ({"id": "H-001", "氏名": "備中 花子", "住所": "高梁市原田北町9", "緯度": 34.8, "経度": 133.6}, "重複"),
    ]
    for row, words in cases:
        path = tmp_path / "visits.csv"
        pd.DataFrame([good, row]).to_csv(path, index=False, encoding="cp932")
        with pytest.raises(InputDataError) as err:
            read_households(path, station_id="st-1")
        text = str(err.value)
        assert words in text, text
        assert "H-003" in text or "H-001" in text
        for secret in ("備中 花子", "高梁 一郎", "原田北町", "中之町", "34.8", "133.6"):
            assert secret not in text, text


# --------------------------------------------------------------------------- 高梁市 end to end (CLI)


@pytest.fixture(scope="module")
def takahashi(tmp_path_factory, data_dir):
    from api.importing import build_city_workspace
    from api.store.connect import open_store

    folder = tmp_path_factory.mktemp("outreach")
    path = folder / "t.gpkg"
    with open_store(str(path)) as store:
        build_city_workspace(store, data_dir=data_dir)
    return path


def _run(args):
    from click.testing import CliRunner

    from api.cli import main

    return CliRunner().invoke(main, ["routes", "outreach", *args], catch_exceptions=False)


def _coordinates_in(text: str, table: pd.DataFrame) -> list[str]:
    found = []
    for lon, lat in zip(table["lon"], table["lat"]):
        for v in (f"{lon:.4f}", f"{lat:.4f}", f"{lon:.3f}", f"{lat:.3f}"):
            if v in text:
                found.append(v)
    return found + re.findall(r"\b1[234]\d\.\d{3,}|\b[23]\d\.\d{4,}", text)


def test_cli_outreach_on_takahashi_sample_visits(takahashi, tmp_path):
    from api.private import SENSITIVE_MARK, ClientStore, Viewer
    from api.store.connect import open_store

    before = takahashi.read_bytes()
    with open_store(str(takahashi), create=False) as store:
        jobs_before = len(store.list_jobs())
        log_before = len(store.import_log())
    out = tmp_path / "private_out"
    res = _run(["--station", "sample-station-01", "--workspace", str(takahashi), "--sample-visits", "12",
                "--csws", "2", "--seed", "1", "--date", "2025-06-02", "--time-limit", "1", "--out", str(out),
                "--user", "csw-a"])
    assert res.exit_code == 0, res.output
    text = res.output
    assert "サンプルデータ" in text and "CSW 1" in text and "CSW 2" in text
    # the plan: every sample household fitted or listed with a reason
    m = re.search(r"訪問 (\d+)/(\d+) 件", text)
    assert m and int(m.group(2)) == 12
    n_unfitted = len(re.findall(r"^    S-\d\d: ", text, flags=re.M))
    assert int(m.group(1)) + n_unfitted == 12
    for line in re.findall(r"^    S-\d\d: (.*)$", text, flags=re.M):
        assert line in REASONS

    with ClientStore(takahashi) as clients:
        households = clients.households(Viewer("auditor", "admin"))
        assert len(households) == 12 and households["is_sample"].all()
        assert households["name"].str.startswith("サンプル世帯").all()
        log = clients.access_log(Viewer("auditor", "admin"))
        assert any(e["user"] == "csw-a" and e["action"] == "read" and len(e["household_ids"]) == 12 for e in log)
        path = clients.path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # stdout: labels and times, never names, addresses or coordinates
    for name, addr in zip(households["name"], households["address"]):
        assert name not in text and addr not in text
    assert _coordinates_in(text, households) == []

    # the private output: marked, owner only
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    files = sorted(out.iterdir())
    assert {f.name for f in files} >= {"訪問ルート_csw-1.html", "訪問ルート_csw-2.csv", "訪問できなかった世帯.csv",
                                      "訪問ルート地図_csw-1.html"}
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        body = f.read_text(encoding="utf-8-sig")
        assert SENSITIVE_MARK in body and "サンプルデータ" in body
    sheets = "".join(f.read_text(encoding="utf-8-sig") for f in files if f.suffix == ".csv")
    assert "サンプル世帯" in sheets  # the CSW's own sheet does name the households

    # the public workspace: untouched, no job, nothing of the households inside
    after = takahashi.read_bytes()
    assert after == before
    with open_store(str(takahashi), create=False) as store:
        assert len(store.list_jobs()) == jobs_before and len(store.import_log()) == log_before
        public = pd.concat([store.stations().drop(columns="geometry").astype(str),
                            store.resources().drop(columns="geometry").astype(str)]).to_csv()
    for name in households["name"]:
        assert name.encode("utf-8") not in after and name not in public
    assert b"S-01" not in after


def test_cli_outreach_with_a_visits_file_keeps_names_out_of_the_public_side(takahashi, tmp_path):
    from api.private import ClientStore, Viewer

    visits = pd.DataFrame([
        {"id": "H-101", "氏名": "吹屋 太郎", "住所": "高梁市架空町北1-2", "緯度": 34.7655, "経度": 133.5872,
         "訪問時間(分)": 45, "希望時間帯": "10:00-11:00", "優先度": 1},
        {"id": "H-102", "氏名": "松山 花子", "住所": "高梁市仮設町南3-4", "緯度": 34.8047, "経度": 133.6197,
         "訪問時間(分)": 30, "希望時間帯": "", "優先度": "中"},
        {"id": "H-103", "氏名": "川端 次郎", "住所": "高梁市試験町5-6", "緯度": 34.7889, "経度": 133.6123,
         "訪問時間(分)": 60, "希望時間帯": "14:00-15:30", "優先度": 3},
    ])
    path = tmp_path / "訪問予定.xlsx"
    visits.to_excel(path, index=False)
    res = _run(["--station", "sample-station-01", "--workspace", str(takahashi), "--visits", str(path),
                "--csws", "1", "--time-limit", "1", "--out", str(tmp_path / "o"), "--date", "2025-06-03"])
    assert res.exit_code == 0, res.output
    for secret in ("吹屋 太郎", "松山 花子", "川端 次郎", "架空町北", "仮設町南", "試験町"):
        assert secret not in res.output
        assert secret.encode("utf-8") not in takahashi.read_bytes()
    assert re.findall(r"H-10\d", res.output)
    assert _coordinates_in(res.output, visits.rename(columns={"緯度": "lat", "経度": "lon"})) == []
    with ClientStore(takahashi) as clients:
        assert set(clients.households(Viewer("x", "csw", "sample-station-01"))["household_id"]) >= {"H-101", "H-102", "H-103"}

    # a bad file: the message names the household label, not the person
    bad = visits.copy()
    bad.loc[1, "希望時間帯"] = "11:00-10:00"
    bad_path = tmp_path / "bad.csv"
    bad.to_csv(bad_path, index=False)
    res = _run(["--station", "sample-station-01", "--workspace", str(takahashi), "--visits", str(bad_path),
                "--time-limit", "1", "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2
    assert "訪問先 H-102" in res.output and "松山" not in res.output and "仮設町南" not in res.output


def test_cli_outreach_qualifications_and_a_csw_from_home(takahashi, tmp_path):
    """「資格」 in the visits file, --csw-skills and --csw-start: the nurse's visit goes to the nurse, nobody signs."""
    visits = pd.DataFrame([
        {"id": "H-201", "緯度": 34.7930, "経度": 133.6200, "訪問時間(分)": 30, "優先度": 1, "資格": "看護師"},
        {"id": "H-202", "緯度": 34.7950, "経度": 133.6150, "訪問時間(分)": 30, "優先度": 2, "資格": "手話"},
        {"id": "H-203", "緯度": 34.7900, "経度": 133.6100, "訪問時間(分)": 30, "優先度": 2, "資格": ""},
        {"id": "H-204", "緯度": 34.7990, "経度": 133.6250, "訪問時間(分)": 30, "優先度": 2, "資格": "担当:csw-1"},
    ])
    path = tmp_path / "訪問予定.csv"
    visits.to_csv(path, index=False)
    args = ["--station", "sample-station-01", "--workspace", str(takahashi), "--visits", str(path), "--csws", "2",
            "--time-limit", "1", "--out", str(tmp_path / "o"), "--date", "2025-06-04", "--break", "none",
            "--csw-skills", "csw-2=看護師", "--csw-start", "csw-1=133.63,34.80"]
    res = _run(args)
    assert res.exit_code == 0, res.output
    orders = dict(re.findall(r"^  (CSW \d)（.*\n    順番: (.*)$", res.output, flags=re.M))
    assert "H-201" in orders["CSW 2"] and "H-204" in orders["CSW 1"], res.output
    assert "H-202: 必要な資格・担当（手話）をすべて持つ CSW がいない" in res.output
    assert "133.63" not in res.output and "34.80" not in res.output  # the home is not echoed
    sheet = (tmp_path / "o" / "訪問ルート_csw-1.csv").read_text(encoding="utf-8-sig")
    assert "出発地（自宅など）" in sheet
    res = _run([*args[:-2], "--csw-start", "csw-9=133.63,34.80"])
    assert res.exit_code == 2 and "CSW「csw-9」がいません" in res.output


def test_cli_refuses_other_roles_and_other_stations(takahashi, tmp_path):
    args = ["--station", "sample-station-01", "--workspace", str(takahashi), "--time-limit", "1",
            "--out", str(tmp_path / "o")]
    res = _run([*args, "--role", "planner"])
    assert res.exit_code == 2 and "planner" in res.output
    res = _run([*args, "--role", "csw", "--as-station", "sample-station-02"])
    assert res.exit_code == 2 and "その拠点の CSW と管理者だけ" in res.output
    assert not (tmp_path / "o").exists()
    res = _run(["--station", "no-such-station", "--workspace", str(takahashi), "--sample-visits", "3"])
    assert res.exit_code == 2 and "sample-station-01" in res.output


# --------------------------------------------------------------------------- the outreach job (private plan)


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def job_store(request, tmp_path):
    """A small complete SAMPLE workspace (tests/_clients_sample.py) with its sample client households."""
    from _clients_sample import fill_workspace, households_table

    from api.private import PRIVATE_SCHEMA, Viewer, client_store_for

    if request.param == "gpkg":
        from api.store.geopackage import GeoPackageStore

        store = GeoPackageStore(tmp_path / "ws.gpkg", create=True)
    else:
        store = request.getfixturevalue("pg_store_factory")()
    fill_workspace(store)
    with client_store_for(store) as clients:
        for station in ("s1", "s2"):
            clients.import_households(Viewer("admin", "admin"), households_table(station), station_id=station)
    yield store
    if request.param == "postgis":
        import sqlalchemy as sa

        with client_store_for(store) as clients, clients._engine.begin() as conn:
            for table in ("client_households", "access_log", "outreach_plans"):
                conn.execute(sa.text(f"DELETE FROM {PRIVATE_SCHEMA}.{table} WHERE workspace = :w"),
                             {"w": store.workspace_name})
    store.close()


def _public_text(store, job_id) -> str:
    import json

    from api.jobs import job_tables

    record = store.get_job(job_id)
    tables = job_tables(store, record) if record["status"] == "done" else {}
    return json.dumps(record, ensure_ascii=False, default=str) + "".join(t.to_csv() for t in tables.values()) + \
        (store.job_map(job_id) or "" if record["status"] == "done" else "")


def test_public_counts_of_a_plan_suppress_small_cells():
    from api.analyses.outreach import public_counts

    assert public_counts(5, 5, 0, k=3) == {"visits": 5, "visits_planned": 5, "visits_unfitted": 0, "suppressed": [],
                                           "small_cell_k": 3}
    # 1 unfitted is small, and 5 - 4 would give it away: the 4 goes too
    got = public_counts(5, 4, 1, k=3)
    assert (got["visits"], got["visits_planned"], got["visits_unfitted"]) == (5, None, None)
    got = public_counts(2, 2, 0, k=3)
    assert (got["visits"], got["visits_planned"], got["visits_unfitted"]) == (None, None, 0)
    assert public_counts(7, 4, 3, k=3)["suppressed"] == []


def test_outreach_job_keeps_the_plan_private(job_store, tmp_path):
    from _clients_sample import leaks

    from api.analyses.outreach import public_counts

    from api.jobs import run_job
    from api.private import Viewer, client_store_for

    job_id = run_job(job_store, "outreach", {"station_id": "s1", "csws": 2, "time_limit_s": 1, "date": "2025-06-02",
                                              "requested_by": "csw-1"}, data_dir=tmp_path, created_by="csw-1")
    record = job_store.get_job(job_id)
    assert record["status"] == "done", record["error"]
    s = record["summary"]
    assert s["station_id"] == "s1" and s["csws"] == 2 and s["visits"] == 5 and record["has_map"] is False
    assert list(record["tables"]) == ["訪問計画の概要"]
    public = _public_text(job_store, job_id)
    assert leaks(public) == [] and "S1-00" not in public  # not even the pseudonymous ids
    with client_store_for(job_store) as clients:
        plan = clients.outreach_plan(Viewer("csw-1", "csw", "s1"), s["plan_id"])
        assert plan["status"] == "done" and plan["created_by"] == "csw-1"
        assert set(plan["household_ids"]) == {f"S1-00{i}" for i in range(1, 6)}
        doc = plan["document"]
        planned, unfitted = sum(len(c["visits"]) for c in doc["csws"]), len(doc["unfitted"])
        assert planned + unfitted == 5
        assert {k: s[k] for k in ("visits", "visits_planned", "visits_unfitted")} == \
            {k: v for k, v in public_counts(5, planned, unfitted, k=3).items() if k.startswith("visits")}
        assert clients.outreach_plan(Viewer("csw-2", "csw", "s2"), s["plan_id"]) is None
        log = clients.access_log(Viewer("auditor", "admin"))
        assert any(e["user"] == "csw-1" and e["role"] == "job" and e["action"] == "read" for e in log)


def test_outreach_job_csw_skills_send_the_qualified_visit_to_the_qualified_csw(job_store, tmp_path):
    from api.jobs import run_job
    from api.private import Viewer, client_store_for

    with client_store_for(job_store) as clients:
        table = clients.households(Viewer("a", "admin"), station_id="s1")
        first = table["household_id"].iloc[0]
        clients.import_households(Viewer("a", "admin"), table.assign(skills=[["看護師"]] + [[]] * (len(table) - 1)),
                                  station_id="s1")
    params = {"station_id": "s1", "csws": 2, "time_limit_s": 1, "date": "2025-06-02", "csw_skills": {"csw-2": ["看護師"]}}
    job_id = run_job(job_store, "outreach", params, data_dir=tmp_path, created_by="csw-1")
    record = job_store.get_job(job_id)
    assert record["status"] == "done", record["error"]
    with client_store_for(job_store) as clients:
        doc = clients.outreach_plan(Viewer("a", "admin"), record["summary"]["plan_id"])["document"]
        by = {v["household_id"]: c["csw_id"] for c in doc["csws"] for v in c["visits"]}
        assert by[first] == "csw-2"
        clients.import_households(Viewer("a", "admin"), table.assign(skills=[[]] * len(table)), station_id="s1")
    job_id = run_job(job_store, "outreach", {**params, "csw_skills": {"csw-9": ["看護師"]}}, data_dir=tmp_path,
                     created_by="x")
    assert "資格を付ける CSW「csw-9」がいません" in job_store.get_job(job_id)["error"]


def test_outreach_job_failure_names_nobody_in_public(job_store, tmp_path):
    from _clients_sample import leaks

    from api.jobs import run_job
    from api.private import Viewer, client_store_for

    bad = pd.DataFrame([{"id": "S2-009", "氏名": "漏洩検査夜子", "住所": "架空県漏洩検査町九番地", "緯度": 34.79011,
                         "経度": 133.63377, "訪問時間(分)": 30, "希望時間帯": "20:00-21:00", "優先度": 1}])
    with client_store_for(job_store) as clients:
        clients.import_households(Viewer("admin", "admin"), bad, station_id="s2")
    job_id = run_job(job_store, "outreach", {"station_id": "s2", "time_limit_s": 1, "plan_id": "a" * 32},
                     data_dir=tmp_path, created_by="csw-2")
    record = job_store.get_job(job_id)
    assert record["status"] == "failed"
    assert "非公開の記録" in record["error"] and "S2-009" not in record["error"]
    public = _public_text(job_store, job_id)
    assert leaks(public) == [] and "34.790" not in public and "133.634" not in public
    with client_store_for(job_store) as clients:
        plan = clients.outreach_plan(Viewer("csw-2", "csw", "s2"), "a" * 32)
        assert plan["status"] == "failed" and "訪問先 S2-009 の希望時間帯" in plan["error"]
        assert "漏洩検査夜子" not in plan["error"]
        clients.delete_households(Viewer("admin", "admin"), ["S2-009"])
        assert "S2-009" not in clients.outreach_plan(Viewer("admin", "admin"), "a" * 32)["error"]


def test_outreach_job_bad_input(job_store, tmp_path):
    from api.jobs import run_job

    with pytest.raises(InputDataError, match="break_time"):
        run_job(job_store, "outreach", {"station_id": "s1", "break_time": "昼ごろ"}, data_dir=tmp_path, created_by="x")
    with pytest.raises(InputDataError, match="hours"):
        run_job(job_store, "outreach", {"station_id": "s1", "hours": "17:00-9:00"}, data_dir=tmp_path, created_by="x")
    job_id = run_job(job_store, "outreach", {"station_id": "no-such"}, data_dir=tmp_path, created_by="x")
    assert "拠点 no-such がワークスペースにありません" in job_store.get_job(job_id)["error"]


def test_outreach_job_sample_visits_on_a_station_without_clients(tmp_path):
    from _clients_sample import fill_workspace

    from api.jobs import run_job
    from api.private import Viewer, client_store_for
    from api.store.geopackage import GeoPackageStore

    with GeoPackageStore(tmp_path / "ws.gpkg", create=True) as store:
        fill_workspace(store)
        job_id = run_job(store, "outreach", {"station_id": "s2", "time_limit_s": 1}, data_dir=tmp_path, created_by="x")
        assert "拠点 s2 の訪問先が登録されていません" in store.get_job(job_id)["error"]
        job_id = run_job(store, "outreach", {"station_id": "s2", "sample_visits": 4, "time_limit_s": 1},
                         data_dir=tmp_path, created_by="x")
        record = store.get_job(job_id)
        assert record["status"] == "done" and record["summary"]["sample"] is True
        assert any("サンプルデータ" in n for n in record["notes"])
        with client_store_for(store) as clients:
            table = clients.households(Viewer("a", "admin"), station_id="s2")
            assert len(table) == 4 and table["is_sample"].all() and table["name"].str.startswith("サンプル世帯").all()


def _sheet_starts(folder):
    """{label: (csw id, start 「H:MM」)} from the private route sheets."""
    out = {}
    for f in folder.glob("訪問ルート_csw-*.csv"):
        csw = f.stem.split("_", 1)[1]
        rows = [r for r in csv.reader(io.StringIO(f.read_text(encoding="utf-8-sig"))) if r and not r[0].startswith("#")]
        head = rows[0]
        for r in rows[1:]:
            rec = dict(zip(head, r))
            if rec["順番"]:
                out[rec["訪問先"]] = (csw, rec["開始"])
    return out


def test_cli_replan_after_a_cancellation_keeps_three_pinned_appointments(takahashi, tmp_path):
    """Issue 10: a day re-planned with --cancel and 3 --pin keeps those visits with their CSW at their time."""
    from gis.outreach import parse_hhmm

    args = ["--station", "sample-station-01", "--workspace", str(takahashi), "--csws", "2", "--seed", "1",
            "--date", "2025-06-02", "--time-limit", "1", "--user", "csw-a"]
    res = _run([*args, "--sample-visits", "12", "--out", str(tmp_path / "first")])
    assert res.exit_code == 0, res.output
    n_first = int(re.search(r"訪問 \d+/(\d+) 件", res.output).group(1))
    first = _sheet_starts(tmp_path / "first")
    by_csw = {c: sorted((parse_hhmm(t), sid) for sid, (cc, t) in first.items() if cc == c) for c in ("csw-1", "csw-2")}
    assert by_csw["csw-1"] and by_csw["csw-2"]
    pinned = [by_csw["csw-1"][-1][1], by_csw["csw-2"][0][1], by_csw["csw-2"][-1][1]]
    cancelled = [by_csw["csw-1"][0][1], by_csw["csw-1"][1][1]]
    pins = [f"--pin={sid}={first[sid][0]}@{first[sid][1]}" for sid in pinned]
    res = _run([*args, "--out", str(tmp_path / "again"), "--cancel", ",".join(cancelled), *pins])
    assert res.exit_code == 0, res.output
    again = _sheet_starts(tmp_path / "again")
    for sid in pinned:
        assert again[sid][0] == first[sid][0], f"{sid} moved to another CSW"
        assert abs(parse_hhmm(again[sid][1]) - parse_hhmm(first[sid][1])) <= 5 * 60, f"{sid} moved from its time"
    assert not set(cancelled) & set(again)
    m = re.search(r"訪問 (\d+)/(\d+) 件", res.output)
    assert m and int(m.group(2)) >= n_first - 2  # the station's stored households, less the cancelled
    # a pin that cannot be read or names nobody says so in Japanese
    res = _run([*args, "--out", str(tmp_path / "bad"), "--pin", "S-01@10:00"])
    assert res.exit_code != 0 and "ラベル=CSW@時刻" in res.output
    res = _run([*args, "--out", str(tmp_path / "bad"), "--pin", "S-02=csw-9@10:00"])
    assert res.exit_code != 0 and "CSW「csw-9」がいません" in res.output
