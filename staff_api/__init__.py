"""The staff API (/api/staff/v1): the window, the units, the inspection team, administrators.

Designed to back a web console; inspectors reach it from the mini-program too.
"""

from apiflask import APIBlueprint

bp = APIBlueprint("staff", __name__, url_prefix="/api/staff/v1", tag="工作人员")

from staff_api import (  # noqa: E402,F401 - attach routes to bp
    auth,
    calendar,
    cases,
    catalog,
    inspections,
    licenses,
    notifications,
    ratings,
    statistics,
)
