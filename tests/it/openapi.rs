//! The OpenAPI document and the routes agree: every documented operation is routed, and
//! every undocumented method on a documented path is refused with 405.

use reqwest::Method;
use serde_json::Value;

use crate::common::*;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

#[tokio::test]
async fn document_and_routes_agree() {
    let bank = TestBank::start("A").await;
    let (status, document) = bank.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], Value::from("3.1.0"));
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 12, "only {} paths documented", paths.len());
    for (path, item) in paths {
        // Every {parameter} of the path is declared (on the path or on each of its operations).
        let declared = |parameters: &Value, name: &str| {
            parameters.as_array().is_some_and(|list| list.iter().any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true))
        };
        for name in path.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)) {
            for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
                assert!(
                    declared(&item["parameters"], name) || declared(&item[*method]["parameters"], name),
                    "{method} {path}: path parameter {name} is not declared"
                );
            }
        }
        let concrete = path.replace("{number}", "12345678").replace("{id}", "tr_0");
        // A 405 on it names the methods it answers (RFC 9110): every documented path is listed.
        assert!(ringbank::http::allow::allowed_methods(&concrete).is_some(), "{path} has no entry in src/http/allow.rs");
        for method in METHODS {
            let documented = item.get(method).is_some();
            let (status, body) = bank.call(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), &concrete, None, None).await;
            let route_missing = body["type"] == Value::from("/problems/route-not-found");
            if documented {
                assert!(!route_missing && status != 405, "{method} {path} is documented but not routed ({status}: {body})");
                // Every documented response code of a problem is one the API can give.
                for code in item[method]["responses"].as_object().unwrap().keys() {
                    assert!(code.parse::<u16>().is_ok_and(|c| (200..600).contains(&c)), "bad code {code} on {method} {path}");
                }
            } else {
                assert!(status == 405 || route_missing, "{method} {path} is routed ({status}) but not documented");
            }
        }
    }
    // And every problem type the API returns here is documented as a Problem schema.
    assert!(document["components"]["schemas"]["Problem"].is_object());
}
