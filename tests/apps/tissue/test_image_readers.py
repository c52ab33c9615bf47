"""Image readers (tissue.md section 8): .npy, multi-page and multi-sample TIFF, ENVI in every interleave, byte order
and data type give the same pixels; hostile files and mismatched bands end with one InputError line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from invert.apps.tissue.io import IMAGE_READERS, InputError, open_image, open_scan
from invert.apps.tissue.io.envi_image import DATA_TYPES

BANDS = [470.0, 480.0, 511.0, 560.0, 580.0, 600.0, 660.0, 700.0]
H, W = 5, 6


def cube(dtype=np.uint16, n_bands: int = 8) -> np.ndarray:
    """(H, W, bands) counts, distinct in every pixel and band."""
    return (np.arange(H * W * n_bands).reshape(H, W, n_bands) * 7 % 4000 + 1).astype(dtype)


def pixels(path: Path, bands=BANDS) -> np.ndarray:
    """All pixels of an image file as rows (H * W, model bands), through its reader."""
    image = open_image(path, BANDS, bands)
    return np.concatenate([chunk.raw for chunk in image.chunks(7)])  # 7 pixels: one image row at a time


def write_envi(folder: Path, data: np.ndarray, interleave: str = "bsq", byte_order: int = 0, offset: int = 0,
               header: str | None = None, wavelengths=BANDS, units: str = "") -> Path:  # fmt: skip
    """An ENVI header and data file of data (H, W, bands); returns the header's path."""
    code = {np.dtype(v): k for k, v in DATA_TYPES.items()}[data.dtype]
    axes = {"bsq": (2, 0, 1), "bil": (0, 2, 1), "bip": (0, 1, 2)}[interleave]
    raw = np.ascontiguousarray(data.transpose(axes)).astype(data.dtype.newbyteorder("<>"[byte_order]))
    (folder / "scan.img").write_bytes(b"\0" * offset + raw.tobytes())
    text = header or (
        f"ENVI\ndescription = {{a test\n  image}}\nsamples = {W}\nlines = {H}\nbands = {data.shape[2]}\n"
        f"header offset = {offset}\nfile type = ENVI Standard\ndata type = {code}\ninterleave = {interleave}\n"
        f"byte order = {byte_order}\n"
        + (f"wavelength = {{\n {' , '.join(f'{w:g}' for w in wavelengths)}\n}}\n" if wavelengths is not None else "")
        + (f"wavelength units = {units}\n" if units else "")
    )
    path = folder / "scan.hdr"
    path.write_text(text)
    return path


def test_every_reader_is_registered_by_suffix():
    assert {".npy", ".tif", ".tiff", ".hdr", ".img", ".raw", ".dat"} <= set(IMAGE_READERS)


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
@pytest.mark.parametrize("byte_order", [0, 1])
@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32, np.float64, np.uint8, np.int32])
def test_envi_interleaves_byte_orders_and_types_give_the_pixels(tmp_path, interleave, byte_order, dtype):
    data = cube(dtype) if dtype is not np.uint8 else (cube() % 250 + 1).astype(np.uint8)
    header = write_envi(tmp_path, data, interleave, byte_order, offset=128 * byte_order)
    expected = data.reshape(-1, 8).astype(np.float64)
    np.testing.assert_array_equal(pixels(header, None), expected)  # wavelengths from the header
    np.testing.assert_array_equal(pixels(tmp_path / "scan.img", None), expected)  # the data file given


def test_envi_bands_in_micrometres_in_any_order_and_the_extra_band_refused(tmp_path):
    data = cube()[:, :, ::-1]
    header = write_envi(tmp_path, data, wavelengths=[b / 1000 for b in BANDS[::-1]], units="Micrometers")
    np.testing.assert_array_equal(pixels(header, None), cube().reshape(-1, 8))
    header = write_envi(tmp_path, cube(n_bands=9), wavelengths=[*BANDS, 750.0])
    with pytest.raises(InputError, match=r"wavelengths of scan.hdr do not match the model's \(extra 750 nm\)"):
        open_image(header, BANDS, None)


def test_bands_that_contradict_the_envi_header_are_used_with_a_warning(tmp_path):
    header = write_envi(tmp_path, cube())
    assert open_image(header, BANDS, BANDS).warnings == []
    swapped = [*BANDS[:6], 700.0, 660.0]
    image = open_image(header, BANDS, swapped)
    assert image.warnings == [
        "--bands overrides the wavelengths in scan.hdr (470, 480, 511, 560, 580, 600, 660, 700 nm)"
    ]
    np.testing.assert_array_equal(pixels(header, swapped), cube()[:, :, [0, 1, 2, 3, 4, 5, 7, 6]].reshape(-1, 8))


def test_envi_without_wavelengths_needs_bands(tmp_path):
    header = write_envi(tmp_path, cube(), wavelengths=None)
    with pytest.raises(InputError, match="give the wavelength"):
        open_image(header, BANDS, None)
    np.testing.assert_array_equal(pixels(header, BANDS), cube().reshape(-1, 8))


def envi_header(**change: str) -> str:
    entries = {"samples": str(W), "lines": str(H), "bands": "8", "data type": "12", "interleave": "bsq"} | change
    return "ENVI\n" + "".join(f"{k} = {v}\n" for k, v in entries.items() if v)


@pytest.mark.parametrize(
    "header, data_bytes, message",
    [
        (None, H * W * 8 * 2 - 1, "holds 479 bytes but its ENVI header (scan.hdr) describes 480"),
        (envi_header(**{"data type": "6"}), None, "ENVI data type 6 is not supported"),
        (envi_header(**{"data type": "99"}), None, "ENVI data type 99 is not supported"),
        (envi_header(samples=""), None, "the ENVI header lacks 'samples'"),
        (envi_header(lines="many"), None, "'lines' in the ENVI header is 'many', not an integer"),
        (envi_header(bands="0"), None, "'bands' in the ENVI header is 0, below 1"),
        (envi_header(interleave="bxx"), None, "interleave 'bxx' is not bsq, bil or bip"),
        (envi_header(**{"byte order": "2"}), None, "'byte order' in the ENVI header is 2"),
        ("samples = 6\nlines = 5\n", None, "is not an ENVI header (its first line is not 'ENVI')"),
        (envi_header() + "wavelength = {470, 480,\n", None, "opens a brace that never closes"),
        (envi_header() + "wavelength = {470, x}\n", None, "'wavelength' in the ENVI header is not a list of numbers"),
    ],
)
def test_hostile_envi_files_give_one_line(tmp_path, header, data_bytes, message):
    path = write_envi(tmp_path, cube(), header=header)
    if data_bytes is not None:
        (tmp_path / "scan.img").write_bytes(b"\1" * data_bytes)
    with pytest.raises(InputError) as err:
        open_image(path, BANDS, None)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_envi_missing_files_give_one_line(tmp_path):
    header = write_envi(tmp_path, cube())
    (tmp_path / "scan.img").unlink()
    with pytest.raises(InputError, match="no ENVI data file beside it"):
        open_image(header, BANDS, None)
    (tmp_path / "alone.raw").write_bytes(b"\0" * 480)
    with pytest.raises(InputError, match="no ENVI header beside it"):
        open_image(tmp_path / "alone.raw", BANDS, None)


tifffile = pytest.importorskip("tifffile")


@pytest.mark.parametrize("layout", ["pages", "planar", "samples", "zlib pages"])
def test_tiff_layouts_give_the_pixels(tmp_path, layout):
    data, path = cube(), tmp_path / "scan.tif"
    if layout == "samples":
        tifffile.imwrite(path, data, photometric="minisblack", planarconfig="contig")
    elif layout == "planar":
        tifffile.imwrite(path, np.moveaxis(data, -1, 0), photometric="minisblack", planarconfig="separate")
    else:
        with tifffile.TiffWriter(path) as tif:  # one page per band
            for band in np.moveaxis(data, -1, 0):
                tif.write(band, compression="zlib" if "zlib" in layout else None, photometric="minisblack")
    np.testing.assert_array_equal(pixels(path), data.reshape(-1, 8))


@pytest.mark.parametrize("cut", [0.3, 0.9])
def test_truncated_or_foreign_tiffs_give_one_line(tmp_path, cut):
    path = tmp_path / "scan.tif"
    with tifffile.TiffWriter(path) as tif:
        for band in np.moveaxis(np.tile(cube(), (8, 8, 1)), -1, 0):
            tif.write(band, photometric="minisblack")
    path.write_bytes(path.read_bytes()[: int(cut * path.stat().st_size)])
    with pytest.raises(InputError) as err:
        open_image(path, BANDS, BANDS)
    assert "damaged TIFF" in str(err.value) or "not a readable TIFF" in str(err.value)
    path.write_bytes(b"II*\0not a tiff at all")
    with pytest.raises(InputError, match="not a readable TIFF image"):
        open_image(path, BANDS, BANDS)


def test_tiff_of_one_band_or_wrong_band_count_is_refused(tmp_path):
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, cube()[:, :, 0])
    with pytest.raises(InputError, match="a multispectral TIFF needs one page per band"):
        open_image(path, BANDS, BANDS)
    path = tmp_path / "scan.tif"
    tifffile.imwrite(path, cube(), photometric="minisblack", planarconfig="contig")
    with pytest.raises(InputError, match="has 8 bands but --bands lists 9 wavelengths"):
        open_image(path, BANDS, [*BANDS, 800.0])


def test_npy_and_tiff_give_the_same_scan_rows(tmp_path):
    np.save(tmp_path / "scan.npy", cube())
    tifffile.imwrite(tmp_path / "scan.tif", cube(), photometric="minisblack", planarconfig="contig")
    a, b = (open_scan(tmp_path / f"scan.{s}", BANDS, BANDS, 10) for s in ("npy", "tif"))
    assert a.image_shape == b.image_shape == (H, W) and a.n_rows == b.n_rows == H * W
    for x, y in zip(a.chunks, b.chunks):
        np.testing.assert_array_equal(x.raw, y.raw)
        np.testing.assert_array_equal(x.pixel, y.pixel)
