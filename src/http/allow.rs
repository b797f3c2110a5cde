//! Which methods each path answers, for the `Allow` header of a 405 (RFC 9110 requires it).
//! Warp's method rejection does not say which methods would have matched, so the routes are
//! listed here; tests/it/hardening.rs checks a sample against the routes.

/// (path pattern, methods); `*` matches one segment.
const ROUTES: &[(&str, &str)] = &[
    ("/", "GET"),
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/metrics", "GET"),
    ("/favicon.ico", "GET"),
    ("/static/*", "GET"),
    ("/api/v1/openapi.json", "GET"),
    ("/api/v1/customers", "POST"),
    ("/api/v1/sessions", "POST, DELETE"),
    ("/api/v1/accounts", "GET, POST"),
    ("/api/v1/accounts/*", "GET"),
    ("/api/v1/accounts/*/statement", "GET"),
    ("/api/v1/accounts/*/acceptance", "POST"),
    ("/api/v1/accounts/*/limits", "GET, PUT"),
    ("/api/v1/limits", "GET, PUT"),
    ("/api/v1/deposits", "POST"),
    ("/api/v1/withdrawals", "POST"),
    ("/api/v1/transfers", "POST"),
    ("/api/v1/transfers/*", "GET"),
    ("/api/v1/transfers/*/refunds", "GET, POST"),
    ("/api/v1/payments", "POST"),
    ("/api/v1/consents", "GET, POST"),
    ("/api/v1/consents/*", "GET, DELETE"),
    ("/api/v1/linked-consents", "GET, POST"),
    ("/api/v1/keys", "GET, POST"),
    ("/api/v1/keys/confirm", "POST"),
    ("/api/v1/keys/lookup", "GET"),
    ("/api/v1/keys/claims", "GET, POST"),
    ("/api/v1/keys/claims/*/confirm", "POST"),
    ("/api/v1/keys/claims/*/refuse", "POST"),
    ("/api/v1/keys/*", "DELETE"),
    ("/api/v1/key-payments", "POST"),
    ("/api/v1/schedules", "GET, POST"),
    ("/api/v1/schedules/*", "GET, DELETE"),
    ("/admin/v1/audit", "GET"),
    ("/admin/v1/consortium", "GET"),
    ("/admin/v1/stats", "GET"),
    ("/admin/v1/faults", "GET"),
    ("/admin/v1/faults/*", "POST"),
    ("/admin/v1/outbox", "GET"),
    ("/admin/v1/directory", "GET"),
    ("/admin/v1/ring/members", "GET, POST"),
    ("/admin/v1/ring/members/*", "DELETE"),
    ("/admin/v1/ring/approvals", "POST"),
    ("/admin/v1/settlements", "GET, POST"),
    ("/bank/v1/openapi.json", "GET"),
    ("/bank/v1/*", "POST"),
    ("/ring/v1/status", "GET"),
    ("/ring/v1/membership", "GET"),
    ("/ring/v1/*", "POST"),
    ("/ring", "GET"),
    ("/ring/live", "GET"),
    ("/ring/status.json", "GET"),
    ("/ring/signin", "POST"),
    ("/ring/signout", "POST"),
    ("/signup", "GET, POST"),
    ("/signin", "GET, POST"),
    ("/signout", "POST"),
    ("/dashboard", "GET"),
    ("/accounts/new", "GET, POST"),
    ("/accounts/*", "GET"),
    ("/accounts/*/accept", "POST"),
    ("/accounts/*/limits", "GET, POST"),
    ("/limits", "GET, POST"),
    ("/accounts/*/statement.csv", "GET"),
    ("/accounts/*/statement.ofx", "GET"),
    ("/keepalive", "GET"),
    ("/deposit", "GET, POST"),
    ("/withdraw", "GET, POST"),
    ("/transfer", "GET, POST"),
    ("/transfer/confirm", "POST"),
    ("/pay", "GET, POST"),
    ("/pay/confirm", "POST"),
    ("/transfers/*", "GET"),
    ("/transfers/*/status", "GET"),
    ("/transfers/*/refund", "GET, POST"),
    ("/schedules", "GET, POST"),
    ("/schedules/*/cancel", "POST"),
    ("/verify", "GET, POST"),
    // Pix (BR Code): API, the public charge address, pages
    ("/api/v1/pix/brcodes", "POST"),
    ("/api/v1/pix/brcodes/parse", "POST"),
    ("/api/v1/pix/payments", "POST"),
    ("/api/v1/pix/charges", "POST"),
    ("/pix/v1/charges/*", "GET"),
    ("/accounts/*/pix", "GET"),
    ("/accounts/*/pix/charges", "POST"),
    ("/accounts/*/pix/keys", "GET, POST"),
    ("/accounts/*/pix/keys/confirm", "POST"),
    ("/accounts/*/pix/keys/delete", "POST"),
    ("/accounts/*/pix/claims", "POST"),
    ("/accounts/*/pix/claims/*/confirm", "POST"),
    ("/accounts/*/pix/claims/*/refuse", "POST"),
    ("/accounts/*/pix/charges/*", "GET"),
    ("/pix", "GET, POST"),
    ("/pix/confirm", "POST"),
];

/// The methods `path` answers, or None for a path no route serves. Exact patterns win over
/// wildcards (`/accounts/new` before `/accounts/*`).
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let matches = |pattern: &str| {
        let parts: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
        parts.len() == segments.len() && parts.iter().zip(&segments).all(|(p, s)| *p == "*" || p == s)
    };
    let exact = ROUTES.iter().find(|(pattern, _)| !pattern.contains('*') && matches(pattern));
    exact.or_else(|| ROUTES.iter().find(|(pattern, _)| matches(pattern))).map(|(_, methods)| *methods)
}

#[cfg(test)]
mod tests {
    use super::allowed_methods;

    #[test]
    fn exact_paths_win_over_wildcards() {
        assert_eq!(allowed_methods("/accounts/new"), Some("GET, POST"));
        assert_eq!(allowed_methods("/accounts/12345678"), Some("GET"));
        assert_eq!(allowed_methods("/api/v1/sessions"), Some("POST, DELETE"));
        assert_eq!(allowed_methods("/"), Some("GET"));
        assert_eq!(allowed_methods("/nothing"), None);
    }
}
