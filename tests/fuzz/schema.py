"""The OpenAPI document the fuzz stage drives: the service's own, completed here.

The routes read their parameters themselves (tolerant parsing, docs/reference.md#request-bodies), so FastAPI's
generated document has the paths and path parameters but no query parameters and no
request bodies. Until the complete document exists (issue 13), this module adds them —
every parameter each operation reads, with the types the API documents plus the
tolerated alternatives (digit strings for integers, "true"/"false" for booleans) — so
schemathesis generates the requests a client could really send, and their violations.
"""

from __future__ import annotations

import copy
from typing import Any

INTEGER: dict[str, Any] = {
    "anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?[0-9]+$"}]
}
BOOLEAN: dict[str, Any] = {"anyOf": [{"type": "boolean"}, {"enum": ["true", "false", "1", "0"]}]}
TEXT: dict[str, Any] = {"type": "string", "maxLength": 300}
URL: dict[str, Any] = {"type": "string", "format": "uri", "maxLength": 300}
# Valid numbers (so creates can succeed and reach the store), and anything phone-shaped.
VALID_PHONES = [f"+1415555{n:04d}" for n in range(1, 40)] + ["+442071838750", "0014155550100"]
PHONE: dict[str, Any] = {
    "anyOf": [
        {"enum": VALID_PHONES},
        {"type": "string", "pattern": "^\\+?[0-9 ()-]{4,20}$"},
        {"type": "integer"},
    ]
}
METHOD: dict[str, Any] = {"enum": ["GET", "POST", "get", "post"]}
TIME: dict[str, Any] = {
    "type": "string",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9:.]{5,15})?$",
}

SESSION_COMMON: dict[str, Any] = {
    "session_expiry": INTEGER,
    "call_time_limit": INTEGER,
    "ring_timeout": INTEGER,
    "record": BOOLEAN,
    "record_file_format": {"enum": ["mp3", "wav", "MP3"]},
    "recording_callback_url": URL,
    "recording_callback_method": METHOD,
    "callback_url": URL,
    "callback_method": METHOD,
    "first_party_play_url": URL,
    "second_party_play_url": URL,
}
SESSION_CREATE: dict[str, Any] = {
    "first_party": PHONE,
    "second_party": PHONE,
    **SESSION_COMMON,
    "initiate_call_to_first_party": BOOLEAN,
    "geomatch": BOOLEAN,
    "subaccount": TEXT,
    "virtual_number_cooloff_period": INTEGER,
    "create_session_with_single_party": BOOLEAN,
    "is_pin_authentication_required": BOOLEAN,
    "generate_pin": BOOLEAN,
    "generate_pin_length": INTEGER,
    "first_party_pin": {
        "anyOf": [{"type": "string", "pattern": "^[0-9]{1,20}$"}, {"type": "integer"}]
    },
    "second_party_pin": {
        "anyOf": [{"type": "string", "pattern": "^[0-9]{1,20}$"}, {"type": "integer"}]
    },
    "pin_prompt_play": URL,
    "pin_retry": INTEGER,
    "pin_retry_wait": INTEGER,
    "incorrect_pin_play": URL,
    "unknown_caller_play": URL,
    "force_pin_authentication": BOOLEAN,
}
SESSION_UPDATE: dict[str, Any] = {"first_party": PHONE, "second_party": PHONE, **SESSION_COMMON}
NUMBER_FIELDS: dict[str, Any] = {
    "alias": TEXT,
    "app_id": TEXT,
    "answer_url": URL,
    "subaccount": TEXT,
}
NUMBER_ADD: dict[str, Any] = {
    "numbers": {"anyOf": [PHONE, {"type": "array", "items": PHONE, "maxItems": 5}]},
    **NUMBER_FIELDS,
}
SUBACCOUNT: dict[str, Any] = {"name": TEXT, "enabled": BOOLEAN}
PAGING: dict[str, Any] = {"limit": INTEGER, "offset": INTEGER}
SESSION_FILTERS: dict[str, Any] = {
    **PAGING,
    "first_party": PHONE,
    "second_party": PHONE,
    "virtual_number": PHONE,
    "status": {"enum": ["active", "in-progress", "expired", "all"]},
    "subaccount": TEXT,
    **{
        f"{column}{op}": TIME
        for column in ("created_time", "expiry_time")
        for op in ("", "__gt", "__gte", "__lt", "__lte")
    },
    **{f"duration{op}": INTEGER for op in ("", "__gt", "__gte", "__lt", "__lte")},
}
NUMBER_FILTERS: dict[str, Any] = {
    **PAGING,
    "state": {"enum": ["in_service", "draining"]},
    "in_service": BOOLEAN,
    "subaccount": TEXT,
    "country": TEXT,
    "alias": TEXT,
    "number_contains": TEXT,
}
RECORDING_FILTERS: dict[str, Any] = {**PAGING, "session_uuid": TEXT, "call_uuid": TEXT}

A = "/v1/Account/{auth_id}"
#: (method, path) -> ("body" | "query", properties)
PARAMETERS: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("post", A + "/Masking/Session"): ("body", SESSION_CREATE),
    ("get", A + "/Masking/Session"): ("query", SESSION_FILTERS),
    ("post", A + "/Masking/Session/{session_uuid}"): ("body", SESSION_UPDATE),
    ("post", A + "/Number"): ("body", NUMBER_ADD),
    ("get", A + "/Number"): ("query", NUMBER_FILTERS),
    ("post", A + "/Number/{number}"): ("body", NUMBER_FIELDS),
    ("delete", A + "/Number/{number}"): ("query", {"drain": BOOLEAN}),
    ("post", A + "/Subaccount"): ("body", SUBACCOUNT),
    ("get", A + "/Subaccount"): ("query", PAGING),
    ("post", A + "/Subaccount/{sub_auth_id}"): ("body", SUBACCOUNT),
    ("get", A + "/Recording"): ("query", RECORDING_FILTERS),
}


def complete(openapi: dict[str, Any], auth_id: str, known: dict[str, list[str]]) -> dict[str, Any]:
    """``openapi`` with every operation's query parameters and body, Basic auth, and
    path parameters drawn from ``known`` values (``auth_id`` is the tenant's own, so
    requests get past authentication) or any string."""
    doc = copy.deepcopy(openapi)
    doc.setdefault("components", {})["securitySchemes"] = {
        "basic": {"type": "http", "scheme": "basic"}
    }
    doc["security"] = [{"basic": []}]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            op["responses"] = {"default": {"description": "any answer"}}
            for param in op.get("parameters", []):
                if param["in"] != "path":
                    continue
                name = param["name"]
                if name == "auth_id":
                    param["schema"] = {"enum": [auth_id]}
                else:
                    values = known.get(name, [])
                    param["schema"] = (
                        {"anyOf": [{"enum": values}, {"type": "string", "minLength": 1}]}
                        if values
                        else {"type": "string", "minLength": 1}
                    )
            where = PARAMETERS.get((method, path))
            if where is None:
                continue
            kind, properties = where
            if kind == "query":
                # the document describes these too (api/openapi.py); the fuzz stage's own
                # schemas (tolerated alternatives included) take their place, once each
                params = [
                    p
                    for p in op.get("parameters", [])
                    if not (p["in"] == "query" and p["name"] in properties)
                ]
                op["parameters"] = params + [
                    {"name": name, "in": "query", "required": False, "schema": schema}
                    for name, schema in properties.items()
                ]
            else:
                body = {"type": "object", "properties": properties}
                op["requestBody"] = {
                    "required": False,
                    "content": {
                        "application/json": {"schema": body},
                        "application/x-www-form-urlencoded": {"schema": body},
                    },
                }
    return doc
