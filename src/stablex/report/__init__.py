"""The report stage: `build_report(run_dir)` writes RUN/report/index.html (see docs/report.md)."""

from stablex.report.page import build_report

__all__ = ["build_report"]
