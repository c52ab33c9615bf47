"""Self-contained HTML pages and their building blocks: escaped text, tables, key/value lists, counter cards,
bulleted lists, embedded figures and the page itself.  `html_page` wraps sections into one page with inline CSS and
a table of contents; figures are embedded as base64 PNG data URIs (invert.core.plots.figure_to_data_uri), so a
report opens offline and can be mailed as one file.  Every string that reaches the page through these helpers is
HTML-escaped (`escape`), since ids and file names come from user files; a section's body is HTML built with the
helpers.
"""

from __future__ import annotations

import html
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .plots import figure_to_data_uri

__all__ = ["escape", "counted", "html_table", "html_kv", "html_cards", "html_list", "html_figure", "html_page"]


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
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    body = []
    for key, row in zip(shown.index, shown.itertuples(index=False, name=None)):
        cells = ([key] if index else []) + list(row)
        tds = []
        for value in cells:
            text, numeric = _cell(value, fmt)
            tds.append(f'<td class="num">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    more = ""
    if len(shown) < len(df):
        more = f'<p class="muted">Showing the first {len(shown)} of {len(df)} rows.</p>'
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{table}</div>{more}'


def html_kv(items: Mapping[str, object], max_chars: int = 300) -> str:
    """A two-column key/value table (escaped); booleans as yes/no, long values shortened to max_chars."""
    rows = []
    for key, value in items.items():
        text = _display(value)
        if len(text) > max_chars:
            text = text[: max_chars - 1] + "\u2026"
        rows.append(f"<tr><th>{escape(key)}</th><td>{escape(text)}</td></tr>")
    return f'<table class="kv"><tbody>{"".join(rows)}</tbody></table>'


def html_cards(items: Sequence[tuple[str, int, bool]]) -> str:
    """Counters as cards: (label, value, warn); a warning card with a non-zero value is highlighted."""
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card{" warn" if warn and value else ""}"><b>{value}</b><span>{escape(label)}</span></div>'
            for label, value, warn in items
        )
        + "</div>"
    )


def html_list(items: Sequence[str]) -> str:
    """A bulleted list of escaped text items."""
    return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def html_figure(fig: Figure | str, caption: str = "", alt: str = "") -> str:
    """A <figure> with the figure (or a ready data URI) embedded and an escaped caption."""
    uri = fig if isinstance(fig, str) else figure_to_data_uri(fig)
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{escape(uri)}" alt="{escape(alt or caption)}">{cap}</figure>'


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
@media print { main { max-width:none; padding:0; } nav { display:none; } }
"""


def _anchor(i: int, heading: str) -> str:
    """The id of the i-th section: its number and a slug of its heading."""
    slug = "".join(c if c.isalnum() else "-" for c in heading.lower()).strip("-")
    return f"s{i}-{slug[:40]}".rstrip("-")


def html_page(title: str, sections: list[tuple[str, str]], subtitle: str = "") -> str:
    """A complete, self-contained HTML page: escaped title and subtitle, a table of contents and the sections.

    sections: (heading, HTML body) pairs; headings are escaped, bodies are inserted as given."""
    anchors = [_anchor(i, h) for i, (h, _) in enumerate(sections, start=1)]
    nav = "".join(f'<a href="#{a}">{escape(h)}</a>' for a, (h, _) in zip(anchors, sections))
    sub = f'<p class="subtitle">{escape(subtitle)}</p>' if subtitle else ""
    body = "\n".join(
        f'<section id="{a}">\n<h2>{escape(h)}</h2>\n{b}\n</section>' for a, (h, b) in zip(anchors, sections)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<header><h1>{escape(title)}</h1>{sub}<nav>{nav}</nav></header>\n{body}\n</main>\n</body>\n</html>\n"
    )
