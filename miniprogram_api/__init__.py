"""The HTTP API the WeChat mini-program calls: routes only (parse → one service → shape)."""

from apiflask import APIBlueprint

bp = APIBlueprint("mp", __name__, url_prefix="/api/mp/v1", tag="小程序")

from miniprogram_api import (  # noqa: E402,F401 - attach routes to bp
    applications,
    auth,
    catalog,
    collaborators,
    divisions,
    elicenses,
    licenses,
    messages,
    privacy,
    ratings,
    staff,
)
