"""The division codes the application form accepts, as a list a picker can show.

The form's premises fields take GB/T 2260 codes (``premises_city_code``,
``premises_county_code``) checked by ``entity.division`` against config/divisions/shanxi.yaml;
this is the same table, cities with their counties, ordered by code. It changes only with
the file, so it is built once per process with an ETag over its content.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from backend.services import entity


@cache
def listing() -> tuple[dict[str, Any], str]:
    """(``{"province": {code, name}, "cities": [{code, name, counties: [{code, name}]}]}``,
    its strong ETag)."""
    table = entity.load_divisions()
    counties: dict[str, list[dict[str, str]]] = {code: [] for code in table.cities}
    for code, (city, name) in sorted(table.counties.items()):
        counties[city].append({"code": code, "name": name})
    body = {"province": {"code": table.province_code, "name": table.province_name},
            "cities": [{"code": code, "name": name, "counties": counties[code]}
                       for code, name in sorted(table.cities.items())]}
    digest = hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True).encode())
    return body, digest.hexdigest()[:32]
