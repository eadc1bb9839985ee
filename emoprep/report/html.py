"""Small HTML building blocks for the static report. Every text goes through :func:`esc`."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1150px; padding: 1em 2em;
       color: #222; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 2px solid #ddd; margin-top: 2em; }
h3 { margin: 0 0 .4em 0; }
table { border-collapse: collapse; margin: .5em 0 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 12px/1.35 ui-monospace, monospace; } pre { background: #f7f7f7;
       padding: .5em; overflow-x: auto; white-space: pre-wrap; }
section.video { border: 1px solid #ddd; border-radius: 6px; padding: 1em; margin: 1.2em 0; }
section.failed { border-left: 6px solid #d62728; }
section.anomaly { border-left: 6px solid #ff7f0e; }
section.warning { border-left: 6px solid #e6b800; } section.ok { border-left: 6px solid #2ca02c; }
.tag { display: inline-block; padding: 0 .5em; border-radius: 3px; color: #fff; font-size: 12px; }
.tag.failed { background: #d62728; } .tag.anomaly { background: #ff7f0e; }
.tag.warning { background: #b38f00; } .tag.ok { background: #2ca02c; }
.figs img { display: block; margin: .4em 0; max-width: 100%; border: 1px solid #eee; }
.error { color: #a00; } .muted { color: #777; }
"""


def esc(value: Any) -> str:
    """HTML-escaped text of any value (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def cell(value: Any) -> str:
    """A table cell; numbers right-aligned."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = f"{value:.3g}" if isinstance(value, float) else str(value)
        return f'<td class="num">{esc(text)}</td>'
    return f"<td>{esc(value)}</td>"


def raw_cell(markup: str) -> str:
    """A cell whose content is already-escaped markup (built with :func:`esc`)."""
    return f"<td>{markup}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table; each row is a list of ``<td>`` strings from :func:`cell` / :func:`raw_cell`."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kv_table(pairs: Iterable[tuple[str, Any]]) -> str:
    """A two-column table of label / value."""
    body = "".join(f"<tr><th>{esc(k)}</th>{cell(v)}</tr>" for k, v in pairs)
    return f"<table><tbody>{body}</tbody></table>"


def img(src: str, alt: str, width: int | None = None) -> str:
    """An ``<img>`` with a URL-quoted relative ``src``."""
    w = f' width="{int(width)}"' if width else ""
    return f'<img src="{esc(quote(src))}" alt="{esc(alt)}"{w} loading="eager">'


def pre_json(value: Any) -> str:
    return f"<pre>{esc(json.dumps(value, indent=1, sort_keys=True, default=str))}</pre>"


def details(summary: str, body_markup: str) -> str:
    return f"<details><summary>{esc(summary)}</summary>{body_markup}</details>"


def anchor(video_id: str) -> str:
    """The element id of a video's section."""
    return "v-" + quote(video_id, safe="")


def link(video_id: str) -> str:
    return f'<a href="#{esc(anchor(video_id))}">{esc(video_id)}</a>'


def page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
            "</body></html>\n")
