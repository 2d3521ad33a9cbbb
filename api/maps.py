"""Maps of a store's contents (shared by the CLI and the /maps routes)."""

from __future__ import annotations

from api.store.base import Store


def tier_map_html(store: Store, *, report_links: bool = False) -> str:
    """Render the tier map of a workspace (all tiers, stations, resources) as standalone HTML.

    ``report_links`` adds a 「地域カルテ」 link to every area's popup (maps the API serves).
    """
    from layers.maps import render_html, tier_map

    ws = store.workspace()
    profile = ws["profile"]
    fmap = tier_map(
        areas=store.areas(),
        stations=store.stations(),
        resources=store.resources(),
        profile=profile,
        city_name=ws["city_name"],
        notes=dict(profile.notes),
        municipality_code=ws["city_code"],
        report_links=report_links,
    )
    return render_html(fmap)

