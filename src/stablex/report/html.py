"""HTML building blocks every report section uses (a section, a table, an interval, the note of
a missing artefact): below the sections, so that no section module imports another for them."""

from __future__ import annotations

from typing import Any

from stablex.report.data import COMMANDS
from stablex.report.svg import esc, num


def missing(stage: str, what: str) -> str:
    return (
        f'<div class="missing" data-missing="{esc(stage)}"><strong>Not available yet.</strong> {esc(what)} '
        f"Run <code>{esc(COMMANDS[stage])}</code>, then <code>stablex report RUN</code> again.</div>"
    )


def section(sid: str, title: str, body: str, lead: str = "") -> str:
    intro = f'<p class="lead">{lead}</p>' if lead else ""
    return f'<section id="{sid}" data-section="{sid}"><h2>{esc(title)}</h2>{intro}{body}</section>'


def interval(ci: Any, digits: int = 3) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f" [{num(ci[0], digits)}, {num(ci[1], digits)}]"


def table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """`rows` hold HTML already escaped by the caller."""
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def signed_interval(ci: Any, digits: int = 3) -> str:
    """A difference's interval, with signs (`interval` prints unsigned values)."""
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f'<span class="ci"> [{ci[0]:+.{digits}f}, {ci[1]:+.{digits}f}]</span>'
