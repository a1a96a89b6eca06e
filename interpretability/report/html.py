"""Plain static HTML: escaped text, tables of metrics, audio players and pictures with relative paths, one
inline style sheet. No script, no external asset."""

import html
import math
import os
from urllib.parse import quote

from interpretability.report import definitions
from interpretability.report.files import write_text

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1280px;
       padding: 0 16px 48px; color: #1d1d1f; background: #fafafa; line-height: 1.4; }
h1 { margin: 20px 0 4px; font-size: 1.7em; } h2 { margin-top: 34px; border-bottom: 2px solid #ddd; }
h3 { margin: 6px 0; font-size: 1.05em; }
nav a { margin-right: 14px; } .muted { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 8px 0 14px; background: #fff; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; vertical-align: middle; }
th { background: #f0f0f3; } th a { color: inherit; text-decoration: none; border-bottom: 1px dotted #888; }
td.name, th.name { text-align: left; white-space: nowrap; } td.best { font-weight: 700; background: #eaf6ea; }
.cards { display: flex; flex-wrap: wrap; gap: 14px; }
.card { background: #fff; border: 1px solid #d6d6dc; border-radius: 8px; padding: 8px 10px; flex: 1 1 560px;
        max-width: 612px; box-shadow: 0 1px 2px rgba(0,0,0,.05); box-sizing: border-box; }
.card table { font-size: 0.82em; } .card th, .card td { padding: 2px 4px; }
.scroll { overflow-x: auto; max-width: 100%; } .small { font-size: 0.78em; }
.card.wide { max-width: none; flex-basis: 100%; }
.card table { width: 100%; } .card td { text-align: left; } .card td.num { text-align: right; }
.card img.thumb { height: 40px; width: 96px; display: block; }
.card img.figure { width: 100%; } audio { height: 28px; width: 172px; display: block; }
.card.wide audio { width: 340px; }
.decision { font-weight: 600; } .ok { color: #17803d; } .wrong { color: #b3261e; }
dl.defs dt { font-weight: 700; margin-top: 6px; } dl.defs dd { margin-left: 18px; }
details > summary { cursor: pointer; color: #0b57d0; margin: 6px 0; }
img.plot { max-width: 100%; } img.narrow { max-width: 460px; }
.card th { text-align: left; }
"""


def esc(value):
    """HTML-escaped text of any value."""
    return html.escape(str(value), quote=True)


def rel(path, start):
    """``path`` relative to the folder ``start`` as a URL path (forward slashes, quoted: a space is %20)."""
    return quote(os.path.relpath(path, start).replace(os.sep, "/"), safe="/")


def fmt(value, key=None):
    """A metric value as text: integers as they are, floats to 3 significant places (1 decimal for the % ones)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return (
            f"{value:,}".replace(",", " ")
            if abs(value) >= 10000
            else str(value)
        )
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "–"
        leaf = (key or "").rsplit(".", 1)[-1]
        if leaf in ("AI", "AD", "AG"):
            return f"{value:.1f}"
        if abs(value) >= 1000:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return (
            f"{value:.3f}"
            if abs(value) >= 0.001 or value == 0
            else f"{value:.1e}"
        )
    return str(value)


def metric_th(key, used=None):
    """A table header cell naming a metric, linking to its definition (``used`` collects the keys shown)."""
    if used is not None:
        used.add(key)
    arrow = {1: " ↑", -1: " ↓"}.get(definitions.direction(key), "")
    title = definitions.definition(key)
    label = esc(definitions.header(key)) + arrow
    if title is None:
        return f"<th>{label}</th>"
    return f'<th><a href="#{definitions.anchor(key)}" title="{esc(title)}">{label}</a></th>'


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def flatten(metrics, prefix=""):
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are left out (they are not table cells)."""
    flat = {}
    for key, value in (metrics or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif not isinstance(value, list):
            flat[name] = value
    return flat


def metric_table(
    rows, keys=None, used=None, best=True, row_header="method", table_id=None
):
    """A table ``row name x metric`` from ``rows`` ``[(name, {metric: value})]``.

    ``keys`` (default: the union of the rows' scalar keys in first-seen order); a missing value shows as "–".
    With ``best`` the best value of each column with a direction is marked (rows whose name starts with "(" are
    controls and are not marked).
    """
    if keys is None:
        keys = []
        for _, metrics in rows:
            keys += [
                k
                for k, v in metrics.items()
                if k not in keys and (is_number(v) or isinstance(v, str))
            ]
    marked = {}
    if best:
        for key in keys:
            sign = definitions.direction(key)
            values = [
                m.get(key) for name, m in rows if not name.startswith("(")
            ]
            values = [v for v in values if is_number(v) and math.isfinite(v)]
            if sign and len(values) > 1:
                marked[key] = max(values) if sign > 0 else min(values)
    id_attr = f' id="{esc(table_id)}"' if table_id else ""
    parts = [
        f'<table{id_attr}><thead><tr><th class="name">{esc(row_header)}</th>'
        + "".join(metric_th(k, used) for k in keys)
        + "</tr></thead><tbody>"
    ]
    for name, metrics in rows:
        cells = []
        for key in keys:
            value = metrics.get(key)
            css = (
                ' class="best"'
                if key in marked and is_number(value) and value == marked[key]
                else ""
            )
            cells.append(f"<td{css}>{esc(fmt(value, key))}</td>")
        parts.append(
            f'<tr><td class="name">{esc(name)}</td>' + "".join(cells) + "</tr>"
        )
    parts.append("</tbody></table>")
    return '<div class="scroll">' + "".join(parts) + "</div>"


def key_value_table(metrics, used=None, table_id=None):
    """A two-column table of every scalar of ``metrics`` (nested dicts flattened to dotted names)."""
    flat = flatten(metrics)
    id_attr = f' id="{esc(table_id)}"' if table_id else ""
    rows = []
    for key, value in flat.items():
        if used is not None:
            used.add(key)
        title = definitions.definition(key)
        name = esc(key)
        if title is not None:
            name = f'<a href="#{definitions.anchor(key)}" title="{esc(title)}">{name}</a>'
        rows.append(
            f'<tr><td class="name">{name}</td><td>{esc(fmt(value, key))}</td></tr>'
        )
    return f"<table{id_attr}><tbody>" + "".join(rows) + "</tbody></table>"


def short_th(key, label, used=None):
    """A compact header cell (no arrow) linking to a metric's definition."""
    if used is not None:
        used.add(key)
    title = definitions.definition(key) or ""
    return f'<th><a href="#{definitions.anchor(key)}" title="{esc(title)}">{esc(label)}</a></th>'


def audio(src, label=None):
    """An audio player for a relative path."""
    title = f' title="{esc(label)}"' if label else ""
    return (
        f'<audio controls preload="metadata" src="{esc(src)}"{title}></audio>'
    )


def image(src, alt, css="figure"):
    return f'<img class="{esc(css)}" src="{esc(src)}" alt="{esc(alt)}" loading="eager">'


def definitions_section(keys):
    """The metric definitions of ``keys`` (those without one are left out), as a definition list."""
    items = []
    for key in sorted(set(keys), key=str.lower):
        text = definitions.definition(key)
        if text is None:
            continue
        items.append(
            f'<dt id="{definitions.anchor(key)}">{esc(key)} ({esc(definitions.header(key))})</dt>'
            f"<dd>{esc(text)}</dd>"
        )
    return '<dl class="defs">' + "".join(items) + "</dl>"


def page(title, body, subtitle=""):
    """A whole HTML document."""
    sub = f'<p class="muted">{esc(subtitle)}</p>' if subtitle else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n<h1>{esc(title)}</h1>{sub}\n"
        f"{body}\n</body></html>\n"
    )


def write_page(path, text):
    """Write an HTML page atomically; returns its path."""
    write_text(path, text)
    return path
