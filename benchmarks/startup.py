"""Benchmark: how long ``tsunagu --help`` (and ``analyse --help``, ``routes --help``) takes, beside a bare Python start (the floor) on the same machine.

Run: ``python3 benchmarks/startup.py [--repeat 20]``. Each run is a fresh process (the console
script the README installs, else ``python -m api.cli``); the table gives the median and the spread
(min–max) of wall time, and the ratio to the bare interpreter. The goal (issue 11) is < 0.3 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time(cmd: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)
    script = Path(sys.executable).with_name("tsunagu")
    tsunagu = [str(script)] if script.exists() else [shutil.which("tsunagu") or sys.executable, *([] if shutil.which("tsunagu") else ["-m", "api.cli"])]
    rows = [("python -c pass (floor)", [sys.executable, "-c", "pass"]),
            ("tsunagu --help", [*tsunagu, "--help"]),
            ("tsunagu analyse --help", [*tsunagu, "analyse", "--help"]),
            ("tsunagu routes --help", [*tsunagu, "routes", "--help"])]
    floor = None
    print(f"{'command':28} {'median s':>9} {'min–max s':>13} {'× floor':>8}   ({args.repeat} runs each)")
    for label, cmd in rows:
        times = _time(cmd, args.repeat)
        med = statistics.median(times)
        floor = floor or med
        print(f"{label:28} {med:9.3f} {min(times):6.3f}–{max(times):.3f} {med / floor:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
