//! The Pix (BR Code) part of the customer API's OpenAPI document, added to the paths and
//! schemas of `openapi::document`.

use serde_json::{json, Value};

fn problems(codes: &[&str]) -> Value {
    let mut responses = serde_json::Map::new();
    for code in codes {
        responses.insert(
            (*code).to_string(),
            json!({"description": "problem details (RFC 9457)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
        );
    }
    Value::Object(responses)
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn operation(summary: &str, ok: &[(&str, &str)], errors: &[&str], body: Option<&str>, secured: bool) -> Value {
    let mut responses = problems(errors);
    for (code, name) in ok {
        responses[*code] = json!({"description": "success", "content": {"application/json": {"schema": schema(name)}}});
    }
    let mut op = json!({"summary": summary, "responses": responses});
    if let Some(name) = body {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema(name)}}});
    }
    if secured {
        op["security"] = json!([{"bearer": []}]);
    }
    op
}

/// Adds the Pix paths and schemas.
pub fn add(document: &mut Value) {
    let paths = [
        (
            "/api/v1/pix/brcodes",
            json!({"post": operation("a static Pix code (BR Code) for one of the caller's accounts: payload (copia e cola), QR as SVG, fields", &[("201", "IssuedBrCode")], &["400", "401", "404", "413", "422"], Some("NewStaticBrCode"), true)}),
        ),
        (
            "/api/v1/pix/brcodes/parse",
            json!({"post": operation("parse a BR Code: every field checked, CRC-16 included (a changed code: 422 brcode-tampered; malformed: 422 invalid-brcode)", &[("200", "ParsedBrCode")], &["400", "413", "422"], Some("BrCodePayload"), false)}),
        ),
        (
            "/api/v1/pix/payments",
            json!({"post": {
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"}}],
            "summary": "pay a BR Code from one of the caller's accounts (key resolved, charge read at its bank, then a transfer)",
            "security": [{"bearer": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema("PixPayment")}}},
            "responses": {
                "201": {"description": "committed (payee here)", "content": {"application/json": {"schema": schema("PixPosted")}}},
                "202": {"description": "pending (payee at another bank)", "content": {"application/json": {"schema": schema("PixPosted")}}},
                "400": problems(&["400"])["400"].clone(), "401": problems(&["401"])["401"].clone(), "404": problems(&["404"])["404"].clone(),
                "409": problems(&["409"])["409"].clone(), "413": problems(&["413"])["413"].clone(), "422": problems(&["422"])["422"].clone(),
                "503": problems(&["503"])["503"].clone()}}}),
        ),
        (
            "/api/v1/pix/charges",
            json!({"post": operation("a dynamic charge on a company account (amount, expiry) and its code", &[("201", "IssuedCharge")], &["400", "401", "404", "413", "422"], Some("NewCharge"), true)}),
        ),
        (
            "/pix/v1/charges/{id}",
            json!({
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "get": operation("a charge's status, public: the address a dynamic code carries", &[("200", "Charge")], &["404"], None, false)}),
        ),
    ];
    for (path, item) in paths {
        document["paths"][path] = item;
    }
    let brcode = json!({"type": "object", "description": "a BR Code's fields", "properties": {
        "initiation": {"enum": ["reusable", "single_use", null]},
        "target": {"type": "object", "description": "{kind: key, key, description} or {kind: url, url}"},
        "merchant_category_code": {"type": "string"}, "amount_cents": {"type": ["integer", "null"]},
        "merchant_name": {"type": "string"}, "merchant_city": {"type": "string"},
        "postal_code": {"type": ["string", "null"]}, "txid": {"type": "string"}}});
    let charge = json!({"type": "object", "properties": {
        "id": {"type": "string"}, "bank": {"type": "string"}, "account": {"type": "string"}, "amount_cents": {"type": "integer"},
        "description": {"type": "string"}, "merchant_name": {"type": "string"}, "masked_document": {"type": "string"},
        "status": {"enum": ["active", "paid", "expired"]}, "expires_at": {"type": "string", "format": "date-time"}}});
    let schemas = [
        ("BrCode", brcode),
        (
            "NewStaticBrCode",
            json!({"type": "object", "additionalProperties": false, "required": ["account"], "properties": {
            "account": {"type": "string", "pattern": "^[0-9]{1,20}$"}, "key": {"type": "string", "description": "one of the account's keys (default: the first)"},
            "amount_cents": {"type": "integer", "minimum": 1, "maximum": 100_000_000i64}, "description": {"type": "string", "maxLength": 140},
            "txid": {"type": "string", "pattern": "^[A-Za-z0-9]{1,25}$"}}}),
        ),
        (
            "IssuedBrCode",
            json!({"type": "object", "properties": {"payload": {"type": "string"}, "svg": {"type": "string"}, "brcode": schema("BrCode")}}),
        ),
        (
            "BrCodePayload",
            json!({"type": "object", "additionalProperties": false, "required": ["payload"], "properties": {"payload": {"type": "string", "maxLength": 512}}}),
        ),
        ("ParsedBrCode", json!({"type": "object", "properties": {"brcode": schema("BrCode"), "crc_ok": {"type": "boolean"}}})),
        (
            "PixPayment",
            json!({"type": "object", "additionalProperties": false, "required": ["from_account", "payload"], "properties": {
            "from_account": {"type": "string", "pattern": "^[0-9]{1,20}$"}, "payload": {"type": "string", "maxLength": 512},
            "amount_cents": {"type": "integer", "minimum": 1, "description": "only for a code without an amount; must equal the code's if it has one"}}}),
        ),
        (
            "PixPosted",
            json!({"type": "object", "properties": {"id": {"type": "string"}, "status": {"enum": ["pending", "committed"]},
            "payee": {"type": "object", "properties": {"bank": {"type": "string"}, "account": {"type": "string"}, "account_kind": {"type": "string"},
                "holder_name": {"type": "string"}, "masked_document": {"type": "string"}}}, "description": {"type": "string"}}}),
        ),
        (
            "NewCharge",
            json!({"type": "object", "additionalProperties": false, "required": ["account", "amount_cents", "expires_in_seconds"], "properties": {
            "account": {"type": "string", "pattern": "^[0-9]{1,20}$"}, "amount_cents": {"type": "integer", "minimum": 1, "maximum": 100_000_000i64},
            "description": {"type": "string", "maxLength": 140}, "expires_in_seconds": {"type": "integer", "minimum": 60, "maximum": 2_592_000}}}),
        ),
        ("Charge", charge),
        (
            "IssuedCharge",
            json!({"type": "object", "properties": {"charge": schema("Charge"), "payload": {"type": "string"}, "svg": {"type": "string"}, "brcode": schema("BrCode")}}),
        ),
    ];
    for (name, value) in schemas {
        document["components"]["schemas"][name] = value;
    }
}
