//! The OpenAPI 3.1 document of the bank-to-bank API (/bank/v1, the two-phase commit and the
//! dashboard's accounts-of; /ring/v1, the token ring), written by hand so that a bank written by
//! someone else can interoperate from the documents alone. Served at GET /bank/v1/openapi.json;
//! tests/it/hardening.rs checks that every documented operation is routed.

use serde_json::{json, Value};

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn signed_post(summary: &str, request: Value, ok: Value) -> Value {
    json!({"post": {"summary": summary, "security": [{"ring": []}],
    "parameters": [
        {"name": "x-ring-bank", "in": "header", "required": true, "schema": schema("BankId"), "description": "the sending bank"},
        {"name": "x-ring-timestamp", "in": "header", "required": true, "schema": {"type": "string", "pattern": "^[0-9]{1,16}$"},
         "description": "the sender's wall clock in ms since the Unix epoch; accepted within 30 s of the receiver's (authentication only)"},
        {"name": "x-ring-nonce", "in": "header", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}, "description": "used once"},
        {"name": "x-ring-signature", "in": "header", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
         "description": "hex Ed25519 signature (64 bytes) with the SENDING bank's own secret key over \"ringbank-request-v1\\n{method}\\n{path}\\n{hex SHA-256 of the body}\\n{timestamp}\\n{nonce}\\n{bank}\"; checked against the public key the member list gives for x-ring-bank (--peer ID=URL=ed25519:HEX), so no member can sign for another"}
    ],
    "requestBody": {"required": true, "content": {"application/json": {"schema": request}}},
    "responses": {
        "200": {"description": "done", "content": {"application/json": {"schema": ok}}},
        "401": {"description": "missing or wrong signature (not made with the sending bank's key), a sender that is not a member, stale timestamp or reused nonce", "content": {"application/problem+json": {"schema": schema("Problem")}}},
        "403": {"description": "the sender is not a member of this ring", "content": {"application/problem+json": {"schema": schema("Problem")}}},
        "400": {"description": "malformed body", "content": {"application/problem+json": {"schema": schema("Problem")}}},
        "422": {"description": "a field has an invalid value", "content": {"application/problem+json": {"schema": schema("Problem")}}},
        "503": {"description": "partitioned by fault injection, or busy: retry", "content": {"application/problem+json": {"schema": schema("Problem")}}}
    }}})
}

pub fn document() -> Value {
    let string = json!({"type": "string"});
    let ids = json!({"type": "array", "items": string, "maxItems": 1024});
    let node = json!({"type": "integer", "minimum": 0, "maximum": 65535, "description": "a member's index in the configured --peer list"});
    let ring_message = |summary: &str, variant: &str, fields: Value, required: Value| {
        let body = json!({"type": "object", "additionalProperties": false, "required": [variant],
            "properties": {variant: {"type": "object", "additionalProperties": false, "required": required, "properties": fields}}});
        let mut operation = signed_post(summary, body, json!({}));
        operation["post"]["responses"]["202"] = json!({"description": "delivered to the ring driver (no body)"});
        operation["post"]["responses"].as_object_mut().expect("responses").remove("200");
        operation
    };
    let stamp = schema("Stamp");
    let nodes = json!({"type": "array", "items": node.clone()});
    let proof =
        json!({"oneOf": [schema("Certificate"), {"type": "null"}], "description": "the newest quorum certificate the sender knows"});
    let membership = json!({"allOf": [schema("Membership")], "description": "absent while the ring has its founding members (ring/README.md, Membership change)"});
    let signature = json!({"type": "string", "pattern": "^[0-9a-f]{128}$", "description": "Ed25519 signature, hex (ring/README.md, Signed confirmations)"});
    let certificate = json!({"type": "object", "additionalProperties": false, "required": ["stamp", "holder", "confirmations"], "properties": {
        "stamp": stamp, "holder": node, "confirmations": {"type": "array", "maxItems": 128, "items": {"type": "object", "additionalProperties": false,
            "required": ["by", "signature"], "properties": {"by": node, "signature": signature}}},
        "membership": membership}});
    let membership_schema = json!({"type": "object", "required": ["version", "members"], "properties": {
        "version": {"type": "integer", "minimum": 0}, "members": nodes, "previous": {"type": ["array", "null"], "items": node},
        "keys": {"type": "array", "description": "[member, 32-byte Ed25519 public key] of members added by a change"},
        "change": {"type": ["object", "null"], "description": "the signed change that made this version"},
        "labels": {"type": "array", "description": "[member, \"ID=URL\"] of every bank ever added by a change, in order"},
        "dishonest": {"type": "integer", "minimum": 0}}});
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/bank/v1/prepare".into(),
        signed_post(
            "the coordinator asks participants to prepare a batch of transfers (holds debits)",
            schema("PrepareRequest"),
            json!({"type": "object", "required": ["votes"], "properties": {"votes": {"type": "array", "items": schema("Vote")}}}),
        ),
    );
    paths.insert(
        "/bank/v1/outcome".into(),
        signed_post("the coordinator's decisions; the participant applies them", schema("OutcomeRequest"), schema("OutcomeResponse")),
    );
    paths.insert(
        "/bank/v1/query".into(),
        signed_post(
            "a participant in doubt asks the coordinator (or another participant) what became of transfers; only a transfer's coordinator and participants get an answer about it",
            schema("QueryRequest"),
            schema("QueryResponse"),
        ),
    );
    paths.insert(
        "/bank/v1/accounts-of".into(),
        signed_post(
            "the accounts here covered by active consents granted to the asking bank (for its customer's dashboard)",
            json!({"type": "object", "additionalProperties": false, "required": ["consents"], "properties": {
                "consents": {"type": "array", "maxItems": 100, "items": schema("ConsentId")}}}),
            json!({"type": "array", "items": schema("Account")}),
        ),
    );
    paths.insert(
        "/bank/v1/consent-code".into(),
        signed_post(
            "the grantee redeems, once and within 5 minutes, the one-time code of the web consent round trip for its consent",
            json!({"type": "object", "additionalProperties": false, "required": ["code"], "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 128}}}),
            schema("Consent"),
        ),
    );
    let owner = json!({"type": "object", "additionalProperties": false,
        "required": ["bank", "account", "account_kind", "name", "masked_document"],
        "properties": {"bank": schema("BankId"), "account": {"type": "string"}, "account_kind": {"type": "string"},
            "name": {"type": "string"}, "masked_document": {"type": "string"}}});
    paths.insert(
        "/bank/v1/key-claim".into(),
        signed_post(
            "Pix key portability: a member's customer claims a key held here for an account of theirs at the sending bank (`to.bank` must be the sender); stored as pending if the key is at `from_account` here and `document` holds that account (and, for a CPF/CNPJ key, is the key), and the key has no other pending claim; the owner confirms or refuses here before it expires",
            json!({"type": "object", "additionalProperties": false, "required": ["id", "key", "document", "from_account", "to", "limit"],
                "properties": {"id": {"type": "string"}, "key": {"type": "string"}, "document": {"type": "string"},
                    "from_account": {"type": "string"}, "to": owner, "limit": {"type": "integer", "minimum": 1, "maximum": 100}}}),
            json!({"type": "object", "required": ["id", "expires_at_ms"],
                "properties": {"id": {"type": "string"}, "expires_at_ms": {"type": "integer", "description": "by this bank's clock"}}}),
        ),
    );
    paths.insert(
        "/bank/v1/key-claim-decided".into(),
        signed_post(
            "the bank that held a claimed key tells the claimant's bank what became of the claim (only that bank may)",
            json!({"type": "object", "additionalProperties": false, "required": ["id", "status"],
                "properties": {"id": {"type": "string"}, "status": {"enum": ["completed", "refused", "expired", "failed"]},
                    "reason": {"type": ["string", "null"]}}}),
            json!({"type": "object"}),
        ),
    );
    let messages = [
        (
            "token",
            "Token",
            json!({"stamp": stamp, "ring": nodes, "proof": proof, "membership": membership}),
            json!(["stamp", "ring"]),
            "the previous holder hands the token on; ring is the live ring in configured order",
        ),
        ("token_ack", "TokenAck", json!({"stamp": stamp}), json!(["stamp"]), "the successor got the token: stop retransmitting"),
        (
            "claim",
            "Claim",
            json!({"stamp": stamp, "holder": node, "ring": nodes, "proof": proof, "membership": membership}),
            json!(["stamp", "holder", "ring"]),
            "confirm that holder owns stamp",
        ),
        (
            "confirm",
            "Confirm",
            json!({"stamp": stamp, "holder": node, "signature": signature}),
            json!(["stamp", "holder", "signature"]),
            "a member confirms a claim, signed",
        ),
        (
            "propose",
            "Propose",
            json!({"epoch": {"type": "integer", "minimum": 0}, "proof": proof}),
            json!(["epoch"]),
            "promise to ignore everything older than epoch",
        ),
        (
            "promise",
            "Promise",
            json!({"epoch": {"type": "integer", "minimum": 0},
            "last_confirmed": {"type": ["array", "null"], "prefixItems": [stamp, node], "minItems": 2, "maxItems": 2},
            "lease_remaining": {"type": "integer", "minimum": 0, "description": "ms"}, "membership": membership}),
            json!(["epoch", "last_confirmed", "lease_remaining"]),
            "a member's durable promise",
        ),
        (
            "reject",
            "Reject",
            json!({"promised_epoch": {"type": "integer", "minimum": 0}}),
            json!(["promised_epoch"]),
            "the receiver promised a newer epoch",
        ),
        (
            "join",
            "Join",
            json!({"epoch": {"type": "integer", "minimum": 0}}),
            json!(["epoch"]),
            "a node outside the live ring asks to be taken back in",
        ),
        (
            "wake",
            "Wake",
            json!({"epoch": {"type": "integer", "minimum": 0}}),
            json!(["epoch"]),
            "a member has work: an idle or parked token is passed on at once",
        ),
        (
            "probe",
            "Probe",
            json!({"epoch": {"type": "integer", "minimum": 0}}),
            json!(["epoch"]),
            "a member that has not seen the token move for a while checks that the last holder's bank is still running; it changes nothing",
        ),
        (
            "parked",
            "Parked",
            json!({"stamp": stamp}),
            json!(["stamp"]),
            "the last holder of an idle ring keeps the token parked (the stamp it held): not lost; counted for at most hold-max + idle-park after its claim",
        ),
    ];
    for (path, variant, fields, required, summary) in messages {
        paths.insert(format!("/ring/v1/{path}"), ring_message(summary, variant, fields, required));
    }
    paths.insert(
        "/ring/v1/status".into(),
        json!({"get": {"summary": "this bank's view of the ring (public)",
        "responses": {"200": {"description": "status", "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
    );
    paths.insert(
        "/ring/v1/membership".into(),
        json!({"get": {"summary": "what a bank about to join learns the ring from (public): the founding members, the current membership, the node id the next added bank gets",
        "responses": {"200": {"description": "membership document", "content": {"application/json": {"schema": {"type": "object", "required": ["founding", "membership", "next_node"], "properties": {
            "founding": {"type": "array", "items": {"type": "object", "required": ["id", "url", "public_key"], "properties": {
                "id": schema("BankId"), "url": {"type": "string"}, "public_key": {"type": "string", "pattern": "^ed25519:[0-9a-f]{64}$"}}}},
            "membership": schema("Membership"), "next_node": {"type": "integer", "minimum": 0}}}}}}}}}),
    );
    paths.insert(
        "/bank/v1/openapi.json".into(),
        json!({"get": {"summary": "this document", "responses": {"200": {"description": "OpenAPI 3.1"}}}}),
    );
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {"title": "ringbank bank-to-bank API", "version": "1",
            "description": "Every POST is signed (x-ring-* headers) with the sending bank's own Ed25519 key and checked against that bank's public key in the member list; the timestamp must be within 30 s of the receiver's clock and each nonce is accepted once. The ring's messages carry fencing stamps (epoch, seq); the two-phase commit's prepare carries the coordinator's stamp, and a participant refuses a prepare older than one it accepted."},
        "paths": Value::Object(paths),
        "components": {
            "securitySchemes": {"ring": {"type": "apiKey", "in": "header", "name": "x-ring-signature", "description": "an Ed25519 signature by the sending bank, with x-ring-bank, x-ring-timestamp and x-ring-nonce, see each operation"}},
            "schemas": {
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "instance"], "properties": {
                    "type": string, "title": string, "status": {"type": "integer"}, "detail": string, "instance": string}},
                "BankId": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"},
                "Stamp": {"type": "object", "additionalProperties": false, "required": ["epoch", "seq"], "properties": {
                    "epoch": {"type": "integer", "minimum": 0}, "seq": {"type": "integer", "minimum": 0}}},
                "WireLeg": {"type": "object", "additionalProperties": false, "required": ["account", "amount_cents"], "properties": {
                    "account": {"type": "string", "pattern": "^[0-9]{1,20}$"}, "amount_cents": {"type": "integer", "description": "negative: debit, positive: credit"},
                    "consent": {"allOf": [schema("ConsentId")], "description": "a debit asked by another bank: the consent the account's holder granted that bank here (without one it is voted no)"}}},
                "ConsentId": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "Consent": {"type": "object", "properties": {
                    "id": string, "bank": string, "grantee": string, "account": string,
                    "max_per_transfer_cents": {"type": "integer"}, "max_total_cents": {"type": "integer"}, "used_cents": {"type": "integer"},
                    "status": {"enum": ["active", "revoked", "expired"]}, "expires_at": {"type": "string", "format": "date-time"},
                    "created_at": {"type": "string", "format": "date-time"}}},
                "SettlementLeg": {"type": "object", "additionalProperties": false, "required": ["bank", "amount_cents"], "properties": {
                    "bank": schema("BankId"), "amount_cents": {"type": "integer"}}},
                "PrepareItem": {"type": "object", "additionalProperties": false,
                    "required": ["id", "kind", "initiated_by", "description", "position", "participants", "legs", "settlement"], "properties": {
                    "id": string, "kind": {"enum": ["transfer", "payment"]}, "initiated_by": string, "description": string,
                    "position": {"type": "integer", "minimum": 0}, "participants": {"type": "array", "items": schema("BankId")},
                    "legs": {"type": "array", "items": schema("WireLeg"), "description": "this participant's legs"},
                    "settlement": {"type": "array", "items": schema("SettlementLeg")},
                    "refund_of": {"type": "string", "description": "a refund: the transfer it returns"},
                    "payers": {"type": "array", "maxItems": 128, "items": schema("WirePayer"),
                        "description": "to a credited bank: who paid each of its credits (debits matched to credits in leg order); they add up to each credit"}}},
                "WirePayer": {"type": "object", "additionalProperties": false, "required": ["bank", "account", "amount_cents", "credited"],
                    "properties": {"bank": schema("BankId"), "account": string, "amount_cents": {"type": "integer", "minimum": 1}, "credited": string}},
                "PrepareRequest": {"type": "object", "additionalProperties": false, "required": ["coordinator", "stamp", "transfers"], "properties": {
                    "coordinator": schema("BankId"), "stamp": schema("Stamp"), "transfers": {"type": "array", "items": schema("PrepareItem"), "maxItems": 1024}}},
                "Vote": {"type": "object", "required": ["id", "yes", "reason"], "properties": {"id": string, "yes": {"type": "boolean"}, "reason": {"type": ["string", "null"]}}},
                "OutcomeItem": {"type": "object", "additionalProperties": false, "required": ["id", "commit"], "properties": {"id": string, "commit": {"type": "boolean"}}},
                "OutcomeRequest": {"type": "object", "additionalProperties": false, "required": ["coordinator", "outcomes"], "properties": {
                    "coordinator": schema("BankId"), "outcomes": {"type": "array", "items": schema("OutcomeItem"), "maxItems": 1024}}},
                "OutcomeResponse": {"type": "object", "required": ["final_ids"], "properties": {"final_ids": ids}},
                "QueryRequest": {"type": "object", "additionalProperties": false, "required": ["coordinator", "ids"], "properties": {"coordinator": schema("BankId"), "ids": ids}},
                "QueryResponse": {"type": "object", "required": ["known"], "properties": {"known": {"type": "array", "items": schema("OutcomeItem")}}},
                "Account": {"type": "object", "properties": {
                    "bank": string, "number": string, "kind": string, "holders": {"type": "array", "items": string},
                    "balance_cents": {"type": "integer"}, "available_cents": {"type": "integer"}}}
            }
        }
    });
    // Added apart: one json! literal this large passes the macro's recursion limit.
    let schemas = &mut document["components"]["schemas"];
    schemas["Certificate"] = certificate;
    schemas["Membership"] = membership_schema;
    schemas["PrepareRequest"]["properties"]["certificate"] = json!({"oneOf": [schema("Certificate"), {"type": "null"}], "description": "the ring's certificate that the coordinator holds stamp"});
    document
}
