"""Thumbnails of image attachments, made on the server, so that the ticket page shows a picture without the
browser ever decoding the sender's file (a download stays a file to save, assistant/tickets/attachments.py).

A thumbnail is a PNG of exactly ``SIZE`` × ``SIZE`` pixels, the picture fitted in and centred on a transparent
ground: the page can then give every ``<img>`` its width and height without knowing the picture's shape (no
jumping layout, no style needed). It is made on first request and kept beside the stored file as
``<stored name>.thumb.png``; ``stored_files`` counts such files as part of the attachment, so erasing a customer or
the retention period removes them with it. A stored file never changes, so a thumbnail never goes stale.

The sender's bytes are untrusted: only the four formats the upload accepts are opened, a picture of more than
``MAX_PIXELS`` is refused before it is decoded (a few KB of PNG can unpack to gigabytes), and anything the decoder
does not like means "no thumbnail", never an error page. Pillow is imported here only.
"""

from __future__ import annotations

import logging
import os
import secrets
from io import BytesIO
from pathlib import Path

from PIL import Image

log = logging.getLogger(__name__)

SIZE = 240
SUFFIX = ".thumb.png"
MAX_PIXELS = 50_000_000  # a 50-megapixel phone photo is the largest real picture; a bigger one is a bomb
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})  # as sniffed at intake
_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
_ORIENTATION = 0x0112  # EXIF: how the camera was held
_TURN = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
         5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
         8: Image.Transpose.ROTATE_90}

Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own guard too (it raises over twice this): the only module using it


def thumbnail(stored: Path) -> Path | None:
    """The thumbnail of the stored file, made and kept on first use; None if it is no picture that can be shown
    (not an image, broken, too large)."""
    cached = stored.with_name(stored.name + SUFFIX)
    if cached.is_file():
        return cached
    data = render(stored)
    if data is None:
        return None
    # written under a temporary name and renamed: two requests at once never serve half a file; the temporary
    # name begins with the stored one, so an erasure finds it too after a crash
    temporary = stored.with_name(f"{stored.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, cached)
    finally:
        temporary.unlink(missing_ok=True)
    if not stored.is_file():  # erased while it was made: it must not outlive the file
        cached.unlink(missing_ok=True)
        return None
    return cached


def render(stored: Path) -> bytes | None:
    """The thumbnail as PNG bytes, or None."""
    try:
        with Image.open(stored, formats=_FORMATS) as image:
            if image.width * image.height > MAX_PIXELS:
                log.info("thumbnail: %s has %d × %d pixels, too many", stored.name, image.width, image.height)
                return None
            turn = _TURN.get(image.getexif().get(_ORIENTATION, 1))
            image.draft("RGB", (SIZE * 2, SIZE * 2))  # a JPEG is decoded at 1/2 … 1/8 of its size: fast and small
            picture = image if image.mode in ("RGB", "RGBA") else image.convert("RGBA")
            picture.thumbnail((SIZE, SIZE), Image.Resampling.LANCZOS)
            if turn is not None:
                picture = picture.transpose(turn)
            canvas = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
            canvas.paste(picture, ((SIZE - picture.width) // 2, (SIZE - picture.height) // 2))
            out = BytesIO()
            canvas.save(out, "PNG", optimize=True)
            return out.getvalue()
    except Exception as exc:  # noqa: BLE001 - a decoder on untrusted bytes fails in many ways; each means no picture
        log.info("thumbnail: %s not shown (%s)", stored.name, type(exc).__name__)
        return None
