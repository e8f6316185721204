"""The staff console (/console): the window, the units, the inspection team and
administrators at work in a browser, in Chinese.

Server-rendered with Jinja2; htmx (served from ``console/static``, no build step) for partial
updates. A route is thin: read the form with the staff API's own schema (``forms.parse``),
call one service, render. Every rule of the reform stays in ``backend/``: the services do the
role and object checks, and their errors are shown in place (``forms.perform``).
"""

from apiflask import APIBlueprint

# pages, not API operations: kept out of /openapi.json
bp = APIBlueprint("console", __name__, url_prefix="/console", template_folder="templates",
                  static_folder="static", enable_openapi=False)

from console import (  # noqa: E402,F401 - attach routes to bp
    account,
    admin,
    assisted,
    inspections,
    layout,
    licenses,
    ratings,
    review,
    session,
    statistics,
    window,
)
