"""The division codes the application form accepts, as a list a picker can show.

The form's premises fields take GB/T 2260 codes (``premises_city_code``,
``premises_county_code``) checked by ``entity.division`` against config/divisions/shanxi.yaml;
this is the same table, cities with their counties, ordered by code. It changes only with
the file; the route keeps its answer once built. :func:`name_of` gives a code's name, for
pages that show a filled form.
"""

from __future__ import annotations

from typing import Any

from backend.services import entity


def listing() -> dict[str, Any]:
    """``{"province": {code, name}, "cities": [{code, name, counties: [{code, name}]}]}``."""
    table = entity.load_divisions()
    counties: dict[str, list[dict[str, str]]] = {code: [] for code in table.cities}
    for code, (city, name) in sorted(table.counties.items()):
        counties[city].append({"code": code, "name": name})
    return {"province": {"code": table.province_code, "name": table.province_name},
            "cities": [{"code": code, "name": name, "counties": counties[code]}
                       for code, name in sorted(table.cities.items())]}


def name_of(code: str) -> str:
    """The name of a city or county code (太原市, 小店区); a code not in the table as it is."""
    table = entity.load_divisions()
    if code in table.cities:
        return table.cities[code]
    return table.counties[code][1] if code in table.counties else code


def county_name(code: str) -> str:
    """A county code with its city, as statistics name a county (太原市小店区); a code not in
    the table as it is."""
    table = entity.load_divisions()
    if code not in table.counties:
        return code
    city, name = table.counties[code]
    return f"{table.cities[city]}{name}"
