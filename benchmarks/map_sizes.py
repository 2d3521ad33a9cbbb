"""Benchmark: the size of every map ``tsunagu`` writes for a city, as written and as served (gzip, brotli).

Run: ``python3 benchmarks/map_sizes.py [--city 33202] [--mobile-sales]``. Builds the city's
workspace from the open data (``TSUNAGU_DATA_DIR``) in a temporary folder, renders the tier map
and runs each analysis with its defaults, then prints one row per map. The goals (issue 11):
倉敷市 (33202) every map ≤ 1.2 MB, 高梁市 (33209) tier map ≤ 0.9 MB. ``--mobile-sales`` adds the
weekly route map (minutes on 倉敷市: it places ~1,170 candidate stops).
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ANALYSES = ("shopping-refugees", "salon-gaps", "salon-sites", "catchments")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--city", default="33202", help="JIS code (default 33202 倉敷市)")
    ap.add_argument("--mobile-sales", action="store_true", help="also the weekly route map (slow)")
    args = ap.parse_args(argv)
    data_dir = Path(os.environ.get("TSUNAGU_DATA_DIR", ROOT.parent / "shared" / "data"))

    from api.analysis_registry import load_analyses
    from api.importing import build_city_workspace
    from api.maps import tier_map_html
    from api.store.geopackage import GeoPackageStore

    try:
        import brotli
    except ImportError:
        brotli = None
    registry = load_analyses()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, GeoPackageStore(Path(tmp) / "ws.gpkg", create=True) as store:
        build_city_workspace(store, data_dir=data_dir, city_code=args.city)
        t0 = time.perf_counter()
        maps = {"tier map": tier_map_html(store)}
        times = {"tier map": time.perf_counter() - t0}
        for name in ANALYSES + (("mobile-sales",) if args.mobile_sales else ()):
            spec = registry[name]
            t0 = time.perf_counter()
            result = spec.run(store, spec.params.model_validate({}), progress=lambda f, m: None, data_dir=data_dir)
            maps[name], times[name] = result.map_html, time.perf_counter() - t0
    for name, html in maps.items():
        body = html.encode("utf-8")
        rows.append((name, len(body), len(gzip.compress(body, 6)),
                     len(brotli.compress(body, quality=5)) if brotli else None, times[name]))
    print(f"{'map':<20}{'bytes':>12}{'gzip':>10}{'brotli':>10}{'build s':>9}")
    for name, size, gz, br, secs in rows:
        print(f"{name:<20}{size:>12,}{gz:>10,}{(f'{br:,}' if br else '—'):>10}{secs:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
