"""The inspection report: one self-contained HTML page (plotly.js embedded, nothing fetched when it is viewed) and the
numbers behind it as CSV and JSON files beside it, in a folder written in one step.

When every figure has been drawn the page sets `data-plots` on its body to how many were drawn (and `data-errors`
to the number of script errors seen): a browser test reads them."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lstmcast import __version__
from lstmcast.files.atomic import MARKER as MARKER_FILE
from lstmcast.files.atomic import marker_kind, write_marker
from lstmcast.files.reading import MiB, holds_only, peek_json

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"
MARKER = "lstmcast-inspection"  # in summary.json and the folder's marker file: what --force may replace
TABLES = ("forecasts", "gate_saturation", "units", "tracking", "tracking_units", "attribution_lags", "completeness",
          "drift", "probes", "decoder_gate_saturation", "decoder_units")
FILES = frozenset({REPORT_FILE, SUMMARY_FILE, MARKER_FILE, *(f"{name}.csv" for name in TABLES)})

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1300px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
p.why { color: #555; max-width: 60rem; } table { border-collapse: collapse; font-size: 0.85rem; margin: 0.6rem 0; }
td, th { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: right; } th { background: #f5f5f5; }
td:first-child, th:first-child { text-align: left; }
nav a { margin-right: 1rem; }
"""

READY = r"""
window.addEventListener("error", () => {
  document.body.dataset.errors = String(1 + Number(document.body.dataset.errors || 0));
});
const DATED = ["states-0", "states-1", "drift-0"];  // figures over the origins: zoom one, the others follow
function linkDates() {
  const graphs = DATED.map(id => document.getElementById(id)).filter(g => g && g.on);
  let busy = false;
  graphs.forEach(source => source.on("plotly_relayout", event => {
    if (busy) { return; }
    const update = {};
    for (const [key, value] of Object.entries(event)) {
      const found = key.match(/^xaxis[0-9]*\.(range\[0\]|range\[1\]|range|autorange)$/);
      if (found) { update["xaxis." + found[1]] = value; }
    }
    if (Object.keys(update).length === 0) { return; }
    busy = true;
    Promise.all(graphs.filter(g => g !== source).map(g => Plotly.relayout(g, update)))
      .finally(() => { busy = false; });
  }));
}
window.addEventListener("load", () => {
  linkDates();
  const graphs = Array.from(document.querySelectorAll(".plotly-graph-div"));
  const drawn = () => graphs.filter(g => g.classList.contains("js-plotly-plot") && g.querySelector(".main-svg"));
  const settle = () => {
    if (drawn().length === graphs.length) { document.body.dataset.plots = String(graphs.length); }
    else { setTimeout(settle, 50); }
  };
  settle();
});
"""


@dataclass
class Section:
    anchor: str
    title: str
    why: str  # what the section answers, in a sentence or two
    figures: list[Any] = field(default_factory=list)  # Plotly figures
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (caption, table)
    lines: list[str] = field(default_factory=list)  # plain sentences (escaped)


def _table(caption: str, table: pd.DataFrame) -> str:
    body = table.to_html(index=False, escape=True, float_format=lambda v: f"{v:.4g}", border=0, na_rep="—")
    return f"<p><b>{html.escape(caption)}</b></p>{body}"


def _section(section: Section) -> str:
    parts = [f'<h2 id="{section.anchor}">{html.escape(section.title)}</h2>',
             f'<p class="why">{html.escape(section.why)}</p>']
    parts += [f"<p>{html.escape(line)}</p>" for line in section.lines]
    for index, figure in enumerate(section.figures):
        parts.append(figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"{section.anchor}-{index}",
                                    config={"displaylogo": False, "responsive": True}))
    parts += [_table(caption, table) for caption, table in section.tables]
    return "\n".join(parts)


def render(title: str, header: list[str], sections: list[Section]) -> str:
    """The whole page as text."""
    from plotly.offline import get_plotlyjs

    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = "\n".join(_section(section) for section in sections)
    lines = "".join(f"<p>{html.escape(line)}</p>" for line in header)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style><script>{READY}</script><script>{get_plotlyjs()}</script></head>"
            f"<body><h1>{html.escape(title)}</h1>{lines}<nav>{nav}</nav>{body}"
            f'<p class="why">Written by lstmcast {html.escape(__version__)}.</p></body></html>\n')


def write_report(folder: Path, page: str, summary: dict[str, Any], tables: dict[str, pd.DataFrame]) -> None:
    """report.html, summary.json (with the format marker) and one CSV per table, into an empty folder."""
    (folder / REPORT_FILE).write_text(page, encoding="utf-8")
    (folder / SUMMARY_FILE).write_text(json.dumps({"format": MARKER, **summary}, indent=2, allow_nan=False,
                                                  default=str) + "\n")
    for name, table in tables.items():
        assert name in TABLES, name  # is_report must know every file the report holds
        table.to_csv(folder / f"{name}.csv", index=False)
    write_marker(folder, MARKER)


def is_report(path: Path) -> bool:
    """A folder lstmcast inspect wrote and nobody added to (so --force may replace it): only the report's own file
    names, and its marker (or, for reports written before the marker, summary.json's format field)."""
    if not path.is_dir() or not holds_only(path, FILES.__contains__):
        return False
    if marker_kind(path) == MARKER:
        return True
    summary = peek_json(path / SUMMARY_FILE, limit=64 * MiB)
    return summary is not None and summary.get("format") == MARKER
