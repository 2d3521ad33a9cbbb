"""Tsunagu analysis core: pure functions over GeoDataFrames and graphs (no web, no database)."""
