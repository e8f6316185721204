"""Applying from the phone: one form, one set of materials, 容缺 submit, idempotent retries."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from backend.models import Application, MaterialFile
from backend.security.masking import mask_id_number, mask_phone
from backend.services import applications
from tests.media_files import bomb_png, phone_jpeg
from tests.test_app import assert_envelope, bad_fields
from tests.test_notice import neutral_answers

SHOP = {"prepackaged_only": True, "sells_devices": True}  # a textarea: device_scope
BASE = "/api/mp/v1/applications"
VALID_ENTITY = {
    "entity_kind": "enterprise",
    "entity_name": "太原市小店区晋味饭店有限公司",
    "credit_code": "91110000600037341L",
    "legal_rep_name": "张三",
    "legal_rep_id_number": "360426199101010071",
    "contact_phone": "13812345678",
    "premises_city_code": "140100",
    "premises_county_code": "140105",
    "premises_address": "太原市小店区平阳路 1 号",
}
VALID_AGENT = {  # the 受托人, asked when the guidance answer says someone else applies
    "agent_name": "李四",
    "agent_id_number": "11010519491231002X",
    "agent_phone": "13987654321",
}


def create(client, headers, industry="restaurant", key=None, **answers):
    body = {"industry": industry, "answers": neutral_answers(client, industry) | answers}
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(BASE, json=body, headers=headers | extra)


def draft(client, headers, industry="restaurant", **answers) -> dict:
    resp = create(client, headers, industry, **answers)
    assert resp.status_code == 201, resp.json
    return resp.json


def fields_of(detail: dict) -> dict[str, dict]:
    return {f["code"]: f for section in detail["form"] for f in section["fields"]}


def sample_value(field: dict):
    """A valid value for a catalog field, from its type and options."""
    kind = field["type"]
    if field["code"] == "fire_application_mode":  # 告知承诺 needs a signature first
        return "inspection"
    if kind == "choice":
        return field["options"][0]["value"]
    if kind == "multi_choice":
        return [field["options"][0]["value"]]
    if field["code"] == "sign_size":
        return "3×1.2"
    return {"bool": True, "number": 10, "integer": 2, "date": "2026-12-01",
            "phone": "13812345678"}.get(kind, "测试内容")


def fill(client, headers, detail: dict, **fields) -> dict:
    values = dict(VALID_ENTITY) | fields
    if "agent_name" in fields_of(detail):
        values = VALID_AGENT | values
    for code, field in fields_of(detail).items():
        if code not in values and code != "floor_area":
            values[code] = sample_value(field)
    if fields_of(detail)["floor_area"]["value"] is None:  # not asked by the guidance
        values["floor_area"] = 80
    resp = client.patch(f"{BASE}/{detail['id']}", json={"fields": values}, headers=headers)
    assert resp.status_code == 200, resp.json
    return resp.json


def send_file(client, url: str, headers, data: bytes, name="photo.jpg"):
    """What wx.uploadFile sends: multipart/form-data with the file in field `file`."""
    # encoded in memory: werkzeug's test client would spool big bodies to an unclosed file
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), filename=name)})
    return client.post(url, headers=headers, data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def upload(client, headers, app_id: int, material: str, data: bytes, name="photo.jpg"):
    return send_file(client, f"{BASE}/{app_id}/materials/{material}", headers, data, name)


def upload_required(client, headers, detail: dict, *, skip_deferrable: bool) -> None:
    for seed, m in enumerate(detail["materials"], start=10):
        if m["state"] == "missing" or (m["state"] == "deferrable" and not skip_deferrable):
            resp = upload(client, headers, detail["id"], m["code"], phone_jpeg(400, 300, seed=seed))
            assert resp.status_code == 201, resp.json


def media_files(app) -> list[Path]:
    root = Path(app.extensions["settings"].MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


# --- drafts and the merged form -------------------------------------------------------------

def test_create_draft_pins_catalog_version_and_opens_one_lane_per_item(client, login):
    headers = login()
    detail = draft(client, headers, floor_area=450, investment=80)
    assert detail["status"] == "draft" and detail["catalog_version"] == 1
    lanes = {i["code"] for i in detail["items"]}
    assert {"food_business", "fire_safety_check"} <= lanes
    assert all(i["status"] == "draft" for i in detail["items"])
    assert detail["timeline"][0]["message"].startswith("创建“饭店”申请草稿")


def test_merged_form_asks_each_field_once_naming_the_items_it_serves(client, login):
    detail = draft(client, login(), floor_area=450, investment=80)
    codes = [f["code"] for s in detail["form"] for f in s["fields"]]
    assert len(codes) == len(set(codes))
    assert {"credit_code", "legal_rep_id_number", "premises_county_code"} <= set(codes)
    titles = [s["title"] for s in detail["form"]]
    assert titles[:3] == ["经营主体", "联系方式", "经营场所"]
    item_fields = [f for s in detail["form"][3:] for f in s["fields"]]
    assert item_fields and all(f["items"] for f in item_fields)
    assert fields_of(detail)["floor_area"]["value"] == 450


def test_retried_create_with_one_idempotency_key_makes_one_application(client, login, session):
    headers = login()
    first = create(client, headers, key="create-1")
    second = create(client, headers, key="create-1")
    assert first.status_code == second.status_code == 201
    assert first.json["id"] == second.json["id"]
    assert count(session, Application) == 1
    changed = create(client, headers, key="create-1", floor_area=999)
    assert_envelope(changed, 422, "IDEMPOTENCY_KEY_REUSED")


def test_ineligible_answers_create_nothing(client, login, session):
    resp = create(client, login(), industry="internet_cafe", near_school_200m=True)
    assert_envelope(resp, 422, "APPLICATION_NOT_ELIGIBLE")
    assert count(session, Application) == 0


def test_unknown_industry_and_questions_are_refused(client, login):
    headers = login()
    assert_envelope(client.post(BASE, json={"industry": "spaceport", "answers": {}},
                                headers=headers), 404, "INDUSTRY_NOT_FOUND")
    assert_envelope(create(client, headers, has_rocket=True), 422, "QUESTION_UNKNOWN")


def test_autosave_keeps_partial_values_and_masks_personal_numbers(client, login, session):
    headers = login()
    detail = draft(client, headers)
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers, json={"fields": {
        "entity_name": "晋味饭店", "legal_rep_id_number": "360426199101010071",
        "contact_phone": "13812345678"}})
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert "360426199101010071" not in text and "13812345678" not in text
    fields = fields_of(resp.json)
    assert fields["legal_rep_id_number"]["value"] == "3604**********0071"
    assert fields["contact_phone"]["value"] == "138****5678"
    assert fields["entity_name"]["value"] == "晋味饭店"
    assert fields["credit_code"]["filled"] is False
    stored = session.get(Application, detail["id"])
    assert b"360426199101010071" not in stored.sensitive_sealed  # sealed at rest


@pytest.mark.parametrize("field, value, code", [
    ("credit_code", "91110000600037341X", "USCC_INVALID"),
    ("legal_rep_id_number", "360426199101010072", "ID_NUMBER_INVALID"),
    ("contact_phone", "12345", "PHONE_INVALID"),
    ("premises_county_code", "140213", "DIVISION_MISMATCH"),
    ("floor_area", 451, "FLOOR_AREA_MISMATCH"),
    ("no_such_field", "x", "FIELD_UNKNOWN"),
])
def test_invalid_field_is_422_and_nothing_is_saved(client, login, session, field, value, code):
    headers = login()
    detail = draft(client, headers, floor_area=450, investment=80)
    changes = {"entity_name": "不应保存", "premises_city_code": "140100", field: value}
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers, json={"fields": changes})
    assert bad_fields(resp, 422, "FORM_INVALID")[f"fields.{field}"]["code"] == code
    stored = session.get(Application, detail["id"])
    session.refresh(stored)
    assert "entity_name" not in stored.form_values


def test_individual_business_needs_a_92_credit_code(client, login):
    headers = login()
    detail = draft(client, headers)
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers, json={"fields": {
        "entity_kind": "individual", "credit_code": "91110000600037341L"}})
    fields = bad_fields(resp, 422, "FORM_INVALID")
    assert fields["fields.credit_code"]["code"] == "ENTITY_KIND_MISMATCH"


# --- values pasted from a chat app: identifiers stored canonical ------------------------------

PASTED_ID = "14010519900307104X"


@pytest.mark.parametrize("field, pasted, canonical", [
    ("contact_phone", "\u202d13812345678\u202c", "13812345678"),  # bidi override (WeChat)
    ("contact_phone", "138\u200b1234\u200b5678", "13812345678"),  # zero-width spaces
    ("contact_phone", "１３８１２３４５６７８", "13812345678"),  # full-width digits
    ("contact_phone", "138\u00a01234\u00a05678", "13812345678"),  # NBSP
    ("contact_phone", "\ufeff138-1234-5678", "13812345678"),  # BOM; hyphens group digits
    ("contact_phone", "0351\u30001234567", "0351-1234567"),  # ideographic space
    ("legal_rep_id_number", "\u202d14010519900307104X\u202c", PASTED_ID),
    ("legal_rep_id_number", "140105 19900307 104X", PASTED_ID),  # grouped 6-8-4
    ("legal_rep_id_number", "140105\u300019900307\u3000104x", PASTED_ID),
    ("legal_rep_id_number", "１４０１０５１９９００３０７１０４ｘ", PASTED_ID),
    ("legal_rep_id_number", "14010519900307104\u2060X", PASTED_ID),  # word joiner
    ("credit_code", "911100006000\u200b37341L", "91110000600037341L"),
    ("credit_code", "\ufeff9111 0000 6000 3734 1l\u202c", "91110000600037341L"),
    ("premises_city_code", "\u202d140100\u202c", "140100"),
    ("premises_county_code", "１４０１０５\u200b", "140105"),
])
def test_pasted_identifier_is_accepted_and_stored_canonical(
        client, login, session, app, field, pasted, canonical):
    headers = login()
    detail = draft(client, headers)
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers,
                        json={"fields": {field: pasted}})
    assert resp.status_code == 200, resp.json
    stored = session.get(Application, detail["id"])
    session.refresh(stored)
    shown = fields_of(resp.json)[field]["value"]
    if field in applications.SENSITIVE:
        key = app.extensions["settings"].SECRET_KEY
        assert applications.sensitive_values(stored, key)[field] == canonical
        masked = mask_phone if field == "contact_phone" else mask_id_number
        assert shown == masked(canonical)
    else:
        assert stored.form_values[field] == canonical
        assert shown == canonical


@pytest.mark.parametrize("field, pasted, code", [
    ("contact_phone", "\u202d1381234567\u202c", "PHONE_INVALID"),  # 10 digits
    ("contact_phone", "\u200b\u202c", "PHONE_INVALID"),  # nothing visible
    ("legal_rep_id_number", "140105 19900307 1041", "ID_NUMBER_INVALID"),  # check digit
    ("legal_rep_id_number", "１４０１０５１９９００２３０１０４Ｘ", "ID_NUMBER_INVALID"),  # 30 Feb
    ("credit_code", "911100006000\u200b37341X", "USCC_INVALID"),
    ("premises_county_code", "\u202d1401\u202c", "DIVISION_UNKNOWN"),
])
def test_pasted_wrong_identifier_is_still_refused(client, login, session, field, pasted, code):
    headers = login()
    detail = draft(client, headers)
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers,
                        json={"fields": {"entity_name": "不应保存", field: pasted}})
    assert bad_fields(resp, 422, "FORM_INVALID")[f"fields.{field}"]["code"] == code
    stored = session.get(Application, detail["id"])
    session.refresh(stored)
    assert field not in stored.form_values and "entity_name" not in stored.form_values
    assert stored.sensitive_sealed is None


def test_pasted_free_text_loses_invisible_characters_but_keeps_its_spaces(
        client, login, session):
    headers = login()
    detail = draft(client, headers)
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers, json={"fields": {
        "entity_name": "\u202d晋味饭店（小店店）\u202c",
        "legal_rep_name": "张\u200b三",
        "premises_address": "\ufeff 太原市小店区平阳路 1 号，东门\u3000",
        "food_safety_manager_name": "李\u2060四\u00a0"}})  # a catalog text field
    assert resp.status_code == 200, resp.json
    stored = session.get(Application, detail["id"])
    session.refresh(stored)
    assert {k: v for k, v in stored.form_values.items() if k != "floor_area"} == {
        "entity_name": "晋味饭店（小店店）", "legal_rep_name": "张三",
        "premises_address": "太原市小店区平阳路 1 号，东门", "food_safety_manager_name": "李四"}


def test_free_text_loses_control_characters_and_keeps_line_breaks_only_in_a_textarea(
        client, login, session):
    """An ESC colour sequence and a BEL in a name would be printed on the license."""
    headers = login()
    detail = draft(client, headers, "convenience_store", **SHOP)
    assert fields_of(detail)["device_scope"]["type"] == "textarea"
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers, json={"fields": {
        "entity_name": "晋\x1b[31m味\x07\x00饭店",
        "premises_address": "平阳路\r\n1 号\t东门",
        "device_scope": "热菜\r\n凉菜\r冷饮\x1b\n"}})
    assert resp.status_code == 200, resp.json
    stored = session.get(Application, detail["id"])
    session.refresh(stored)
    assert {k: stored.form_values[k] for k in ("entity_name", "premises_address",
                                              "device_scope")} == {
        "entity_name": "晋[31m味饭店", "premises_address": "平阳路 1 号 东门",
        "device_scope": "热菜\n凉菜\n冷饮"}


def test_free_text_of_only_invisible_characters_is_missing_and_nothing_is_saved(
        client, login, session):
    headers = login()
    detail = draft(client, headers, "convenience_store", **SHOP)
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers, json={"fields": {
        "entity_name": "\u200b\u200b", "device_scope": "\x07\r\n", "legal_rep_name": "张三"}})
    fields = bad_fields(resp, 422, "FORM_INVALID")
    assert {f: (p["code"], p["message"].split("：")[-1]) for f, p in fields.items()} == {
        "fields.entity_name": ("FIELD_REQUIRED", "此项必填"),
        "fields.device_scope": ("FIELD_REQUIRED", "此项必填")}
    stored = session.get(Application, detail["id"])
    session.refresh(stored)
    assert not {"entity_name", "device_scope", "legal_rep_name"} & set(stored.form_values)


def test_text_fields_take_their_own_length_not_the_request_cap(client, login, session):
    """A field's limit is the catalog's (address 200, textarea 2000), not a generic cap."""
    headers = login()
    detail = draft(client, headers)
    address = "太原市小店区平阳路" + "甲" * 150 + "号"
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers,
                        json={"fields": {"premises_address": address}})
    assert resp.status_code == 200, resp.json
    stored = session.get(Application, detail["id"])
    session.refresh(stored)
    assert stored.form_values["premises_address"] == address
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers,
                        json={"fields": {"premises_address": "甲" * 201}})
    fields = bad_fields(resp, 422, "FORM_INVALID")
    assert fields["fields.premises_address"]["code"] == "FIELD_TOO_LONG"


# --- materials ------------------------------------------------------------------------------

def test_phone_photo_is_stored_upright_without_any_exif(client, login, app):
    headers = login()
    detail = draft(client, headers)
    resp = upload(client, headers, detail["id"], "premises_proof", phone_jpeg(1600, 1200))
    assert resp.status_code == 201, resp.json
    assert (resp.json["width"], resp.json["height"]) == (1200, 1600)  # orientation 6 applied
    with client.get(resp.json["url"]) as fetched:
        assert fetched.status_code == 200
        assert fetched.headers["X-Content-Type-Options"] == "nosniff"
        img = Image.open(io.BytesIO(fetched.data))
        assert img.size == (1200, 1600)
        assert not img.getexif() and "exif" not in img.info
    with client.get(resp.json["thumbnail_url"]) as thumb:
        assert max(Image.open(io.BytesIO(thumb.data)).size) <= 320


def test_same_photo_twice_is_stored_once(client, login, app, session):
    headers = login()
    detail = draft(client, headers)
    photo = phone_jpeg(seed=5)
    first = upload(client, headers, detail["id"], "premises_proof", photo)
    again = upload(client, headers, detail["id"], "premises_proof", photo, name="retry.jpg")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json["id"] == again.json["id"]
    assert count(session, MaterialFile) == 1
    assert len(media_files(app)) == 2  # the image and its thumbnail


def test_shared_material_uploaded_once_serves_every_item(client, login):
    headers = login()
    detail = draft(client, headers, floor_area=450, investment=80)
    shared = next(m for m in detail["materials"] if len(m["items"]) > 1)
    upload(client, headers, detail["id"], shared["code"], phone_jpeg(seed=3))
    after = client.get(f"{BASE}/{detail['id']}", headers=headers).json
    entry = next(m for m in after["materials"] if m["code"] == shared["code"])
    assert entry["state"] == "uploaded" and len(entry["items"]) > 1


@pytest.mark.parametrize("data, status, code", [
    (b"#!/bin/sh\nrm -rf /\n", 415, "UPLOAD_TYPE_NOT_ALLOWED"),
    (b"PK\x03\x04" + b"\0" * 100, 415, "UPLOAD_TYPE_NOT_ALLOWED"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 415,
     "UPLOAD_TYPE_NOT_ALLOWED"),
    (b"", 422, "UPLOAD_EMPTY"),
    (phone_jpeg(seed=9)[:4000], 422, "UPLOAD_CORRUPT"),
    (bomb_png(), 422, "UPLOAD_TOO_MANY_PIXELS"),
])
def test_hostile_upload_is_refused_and_leaves_nothing(client, login, app, session, data, status,
                                                       code):
    headers = login()
    detail = draft(client, headers)
    assert_envelope(upload(client, headers, detail["id"], "premises_proof", data), status, code)
    assert count(session, MaterialFile) == 0
    assert media_files(app) == []


def test_oversized_upload_is_413(client, login, app):
    headers = login()
    detail = draft(client, headers)
    limit = app.extensions["settings"].UPLOAD_MAX_BYTES
    resp = upload(client, headers, detail["id"], "premises_proof", b"\xff\xd8\xff" + b"0" * limit)
    assert resp.status_code == 413 and resp.json["code"] in {"UPLOAD_TOO_LARGE",
                                                            "REQUEST_TOO_LARGE"}
    assert media_files(app) == []


def test_unknown_material_and_missing_file_field_are_refused(client, login):
    headers = login()
    detail = draft(client, headers)
    assert_envelope(upload(client, headers, detail["id"], "moon_rock", phone_jpeg()), 404,
                    "MATERIAL_NOT_IN_APPLICATION")
    resp = client.post(f"{BASE}/{detail['id']}/materials/premises_proof", headers=headers,
                       data={"other": "x"}, content_type="multipart/form-data")
    assert_envelope(resp, 400, "UPLOAD_FILE_MISSING")


def test_pages_can_be_listed_reordered_and_deleted(client, login):
    headers = login()
    detail = draft(client, headers)
    ids = [upload(client, headers, detail["id"], "premises_proof", phone_jpeg(seed=s)).json["id"]
           for s in (1, 2, 3)]
    resp = client.put(f"{BASE}/{detail['id']}/materials/premises_proof/order", headers=headers,
                      json={"file_ids": ids[::-1]})
    files = next(m for m in resp.json["materials"] if m["code"] == "premises_proof")["files"]
    assert [f["id"] for f in files] == ids[::-1]
    assert_envelope(client.put(f"{BASE}/{detail['id']}/materials/premises_proof/order",
                               headers=headers, json={"file_ids": ids[:2]}), 422,
                    "MATERIAL_ORDER_INVALID")
    resp = client.delete(f"{BASE}/{detail['id']}/materials/premises_proof/files/{ids[1]}",
                         headers=headers)
    files = next(m for m in resp.json["materials"] if m["code"] == "premises_proof")["files"]
    assert [(f["id"], f["position"]) for f in files] == [(ids[2], 1), (ids[0], 2)]


# --- privacy --------------------------------------------------------------------------------

def test_another_applicants_application_and_files_are_invisible(client, login):
    alice, bob = login("alice"), login("bob")
    detail = draft(client, alice)
    photo = upload(client, alice, detail["id"], "premises_proof", phone_jpeg()).json
    app_id = detail["id"]
    for resp in (
        client.get(f"{BASE}/{app_id}", headers=bob),
        client.patch(f"{BASE}/{app_id}", headers=bob, json={"fields": {"entity_name": "x"}}),
        upload(client, bob, app_id, "premises_proof", phone_jpeg(seed=4)),
        client.post(f"{BASE}/{app_id}/submit", headers=bob),
        client.post(f"{BASE}/{app_id}/withdraw", headers=bob),
    ):
        assert_envelope(resp, 404, "APPLICATION_NOT_FOUND")
    assert client.get(BASE, headers=bob).json["total"] == 0
    nonexistent = client.get(f"{BASE}/999999", headers=bob)
    assert nonexistent.json["message"] == client.get(f"{BASE}/{app_id}", headers=bob).json[
        "message"]
    # a file link issued to alice does not open for anyone once alice no longer has the file
    client.delete(f"{BASE}/{app_id}/materials/premises_proof/files/{photo['id']}", headers=alice)
    assert_envelope(client.get(photo["url"]), 403, "MEDIA_LINK_INVALID")


def test_tampered_or_expired_file_links_are_refused(client, login, app):
    headers = login()
    detail = draft(client, headers)
    photo = upload(client, headers, detail["id"], "premises_proof", phone_jpeg()).json
    token = photo["url"].rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_envelope(client.get(f"/files/{tampered}"), 403, "MEDIA_LINK_INVALID")
    store = app.extensions["media_store"]
    sha256, subject = store.verify(token)
    expired = store.sign(sha256, subject=subject, expires_in=1, now=0)
    assert_envelope(client.get(f"/files/{expired}"), 403, "MEDIA_LINK_EXPIRED")


# --- submit ---------------------------------------------------------------------------------

def test_incomplete_submit_lists_everything_missing_at_once(client, login, session):
    headers = login()
    detail = draft(client, headers)
    resp = client.post(f"{BASE}/{detail['id']}/submit", headers=headers)
    body = assert_envelope(resp, 422, "APPLICATION_INCOMPLETE")
    fields = {f["field"]: f for f in body["details"]["fields"]}
    assert {"fields.entity_name", "fields.credit_code", "fields.legal_rep_id_number"} <= set(fields)
    assert {f["code"] for f in fields.values()} == {"FIELD_REQUIRED"}
    missing = {m["code"] for m in body["details"]["missing_materials"]}
    expected = {m["code"] for m in detail["materials"] if m["state"] == "missing"}
    assert missing == expected and len(missing) > 1
    assert "请填写" in body["message"] and "请上传" in body["message"]
    assert session.get(Application, detail["id"]).status == "draft"


def test_submit_lists_fields_at_odds_with_the_missing_ones_in_one_list(client, login, session):
    """Autosave checks a rule between fields only where the changed field is named, so a
    later city change leaves the county at odds; submit names it beside the missing fields."""
    headers = login()
    detail = fill(client, headers, draft(client, headers))
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers, json={"fields": {
        "premises_city_code": "140200", "contact_phone": None}})
    assert resp.status_code == 200, resp.json
    fields = bad_fields(client.post(f"{BASE}/{detail['id']}/submit", headers=headers), 422,
                        "APPLICATION_INCOMPLETE")
    assert {k: f["code"] for k, f in fields.items()} == {
        "fields.contact_phone": "FIELD_REQUIRED",
        "fields.premises_county_code": "DIVISION_MISMATCH"}
    assert session.get(Application, detail["id"]).status == "draft"


def test_complete_submit_defers_deferrable_materials_and_numbers_the_application(client, login):
    headers = login()
    detail = fill(client, headers, draft(client, headers))
    deferrable = {m["code"] for m in detail["materials"] if m["state"] == "deferrable"}
    assert deferrable, "the restaurant bundle has 容缺 materials"
    upload_required(client, headers, detail, skip_deferrable=True)
    resp = client.post(f"{BASE}/{detail['id']}/submit", headers=headers)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["status"] == "submitted" and body["submission_number"].startswith("SX")
    assert set(body["deferred_materials"]) == deferrable
    assert all(i["status"] == "submitted" for i in body["items"])
    assert "容缺受理" in body["timeline"][-1]["message"]
    assert body["timeline"][-1]["actor"] == "申请人"


def test_the_submission_number_carries_the_date_in_china(client, login, monkeypatch):
    """03:42 in Taiyuan on 30 November is 19:42 UTC on the 29th: the number says the 30th,
    the day the applicant and the window know."""
    monkeypatch.setattr(applications, "utcnow",
                        lambda: datetime(2026, 11, 29, 19, 42, tzinfo=UTC))
    headers = login()
    detail = fill(client, headers, draft(client, headers))
    upload_required(client, headers, detail, skip_deferrable=True)
    body = client.post(f"{BASE}/{detail['id']}/submit", headers=headers).json
    assert body["submission_number"] == f"SX20261130{detail['id']:07d}"


def test_safety_critical_materials_can_never_be_deferred(client, login):
    headers = login()
    detail = fill(client, headers, draft(client, headers, floor_area=450, investment=80))
    fire = [m for m in detail["materials"]
            if [i["code"] for i in m["items"]] == ["fire_safety_check"] and m["required"]]
    assert fire and all(m["state"] == "missing" for m in fire)
    upload_required(client, headers, {**detail, "materials": [
        m for m in detail["materials"] if m not in fire]}, skip_deferrable=True)
    body = assert_envelope(client.post(f"{BASE}/{detail['id']}/submit", headers=headers), 422,
                           "APPLICATION_INCOMPLETE")
    assert {m["code"] for m in body["details"]["missing_materials"]} == {m["code"] for m in fire}


def test_editing_after_submission_is_409(client, login):
    headers = login()
    detail = fill(client, headers, draft(client, headers))
    upload_required(client, headers, detail, skip_deferrable=True)
    assert client.post(f"{BASE}/{detail['id']}/submit", headers=headers).status_code == 200
    assert_envelope(client.patch(f"{BASE}/{detail['id']}", headers=headers,
                                 json={"fields": {"entity_name": "改名"}}), 409,
                    "APPLICATION_NOT_EDITABLE")
    assert_envelope(upload(client, headers, detail["id"], "premises_proof", phone_jpeg(seed=77)),
                    409, "APPLICATION_NOT_EDITABLE")
    assert_envelope(client.post(f"{BASE}/{detail['id']}/submit", headers=headers), 409,
                    "STATE_CONFLICT")


def test_concurrent_submits_with_one_key_submit_once(app, client, login):
    headers = login()
    detail = fill(client, headers, draft(client, headers))
    upload_required(client, headers, detail, skip_deferrable=True)
    barrier, results = threading.Barrier(4), []

    def submit() -> None:
        local = app.test_client()
        barrier.wait()
        resp = local.post(f"{BASE}/{detail['id']}/submit",
                          headers=headers | {"Idempotency-Key": "submit-once"})
        results.append((resp.status_code, resp.json))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [body for status, body in results if status == 200]
    assert ok, results
    assert all(status in (200, 409) for status, _ in results)
    assert len({body["submission_number"] for body in ok}) == 1
    events = [e for e in client.get(f"{BASE}/{detail['id']}", headers=headers).json["timeline"]
              if e["action"] == "application.submitted"]
    assert len(events) == 1
    replay = client.post(f"{BASE}/{detail['id']}/submit",
                         headers=headers | {"Idempotency-Key": "submit-once"})
    assert replay.status_code == 200
    assert replay.json["submission_number"] == ok[0]["submission_number"]


def test_withdraw_a_draft_and_a_submitted_application(client, login):
    headers = login()
    first = draft(client, headers)
    resp = client.post(f"{BASE}/{first['id']}/withdraw", headers=headers)
    assert resp.json["status"] == "withdrawn"
    assert_envelope(client.post(f"{BASE}/{first['id']}/withdraw", headers=headers), 409,
                    "STATE_CONFLICT")
    second = fill(client, headers, draft(client, headers))
    upload_required(client, headers, second, skip_deferrable=True)
    client.post(f"{BASE}/{second['id']}/submit", headers=headers)
    assert client.post(f"{BASE}/{second['id']}/withdraw", headers=headers).json["status"] \
        == "withdrawn"
    listed = client.get(BASE, headers=headers, query_string={"status": "withdrawn"}).json
    assert listed["total"] == 2


def test_uploads_are_rate_limited_per_applicant(app, client, login):
    headers = login()
    detail = draft(client, headers)
    limit = int(app.extensions["settings"].UPLOAD_RATE_LIMIT.split()[0])
    for _ in range(limit):
        upload(client, headers, detail["id"], "premises_proof", b"")
    resp = upload(client, headers, detail["id"], "premises_proof", b"")
    assert_envelope(resp, 429, "RATE_LIMITED")
    assert int(resp.headers["Retry-After"]) > 0
    other = login("zoe")
    other_detail = draft(client, other)
    assert upload(client, other, other_detail["id"], "premises_proof", b"").status_code == 422


@pytest.mark.parametrize("raw, code", [
    ("1" + "0" * 30, "LESS_THAN_EQUAL"), ("-1" + "0" * 30, "GREATER_THAN_EQUAL"),
    ("1e400", "FINITE_NUMBER"), ('{"a": 1}', "VALUE_TYPE"), ('"' + "甲" * 2001 + '"',
                                                             "STRING_TOO_LONG"),
    ('["x", 1]', "STRING_TYPE"),
])
def test_a_value_of_no_accepted_type_or_range_is_one_problem(client, login, raw, code):
    """A value may be of several JSON types; one problem is named per field, from the type
    the value has (not 'should be true/false' from the first type of the union)."""
    headers = login()
    detail = draft(client, headers)
    resp = client.patch(f"{BASE}/{detail['id']}", headers=headers,
                        data='{"fields": {"floor_area": ' + raw + "}}",
                        content_type="application/json")
    fields = assert_envelope(resp, 422, "REQUEST_INVALID")["details"]["fields"]
    assert [(f["field"], f["code"]) for f in fields] == [("fields.floor_area", code)]
    if code != "VALUE_TYPE":
        assert "是或否" not in fields[0]["message"]
    answers = client.post("/api/mp/v1/industries/restaurant/notice",
                          data='{"answers": {"floor_area": ' + raw + "}}",
                          content_type="application/json")
    fields = assert_envelope(answers, 422, "REQUEST_INVALID")["details"]["fields"]
    assert [f["field"] for f in fields] == ["answers.floor_area"]
