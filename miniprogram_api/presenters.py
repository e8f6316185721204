"""Shaping applications for the applicant: masked personal data, signed file links."""

from __future__ import annotations

from flask import current_app, url_for

from backend import workflow
from backend.extensions import db
from backend.models import Application, CatalogVersion, MaterialFile
from backend.services import application_form, applications
from miniprogram_api.schemas import ApplicationDetail, ApplicationSummary, FileOut


def summary(application: Application) -> ApplicationSummary:
    industry = applications.bundle_of(db.session, application).notice["industry"]
    return ApplicationSummary(**_summary_fields(application, industry))


def _summary_fields(application: Application, industry: dict) -> dict:
    return {
        "id": application.id, "industry": industry, "status": application.status,
        "status_label": workflow.label(application.status),
        "submission_number": application.submission_number,
        "created_at": application.created_at, "updated_at": application.updated_at,
        "submitted_at": application.submitted_at,
    }


def file_out(f: MaterialFile, subject: str) -> FileOut:
    settings = current_app.extensions["settings"]
    store = current_app.extensions["media_store"]

    def link(sha256: str) -> str:
        token = store.sign(sha256, subject=subject, expires_in=settings.MEDIA_URL_TTL_SECONDS)
        return url_for("files.fetch", token=token, _external=True)

    return FileOut(id=f.id, position=f.position, media_type=f.media_type,
                   byte_size=f.byte_size, width=f.width, height=f.height,
                   page_count=f.page_count, url=link(f.sha256),
                   thumbnail_url=link(f.thumbnail_sha256) if f.thumbnail_sha256 else None,
                   uploaded_at=f.uploaded_at)


def detail(application: Application) -> ApplicationDetail:
    secret_key = current_app.extensions["settings"].SECRET_KEY
    bundle = applications.bundle_of(db.session, application)
    subject = f"applicant:{application.applicant_id}"
    items = {i["code"]: i for i in bundle.notice["items"]}
    files_by_material: dict[str, list[FileOut]] = {}
    for f in sorted(application.files, key=lambda f: (f.material_code, f.position)):
        files_by_material.setdefault(f.material_code, []).append(file_out(f, subject))
    materials = applications.material_status(bundle, application)
    editable = workflow.State(application.status) in workflow.EDITABLE
    return ApplicationDetail(
        **_summary_fields(application, bundle.notice["industry"]),
        catalog_version=db.session.get(CatalogVersion, application.catalog_version_id).number,
        answers=application.answers,
        deferred_materials=application.deferred_materials,
        items=[{
            "code": lane.item_code, "name": items[lane.item_code]["name"],
            "approving_unit": items[lane.item_code]["approving_unit"],
            "status": lane.status,
            "status_label": workflow.label(lane.status, workflow.ItemState),
            "promised_days": items[lane.item_code]["promised_days"],
            "onsite_check": items[lane.item_code]["onsite_check"], "why": lane.reason,
        } for lane in application.items],
        form=application_form.sections(
            bundle.document, bundle.fields, application.form_values,
            applications.sensitive_values(application, secret_key)),
        materials=[m | {"files": files_by_material.get(m["code"], [])} for m in materials],
        missing={
            "fields": applications.missing_fields(bundle, application, secret_key)
            if editable else [],
            "materials": [{"code": m["code"], "name": m["name"]} for m in materials
                          if m["state"] == "missing"] if editable else [],
        },
        timeline=[{"at": e.at, "actor": e.actor_label, "action": e.action,
                   "message": e.message} for e in application.events],
    )
