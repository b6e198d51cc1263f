"""Charts every hub_ops report draws (cost, usage, storage), legible from 7 to 2,000 hubs.

A chart shows the `top` series by total (12 by default) and folds the rest into one
"all K others" series, so its legend has at most top + 1 entries, each with its own colour
(PALETTE has 13 distinct colours; "others" is grey). Series are pre-aggregated with pandas
before drawing: matplotlib draws at most top + 1 polygons, never one `bar` call per hub (the
slow path: 2,000 series of bars took 114 s). Long labels are shortened in the middle so the
legend fits beside the plot. PNG bytes out, via the Agg backend (no display needed).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import pandas as pd

TOP = 12
LABEL_CHARS = 34
# tab10 without its grey, then four darker hues: 13 colours no two alike; grey is "others"
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#843c39",
    "#7b4173",
)
OTHERS_COLOUR = "#b0b0b0"


def others_label(count: int) -> str:
    return f"all {count} others"


def top_series(wide: pd.DataFrame, top: int = TOP) -> pd.DataFrame:
    """Columns of `wide` (one per series) reduced to the `top` largest by total, largest first,
    plus one "all K others" column summing the rest (only when there is a rest)."""
    if top > len(PALETTE):
        raise ValueError(f"top={top}: the palette has {len(PALETTE)} distinct colours")
    order = wide.sum().sort_values(ascending=False, kind="stable").index
    kept = wide[order[:top]]
    rest = order[top:]
    if len(rest):
        kept = kept.assign(**{others_label(len(rest)): wide[rest].sum(axis=1)})
    return kept


def shorten(label: str, width: int = LABEL_CHARS) -> str:
    """`label` in at most `width` characters, cut in the middle (both ends say most)."""
    label = str(label)
    if len(label) <= width:
        return label
    head = (width - 1) // 2
    return label[:head] + "…" + label[len(label) - (width - 1 - head) :]


def colours(labels: Sequence[str]) -> list[str]:
    """One distinct colour per series; "all K others" is grey."""
    out, i = [], 0
    for label in labels:
        if str(label).startswith("all ") and str(label).endswith(" others"):
            out.append(OTHERS_COLOUR)
        else:
            out.append(PALETTE[i])
            i += 1
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _tick_labels(index: Sequence) -> tuple[list[int], list[str]]:
    """At most ~16 x tick labels, whatever the number of points."""
    step = max(1, -(-len(index) // 16))
    positions = list(range(0, len(index), step))
    return positions, [str(index[i]) for i in positions]


def stacked_figure(wide: pd.DataFrame, title: str, ylabel: str, top: int = TOP, xlabel: str = ""):
    """Stacked areas (a step per x, like bars) of the top series over x (the index), others
    folded: a matplotlib Figure. One polygon per series, not one patch per bar (a bar per
    series and day costs ~20 ms of matplotlib each on this machine, whatever the fleet)."""
    plt = _pyplot()
    shown = top_series(wide.fillna(0.0), top)
    fig, ax = plt.subplots(figsize=(11, 4.4), dpi=80)
    if len(shown.columns):
        ax.stackplot(
            range(len(shown)),
            shown.T.to_numpy(),
            labels=[shorten(c) for c in shown.columns],
            colors=colours(shown.columns),
            step="mid",
            linewidth=0,
        )
    _finish(fig, ax, shown.index, title, xlabel, ylabel, legend=len(shown.columns) > 1)
    return fig


def lines_figure(wide: pd.DataFrame, title: str, ylabel: str, top: int = TOP, xlabel: str = ""):
    """One line per top series (by total) over x; the rest are not summed (a sum of ratios
    means nothing) but named in the legend as left out."""
    plt = _pyplot()
    order = wide.sum().sort_values(ascending=False, kind="stable").index
    shown = wide[order[:top]]
    fig, ax = plt.subplots(figsize=(11, 4.4), dpi=80)
    for column, colour in zip(shown.columns, colours(shown.columns)):
        ax.plot(range(len(shown)), shown[column], marker="o", markersize=3, color=colour, label=shorten(column))
    if len(order) > top:
        ax.plot([], [], color="none", label=f"({len(order) - top} others not shown)")
    _finish(fig, ax, shown.index, title, xlabel, ylabel, legend=True)
    return fig


def _finish(fig, ax, index, title: str, xlabel: str, ylabel: str, legend: bool) -> None:
    positions, labels = _tick_labels(list(index))
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(shorten(title, 90))
    ax.margins(x=0.01)
    if legend:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()


def png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed (matplotlib keeps open ones alive)."""
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def png_markdown(data: bytes, alt: str) -> str:
    """Markdown embedding a PNG (Dagster's metadata has no image type)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(data).decode()})"
