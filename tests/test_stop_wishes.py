"""A planner's wishes per stop (運行曜日, 時間帯, 週回数) in an edited stops CSV reach the weekly planner."""

from __future__ import annotations

import pytest

from api.cli_mobile_sales import _stop_wishes
from gis.errors import InputDataError
from gis.mobile_sales import read_stops_table


def _csv(tmp_path, rows):
    head = "停留所ID,停留所名,経度,緯度,見込み客数（1回あたり）,運行曜日,時間帯,週回数"
    path = tmp_path / "stops.csv"
    path.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8-sig")
    return path


def test_wishes_are_read_back(tmp_path):
    path = _csv(tmp_path, ["S001,成羽停留所,133.53,34.78,12,火・金,9:00-11:00,2",
                           "S002,高倉停留所,133.61,34.82,6,水,,1",
                           "S003,有漢停留所,133.70,34.90,8,,,"])
    stops = read_stops_table(path)
    wishes = _stop_wishes(stops)
    assert wishes["S001"] == (("火", "金"), [(9 * 3600, 11 * 3600)], 2)
    assert wishes["S002"] == (("水",), [], 1)
    assert wishes["S003"] == (None, [], None)


@pytest.mark.parametrize("days,span,needle", [("そのうち", "", "運行曜日"), ("火", "朝のうち", "時間帯")])
def test_unreadable_wishes_name_the_stop(tmp_path, days, span, needle):
    path = _csv(tmp_path, [f"S009,成羽停留所,133.53,34.78,12,{days},{span},1"])
    with pytest.raises(InputDataError, match=f"S009 の{needle}"):
        _stop_wishes(read_stops_table(path))
