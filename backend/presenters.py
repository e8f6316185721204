"""Applications as the APIs show them: masked personal data, signed file links, and for
staff only what their role may see. Plain dicts; each API's schema validates and documents."""

from __future__ import annotations

from flask import current_app, url_for
from sqlalchemy import select

from backend import clock, workflow
from backend.extensions import db
from backend.models import (
    Applicant,
    Application,
    ApplicationItem,
    CatalogVersion,
    Inspection,
    License,
    MaterialFile,
    StaffAccount,
)
from backend.models.ratings import RectificationTask, ServiceRating
from backend.security import masking
from backend.services import (
    application_form,
    applications,
    commitments,
    inspections,
    licenses,
    personal_data,
    ratings,
    rectifications,
    review,
    time_limits,
)


def summary(application: Application) -> dict:
    return _summary_fields(application, applications.industry_of(db.session, application))


def _summary_fields(application: Application, industry: dict) -> dict:
    return {
        "id": application.id, "industry": industry, "status": application.status,
        "status_label": workflow.label(application.status),
        "submission_number": application.submission_number,
        "created_at": application.created_at, "updated_at": application.updated_at,
        "submitted_at": application.submitted_at,
    }


def file_out(f: MaterialFile, subject: str) -> dict:
    settings = current_app.extensions["settings"]
    store = current_app.extensions["media_store"]

    def link(sha256: str) -> str:
        token = store.sign(sha256, subject=subject, expires_in=settings.MEDIA_URL_TTL_SECONDS)
        return url_for("files.fetch", token=token, _external=True)

    return {"id": f.id, "position": f.position, "media_type": f.media_type,
            "byte_size": f.byte_size, "width": f.width, "height": f.height,
            "page_count": f.page_count, "url": link(f.sha256),
            "thumbnail_url": link(f.thumbnail_sha256) if f.thumbnail_sha256 else None,
            "uploaded_at": f.uploaded_at}


def detail(application: Application, *, subject: str | None = None,
           unit: str | None = None) -> dict:
    """The whole application; ``subject`` signs the file links (default: its applicant);
    ``unit`` limits the item lanes to one approving unit (a reviewer's view)."""
    secret_key = current_app.extensions["settings"].SECRET_KEY
    bundle = applications.bundle_of(db.session, application)
    subject = subject or f"applicant:{application.applicant_id}"
    items = {i["code"]: i for i in bundle.notice["items"]}
    files_by_material: dict[str, list[dict]] = {}
    for f in sorted(application.files, key=lambda f: (f.material_code, f.position)):
        files_by_material.setdefault(f.material_code, []).append(file_out(f, subject))
    materials = applications.material_status(bundle, application)
    editable = workflow.State(application.status) in workflow.EDITABLE
    lanes = [lane for lane in application.items if unit is None or lane.approving_unit == unit]
    return {
        **_summary_fields(application, bundle.notice["industry"]),
        "version": application.lock_version,
        "catalog_version": db.session.get(CatalogVersion,
                                          application.catalog_version_id).number,
        "answers": application.answers,
        "deferred_materials": application.deferred_materials,
        "acceptance_number": application.acceptance_number,
        "accepted_on": application.accepted_on,
        "supplement_notice": application.supplement_notice,
        "decision_reason": application.decision_reason,
        "items": [_lane(lane, items[lane.item_code], limit) for lane, limit in zip(
            lanes, time_limits.of_items(db.session, lanes), strict=True)],
        "inspection": inspection_out(application.inspection, subject)
        if application.inspection else None,
        "post_checks": [inspection_out(i, subject) for i in application.post_checks],
        "form": form_sections(application, bundle, secret_key),
        "materials": [m | {"files": files_by_material.get(m["code"], [])} for m in materials],
        "evidence": {code: files_by_material.get(code, [])
                     for code in ("inspection_photo", "rectification_evidence")},
        "missing": {
            "fields": applications.missing_fields(bundle, application, secret_key)
            if editable else [],
            "materials": [{"code": m["code"], "name": m["name"]} for m in materials
                          if m["state"] == "missing"] if editable else [],
        },
        "timeline": [{"at": e.at, "actor": e.actor_label, "action": e.action,
                      "message": e.message} for e in application.events],
        "rating": rating_status(application),
    }


def form_sections(application: Application, bundle: applications.Bundle,
                  secret_key: str) -> list[dict]:
    """The merged form with its values masked; the contact phone is ``verified`` while it is
    the number WeChat verified for the applicant (getPhoneNumber)."""
    sensitive = applications.sensitive_values(application, secret_key)
    phone = personal_data.verified_phone(db.session.get(Applicant, application.applicant_id),
                                         secret_key)
    verified = frozenset({"contact_phone"} if phone and sensitive.get("contact_phone") == phone
                         else ())
    return application_form.sections(bundle.document, bundle.fields, application.form_values,
                                     sensitive, verified)


def staff_detail(application: Application, staff: StaffAccount) -> dict:
    """The staff view: links signed for the staff member; a unit reviewer sees only its own
    items' lanes."""
    unit = staff.unit_code if staff.role == workflow.REVIEWER else None
    out = detail(application, subject=f"staff:{staff.id}", unit=unit)
    if out["inspection"] is not None:
        _name_team(out["inspection"]["team"])
    return out


def _name_team(team: list[dict]) -> None:
    """Each member of an inspection team (``inspection_out``) with its display name; staff
    see who inspects, the applicant's view keeps to units."""
    names = _staff_names({m["staff_id"] for m in team})
    for member in team:
        member["name"] = names.get(member["staff_id"], "")


def _lane(lane: ApplicationItem, item: dict, limit: time_limits.Clock) -> dict:
    return {
        "id": lane.id, "version": lane.lock_version,
        "code": lane.item_code, "name": item["name"],
        "approving_unit": item["approving_unit"], "status": lane.status,
        "status_label": workflow.label(lane.status, workflow.ItemState),
        "promised_days": lane.promised_days or item["promised_days"],
        "onsite_check": item["onsite_check"], "why": lane.reason,
        "due_on": limit.due_on, "remaining_working_days": limit.remaining_working_days,
        "clock": limit.state, "opinion": lane.opinion,
        "applicant_consents_to_drop": lane.applicant_consents_to_drop,
        "commitment_offer": item.get("commitment"),
        "commitment": commitments.view(lane.application, lane.item_code, clock.today()),
    }


def review_task(item: ApplicationItem, limit: time_limits.Clock | None = None) -> dict:
    """One review task as a unit's queue lists it, with its clock."""
    limit = limit or time_limits.of_item(db.session, item)
    bundle = applications.bundle_of(db.session, item.application)
    return {"id": item.id, "version": item.lock_version, "application_id": item.application_id,
            "submission_number": item.application.submission_number,
            "acceptance_number": item.application.acceptance_number,
            "item_code": item.item_code,
            "item_name": bundle.document.permit_items[item.item_code].name,
            "status": item.status, "due_on": limit.due_on,
            "remaining_working_days": limit.remaining_working_days, "clock": limit.state,
            "unit": bundle.document.unit_ref(item.approving_unit),
            "commitment_offered": bundle.document.permit_items[item.item_code].by_commitment,
            "commitment": commitments.view(item.application, item.item_code, clock.today())}


def review_tasks(items: list[ApplicationItem]) -> list[dict]:
    """A page of review tasks, their clocks read with one calendar query."""
    return [review_task(item, limit) for item, limit in zip(
        items, time_limits.of_items(db.session, items), strict=True)]


def review_dossier(item: ApplicationItem, subject: str) -> dict:
    """One item as its reviewer reads it: the task, the item's catalog entry (legal basis,
    conditions), the application's numbers, and only the fields and materials the item
    needs (``review.dossier``); personal numbers masked, files as signed links."""
    application = item.application
    bundle, fields, materials = review.dossier(db.session, item)
    secret_key = current_app.extensions["settings"].SECRET_KEY
    permit = bundle.document.permit_items[item.item_code]
    files: dict[str, list[dict]] = {}
    for f in sorted(application.files, key=lambda f: (f.material_code, f.position)):
        files.setdefault(f.material_code, []).append(file_out(f, subject))
    return {
        **review_task(item),
        "status_label": workflow.label(item.status, workflow.ItemState),
        "opinion": item.opinion, "decided_at": item.decided_at,
        "legal_basis": permit.legal_basis, "conditions": list(permit.conditions),
        "promised_days": item.promised_days, "why": item.reason,
        "industry": bundle.notice["industry"], "accepted_on": application.accepted_on,
        "deferred_materials": application.deferred_materials,
        "form": application_form.sections(
            bundle.document, fields, application.form_values,
            applications.sensitive_values(application, secret_key)),
        "materials": [m | {"files": files.get(m["code"], [])} for m in materials],
    }


def inspection_out(inspection: Inspection, subject: str) -> dict:
    document = applications.document_of(db.session, inspection.application)
    return {
        "id": inspection.id, "version": inspection.lock_version,
        "application_id": inspection.application_id, "status": inspection.status,
        "status_label": workflow.label(inspection.status, inspections.states_of(inspection)),
        "item_codes": inspection.item_codes, "scheduled_on": inspection.scheduled_on,
        "window": inspection.window, "address": inspection.address,
        "reschedule_used": inspection.reschedule_used,
        "team": [{"staff_id": m.staff_id, "unit": document.unit_ref(m.unit_code)}
                 for m in inspection.members],
        "results": [{"round": r.round, "item_code": r.item_code,
                     "item_name": document.permit_items[r.item_code].name,
                     "result": r.result, "result_label": inspections.RESULT_LABELS[r.result],
                     "notes": r.notes, "demands": r.demands,
                     "confirmed_materials": r.confirmed_materials}
                    for r in inspection.results],
        "rectification": inspection.rectification,
        "rectification_deadline": inspection.rectification_deadline,
        "recheck_mode": inspection.recheck_mode,
        "recheck_mode_label": inspections.RECHECK_MODES.get(inspection.recheck_mode or ""),
        "outcome": inspection.outcome,
        "kind": inspection.kind, "due_on": inspection.due_on,
        "overdue": commitments.is_overdue(inspection, clock.today()),
    }


def inspection_card(inspection: Inspection, subject: str) -> dict:
    """An inspection as the console shows it: ``inspection_out`` with the business, its
    premises, each item's name and unit, the team's names, and the photos (taken on the visit,
    sent as rectification evidence) as signed links."""
    application = inspection.application
    document = applications.document_of(db.session, application)
    photos: dict[str, list[dict]] = {"inspection_photo": [], "rectification_evidence": []}
    for f in application.files:
        if f.material_code in photos:
            photos[f.material_code].append(file_out(f, subject) | {"sha256": f.sha256})
    out = inspection_out(inspection, subject)
    _name_team(out["team"])
    items = {i.item_code: i for i in application.items}
    return out | {
        "acceptance_number": application.acceptance_number,
        "industry": document.industries[application.industry_code].name,
        "entity_name": application.form_values.get("entity_name", ""),
        "premises_address": application.form_values.get("premises_address", ""),
        "items": [{"code": code, "name": document.permit_items[code].name,
                   "unit": document.unit_ref(items[code].approving_unit)}
                  for code in inspection.item_codes if code in items],
        "deferred_materials": [{"code": code, "name": document.materials[code].name}
                               for code in application.deferred_materials],
        "photos": photos["inspection_photo"], "evidence": photos["rectification_evidence"],
        "schedulable": inspections.schedulable(inspection),
    }


def license_out(license_: License, subject: str) -> dict:
    """A license with its current verdict and signed links to its rendered face."""
    settings = current_app.extensions["settings"]
    store = current_app.extensions["media_store"]
    face = licenses.face(db.session, license_)

    def link(sha256: str) -> str:
        token = store.sign(sha256, subject=subject, expires_in=settings.MEDIA_URL_TTL_SECONDS)
        return url_for("files.fetch", token=token, _external=True)

    code, label, reason = licenses.verdict(license_)
    return {
        "id": license_.id, "version": license_.version, "lock_version": license_.lock_version,
        "application_id": license_.application_id, "license_no": license_.license_no,
        "verdict": code, "verdict_label": label, "verdict_reason": reason,
        "industry_category": license_.industry_category,
        "industry_name": license_.industry_name, "holder_name": license_.holder_name,
        "credit_code": license_.credit_code, "premises_address": license_.premises_address,
        "issuing_authority": license_.issuing_authority, "issued_on": license_.issued_on,
        "valid_until": license_.valid_until,
        "elicense": licenses.elicense_view(license_),
        "items": [licenses.item_view(i) for i in license_.items],
        "image_url": link(face.png_sha256),
        "pdf_url": link(face.pdf_sha256) if face.pdf_sha256 else None,
        "verify_url": face.verify_url,
        "requests": [{"id": c.id, "version": c.lock_version, "kind": c.kind,
                      "kind_label": licenses.REQUEST_LABELS[c.kind], "status": c.status,
                      "status_label": licenses.REQUEST_STATUS_LABELS[c.status],
                      "changes": c.changes, "reason": c.reason,
                      "unit_decisions": c.unit_decisions} for c in license_.changes],
    }


# --- 好差评 ----------------------------------------------------------------------------------


def _rules() -> ratings.Rules:
    return ratings.rules_from(current_app.extensions["settings"])


def rating_out(rating: ServiceRating, document) -> dict:
    """A rating as given: level, reasons with their labels, comment, unit, channel."""
    level = ratings.BY_SCORE[rating.score]
    return {"id": rating.id, "stage": rating.stage, "stage_label": ratings.STAGES[rating.stage],
            "level": level.code, "level_label": level.label, "score": rating.score,
            "tags": [{"code": t, "label": ratings.TAGS.get(t, t)} for t in rating.tags],
            "comment": rating.comment,
            "unit": {"code": rating.unit_code,
                     "name": ratings.unit_name(document, rating.unit_code)},
            "channel": rating.channel, "channel_label": ratings.CHANNELS[rating.channel],
            "rated_at": rating.rated_at}


def rating_status(application: Application, status: ratings.Status | None = None,
                  ) -> dict | None:
    """Whether the closed case can be rated now, for whom, until when, and the rating given
    (``status``, when already read); None while the case runs."""
    status = status or ratings.status_of(db.session, application, _rules())
    if status is None:
        return None
    document = applications.document_of(db.session, application)
    return {"stage": status.closing.stage, "stage_label": status.closing.label,
            "closed_at": status.closing.at, "rateable_until": status.rateable_until,
            "rateable": status.rateable, "reason": status.reason, "units": status.units,
            "default_unit": {"code": status.default_unit,
                             "name": ratings.unit_name(document, status.default_unit)},
            "rating": rating_out(status.rating, document) if status.rating else None}


def rating_case(application: Application, status: ratings.Status) -> dict:
    """A closed case in the applicant's list of cases to rate."""
    return {"application_id": application.id,
            "submission_number": application.submission_number,
            "industry": applications.industry_of(db.session, application),
            "status": application.status, "status_label": workflow.label(application.status),
            **rating_status(application, status)}


def rectification_task(task: RectificationTask, clock: rectifications.Clock) -> dict:
    """A rectification task as the lists show it: the case, the rating, the deadline."""
    application = task.application
    document = applications.document_of(db.session, application)
    return {
        "id": task.id, "version": task.lock_version, "status": task.status,
        "status_label": workflow.label(task.status, workflow.RectificationState),
        "unit": {"code": task.unit_code, "name": ratings.unit_name(document, task.unit_code)},
        "application_id": task.application_id,
        "submission_number": application.submission_number,
        "acceptance_number": application.acceptance_number,
        "industry": applications.industry_of(db.session, application),
        "entity_name": application.form_values.get("entity_name"),
        "rating": rating_out(task.rating, document),
        "opened_at": task.opened_at, "due_on": task.due_on,
        "remaining_working_days": clock.remaining_working_days, "overdue": clock.overdue,
        "closed_late": clock.closed_late,
    }


def rectification_tasks(rows: list[RectificationTask]) -> list[dict]:
    """A page of tasks, their clocks read with one calendar query."""
    return [rectification_task(t, c) for t, c in zip(
        rows, rectifications.clocks(db.session, rows), strict=True)]


def rectification_detail(task: RectificationTask, staff: StaffAccount) -> dict:
    """One task with what was done (verification, follow-up, closing: when, by whom), its
    history, the moves ``staff`` may make, and whom to call back: the legal representative
    and the contact phone, in full for the unit that follows up, masked for anyone else."""
    application = task.application
    names = _staff_names({task.verified_by, task.followed_up_by, task.closed_by})
    phone = applications.sensitive_values(
        application, current_app.extensions["settings"].SECRET_KEY).get("contact_phone")
    calls_back = staff.role == workflow.REVIEWER
    return rectification_task(task, rectifications.clocks(db.session, [task])[0]) | {
        "contact": {"name": application.form_values.get("legal_rep_name"),
                    "phone": phone if calls_back else masking.mask_phone(phone)},
        "verification": None if task.verified_at is None else {
            "founded": task.founded, "notes": task.verification_notes,
            "at": task.verified_at, "by": names.get(task.verified_by, "")},
        "follow_up": None if task.followed_up_at is None else {
            "contacted_at": task.contacted_at, "method": task.contact_method,
            "method_label": rectifications.CONTACT_METHODS[task.contact_method],
            "applicant_said": task.applicant_said, "satisfied": task.applicant_satisfied,
            "at": task.followed_up_at, "by": names.get(task.followed_up_by, "")},
        "closing": None if task.closed_at is None else {
            "note": task.closing_note, "at": task.closed_at,
            "by": names.get(task.closed_by, "")},
        "actions": [str(a) for a in rectifications.actions_for(staff, task)],
        "history": [{"at": e.at, "actor": e.actor_label, "action": e.action,
                     "message": e.message, "reason": e.reason}
                    for e in rectifications.history(task)],
    }


def _staff_names(ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    return {s.id: s.display_name for s in db.session.scalars(
        select(StaffAccount).where(StaffAccount.id.in_(ids)))} if ids else {}
