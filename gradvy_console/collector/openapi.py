"""The collector's OpenAPI 3.0 document, served at `/openapi.json`. Written out rather than
derived: it is the contract a frontend codes against, and the fuzz test
(tests/test_collector_fuzz.py) holds the server to it."""

from __future__ import annotations

from typing import Any

from ..analytics.events import REASONS

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A short code (`unknown_key`, ...)."},
        "message": {"type": "string", "description": "One sentence: what is wrong, and the "
                                                     "fix."},
    },
}


def _error(description: str, retry_after: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description,
                           "content": {"application/json": {"schema": {
                               "$ref": "#/components/schemas/Error"}}}}
    if retry_after:
        out["headers"] = {"Retry-After": {"description": "Seconds to wait before sending "
                                                         "again.",
                                          "schema": {"type": "integer", "minimum": 1}}}
    return out


_EVENT = {
    "type": "object",
    "description": "One learner event. `user_id`, `event_type` and `timestamp` (ISO 8601) are "
                   "required; an event without them is answered `rejected` with its reason, "
                   "like any invalid event. Other keys are kept as sent.",
    "properties": {
        "event_id": {"type": "string", "description": "The client's id; derived from the "
                                                      "content when absent."},
        "user_id": {"type": "string"},
        "event_type": {"type": "string", "example": "course_interaction"},
        "timestamp": {"type": "string", "example": "2026-12-01T10:00:00Z"},
        "session_id": {"type": "string"},
        "sent_at": {"type": "string", "description": "When the client sent it, by its own "
                                                     "clock: corrects the client's skew."},
        "properties": {"type": "object", "additionalProperties": True},
    },
    "additionalProperties": True,
}

_WRITE_AUTH: list[dict[str, list[str]]] = [{"bearer": []}, {"basic": []}, {"header": []},
                                           {"query": []}]

_KEYED_ERRORS = {
    "400": _error("The body cannot be read (empty, not JSON, broken gzip)."),
    "401": _error("No write key was presented."),
    "403": _error("The write key is unknown, or not allowed from this browser origin."),
    "413": _error("The body or its number of events is over the limit."),
    "415": _error("The Content-Type or Content-Encoding is not accepted."),
    "429": _error("Over the write key's rate limit.", retry_after=True),
    "503": _error("The inbox backlog is over its limit, or the store cannot be reached.",
                  retry_after=True),
}


def _body(schema_ref: str, what: str) -> dict[str, Any]:
    item = {"$ref": schema_ref}
    return {
        "required": True,
        "description": f"One {what}, an array of them, or `{{\"batch\": [...], \"sent_at\": "
                       f"...}}` (JSON); or one per line (NDJSON). `Content-Encoding: gzip` is "
                       "accepted.",
        "content": {
            "application/json": {"schema": {"oneOf": [
                item, {"type": "array", "items": item, "minItems": 1},
                {"type": "object", "required": ["batch"], "properties": {
                    "batch": {"type": "array", "items": item, "minItems": 1},
                    "sent_at": {"type": "string"}}}]}},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }


def _preflight(path: str) -> dict[str, Any]:
    return {"summary": f"CORS preflight for {path}",
            "security": [],
            "responses": {"204": {"description": "The origin may send with a key that allows "
                                                 "it."},
                          "403": {"description": "No write key allows this origin."}}}


def document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Gradvy event collector", "version": version,
                 "description": "Learner events and consent changes from web and mobile "
                                "frontends. Every event gets its own outcome; an event "
                                "answered `accepted` is durably in the inbox before the "
                                "answer is sent."},
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Send events",
                    "security": _WRITE_AUTH,
                    "parameters": [{"name": "X-Sent-At", "in": "header", "required": False,
                                    "description": "When the client sent the request, by its "
                                                   "own clock (`sent_at` for every event).",
                                    "schema": {"type": "string"}}],
                    "requestBody": _body("#/components/schemas/Event", "event"),
                    "responses": {"200": {"description": "Each event's outcome.",
                                          "content": {"application/json": {"schema": {
                                              "$ref": "#/components/schemas/EventsResult"}}}},
                                  **_KEYED_ERRORS},
                },
                "options": _preflight("/v1/events"),
            },
            "/v1/consent": {
                "post": {
                    "summary": "Record consent changes (the consent ledger)",
                    "security": _WRITE_AUTH,
                    "requestBody": _body("#/components/schemas/ConsentChange",
                                         "consent change"),
                    "responses": {"200": {"description": "Rows accepted and added, and each "
                                                         "rejected row with its reason.",
                                          "content": {"application/json": {"schema": {
                                              "$ref": "#/components/schemas/ConsentResult"}}}},
                                  **_KEYED_ERRORS},
                },
                "options": _preflight("/v1/consent"),
            },
            "/healthz": {"get": {
                "summary": "The process answers", "security": [],
                "responses": {"200": {"description": "Alive.", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}},
            }},
            "/readyz": {"get": {
                "summary": "The store and the queues can be reached", "security": [],
                "responses": {
                    "200": {"description": "Ready.", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Ready"}}}},
                    "503": {"description": "Not ready: which check failed.", "content": {
                        "application/json": {"schema": {
                            "$ref": "#/components/schemas/Ready"}}}}},
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics (text format)", "security": [],
                "responses": {"200": {"description": "Metrics.", "content": {
                    "text/plain": {"schema": {"type": "string"}}}}},
            }},
            "/openapi.json": {"get": {
                "summary": "This document", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.0.", "content": {
                    "application/json": {"schema": {"type": "object"}}}}},
            }},
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic",
                          "description": "The write key as the user name, no password "
                                         "(Segment's way)."},
                "header": {"type": "apiKey", "in": "header", "name": "X-Write-Key"},
                "query": {"type": "apiKey", "in": "query", "name": "key",
                          "description": "For navigator.sendBeacon, which sets no header."},
            },
            "schemas": {
                "Error": _ERROR,
                "Event": _EVENT,
                "EventResult": {
                    "type": "object",
                    "required": ["index", "event_id", "outcome"],
                    "properties": {
                        "index": {"type": "integer", "minimum": 0},
                        "event_id": {"type": "string", "nullable": True},
                        "outcome": {"type": "string", "enum": ["accepted", "duplicate",
                                                               "rejected", "suppressed"]},
                        "reason": {"type": "string", "enum": sorted(REASONS),
                                   "description": "Why it was rejected (the dead-letter "
                                                  "reason)."},
                        "detail": {"type": "string"},
                    },
                },
                "EventsResult": {
                    "type": "object",
                    "required": ["received_at", "accepted", "duplicate", "rejected",
                                 "suppressed", "results"],
                    "properties": {
                        "received_at": {"type": "string"},
                        "accepted": {"type": "integer", "minimum": 0},
                        "duplicate": {"type": "integer", "minimum": 0},
                        "rejected": {"type": "integer", "minimum": 0},
                        "suppressed": {"type": "integer", "minimum": 0},
                        "results": {"type": "array", "items": {
                            "$ref": "#/components/schemas/EventResult"}},
                    },
                },
                "ConsentChange": {
                    "type": "object",
                    "description": "The consent file's row: `granted` and `revoked` are lists "
                                   "of purposes (or `;`-separated text).",
                    "properties": {
                        "user_id": {"type": "string"},
                        "granted": {"oneOf": [{"type": "array", "items": {"type": "string"}},
                                              {"type": "string"}]},
                        "revoked": {"oneOf": [{"type": "array", "items": {"type": "string"}},
                                              {"type": "string"}]},
                        "method": {"type": "string"},
                        "notice_version": {"type": "string"},
                        "legal_basis": {"type": "string"},
                        "time": {"type": "string"},
                    },
                    "additionalProperties": True,
                },
                "ConsentResult": {
                    "type": "object",
                    "required": ["rows", "accepted", "added", "rejected"],
                    "properties": {
                        "rows": {"type": "integer", "minimum": 0},
                        "accepted": {"type": "integer", "minimum": 0},
                        "added": {"type": "integer", "minimum": 0},
                        "rejected": {"type": "array", "items": {
                            "type": "object", "required": ["index", "reason"],
                            "properties": {"index": {"type": "integer", "minimum": 0},
                                           "reason": {"type": "string"}}}},
                    },
                },
                "Health": {"type": "object", "required": ["status"],
                           "properties": {"status": {"type": "string", "enum": ["ok"]},
                                          "pid": {"type": "integer"}}},
                "Ready": {"type": "object", "required": ["status", "checks"],
                          "properties": {
                              "status": {"type": "string", "enum": ["ready", "not_ready"]},
                              "checks": {"type": "object", "additionalProperties": {
                                  "type": "string"}}}},
            },
        },
    }
