"""Privacy: consent (one change, or a file at scale), erasure with its verification and
suppression, export, retention and the daily audit. Backends come in as parameters; the places
outside the document store (live state, the queues) come in as `TraceHolder`s."""

from __future__ import annotations

from .audit import AuditReport, Check, clean_analytics_data, latest_audit, run_audit
from .consent import ConsentImport, change_consent, import_consent_file, import_consent_rows
from .erasure import (
    Erasure,
    TraceHolder,
    open_requests,
    request_erasure,
    requests,
    run_erasures,
    subject_of,
    unsuppress,
    verify,
)
from .export import ExportReport, export_document, export_user
from .identifiers import stored_user_id
from .retention import CleanupReport, cleanup, survey

__all__ = [
    "AuditReport", "Check", "CleanupReport", "ConsentImport", "Erasure", "ExportReport",
    "TraceHolder", "change_consent", "clean_analytics_data", "cleanup", "export_document",
    "export_user", "import_consent_file", "import_consent_rows", "latest_audit",
    "open_requests", "request_erasure", "requests", "run_audit", "run_erasures",
    "stored_user_id", "subject_of", "survey", "unsuppress", "verify",
]
