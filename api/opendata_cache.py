"""Prefecture-wide open data kept parsed on disk per data version, so the next process does not parse it again.

The e-Stat small areas, N03 boundaries and the A27/A32 school districts take about a second to
parse, and every ``tsunagu analyse --all-municipalities`` (and each of its workers) needs them.
:func:`warm` takes each file into this process's cache (:mod:`gis.opendata`) from a copy in the
cache folder when the copy is of the file as it is now, else parses it and writes the copy.

A copy is named by the file's name, a digest of its folder and a digest of its modification time, size,
:data:`PARSED_FORMAT` and the versions of the libraries in the pickle: a changed data file (or a
new pandas, GeoPandas or Shapely) gives a new name, so a stale copy is never read; the older
copies of the same file are deleted. The copies are pickles (they run code when loaded): the
folder must be one only this user writes, like the workspace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

from gis import opendata

log = logging.getLogger("tsunagu.opendata_cache")

#: Bumped when :mod:`gis.opendata` changes what a parse returns for the same file.
PARSED_FORMAT = "parsed-1"
#: Where the copies go when the settings name no folder (under the user's cache folder).
DEFAULT_SUBFOLDER = "tsunagu/opendata"


def default_folder() -> Path:
    """``$XDG_CACHE_HOME/tsunagu/opendata`` (``~/.cache/tsunagu/opendata`` when it is not set)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / DEFAULT_SUBFOLDER


def copy_path(folder: Path, source: Path) -> Path | None:
    """Where the parsed copy of ``source`` as it is now goes in ``folder``; None when the file is not there."""
    import geopandas
    import pandas
    import shapely

    key = opendata.parsed_key(source)
    if key is None:
        return None
    head = {"format": PARSED_FORMAT, "file": list(key), "python": sys.version_info[:2],
            "pandas": pandas.__version__, "geopandas": geopandas.__version__, "shapely": shapely.__version__}
    digest = hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()[:24]
    return Path(folder) / f"{_stem(key[0])}-{digest}.pickle"


def _stem(resolved: str) -> str:
    """The file's name and a digest of its folder: the copies of one file, whatever its version."""
    return f"{Path(resolved).name}-{hashlib.sha256(str(Path(resolved).parent).encode()).hexdigest()[:8]}"


def warm(sources: list[Path], *, folder: Path | None) -> dict[str, int]:
    """Each open-data file in this process's cache: kept already, from its copy in ``folder``, or parsed now.

    Parameters
    ----------
    sources
        The files (a missing one or one that cannot be parsed is left to its reader, which says why).
    folder
        The cache folder (created when needed); None parses without writing copies.

    Returns
    -------
    dict
        How many files were ``kept`` (parsed in this process already), read from a ``copy``, and ``parsed``.
    """
    counts = {"kept": 0, "copy": 0, "parsed": 0}
    for source in sources:
        source = Path(source)
        copy = copy_path(folder, source) if folder is not None else None
        if opendata.is_parsed(source):
            counts["kept"] += 1
            if copy is not None and not copy.exists():
                _write(copy, source)  # parsed by this process before (listing it, say): the next one reads it
            continue
        if copy is not None and copy.exists():
            try:
                if opendata.import_parsed(copy):
                    counts["copy"] += 1
                    continue
            except Exception as exc:  # noqa: BLE001 - an unreadable copy is parsed again and rewritten
                log.warning("parsed copy %s unreadable (%s); parsing %s again", copy, exc, source)
        opendata.preparse([source])
        if not opendata.is_parsed(source):
            continue  # missing or unreadable: its reader raises the error where it belongs
        counts["parsed"] += 1
        if copy is not None:
            _write(copy, source)
    return counts


def _write(copy: Path, source: Path) -> None:
    try:
        copy.parent.mkdir(parents=True, exist_ok=True)
        opendata.export_parsed(copy, sources=[source])
    except OSError as exc:  # a read-only or full cache folder costs a parse next time, nothing more
        log.warning("parsed copy %s not written: %s", copy, exc)
        return
    stem = f"{_stem(str(source.resolve()))}-"
    for old in copy.parent.iterdir():  # copies of earlier versions of the same file
        if old != copy and old.name.startswith(stem) and old.name.endswith(".pickle"):
            old.unlink(missing_ok=True)
