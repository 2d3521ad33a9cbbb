"""Page data several web pages share (no page imports another)."""

from __future__ import annotations


def city_bounds(store) -> list[float] | None:
    """``[west, south, east, north]`` of the city (for the forms' small maps)."""
    areas = store.areas()
    if not len(areas):
        return None
    return [round(float(v), 6) for v in areas.total_bounds]


__all__ = ["city_bounds"]
