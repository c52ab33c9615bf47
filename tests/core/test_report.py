"""The report kit: self-contained HTML and escaping (invert.core.pages), plot helpers (invert.core.plots), and
invert.core.report, which gathers both for the apps."""

import base64

import numpy as np
import pandas as pd
import pytest

from invert.core import pages, plots, report
from invert.core.recoverability import UNCONSTRAINED_RATIO, constraint_label

EVIL = "<script>alert('x')</script>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def decode(uri: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    return base64.b64decode(uri[len(prefix) :], validate=True)


def test_figure_to_data_uri_is_png_and_closes_pyplot_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1], [1, 0])
    assert decode(report.figure_to_data_uri(fig)).startswith(PNG_MAGIC)
    assert not plt.fignum_exists(fig.number)
    fig = report.new_figure(2, 1)  # no pyplot involved
    fig.subplots().plot([0, 1])
    assert decode(report.figure_to_data_uri(fig)).startswith(PNG_MAGIC)


def test_html_escapes_user_strings():
    df = pd.DataFrame({"id": [EVIL, "a&b"], "value": [0.123456, np.nan], "flag": [True, False], "n": [3, 4]})
    table = report.html_table(df)
    assert "<script>" not in table and "&lt;script&gt;" in table and "a&amp;b" in table
    assert ">0.123<" in table and "\u2013" in table and ">yes<" in table and ">no<" in table
    assert report.html_table(df, float_format=lambda v: f"{v:.1f}").count(">0.1<") == 1
    page = report.html_page(EVIL, [(EVIL, report.html_kv({EVIL: EVIL})), ("Table", table)], subtitle=EVIL)
    assert "<script>" not in page and page.count("&lt;script&gt;") >= 5
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and 'href="#s2-table"' in page
    assert "http" not in page  # self-contained: nothing to fetch
    figure = report.html_figure("data:image/png;base64,AAAA", caption=EVIL)
    assert "<script>" not in figure


def test_html_table_truncates_long_tables():
    table = report.html_table(pd.DataFrame({"x": np.arange(30)}), max_rows=10)
    assert table.count("<tr>") == 11 and "first 10 of 30 rows" in table


def test_plot_text_disables_mathtext_and_shortens():
    assert report.plot_text("$x$") == r"\$x\$"
    assert len(report.plot_text("a" * 100, 10)) == 10


def test_plots_render_with_awkward_inputs():
    rng = np.random.default_rng(0)
    fig = report.new_figure(4, 2)
    report.marginal_plot(fig.subplots(), rng.normal(0.5, 0.05, 500), (0, 1), truth=0.52, label="$sO2", mode=0.5)
    assert decode(report.figure_to_data_uri(fig)).startswith(PNG_MAGIC)
    fig = report.new_figure(4, 2)
    report.marginal_plot(fig.subplots(), np.full(100, 0.3), (0, 1), label="constant")  # zero spread
    report.figure_to_data_uri(fig)
    s = rng.normal(size=(300, 3))
    fig = report.pair_plot(s, ["a", "b", "$c"], [(-5, 5)] * 3, truth=[0, 0, 0])
    assert len(fig.axes) == 6  # lower triangle only
    report.figure_to_data_uri(fig)
    with pytest.raises(ValueError):
        report.pair_plot(s, ["a", "b"], [(-5, 5)] * 2)
    report.figure_to_data_uri(report.pair_plot(s[:, :1], ["a"], [(-5, 5)]))


@pytest.mark.parametrize("n", [5, 300])
def test_interval_plot_rows_and_compact_view(n):
    rng = np.random.default_rng(1)
    med = rng.random(n)
    med[1] = np.nan  # a row without an estimate
    flags = np.where(np.arange(n) == 2, "out of distribution", "").astype(object)
    fig = report.interval_plot(
        [f"{EVIL}{i}" for i in range(n)],
        med,
        med - 0.1,
        med + 0.1,
        med - 0.2,
        med + 0.2,
        "sO2",
        flags=flags,
        value_range=(0, 1),
        colors={"out of distribution": "#ff0000"},
    )
    title = fig.axes[0].get_title(loc="left")
    assert f"{n - 1} rows" in title and "1 without" in title
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "out of distribution" in labels
    assert decode(report.figure_to_data_uri(fig)).startswith(PNG_MAGIC)
    report.figure_to_data_uri(report.interval_plot([], [], [], [], [], [], "sO2"))  # nothing to show


def test_map_plot_places_pixels_and_marks_missing():
    pixel = np.array([[0, 0], [0, 2], [1, 1], [2, 2]])
    values = np.array([0.1, 0.2, np.nan, 0.4])
    fig = report.map_plot(pixel, values, "sO2", label="sO2", vmin=0, vmax=1, marks=np.array([1, 0, 0, 0], bool))
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (3, 3)
    assert image[0, 0] == 0.1 and image[0, 2] == 0.2 and image[2, 2] == 0.4
    assert image.mask[1, 1] and image.mask[0, 1]  # NaN value and absent pixel
    report.figure_to_data_uri(fig)
    big = np.stack(np.meshgrid(np.arange(0, 3000, 3), [0, 2999], indexing="ij"), -1).reshape(-1, 2)
    fig = report.map_plot(big, np.ones(len(big)), "binned", max_side=100)
    assert max(fig.axes[0].images[0].get_array().shape) <= 100 and "blocks" in fig.axes[0].get_title(loc="left")
    with pytest.raises(ValueError):
        report.map_plot(pixel, values[:3], "bad")


def test_constraint_label_and_width_ratio_plot():
    assert report.constraint_label(report.UNCONSTRAINED_RATIO + 0.01) == "not constrained by data"
    assert report.constraint_label(report.WELL_CONSTRAINED_RATIO) == "well constrained"
    assert report.constraint_label(float("nan")).startswith("n/a")
    uri = report.figure_to_data_uri(report.width_ratio_plot(["a", EVIL], np.array([0.3, np.nan])))
    assert decode(uri).startswith(PNG_MAGIC)
    cards = report.html_cards([(EVIL, 2, True), ("ok", 0, True)])
    assert EVIL not in cards and cards.count('class="card warn"') == 1


def test_pair_plot_contours_enclose_68_and_95_percent():
    """On a 2-D standard normal the highest-density contours are circles of radius sqrt(-2 ln(1 - p))."""
    from matplotlib.contour import ContourSet

    s = np.random.default_rng(0).standard_normal((20_000, 2))
    ax = report.pair_plot(s, ["a", "b"], [(-5, 5)] * 2, zoom=False, bins=40).axes[1]
    contours = next(c for c in ax.collections if isinstance(c, ContourSet))
    radii = [np.hypot(*path.vertices.T).mean() for path in contours.get_paths()]  # levels ascending: 95 %, then 68 %
    # measured: +3 % from the smoothing of the histogram
    np.testing.assert_allclose(radii, np.sqrt(-2 * np.log([0.05, 0.32])), rtol=0.06)


def test_report_gathers_the_pages_plots_and_width_ratio_words():
    for module in (pages, plots):
        assert all(getattr(report, name) is getattr(module, name) for name in module.__all__)
    assert report.constraint_label is constraint_label and report.UNCONSTRAINED_RATIO == UNCONSTRAINED_RATIO
    assert all(hasattr(report, name) for name in report.__all__)


def test_recoverability_html_escapes_names_and_explains_old_models():
    verdicts = ["recoverable", "not recoverable"]
    table = pd.DataFrame(
        {"contraction": [0.9, 0.0], "corr": [0.95, 0.1], "verdict": verdicts},
        index=pd.Index(["a", "b"], name="parameter"),
    )
    text = report.recoverability_html(table, 100, labels={"a": EVIL})
    assert "<script>" not in text and "&lt;script&gt;" in text and "100 simulations" in text
    assert "<b>recoverable</b>: &lt;script&gt;" in text and "<b>not recoverable</b>: b" in text
    assert "retrain it" in report.recoverability_html(None)


def test_counts_and_booleans_read_as_words():
    assert report.counted(1, "row") == "1 row" and report.counted(0, "row") == "0 rows"
    assert report.counted(2, "object") == "2 objects" and report.counted(3, "child", "children") == "3 children"
    kv = report.html_kv({"flag": True, "other": np.False_, "none": None})
    assert "<td>yes</td>" in kv and "<td>no</td>" in kv and "True" not in kv and "False" not in kv


def test_pair_plot_ticks_keep_clear_of_the_panel_edges():
    """Tick labels of neighbouring panels cannot meet: every tick lies inside the middle 70 % of its axis."""
    s = np.random.default_rng(0).normal([0.55, -3.6, 6.88], [0.02, 0.05, 0.004], size=(2000, 3))
    fig = report.pair_plot(s, ["a", "b", "c"], [(-1, 1), (-4, -1), (6, 7.4)])
    fig.canvas.draw()
    for ax in fig.axes:
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            ticks = [t for t in axis.get_majorticklocs() if lo <= t <= hi]
            pad = 0.15 * (hi - lo) * (1 - 1e-6)
            assert all(lo + pad <= t <= hi - pad for t in ticks), (ticks, lo, hi)
        if ax.get_xlabel():  # the bottom row: at least two labelled ticks per panel
            assert len(ax.get_xticks()) >= 2
