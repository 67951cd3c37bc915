"""Thumbnails of image attachments (assistant/tickets/thumbnails.py, GET /api/attachments/{id}/thumbnail): made
on the server from real PNG and JPEG files, turned as the camera says, never over 240 px; a bomb, a broken picture
or a PDF has none (404, not 500); agents only; and erasing the customer removes the thumbnail with the file."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from assistant.privacy import erase_customer
from assistant.tickets.thumbnails import SIZE, SUFFIX, render, thumbnail
from tests.harness import Kontor
from tests.test_attachments import PDF, _page, imported, mail


def picture(kind: str, width: int, height: int, orientation: int | None = None) -> bytes:
    """A real picture: red left half, blue right half (so a turn can be seen)."""
    image = Image.new("RGB", (width, height), (255, 0, 0))
    image.paste((0, 0, 255), (width // 2, 0, width, height))
    out = BytesIO()
    if orientation is None:
        image.save(out, kind)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(out, kind, exif=exif)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` pixels, with a few bytes of data: a decompression bomb's
    shape (a real one unpacks gigabytes from kilobytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
            + chunk(b"IEND", b""))


def shown(data: bytes) -> tuple[Image.Image, tuple[int, int, int, int] | None]:
    """The thumbnail and the box of its picture (the rest is transparent)."""
    image = Image.open(BytesIO(data))
    image.load()
    return image, image.getchannel("A").getbbox()


def rgb(image: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    pixel = image.getpixel((x, y))
    assert isinstance(pixel, tuple)
    return pixel[0], pixel[1], pixel[2]


def stored(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / ("a" * 32)
    path.write_bytes(data)
    return path


def test_a_wide_png_fits_in_240_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = thumbnail(stored(tmp_path, picture("PNG", 1200, 600)))
    assert made is not None and made.name == "a" * 32 + SUFFIX
    image, box = shown(made.read_bytes())
    assert image.format == "PNG" and image.size == (SIZE, SIZE) and SIZE == 240
    assert box == (0, 60, 240, 180)  # 240 × 120, centred
    assert rgb(image, 10, 120) == (255, 0, 0) and rgb(image, 230, 120) == (0, 0, 255)
    assert made.stat().st_mode & 0o777 == 0o600
    monkeypatch.setattr("assistant.tickets.thumbnails.render", lambda _: pytest.fail("made twice"))
    assert thumbnail(made.with_name("a" * 32)) == made  # kept: made once


def test_a_jpeg_is_turned_as_the_camera_says(tmp_path: Path) -> None:
    data = render(stored(tmp_path, picture("JPEG", 800, 400, orientation=6)))  # 6: turn 90° clockwise to show
    assert data is not None
    image, box = shown(data)
    assert box == (60, 0, 180, 240)  # upright: 120 × 240
    top, bottom = rgb(image, 120, 10), rgb(image, 120, 230)
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # the red left half is now on top


def test_a_small_gif_is_not_enlarged(tmp_path: Path) -> None:
    data = render(stored(tmp_path, picture("GIF", 40, 20)))
    assert data is not None and shown(data)[1] == (100, 110, 140, 130)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's, between its limit and twice
@pytest.mark.parametrize("data", [
    png_claiming(100_000, 100_000),  # Pillow's own guard refuses it
    png_claiming(8_000, 7_000),  # over MAX_PIXELS, under Pillow's: refused before it is decoded
    b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x01" * 40,  # broken
    picture("JPEG", 300, 300)[:200],  # cut off
    PDF,
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
])
def test_no_thumbnail_for_what_is_no_picture_that_can_be_shown(tmp_path: Path, data: bytes) -> None:
    path = stored(tmp_path, data)
    assert thumbnail(path) is None and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_an_agent_sees_thumbnails_of_pictures_and_nothing_else(kontor: Kontor, tmp_path: Path) -> None:
    photo, jpeg = picture("PNG", 1000, 500), picture("JPEG", 640, 480)
    ticket_id = imported(kontor, mail(tmp_path, "Guten Tag, die Pfanne kam zerkratzt an, Fotos anbei.", [
        ("foto.png", photo, "image/png"), ("IMG_0001.JPG", jpeg, "image/jpeg"), ("Rechnung.pdf", PDF,
        "application/pdf"), ("bombe.png", png_claiming(100_000, 100_000), "image/png"),
        ("kaputt.jpg", jpeg[:200], "image/jpeg")]))
    rows = {r["name"]: r for r in kontor.call("GET", f"/api/tickets/{ticket_id}/attachments").json()}

    for name in ("foto.png", "IMG_0001.JPG"):
        got = kontor.call("GET", f"/api/attachments/{rows[name]['id']}/thumbnail")
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "image/png" and got.headers["content-disposition"] == "inline"
        assert got.headers["x-content-type-options"] == "nosniff"
        image = Image.open(BytesIO(got.content))
        assert image.format == "PNG" and max(image.size) <= 240
    for name in ("Rechnung.pdf", "bombe.png", "kaputt.jpg"):
        refused = kontor.call("GET", f"/api/attachments/{rows[name]['id']}/thumbnail")
        assert refused.status_code == 404 and "keine Vorschau" in refused.json()["detail"]
    assert kontor.call("GET", "/api/attachments/999/thumbnail").status_code == 404
    assert kontor.call("GET", f"/api/attachments/{rows['foto.png']['id']}/thumbnail", role="").status_code == 401
    assert kontor.call("GET", f"/api/attachments/{rows['foto.png']['id']}").content == photo  # the file unchanged

    page = _page(kontor, f"/tickets/{ticket_id}")
    assert (f'<img src="/api/attachments/{rows["foto.png"]["id"]}/thumbnail" alt="foto.png" width="240" '
            'height="240" loading="lazy">') in page
    assert f'/api/attachments/{rows["Rechnung.pdf"]["id"]}/thumbnail' not in page


def test_erasing_the_customer_removes_the_thumbnails(lite: Kontor, tmp_path: Path) -> None:
    ticket_id = imported(lite, mail(tmp_path, "Foto anbei.", [("foto.png", picture("PNG", 500, 500), "image/png")]))
    row = lite.call("GET", f"/api/tickets/{ticket_id}/attachments").json()[0]
    assert lite.call("GET", f"/api/attachments/{row['id']}/thumbnail").status_code == 200
    folder = lite.settings.home / "attachments"
    assert len([p for p in folder.iterdir() if p.name.endswith(SUFFIX)]) == 1
    erase_customer(lite.services.privacy_parts(), "erika@example.org", "admin")
    assert list(folder.iterdir()) == []
