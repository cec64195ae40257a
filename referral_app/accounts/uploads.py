"""Files a customer uploads (the logo, the freebie and its image), kept in the database and
served by the app itself, so no visitor's browser asks a third party for them.

The type is read from the bytes, never from the name or the browser's claim: a file that
is not what an allowed type looks like is refused. SVG is refused as a logo (it can carry
script, and a sanitiser is more code than a logo is worth: PNG, JPEG and WebP do the job).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from ..extensions import db
from ..models import CustomerFile

LOGO = "logo"
FREEBIE = "freebie"
FREEBIE_IMAGE = "freebie_image"
KINDS = (LOGO, FREEBIE, FREEBIE_IMAGE)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
DOWNLOAD_TYPES = ("application/pdf", "application/zip", "application/epub+zip", "audio/mpeg")
DOWNLOAD_TYPES += ("video/mp4", *IMAGE_TYPES)
ALLOWED = {LOGO: IMAGE_TYPES, FREEBIE: DOWNLOAD_TYPES, FREEBIE_IMAGE: IMAGE_TYPES}
MAX_BYTES = {LOGO: 512 * 1024, FREEBIE: 10 * 1024 * 1024, FREEBIE_IMAGE: 1024 * 1024}
# A request may carry a freebie, its image and a logo at once, plus the form's text.
MAX_REQUEST_BYTES = sum(MAX_BYTES.values()) + 256 * 1024
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/epub+zip": ".epub",
    "audio/mpeg": ".mp3",
    "video/mp4": ".mp4",
}


@dataclass(frozen=True)
class Upload:
    """A file as the browser sent it: its name (only shown, never trusted) and its bytes
    (read up to one byte past the kind's limit)."""

    filename: str
    data: bytes


def sniff(data: bytes) -> str | None:
    """The content type the bytes themselves show, or None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"PK\x03\x04"):
        # An EPUB is a ZIP whose first entry is the uncompressed `mimetype` file.
        if data[30:38] == b"mimetype" and data[38:58] == b"application/epub+zip":
            return "application/epub+zip"
        return "application/zip"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return None


def _limit_text(kind: str) -> str:
    size = MAX_BYTES[kind]
    return f"{size // (1024 * 1024)} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def check(kind: str, upload: Upload) -> tuple[str | None, str | None]:
    """(content type, None) for an acceptable file, (None, message) otherwise."""
    if not upload.data:
        return None, str(_l("The file is empty."))
    if len(upload.data) > MAX_BYTES[kind]:
        return None, str(_l("The file is too large (at most %(size)s).", size=_limit_text(kind)))
    content_type = sniff(upload.data)
    if content_type not in ALLOWED[kind]:
        if kind == FREEBIE:
            return None, str(_l("Please upload a PDF, ZIP, EPUB, MP3, MP4 or an image."))
        return None, str(_l("Please upload a PNG, JPEG or WebP image (no SVG)."))
    return content_type, None


def safe_filename(name: str, content_type: str) -> str:
    """A plain ASCII name for the download (Content-Disposition), ending in the type's
    extension, whatever the uploaded name was."""
    stem = name.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_stem).strip("-._")[:80] or "download"
    return ascii_stem + EXTENSIONS.get(content_type, "")


def store(customer_id: int, kind: str, upload: Upload, content_type: str) -> None:
    """Save (or replace) the customer's file of this kind, in the caller's transaction."""
    remove(customer_id, kind)
    db.session.add(
        CustomerFile(
            customer_id=customer_id,
            kind=kind,
            filename=safe_filename(upload.filename, content_type),
            content_type=content_type,
            size=len(upload.data),
            sha256=hashlib.sha256(upload.data).hexdigest(),
            data=upload.data,
        )
    )


def remove(customer_id: int, kind: str) -> None:
    db.session.execute(
        delete(CustomerFile).where(
            CustomerFile.customer_id == customer_id, CustomerFile.kind == kind
        )
    )


def get_file(customer_id: int, kind: str) -> CustomerFile | None:
    return db.session.scalar(
        select(CustomerFile).where(
            CustomerFile.customer_id == customer_id, CustomerFile.kind == kind
        )
    )


def files_of(customer_id: int) -> dict[str, dict[str, Any]]:
    """What the customer has uploaded, by kind (without the bytes)."""
    rows = db.session.execute(
        select(
            CustomerFile.kind,
            CustomerFile.filename,
            CustomerFile.content_type,
            CustomerFile.size,
            CustomerFile.sha256,
        ).where(CustomerFile.customer_id == customer_id)
    ).all()
    return {
        row.kind: {
            "filename": row.filename,
            "content_type": row.content_type,
            "size": row.size,
            "version": row.sha256[:12],
        }
        for row in rows
    }
