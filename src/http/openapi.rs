//! The OpenAPI 3.1 document of the customer API, written by hand and checked against the
//! routes by a test (tests/api.rs: every documented operation is routed, every other method
//! on a documented path is refused).

use serde_json::{json, Value};

fn problem_responses(codes: &[&str]) -> Value {
    let mut responses = serde_json::Map::new();
    for code in codes {
        responses.insert(
            (*code).to_string(),
            json!({"description": "problem details (RFC 9457)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
        );
    }
    Value::Object(responses)
}

fn operation(summary: &str, ok_code: &str, ok_schema: Value, errors: &[&str], body: Option<Value>, secured: bool) -> Value {
    let mut responses = problem_responses(errors);
    responses[ok_code] = json!({"description": "success", "content": {"application/json": {"schema": ok_schema}}});
    let mut op = json!({"summary": summary, "responses": responses});
    if let Some(schema) = body {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    if secured {
        op["security"] = json!([{"bearer": []}]);
    }
    op
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn idempotent(mut op: Value) -> Value {
    op["parameters"] = json!([{"name": "Idempotency-Key", "in": "header", "required": false,
        "description": "1-255 visible ASCII characters; a repeat gets the first response (kept 24 h), a different body 422, a concurrent repeat 409",
        "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"}}]);
    op
}

/// A transfer or payment: 201 when every leg is here, 202 pending when a leg is at another bank,
/// or 200 with the final state when the client asked to wait (`Prefer: wait=N`, RFC 7240).
fn may_wait(mut op: Value) -> Value {
    op["parameters"].as_array_mut().expect("idempotent first").push(json!({"name": "Prefer", "in": "header", "required": false,
        "description": "wait=N (seconds, at most 30): answer 200 with the final state once the two-phase commit decides, or 202 if it has not by then",
        "schema": {"type": "string", "pattern": "^wait=[0-9]{1,5}$"}}));
    op["responses"]["202"] = json!({"description": "accepted: a leg is at another bank; poll GET /api/v1/transfers/{id}",
        "content": {"application/json": {"schema": schema("Posted")}}});
    op["responses"]["200"] = json!({"description": "the final state, under Prefer: wait",
        "content": {"application/json": {"schema": schema("Transfer")}}});
    op
}

/// The whole document: the base below and the Pix paths (super::openapi_pix).
pub fn document() -> Value {
    let mut document = base_document();
    super::openapi_pix::add(&mut document);
    document
}

fn base_document() -> Value {
    let money_errors = ["400", "401", "404", "409", "413", "422"];
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {"title": "ringbank customer API", "version": "1"},
        "paths": {
            "/healthz": {"get": operation("liveness", "200", json!({"type": "object"}), &[], None, false)},
            "/api/v1/openapi.json": {"get": operation("this document", "200", json!({"type": "object"}), &[], None, false)},
            "/api/v1/customers": {"post": operation("register a customer (CPF or CNPJ)", "201", schema("Customer"), &["400", "409", "413", "422"], Some(schema("NewCustomer")), false)},
            "/api/v1/sessions": {
                "post": operation("sign in", "200", schema("Session"), &["400", "401", "422", "429"], Some(schema("SignIn")), false),
                "delete": {"summary": "sign out", "security": [{"bearer": []}], "responses": {"204": {"description": "signed out"}, "401": problem_responses(&["401"])["401"].clone()}}
            },
            "/api/v1/accounts": {
                "get": operation("the caller's accounts at this bank", "200", json!({"type": "array", "items": schema("Account")}), &["401"], None, true),
                "post": operation("open an account", "201", schema("Account"), &["400", "401", "409", "413", "422"], Some(schema("NewAccount")), true)
            },
            "/api/v1/accounts/{number}": {
                "parameters": [{"name": "number", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": operation("one account the caller holds", "200", schema("Account"), &["401", "404"], None, true)
            },
            "/api/v1/accounts/{number}/acceptance": {
                "parameters": [{"name": "number", "in": "path", "required": true, "schema": schema("AccountNumber")}],
                "post": operation("a co-holder named in a joint account accepts it (until every one has, it moves no money)", "200", schema("Account"), &["401", "404"], None, true)
            },
            "/api/v1/accounts/{number}/statement": {
                "parameters": [
                    {"name": "number", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
                    {"name": "before", "in": "query", "required": false, "description": "next_before of the previous page", "schema": {"type": "integer", "format": "int64"}}
                ],
                "get": operation("statement, newest first", "200", schema("Statement"), &["401", "404", "422"], None, true)
            },
            "/api/v1/deposits": {"post": idempotent(operation("deposit cash", "201", schema("Posted"), &money_errors, Some(schema("CashOperation")), true))},
            "/api/v1/withdrawals": {"post": idempotent(operation("withdraw cash", "201", schema("Posted"), &money_errors, Some(schema("CashOperation")), true))},
            "/api/v1/transfers": {"post": may_wait(idempotent(operation("transfer between accounts (several debits and credits)", "201", schema("Posted"), &money_errors, Some(schema("NewTransfer")), true)))},
            "/api/v1/transfers/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": operation("a transfer or payment the caller made", "200", schema("Transfer"), &["401", "404"], None, true)
            },
            "/api/v1/consents": {
                "get": operation("the consents the caller granted at this bank, newest first", "200", json!({"type": "array", "items": schema("Consent")}), &["401"], None, true),
                "post": operation("allow another member bank to debit one of the caller's accounts here, within limits, until it expires or is revoked", "201", schema("Consent"), &["400", "401", "404", "409", "413", "422"], Some(schema("NewConsent")), true)
            },
            "/api/v1/consents/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": operation("one consent the caller granted", "200", schema("Consent"), &["401", "404"], None, true),
                "delete": operation("revoke a consent: the next debit under it is refused", "200", schema("Consent"), &["401", "404"], None, true)
            },
            "/api/v1/linked-consents": {
                "get": operation("the consents the caller brought to this bank from other banks", "200", json!({"type": "array", "items": schema("LinkedConsent")}), &["401"], None, true),
                "post": operation("bring a consent granted to this bank at another bank (confirmed there)", "201", schema("LinkedConsent"), &["400", "401", "404", "413", "422", "503"], Some(schema("LinkConsent")), true)
            },
            "/api/v1/payments": {"post": may_wait(idempotent(operation("pay a company account, with a reference", "201", schema("Posted"), &money_errors, Some(schema("NewPayment")), true)))},
            "/admin/v1/audit": {"get": {"summary": "ledger audit (admin secret as bearer token)", "security": [{"bearer": []}],
                "responses": {"200": {"description": "report", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "401": problem_responses(&["401"])["401"].clone(), "403": problem_responses(&["403"])["403"].clone(), "429": problem_responses(&["429"])["429"].clone()}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "instance"], "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                    "detail": {"type": "string"}, "instance": {"type": "string"}}},
                "NewCustomer": {"type": "object", "additionalProperties": false, "required": ["document", "name", "password"], "properties": {
                    "document": schema("Document"),
                    "name": {"type": "string", "minLength": 1, "maxLength": 120, "description": "visible characters; no control or bidirectional control characters"},
                    "password": {"type": "string", "minLength": 8, "maxLength": 128, "description": "not a common or trivial password, nor the document or the name"}}},
                "Document": {"type": "string", "description": "CPF or CNPJ (numeric or alphanumeric), with or without punctuation", "pattern": "^[0-9A-Za-z./ -]{11,20}$"},
                "AccountNumber": {"type": "string", "pattern": "^[0-9]{1,20}$"},
                "BankId": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"},
                "Customer": {"type": "object", "properties": {"document": {"type": "string"}, "name": {"type": "string"}}},
                "SignIn": {"type": "object", "additionalProperties": false, "required": ["document", "password"], "properties": {"document": schema("Document"), "password": {"type": "string"}}},
                "Session": {"type": "object", "properties": {"token": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}},
                "NewAccount": {"type": "object", "additionalProperties": false, "required": ["kind"], "properties": {
                    "kind": {"enum": ["individual", "joint", "company"]},
                    "holders": {"type": "array", "items": schema("Document"), "maxItems": 8, "description": "documents; the caller is always a holder"}}},
                "Account": {"type": "object", "properties": {
                    "bank": {"type": "string"}, "number": {"type": "string"}, "kind": {"type": "string"},
                    "holders": {"type": "array", "items": {"type": "string"}},
                    "pending_holders": {"type": "array", "items": {"type": "string"}, "description": "present while a co-holder has not accepted; the account moves no money until then"},
                    "balance_cents": {"type": "integer"}, "available_cents": {"type": "integer"}}},
                "Statement": {"type": "object", "properties": {
                    "account": {"type": "string"}, "next_before": {"type": ["integer", "null"]},
                    "entries": {"type": "array", "items": {"type": "object", "properties": {
                        "entry_id": {"type": "string"}, "kind": {"type": "string"}, "description": {"type": "string"},
                        "amount_cents": {"type": "integer"}, "balance_after_cents": {"type": "integer"},
                        "line": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"}}}}}},
                "CashOperation": {"type": "object", "additionalProperties": false, "required": ["account", "amount_cents"], "properties": {
                    "account": schema("AccountNumber"), "amount_cents": {"type": "integer", "minimum": 1, "maximum": 100_000_000i64, "description": "at most the bank's --max-amount-cents"}}},
                "Leg": {"type": "object", "additionalProperties": false, "required": ["bank", "account", "amount_cents"], "properties": {
                    "bank": schema("BankId"), "account": schema("AccountNumber"), "amount_cents": {"type": "integer", "minimum": 1, "maximum": 100_000_000i64},
                    "consent": {"allOf": [schema("ConsentId")], "description": "a debit at another bank: the consent its holder granted this bank there (absent: the newest one brought here for that account); not allowed on a credit or a debit here (422)"}}},
                "ConsentId": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "NewConsent": {"type": "object", "additionalProperties": false, "required": ["grantee", "account", "max_per_transfer_cents", "max_total_cents", "valid_for_seconds"], "properties": {
                    "grantee": schema("BankId"), "account": schema("AccountNumber"),
                    "max_per_transfer_cents": {"type": "integer", "minimum": 1, "maximum": 100_000_000i64},
                    "max_total_cents": {"type": "integer", "minimum": 1, "format": "int64", "description": "at least max_per_transfer_cents"},
                    "valid_for_seconds": {"type": "integer", "minimum": 1, "maximum": 31_622_400i64}},
                    "description": "grantee is another member bank; the caller holds the account (a joint account once every co-holder accepted it)"},
                "Consent": {"type": "object", "properties": {
                    "id": {"type": "string"}, "bank": {"type": "string"}, "grantee": {"type": "string"}, "account": {"type": "string"},
                    "max_per_transfer_cents": {"type": "integer"}, "max_total_cents": {"type": "integer"},
                    "used_cents": {"type": "integer", "description": "what prepared and committed debits use of max_total_cents"},
                    "status": {"enum": ["active", "revoked", "expired"]},
                    "expires_at": {"type": "string", "format": "date-time"}, "created_at": {"type": "string", "format": "date-time"}}},
                "LinkConsent": {"type": "object", "additionalProperties": false, "required": ["bank", "consent"], "properties": {
                    "bank": schema("BankId"), "consent": schema("ConsentId")}},
                "LinkedConsent": {"type": "object", "properties": {"bank": {"type": "string"}, "consent": {"type": "string"}, "account": {"type": "string"}}},
                "NewTransfer": {"type": "object", "additionalProperties": false, "required": ["debits", "credits"], "properties": {
                    "debits": {"type": "array", "items": schema("Leg"), "minItems": 1, "maxItems": 15},
                    "credits": {"type": "array", "items": schema("Leg"), "minItems": 1, "maxItems": 15},
                    "description": {"type": "string", "maxLength": 140}},
                    "description": "debits and credits sum to the same amount; at most --max-legs (16) legs in all"},
                "NewPayment": {"type": "object", "additionalProperties": false, "required": ["from_account", "to", "amount_cents", "reference"], "properties": {
                    "from_account": schema("AccountNumber"),
                    "to": {"type": "object", "additionalProperties": false, "required": ["bank", "account"], "properties": {"bank": schema("BankId"), "account": schema("AccountNumber")}},
                    "amount_cents": {"type": "integer", "minimum": 1, "maximum": 100_000_000i64}, "reference": {"type": "string", "minLength": 1, "maxLength": 140}}},
                "Posted": {"type": "object", "properties": {"id": {"type": "string"}, "status": {"enum": ["pending", "committed", "aborted"]}}},
                "Transfer": {"type": "object", "properties": {
                    "id": {"type": "string"}, "kind": {"type": "string"}, "status": {"enum": ["pending", "committed", "aborted"]},
                    "reason": {"type": ["string", "null"]}, "description": {"type": "string"},
                    "debits": {"type": "array", "items": schema("Leg")}, "credits": {"type": "array", "items": schema("Leg")},
                    "created_at": {"type": "string", "format": "date-time"},
                    "receipt": schema("Receipt")}},
                "Receipt": receipt_schema()
            }
        }
    });
    money_paths(&mut document);
    document
}

/// A transfer's signed receipt (ringbank_domain::SignedDecision).
fn receipt_schema() -> Value {
    json!({"type": "object", "description": "the coordinating bank's Ed25519 signature over its decision on a cross-bank transfer \
                    (canonical text in the signing domain ringbank-decision-v1: transfer, coordinator, decision, kind, stamp, legs); check it with `ringbank verify` or the /verify page",
                    "required": ["transfer_id", "coordinator", "decision", "kind", "stamp", "legs", "signature"], "properties": {
                    "transfer_id": {"type": "string"}, "coordinator": schema("BankId"), "decision": {"enum": ["commit", "abort"]}, "kind": {"type": "string"},
                    "stamp": {"type": "object", "required": ["epoch", "seq", "position"], "properties": {
                        "epoch": {"type": "integer", "minimum": 0}, "seq": {"type": "integer", "minimum": 0}, "position": {"type": "integer", "minimum": 0}}},
                    "legs": {"type": "array", "description": "negative amounts are debits, positive ones credits", "items": {"type": "object",
                        "required": ["bank", "account", "amount_cents"], "properties": {"bank": schema("BankId"), "account": {"type": "string"}, "amount_cents": {"type": "integer"}}}},
                    "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"}}})
}

/// The paths and schemas of issue 15 (refunds, scheduled transfers, limits), added to the
/// document apart (one json! of everything passes the macro recursion limit).
fn money_paths(document: &mut Value) {
    let mut refund_post = idempotent(operation("refund (devolução) a transfer or payment the caller received, fully or in parts, within 90 days: from the account it credited back to the account it debited (at this bank or the payer's); the refunds of one transfer never add up to more than it credited", "201", schema("Refunded"), &["400", "401", "404", "409", "413", "422", "503"], Some(schema("NewRefund")), true));
    refund_post["responses"]["202"] = json!({"description": "pending: the original came from another bank; poll GET /api/v1/transfers/{refund id}",
        "content": {"application/json": {"schema": schema("Refunded")}}});
    let paths = json!({
            "/api/v1/transfers/{id}/refunds": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": operation("the refunds of a transfer the caller took part in (as its receiver or its payer), and their total", "200", schema("Refunds"), &["401", "404"], None, true),
                "post": refund_post
            },
            "/api/v1/schedules": {
                "get": operation("the caller's scheduled transfers, newest first, each with the runs of its occurrences", "200", json!({"type": "array", "items": schema("Schedule")}), &["401"], None, true),
                "post": operation("schedule a transfer from the caller's account for a local date and time (the bank's time zone), once, weekly or monthly; each occurrence is made once, like any transfer (limits, funds), or fails with its reason", "201", schema("Schedule"), &["400", "401", "404", "409", "413", "422"], Some(schema("NewSchedule")), true)
            },
            "/api/v1/schedules/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": operation("one scheduled transfer of the caller, with its runs", "200", schema("Schedule"), &["401", "404"], None, true),
                "delete": operation("cancel a scheduled transfer: no further occurrence is made (those made stay)", "200", schema("Schedule"), &["401", "404"], None, true)
            },
            "/api/v1/accounts/{number}/limits": {
                "parameters": [{"name": "number", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": operation("the account's transfer limits in force (per transfer, per day, at night 20:00-06:00 local time), what is left of them now, and a raise waiting", "200", schema("Limits"), &["401", "404"], None, true),
                "put": operation("change the account's limits: a field left out keeps its value, null is no limit; a lower limit applies at once, a higher one only after the bank's raise delay (24 h by default)", "200", schema("Limits"), &["400", "401", "404", "413", "422"], Some(schema("LimitsChange")), true)
            },
            "/api/v1/limits": {
                "get": operation("the caller's own limits over every account they hold here (none until they set some), what the debits they made used and what is left now, and a raise waiting; a debit must fit both its account's limits and its initiator's", "200", schema("Limits"), &["401"], None, true),
                "put": operation("change the caller's own limits, by the same rules as an account's: a field left out keeps its value, null is no limit, lower at once, higher only after the raise delay", "200", schema("Limits"), &["400", "401", "413", "422"], Some(schema("LimitsChange")), true)
            }
    });
    let schemas = json!({
                "NewSchedule": {"type": "object", "additionalProperties": false, "required": ["from_account", "to", "amount_cents", "first_at"], "properties": {
                    "from_account": {"type": "string", "pattern": "^[0-9]{1,20}$"},
                    "to": {"type": "object", "required": ["bank", "account"], "properties": {"bank": {"type": "string"}, "account": {"type": "string"}}},
                    "amount_cents": {"type": "integer", "minimum": 1},
                    "description": {"type": "string", "maxLength": 140},
                    "first_at": {"type": "string", "description": "local date and time, YYYY-MM-DDTHH:MM, in the bank's time zone"},
                    "repeat": {"type": "string", "enum": ["once", "weekly", "monthly"]},
                    "occurrences": {"type": "integer", "minimum": 1, "maximum": 520}}},
                "Schedule": {"type": "object", "properties": {
                    "id": {"type": "string"}, "owner": {"type": "string"}, "repeat": {"type": "string"}, "first_local": {"type": "string"},
                    "from_account": {"type": "string"}, "to_bank": {"type": "string"}, "to_account": {"type": "string"},
                    "amount_cents": {"type": "integer"}, "description": {"type": "string"}, "occurrences_max": {"type": ["integer", "null"]},
                    "next_occurrence": {"type": "integer"}, "next_at_ms": {"type": ["integer", "null"]}, "next_at": {"type": ["string", "null"]},
                    "status": {"type": "string", "enum": ["active", "cancelled", "finished"]}, "created_at_ms": {"type": "integer"},
                    "runs": {"type": "array", "items": {"type": "object", "properties": {
                        "occurrence": {"type": "integer"}, "due_at_ms": {"type": "integer"}, "ran_at_ms": {"type": "integer"},
                        "status": {"type": "string", "enum": ["committed", "pending", "failed", "missed"]},
                        "transfer_id": {"type": ["string", "null"]}, "reason": {"type": ["string", "null"]}}}}}},
                "NewRefund": {"type": "object", "additionalProperties": false, "required": ["account", "amount_cents"], "properties": {
                    "account": {"type": "string", "pattern": "^[0-9]{1,20}$"},
                    "amount_cents": {"type": "integer", "minimum": 1},
                    "description": {"type": "string", "maxLength": 80}}},
                "Refunded": {"type": "object", "properties": {
                    "id": {"type": "string"}, "status": {"type": "string"}, "refund_of": {"type": "string"}}},
                "Refunds": {"type": "object", "properties": {
                    "refund_of": {"type": "string"},
                    "refunded_cents": {"type": "integer"},
                    "refunds": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "status": {"type": "string"}, "from_bank": {"type": "string"},
                        "from_account": {"type": "string"}, "to_bank": {"type": "string"}, "to_account": {"type": "string"}, "amount_cents": {"type": "integer"}, "description": {"type": "string"},
                        "created_at_ms": {"type": "integer"}}}}}},
                "LimitsChange": {"type": "object", "additionalProperties": false, "properties": {
                    "per_transfer_cents": {"type": ["integer", "null"], "minimum": 1},
                    "daily_cents": {"type": ["integer", "null"], "minimum": 1},
                    "night_cents": {"type": ["integer", "null"], "minimum": 1}}},
                "Limits": {"type": "object", "properties": {
                    "account": {"type": "string", "description": "the account whose limits these are (absent for the customer's own)"},
                    "customer": {"type": "string", "description": "the customer whose own limits these are (absent for an account's)"},
                    "per_transfer_cents": {"type": ["integer", "null"]},
                    "daily_cents": {"type": ["integer", "null"]},
                    "night_cents": {"type": ["integer", "null"]},
                    "night_now": {"type": "boolean"},
                    "used_today_cents": {"type": "integer"},
                    "used_tonight_cents": {"type": "integer"},
                    "daily_left_cents": {"type": ["integer", "null"]},
                    "night_left_cents": {"type": ["integer", "null"]},
                    "raise": {"type": ["object", "null"], "properties": {
                        "per_transfer_cents": {"type": ["integer", "null"]},
                        "daily_cents": {"type": ["integer", "null"]},
                        "night_cents": {"type": ["integer", "null"]},
                        "applies_at": {"type": "string", "format": "date-time"},
                        "applies_at_ms": {"type": "integer"}}}}}
    });
    for (name, value) in paths.as_object().into_iter().flatten() {
        document["paths"][name] = value.clone();
    }
    for (name, value) in schemas.as_object().into_iter().flatten() {
        document["components"]["schemas"][name] = value.clone();
    }
}
