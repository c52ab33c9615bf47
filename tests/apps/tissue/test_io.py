"""The scan reader (tissue.md section 4): accepted headers, per-row flags, one-line file errors, chunked reading."""

from __future__ import annotations

import os

import numpy as np
import pytest

from invert.apps.tissue.camera import load_camera
from invert.apps.tissue.io import InputError, Scan, count_rows, iter_scan, read_scan, saturation_warnings

BANDS = [470, 480, 511, 560, 580, 600, 660, 700]
GOOD = [410.5, 450, 480, 230.25, 180, 900, 1700, 1500]


def write(path, lines: list[str], newline: str = "\n", prefix: str = "") -> os.PathLike:
    """A CSV file from text lines, with the given line ending and e.g. a BOM in front."""
    path.write_bytes((prefix + newline.join(lines) + newline).encode("utf-8"))
    return path


def csv_lines(rows: list[list[object]], header: list[str] | None = None) -> list[str]:
    """Header (id + the model bands by default) and rows as comma-joined lines."""
    return [",".join(map(str, r)) for r in [header or ["id", *map(str, BANDS)], *rows]]


def scan_of(tmp_path, rows: list[list[object]], header: list[str] | None = None) -> Scan:
    return read_scan(write(tmp_path / "scan.csv", csv_lines(rows, header)), BANDS)


def test_bands_are_those_of_the_shipped_camera():
    assert list(load_camera().band_centers_nm) == BANDS


@pytest.mark.parametrize(
    "spelling", ["470", "470nm", "470 nm", "470.0", " 470 NM ", "470.0nm", "470.6", "469", "471 nm"]
)
def test_every_header_spelling_is_accepted(tmp_path, spelling):
    scan = scan_of(tmp_path, [["a", *GOOD]], ["id", spelling, *map(str, BANDS[1:])])
    assert scan.ok.all() and scan.warnings == []
    np.testing.assert_array_equal(scan.raw, [GOOD])


def test_column_order_is_free_and_raw_follows_the_model_bands(tmp_path):
    order = [5, 0, 7, 2, 1, 6, 3, 4]
    header = [f"{BANDS[k]} nm" for k in order[:4]] + ["id"] + [f"{BANDS[k]}nm" for k in order[4:]]
    row = [GOOD[k] for k in order[:4]] + ["a"] + [GOOD[k] for k in order[4:]]
    scan = scan_of(tmp_path, [row], header)
    assert list(scan.ids) == ["a"]
    np.testing.assert_array_equal(scan.raw, [GOOD])


def test_bom_crlf_and_quoted_headers_and_cells(tmp_path):
    lines = [
        '"id",' + ",".join(f'"{b} nm"' for b in BANDS),
        '"px 1",' + ",".join(f'"{v}"' for v in GOOD),
        "px2," + ",".join(map(str, GOOD)),
    ]
    scan = read_scan(write(tmp_path / "s.csv", lines, newline="\r\n", prefix="\ufeff"), BANDS)
    assert list(scan.ids) == ["px 1", "px2"] and list(scan.status) == ["ok", "ok"]
    np.testing.assert_array_equal(scan.raw, [GOOD, GOOD])


def test_without_id_column_ids_are_row_numbers(tmp_path):
    scan = scan_of(tmp_path, [GOOD] * 3, list(map(str, BANDS)))
    assert list(scan.ids) == ["0", "1", "2"] and scan.pixel is None
    assert scan.raw.dtype == np.float64 and scan.raw.shape == (3, 8)


def test_blank_lines_are_skipped(tmp_path):
    lines = csv_lines([["a", *GOOD], ["b", *GOOD]])
    scan = read_scan(write(tmp_path / "s.csv", [lines[0], "", lines[1], "  ", lines[2], ""]), BANDS)
    assert list(scan.ids) == ["a", "b"] and scan.ok.all()


def test_pixel_coordinates_and_bad_ones_flag_the_row(tmp_path):
    header = ["id", "row", "col", *map(str, BANDS)]
    pixels = [(0, 1), ("2.0", 3), (1.5, 0), (4, ""), (-1, 0), ("x", 0)]
    rows = [[name, *rc, *GOOD] for name, rc in zip("abcdef", pixels)]
    scan = scan_of(tmp_path, rows, header)
    assert scan.pixel.dtype == np.int64
    np.testing.assert_array_equal(scan.pixel[:2], [[0, 1], [2, 3]])
    assert list(scan.status) == [
        "ok",
        "ok",
        "non-integer value in row",
        "missing value in col",
        "negative value in row",
        "non-integer value in row",
    ]
    assert np.isnan(scan.raw[2:]).all()


@pytest.mark.parametrize(
    "cell, status",
    [
        ("", "missing value in 560"),
        ("NaN", "missing value in 560"),
        (" n/a ", "missing value in 560"),
        ("abc", "non-numeric value in 560"),
        ("1,5", "non-numeric value in 560"),  # quoted decimal comma
        ("inf", "infinite value in 560"),
        ("-inf", "infinite value in 560"),
        ("1e999", "infinite value in 560"),
        ("0", "non-positive value in 560"),
        ("-3.5", "non-positive value in 560"),
    ],
)
def test_row_problems_are_flagged_and_good_rows_keep_exact_values(tmp_path, cell, status):
    bad = [*GOOD[:3], f'"{cell}"', *GOOD[4:]]
    scan = scan_of(tmp_path, [["a", *GOOD], ["b", *bad], ["c", *GOOD[::-1]]])
    assert list(scan.status) == ["ok", status, "ok"]
    assert list(scan.ok) == [True, False, True]
    np.testing.assert_array_equal(scan.raw[[0, 2]], [GOOD, GOOD[::-1]])
    assert np.isnan(scan.raw[1]).all()


def test_a_row_keeps_its_first_problem_in_band_order(tmp_path):
    scan = scan_of(tmp_path, [["a", "x", *GOOD[1:6], "", -1]])
    assert list(scan.status) == ["non-numeric value in 470"]


@pytest.mark.parametrize("fields", [GOOD[:7], [*GOOD, 5]])
def test_a_row_with_the_wrong_number_of_fields_is_flagged(tmp_path, fields):
    scan = scan_of(tmp_path, [["a", *GOOD], ["b", *fields]])
    assert scan.status[0] == "ok" and scan.status[1] == f"{len(fields) + 1} fields where the header has 9"
    assert scan.ids[1] == "b" and np.isnan(scan.raw[1]).all()


def test_empty_id_is_a_row_problem(tmp_path):
    scan = scan_of(tmp_path, [["a", *GOOD], ["", *GOOD], [" ", *GOOD]])
    assert list(scan.status) == ["ok", "missing id", "missing id"]


def test_flat_spectrum_is_kept(tmp_path):
    scan = scan_of(tmp_path, [["flat", *[100] * 8]])
    assert scan.ok.all() and not scan.saturated.any()
    np.testing.assert_array_equal(scan.raw, [[100.0] * 8])


def test_extra_columns_give_one_warning_each_and_are_ignored(tmp_path):
    header = ["id", "note", *map(str, BANDS), "x", ""]
    scan = scan_of(tmp_path, [["a", "hello", *GOOD, 6, 7]], header)
    assert scan.ok.all()
    np.testing.assert_array_equal(scan.raw, [GOOD])
    assert len(scan.warnings) == 3 and all("\n" not in w for w in scan.warnings)
    assert "'note'" in scan.warnings[0] and "not a band" in scan.warnings[0]
    assert "'x'" in scan.warnings[1] and "column 12" in scan.warnings[2]


def test_a_band_the_model_lacks_is_refused_with_the_missing_and_extra_bands(tmp_path):
    header = ["id", *map(str, BANDS[1:]), "490", "900 nm"]
    with pytest.raises(InputError) as err:
        scan_of(tmp_path, [["a", *GOOD[1:], 5, 6]], header)
    message = str(err.value)
    assert "\n" not in message and "(missing 470 nm; extra 490, 900 nm)" in message
    assert "needs exactly 470, 480, 511, 560, 580, 600, 660, 700 nm" in message


def test_saturation_of_integer_data_is_flagged_not_fatal(tmp_path):
    counts = [410, 450, 480, 230, 180, 900, 1700, 1500]
    rows = [
        ["ok", *counts],
        ["sat12", *counts[:6], 4095, 1500],
        ["sat8", *[200] * 7, 255],
        ["float", *counts[:6], "4095.0", 1500],  # not integer data
        ["not_peak", 255, *[300] * 7],  # 255 is not full scale where another band is brighter
    ]
    scan = scan_of(tmp_path, rows)
    assert scan.ok.all()
    assert list(scan.saturated) == [False, True, True, False, False]
    assert scan.raw[1, 6] == 4095
    assert len(scan.warnings) == 1 and "2 row(s)" in scan.warnings[0] and "'sat12'" in scan.warnings[0]


def assert_same_scan(a: Scan, b: Scan) -> None:
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.raw, b.raw)  # NaN == NaN here
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.pixel, b.pixel)
    np.testing.assert_array_equal(a.saturated, b.saturated)


@pytest.mark.parametrize("with_ids", [True, False])
def test_chunked_reading_gives_the_same_scan(tmp_path, with_ids):
    header = ["row", "col", *map(str, BANDS), "note"]
    rows = [[i // 3, i % 3, *[v + i for v in GOOD], "n"] for i in range(7)]
    rows[2][4] = ""
    rows[4][9] = 4095
    rows[4][2:9] = [100] * 7
    rows[5][0] = "x"
    if with_ids:
        header, rows = ["id", *header], [[f"p{i}", *r] for i, r in enumerate(rows)]
    path = write(tmp_path / "s.csv", csv_lines(rows, header))
    whole = read_scan(path, BANDS)
    chunks = list(iter_scan(path, BANDS, chunk_rows=3))
    assert [len(c.ids) for c in chunks] == [3, 3, 1]
    fields = ("ids", "raw", "status", "pixel", "saturated")
    joined = Scan(*(np.concatenate([getattr(c, k) for c in chunks]) for k in fields), [])
    assert_same_scan(joined, whole)
    assert list(whole.status) == ["ok", "ok", "missing value in 511", "ok", "ok", "non-integer value in row", "ok"]
    assert whole.saturated[4] and list(whole.ids) == (
        [f"p{i}" for i in range(7)] if with_ids else [str(i) for i in range(7)]
    )
    # the column warning comes once, with the first chunk; saturation is counted over the whole scan
    assert len(chunks[0].warnings) == 1 and "'note'" in chunks[0].warnings[0]
    assert chunks[1].warnings == [] and chunks[2].warnings == []
    assert whole.warnings == chunks[0].warnings + saturation_warnings(joined.saturated, joined.ids)
    assert "1 row(s) look saturated" in whole.warnings[1]


def test_count_rows(tmp_path):
    text = "\n".join(csv_lines([[i, *GOOD] for i in range(5)]))
    (tmp_path / "a.csv").write_text(text + "\n")
    (tmp_path / "b.csv").write_text(text)  # no newline after the last row
    assert count_rows(tmp_path / "a.csv") == count_rows(tmp_path / "b.csv") == 5


@pytest.mark.parametrize("chunk_rows", [2, 10])
def test_duplicate_ids_are_found_across_chunks(tmp_path, chunk_rows):
    path = write(tmp_path / "s.csv", csv_lines([[i, *GOOD] for i in ["a", "b", "c", "b", "e"]]))
    with pytest.raises(InputError, match="duplicate id 'b'"):
        list(iter_scan(path, BANDS, chunk_rows=chunk_rows))


HEADER = ",".join(["id", *map(str, BANDS)])
ROW = ",".join(["a", *map(str, GOOD)])
LONG = f"{HEADER}\n" + "".join(f"{i},{ROW[2:]}\n" for i in range(2000))  # > 64 KiB


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"\n\n  \n", "is empty"),
        (b"\xef\xbb\xbf", "is empty"),
        (HEADER.encode() + b"\n", "no data rows"),
        (HEADER.encode() + b"\n\n", "no data rows"),
        (
            b"id,470,480,511,580,600,660,700\n1,2,3,4,5,6,7,8\n",
            "do not match the model's (missing 560 nm); the model needs exactly 470, 480, 511, 560,",
        ),
        (b"id,470,480\n1,2,3\n", "(missing 511, 560, 580, 600, 660, 700 nm)"),
        (f"{HEADER},900 nm\n{ROW},1\n".encode(), "do not match the model's (extra 900 nm); the model needs exactly"),
        (f"{HEADER},470.0\n{ROW},1\n".encode(), "two columns for the 470 nm band: '470' and '470.0'"),
        (f"{HEADER},471 nm\n{ROW},1\n".encode(), "two columns for the 470 nm band"),
        (f"{HEADER},ID\n{ROW},b\n".encode(), "two 'id' columns"),
        (f"{HEADER}\n{ROW}\nb,{ROW[2:]}\n{ROW}\n".encode(), "duplicate id 'a'"),
        (HEADER.replace(",", ";").encode() + b"\n1;2;3;4;5;6;7;8;9\n", "separated by semicolons (';')"),
        (HEADER.replace(",", "\t").encode() + b"\n1\t2\t3\t4\t5\t6\t7\t8\t9\n", "separated by tabs"),
        (f"{HEADER},row\n{ROW},1\n".encode(), "has a 'row' column but no 'col' column"),
        (f"{HEADER},col\n{ROW},1\n".encode(), "has a 'col' column but no 'row' column"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary file"),
        (f"{HEADER}\n{ROW}\n".encode("utf-16"), "UTF-16"),
        (f"{HEADER},caf\u00e9\n{ROW},1\n".encode("latin-1"), "not UTF-8"),
        (LONG.encode() + b"\xff\n", "not UTF-8 text (invalid bytes after line"),  # past the sniffed start of the file
        (f'{HEADER}\n{ROW}\nb,"1,2,3\n'.encode(), "unreadable CSV at line 3: unexpected end of data"),
        (f'{HEADER}\n{ROW}\nb,"1"2,3\n'.encode(), "unreadable CSV at line 3:"),
    ],
)
def test_unusable_files_raise_one_line_input_error(tmp_path, content, message):
    path = tmp_path / "scan.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_scan(path, BANDS)
    text = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in text and message in text


def test_missing_file_and_directory_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_scan(tmp_path / "nope.csv", BANDS)
    with pytest.raises(InputError, match="is a directory"):
        read_scan(tmp_path, BANDS)
