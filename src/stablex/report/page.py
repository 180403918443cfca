"""`stablex report RUN`: one self-contained HTML page (CSS, script, figures and data inline).

Plain string assembly with `html.escape` everywhere rather than a template engine: the page
has a fixed shape, and escaping at each call site keeps corpus text from ever becoming markup.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from stablex.io import write_text
from stablex.report import data as report_data
from stablex.report.assets import CSS, JS
from stablex.report.colors import STOPS
from stablex.report.sections import SECTIONS
from stablex.report.svg import esc
from stablex.rundir import Run


def script_json(obj: object) -> str:
    """JSON safe inside <script>: '<', '>' and '&' as \\u escapes, so no text can close the
    element or open a comment; JSON.parse reads them back unchanged."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(d: report_data.ReportData) -> str:
    """The whole page as one string."""
    m = d.manifest
    seeds = len(d.accuracy["by_seed"]) if d.accuracy else 0
    model = m.get("model", {})
    model_name = model.get("name") or model.get("id") if isinstance(model, dict) else model
    sub = " · ".join(
        x
        for x in (
            f"{seeds} seeds" if seeds else "",
            f"model {model_name}" if model_name else "",
            f"classes {', '.join(d.classes)}" if d.classes else "",
            f"built {time.strftime('%Y-%m-%d %H:%M')}",
        )
        if x
    )
    nav = "".join(f'<a href="#{sid}">{esc(label)}</a>' for sid, label, _ in SECTIONS)
    body = "".join(fn(d) for _, _, fn in SECTIONS)
    payload = ""
    if d.viewer and d.viewer["texts"]:
        payload = (
            f'<script type="application/json" id="viewer-data">'
            f"{script_json({**d.viewer, 'palette': list(STOPS)})}</script><script>{JS}</script>"
        )
    name = d.run_dir.resolve().name
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>stablex report: {esc(name)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>How stable are the explanations? <span class="ci">run {esc(name)}</span></h1>'
        f"<p>{esc(sub)}</p></header><nav>{nav}</nav><main>{body}</main>{payload}</body></html>\n"
    )


def build_report(run_dir: str | Path) -> Path:
    """Write RUN/report/index.html from whatever stages the run has done; return its path."""
    run_dir = Path(run_dir)
    d = report_data.load(run_dir)
    out = Run(run_dir).report_path
    write_text(out, render(d))
    return out
