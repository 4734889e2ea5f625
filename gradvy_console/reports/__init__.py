"""Analytics reports of a day, a week or a month: computed from the stored events, written as
Markdown, CSV and JSON files, and kept with their history. The figures are pure, in
`analytics.reports`."""

from .build import FORMATS, PERIODS, REPORTS, Report, generate, report_history

__all__ = ["FORMATS", "PERIODS", "REPORTS", "Report", "generate", "report_history"]
