"""Self-contained HTML pages and their building blocks: escaped text, tables, key/value lists, counter cards,
bulleted lists, embedded figures, a footer and the page itself.  The markup lives in Jinja2 templates
(core/templates: page.html.j2, and blocks.html.j2 with one macro per block, autoescaped); the functions here turn
data into what the templates show.  `html_page` wraps sections into one page with inline CSS and
a table of contents; figures are embedded as base64 PNG data URIs (invert.core.plots.figure_to_data_uri), so a
report opens offline and can be mailed as one file.  Every string that reaches the page through these helpers is
HTML-escaped (`escape`), since ids and file names come from user files; a section's body is HTML built with the
helpers.
"""

from __future__ import annotations

import html
from typing import Callable, Mapping, Sequence

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from .plots import figure_to_data_uri

__all__ = [
    "escape",
    "counted",
    "html_table",
    "html_kv",
    "html_cards",
    "html_list",
    "html_figure",
    "html_footer",
    "html_page",
]

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("invert.core", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_PAGE = _TEMPLATES.get_template("page.html.j2")
_BLOCKS = _TEMPLATES.get_template("blocks.html.j2").module


def escape(text: object) -> str:
    """Any value as HTML-escaped text (quotes included, so it is also safe inside attributes)."""
    return html.escape(str(text), quote=True)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """n with its noun in the right number: '1 row', '2 rows', '0 rows' (plural: when not noun + 's')."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _display(value: object) -> str:
    """A value as words: booleans as yes/no (never True/False), None as a dash, the rest as str."""
    if value is None:
        return "\u2013"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return str(value)


def _cell(value: object, float_format: Callable[[float], str]) -> tuple[str, bool]:
    """Text of one table cell and whether it is numeric."""
    if value is None or (pd.api.types.is_scalar(value) and not isinstance(value, str) and pd.isna(value)):
        return "\u2013", True
    if isinstance(value, (bool, np.bool_)):
        return ("yes" if value else "no"), False
    if isinstance(value, (int, np.integer)):
        return str(value), True
    if isinstance(value, (float, np.floating)):
        return float_format(float(value)), True
    return str(value), False


def html_table(
    df: pd.DataFrame,
    float_format: str | Callable[[float], str] = "{:.3g}",
    index: bool = False,
    max_rows: int | None = None,
) -> str:
    """The table as escaped HTML: numbers right-aligned and formatted, NaN as a dash, booleans as yes/no.

    float_format: a format string with one field ("{:.3f}") or a function of a float.
    max_rows: show at most this many rows and say how many were left out."""
    fmt = float_format.format if isinstance(float_format, str) else float_format
    shown = df if index else df.reset_index(drop=True)
    if max_rows is not None and len(df) > max_rows:
        shown = shown.iloc[:max_rows]
    names = ([shown.index.name or ""] if index else []) + [str(c) for c in shown.columns]
    rows = [
        [_cell(value, fmt) for value in ([key] if index else []) + list(row)]
        for key, row in zip(shown.index, shown.itertuples(index=False, name=None))
    ]
    more = (len(shown), len(df)) if len(shown) < len(df) else None
    return str(_BLOCKS.table(names, rows, more))


def html_kv(items: Mapping[str, object], max_chars: int = 300) -> str:
    """A two-column key/value table (escaped); booleans as yes/no, long values shortened to max_chars."""
    shown = []
    for key, value in items.items():
        text = _display(value)
        shown.append((key, text if len(text) <= max_chars else text[: max_chars - 1] + "\u2026"))
    return str(_BLOCKS.kv(shown))


def html_cards(items: Sequence[tuple[str, int, bool]]) -> str:
    """Counters as cards: (label, value, warn); a warning card with a non-zero value is highlighted."""
    return str(_BLOCKS.cards(items))


def html_list(items: Sequence[str]) -> str:
    """A bulleted list of escaped text items."""
    return str(_BLOCKS.bullets(items))


def html_figure(fig: Figure | str, caption: str = "", alt: str = "") -> str:
    """A <figure> with the figure (or a ready data URI) embedded and an escaped caption."""
    uri = fig if isinstance(fig, str) else figure_to_data_uri(fig)
    return str(_BLOCKS.figure(uri, caption, alt or caption))


def html_footer(items: Mapping[str, object]) -> str:
    """The page's footer line: what produced it, as 'key value' pairs separated by dots (escaped)."""
    return " \u00b7 ".join(escape(f"{key} {_display(value)}") for key, value in items.items())


CSS = """
:root { --fg:#1f2933; --muted:#52606d; --line:#d9e2ec; --accent:#1f5fa8; --zebra:#f5f7fa; --head:#eaf0f7; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:#fff; line-height:1.5; font-size:15px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; }
main { max-width:1100px; margin:0 auto; padding:28px 28px 56px; }
header { border-bottom:3px solid var(--accent); padding-bottom:10px; margin-bottom:8px; }
h1 { font-size:1.75rem; margin:0 0 2px; }
h2 { font-size:1.3rem; margin:38px 0 10px; padding-bottom:4px; border-bottom:1px solid var(--line); }
h3 { font-size:1.05rem; margin:26px 0 6px; }
p { margin:6px 0 10px; max-width:860px; }
ul { margin:6px 0 12px; padding-left:22px; max-width:860px; }
.subtitle, .muted, figcaption { color:var(--muted); }
.subtitle { margin:0; font-size:1rem; }
nav { font-size:.92rem; margin:10px 0 0; }
nav a { color:var(--accent); text-decoration:none; margin-right:16px; white-space:nowrap; }
nav a:hover { text-decoration:underline; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; margin:8px 0 14px; font-size:.9rem; }
th, td { padding:4px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
thead th { background:var(--head); border-bottom:2px solid #bcccdc; white-space:nowrap; }
tbody tr:nth-child(even) { background:var(--zebra); }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
table.kv th { background:none; font-weight:600; white-space:nowrap; padding-right:18px; }
table.kv td { word-break:break-word; }
figure { margin:8px 0 16px; }
figure img { max-width:100%; height:auto; display:block; }
figcaption { font-size:.88rem; margin-top:4px; max-width:860px; }
.row { display:flex; flex-wrap:wrap; gap:10px 28px; align-items:flex-start; }
.row > figure { margin:4px 0; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin:14px 0 6px; }
.card { border:1px solid var(--line); border-radius:8px; padding:8px 16px; min-width:120px; background:#fbfcfe; }
.card b { display:block; font-size:1.5rem; line-height:1.2; }
.card span { color:var(--muted); font-size:.85rem; }
.card.warn b { color:#d9480f; }
.note { background:#fff8e6; border-left:4px solid #f0b429; padding:8px 14px; margin:10px 0; max-width:860px; }
.sample { border-top:1px solid var(--line); padding-top:4px; }
.tag { display:inline-block; font-size:.78rem; padding:0 7px; border-radius:9px; margin-left:6px;
  background:#ffe8cc; color:#a33b00; font-weight:600; vertical-align:middle; }
.tag.ok { background:#d3f9d8; color:#2b8a3e; }
footer { margin-top:40px; padding-top:8px; border-top:1px solid var(--line); color:var(--muted); font-size:.82rem; }
@media print { main { max-width:none; padding:0; } nav { display:none; } }
"""


def _anchor(i: int, heading: str) -> str:
    """The id of the i-th section: its number and a slug of its heading."""
    slug = "".join(c if c.isalnum() else "-" for c in heading.lower()).strip("-")
    return f"s{i}-{slug[:40]}".rstrip("-")


def html_page(title: str, sections: list[tuple[str, str]], subtitle: str = "", footer: str = "") -> str:
    """A complete, self-contained HTML page: escaped title and subtitle, a table of contents, the sections and a
    footer.

    sections: (heading, HTML body) pairs; headings are escaped, bodies are inserted as given; footer: HTML
    (html_footer)."""
    parts = [(_anchor(i, h), h, Markup(b)) for i, (h, b) in enumerate(sections, start=1)]
    return _PAGE.render(title=title, subtitle=subtitle, sections=parts, css=Markup(CSS), footer=Markup(footer))
