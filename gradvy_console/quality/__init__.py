"""Data quality: the assessment (checks, score, history, running aggregates) over the stored
events, documents and counters. The rules themselves are pure, in `analytics.quality`."""

from .assessment import (
    ASSESSMENTS,
    Check,
    QualityReport,
    latest_assessment,
    load_state,
    out_of_range_fields,
    parse_since,
    run_assessment,
)

__all__ = ["ASSESSMENTS", "Check", "QualityReport", "latest_assessment", "load_state",
           "out_of_range_fields", "parse_since", "run_assessment"]
