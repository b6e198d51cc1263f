"""A one-page report as a list of blocks, rendered as Markdown and as a standalone HTML file.

Both renderings come from the same blocks, so they say the same thing. Charts are PNG bytes
embedded as base64 data URIs and the style sheet is inline: the HTML opens from a bucket, a
mail attachment or a laptop with nothing else to fetch.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field


@dataclass
class Page:
    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def text(self, text: str) -> None:
        self.blocks.append(("p", text))

    def note(self, text: str) -> None:
        """Something the reader must not miss (a notice, missing data)."""
        self.blocks.append(("note", text))

    def table(self, header: list[str], rows: list[list]) -> None:
        self.blocks.append(("table", header, [["" if c is None else str(c) for c in row] for row in rows]))

    def image(self, png: bytes, alt: str) -> None:
        self.blocks.append(("img", alt, png))

    def markdown(self) -> str:
        out = [f"# {self.title}"]
        for kind, *rest in self.blocks:
            if kind == "h2":
                out.append(f"## {rest[0]}")
            elif kind == "p":
                out.append(rest[0])
            elif kind == "note":
                out.append("> **" + rest[0].replace("\n", " ") + "**")
            elif kind == "table":
                header, rows = rest
                lines = [_md_row(header), "|" + "|".join("---" for _ in header) + "|"]
                out.append("\n".join(lines + [_md_row(r) for r in rows]))
            elif kind == "img":
                out.append(f"![{rest[0]}]({data_uri(rest[1])})")
        return "\n\n".join(out) + "\n"

    def html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, *rest in self.blocks:
            if kind == "h2":
                body.append(f"<h2>{html.escape(rest[0])}</h2>")
            elif kind == "p":
                body.append(f"<p>{html.escape(rest[0])}</p>")
            elif kind == "note":
                body.append(f'<p class="note">{html.escape(rest[0])}</p>')
            elif kind == "table":
                header, rows = rest
                head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
                cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
            elif kind == "img":
                body.append(f'<img alt="{html.escape(rest[0], quote=True)}" src="{data_uri(rest[1])}">')
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;"
    "text-align:right}th{background:#f3f3f3}img{max-width:100%}"
    ".note{background:#fff4d6;border-left:4px solid #e0a800;padding:.5rem .8rem}"
)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _md_row(cells: list) -> str:
    return "| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |"
