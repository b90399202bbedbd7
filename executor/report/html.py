"""One self-contained HTML page: sections of text, PNG figures as data: URIs and tables, all escaped.

Nothing is fetched when the page opens: no external CSS, script, font or image, not even a
favicon (an empty data: icon stops the browser asking for /favicon.ico), and a Content-Security-
Policy that forbids any other source, so a mistake shows up as a blocked request in the browser
test rather than as a page that silently depends on the network. Every string that comes from an
input file (labels, paths, notes, table cells) goes through `html.escape`.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1180px;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; margin-top: 2.4rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
h3 { font-size: 1.05rem; margin-top: 1.6rem; }
p.intro { color: #333; max-width: 60rem; }
p.sub { color: #666; margin-top: 0; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
table { border-collapse: collapse; margin: 0.8rem 0 1.2rem; font-size: 0.85rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.55rem; vertical-align: top; }
th { background: #f5f5f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
div.scroll { overflow-x: auto; }
ul.notes { font-size: 0.85rem; color: #444; }
nav ul { columns: 2; font-size: 0.9rem; }
code { font-size: 0.9em; }
"""
_NUMBER = re.compile(r"^[-+$]?[\d,]*\.?\d+(e[-+]?\d+)?( ?(%|s|min|h|days|kWh|GPUs?))?$|^n/a$|^\u2013$|^$")


@dataclass(frozen=True, slots=True)
class Image:
    """A figure: `name` is its PNG file next to report.html; the page embeds the bytes."""

    name: str
    png: bytes
    alt: str
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class Notes:
    """A bulleted list (run notes, skipped parts)."""

    items: tuple[str, ...]


Block = Image | Table | Paragraph | Notes


@dataclass(frozen=True, slots=True)
class Section:
    """A heading, a short text saying what the section shows and how to read it, then its blocks."""

    anchor: str
    title: str
    intro: str
    blocks: tuple[Block, ...]
    level: int = 2


def slug(text: str) -> str:
    """A file- and anchor-safe name: lower case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole page; deterministic (no clock, no random ids), so the same report gives the same bytes."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{e(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="sub">{e(subtitle)}</p>',
    ]
    top = [s for s in sections if s.level == 2]
    if len(top) > 1:
        out.append("<nav><ul>")
        out.extend(f'<li><a href="#{e(s.anchor)}">{e(s.title)}</a></li>' for s in top)
        out.append("</ul></nav>")
    for s in sections:
        tag = f"h{s.level}"
        out.append(f'<section id="{e(s.anchor)}">')
        out.append(f"<{tag}>{e(s.title)}</{tag}>")
        if s.intro:
            out.append(f'<p class="intro">{e(s.intro)}</p>')
        out.extend(_block(b) for b in s.blocks)
        out.append("</section>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _block(block: Block) -> str:
    e = html.escape
    if isinstance(block, Image):
        caption = f"<figcaption>{e(block.caption)}</figcaption>" if block.caption else ""
        return f'<figure><img src="{data_uri(block.png)}" alt="{e(block.alt)}">{caption}</figure>'
    if isinstance(block, Paragraph):
        return f"<p>{e(block.text)}</p>"
    if isinstance(block, Notes):
        items = "".join(f"<li>{e(i)}</li>" for i in block.items)
        return f'<ul class="notes">{items}</ul>'
    numeric = [all(_NUMBER.match(r[k]) for r in block.rows if k < len(r)) and bool(block.rows)
               for k in range(len(block.header))]
    head = "".join(f"<th>{e(h)}</th>" for h in block.header)
    body = []
    for row in block.rows:
        cells = "".join(f'<td class="num">{e(c)}</td>' if k < len(numeric) and numeric[k] else f"<td>{e(c)}</td>"
                        for k, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    caption = f"<caption>{e(block.caption)}</caption>" if block.caption else ""
    rows = "".join(body)
    return f'<div class="scroll"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


__all__ = ["CSP", "Block", "Image", "Notes", "Paragraph", "Section", "Table", "data_uri", "render", "slug"]
