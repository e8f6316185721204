"""The catalog as administrators see it: versions, and the facts still to verify."""

from __future__ import annotations

from backend.extensions import db
from backend.services import catalog
from staff_api import bp
from staff_api.auth import requires, staff_auth
from staff_api.schemas import CatalogEstimates, CatalogVersions, VersionQuery


@bp.get("/catalog/versions")
@bp.auth_required(staff_auth)
@requires("catalog.view")
@bp.output(CatalogVersions)
def catalog_versions():
    """行业目录各版本（旧版本仍可查询）"""
    return {"versions": [
        {"number": v.number, "title": v.title, "source": v.source, "checksum": v.checksum,
         "loaded_at": v.loaded_at, "loaded_by": v.loaded_by,
         "industries": len(v.industries),
         "retired": [i.code for i in v.industries if i.retired]}
        for v in catalog.list_versions(db.session)]}


@bp.get("/catalog/estimates")
@bp.auth_required(staff_auth)
@requires("catalog.view")
@bp.input(VersionQuery, location="query")
@bp.output(CatalogEstimates)
def catalog_estimates(query_data: VersionQuery):
    """目录中仍为估计、有待核实的数据（附已查证的来源与说明）"""
    version = catalog.get_version(db.session, query_data.version)
    return {"catalog_version": version.number, **catalog.estimates(version)}
