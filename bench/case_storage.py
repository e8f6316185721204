"""Storage one case takes (docs/capacity.md): ``python -m bench.case_storage``.

Runs the demo story (`flask demo story`, the cases `make run` seeds: real uploaded photos
and PDFs, notices printed, a license issued and sealed) into a fresh SQLite database and
media directory, then adds up, per case, the stored files its rows name (each file once, by
its SHA-256, as the content-addressed store keeps it): the normalised materials and their
thumbnails, the joint inspection's photos, the printed notices, the license's PNG and sealed
PDF of every face version.
The demo's photos are small; the last line normalises a 12 MP phone photo as an upload is
normalised, which is what a real material costs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from sqlalchemy import select

from backend.app import create_app
from backend.extensions import db
from backend.models import (
    Application,
    Inspection,
    InspectionResult,
    IssuedDocument,
    License,
    LicenseRendition,
    MaterialFile,
)
from media.bench import phone_jpeg
from media.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, normalise

SETUP = (["db", "upgrade"], ["catalog", "load"], ["calendar", "seed"], ["staff", "demo"],
         ["demo", "story"])


def _size(store_root: Path, sha256: str | None) -> int:
    if not sha256:
        return 0
    path = store_root / sha256[:2] / sha256[2:4] / sha256
    return path.stat().st_size if path.exists() else 0


def case_files(session, application_id: int) -> dict[str, set[str]]:
    """The SHA-256 of every stored file of one case, by kind."""
    files: dict[str, set[str]] = defaultdict(set)
    for sha, thumb in session.execute(select(MaterialFile.sha256, MaterialFile.thumbnail_sha256)
                                      .where(MaterialFile.application_id == application_id)):
        files["materials"].add(sha)
        if thumb:
            files["thumbnails"].add(thumb)
    files["notices"] |= set(session.scalars(select(IssuedDocument.sha256).where(
        IssuedDocument.application_id == application_id)))
    for photos in session.scalars(
            select(InspectionResult.photos)
            .join(Inspection, Inspection.id == InspectionResult.inspection_id)
            .where(Inspection.application_id == application_id)):
        files["inspection photos"] |= set(photos or ())
    for png, pdf in session.execute(
            select(LicenseRendition.png_sha256, LicenseRendition.pdf_sha256)
            .join(License, License.id == LicenseRendition.license_id)
            .where(License.application_id == application_id)):
        files["license PNG"].add(png)
        if pdf:
            files["license PDF (sealed)"].add(pdf)
    return files


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="yiye-case-storage-"))
    # a throwaway database and media directory; `flask` commands read the same environment
    os.environ.update(APP_ENV="development", LOG_LEVEL="WARNING", REDIS_URL="",
                      DATABASE_URL=f"sqlite:///{work / 'yiye.db'}",
                      MEDIA_ROOT=str(work / "media"))
    app = create_app()
    runner = app.test_cli_runner()
    for args in SETUP:
        result = runner.invoke(args=args)
        if result.exit_code != 0:
            sys.exit(f"flask {' '.join(args)} failed:\n{result.output}{result.exception!r}")
    root = Path(app.extensions["settings"].MEDIA_ROOT)
    kinds = ("materials", "thumbnails", "inspection photos", "notices", "license PNG",
             "license PDF (sealed)")
    print("python -m bench.case_storage: the demo story's cases, stored bytes by kind "
          "(files counted once by SHA-256)")
    print("case: files and KiB of each kind, then the total")
    with app.app_context():
        for application in db.session.scalars(select(Application).order_by(Application.id)):
            files = case_files(db.session, application.id)
            sizes = {k: sum(_size(root, s) for s in files[k]) for k in kinds}
            print(f"#{application.id} {application.industry_code} ({application.status}): "
                  + "; ".join(f"{k} {len(files[k])} / {sizes[k] / 1024:.1f}" for k in kinds)
                  + f"; total {sum(sizes.values()) / 1024:.1f} KiB")
    on_disk = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    database = (work / "yiye.db").stat().st_size
    print(f"media directory after the story: {on_disk / 1024:.1f} KiB; SQLite database "
          f"(catalog, calendar and staff included): {database / 1024:.1f} KiB")
    photo = normalise(phone_jpeg(), max_bytes=DEFAULT_MAX_BYTES, max_pixels=DEFAULT_MAX_PIXELS)
    print(f"one 12 MP phone photo as stored: {len(photo.content) / 1024:.1f} KiB "
          f"({photo.width}x{photo.height}) + thumbnail {len(photo.thumbnail) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
