//! `BankClient`: the customer API of one bank (/api/v1), as one customer (or none) sees it.

use std::time::Duration;

use ringbank_wire::{
    AccountKind, AccountView, CashRequest, ConsentView, CustomerCreated, NewAccount, NewConsent, NewCustomer, NewPayment, NewTransfer,
    Session, SignIn, StatementPage, TransferView,
};

use crate::error::{decode, expect_success, transport, ClientError};

/// A client of one bank's customer API; `with_token` gives the same client signed in.
#[derive(Clone, Debug)]
pub struct BankClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// Options of a POST that moves money.
#[derive(Clone, Debug, Default)]
pub struct PostOptions {
    /// `Idempotency-Key`: a repeat gets the first answer.
    pub idempotency_key: Option<String>,
    /// `Prefer: wait=N`: a cross-bank transfer answers 200 with its final state if reached in time.
    pub wait: Option<Duration>,
}

impl PostOptions {
    pub fn key(key: impl Into<String>) -> PostOptions {
        PostOptions { idempotency_key: Some(key.into()), wait: None }
    }

    pub fn wait(wait: Duration) -> PostOptions {
        PostOptions { idempotency_key: None, wait: Some(wait) }
    }
}

/// The answer to a money POST: 201 committed, 202 pending, or 200 final under `Prefer: wait`.
/// `transfer` has at least `id` and `status`; the 200 answer has every field of the view.
#[derive(Clone, Debug)]
pub struct MoneyReply {
    pub http_status: u16,
    pub transfer: TransferView,
}

impl BankClient {
    /// A client of the bank at `base_url` (`http://127.0.0.1:8081`), not signed in.
    pub fn new(base_url: &str) -> BankClient {
        BankClient::with_http(reqwest::Client::new(), base_url)
    }

    /// The same, over a reqwest client the caller configured (timeouts, pool sizes).
    pub fn with_http(http: reqwest::Client, base_url: &str) -> BankClient {
        BankClient { http, base: base_url.trim_end_matches('/').to_string(), token: None }
    }

    /// This client, presenting `token` as `Authorization: Bearer`.
    pub fn with_token(&self, token: &str) -> BankClient {
        BankClient { token: Some(token.to_string()), ..self.clone() }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self.request(reqwest::Method::GET, path).send().await.map_err(transport(&self.base))?;
        decode(&self.base, response).await
    }

    async fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        let response = self.request(reqwest::Method::POST, path).json(body).send().await.map_err(transport(&self.base))?;
        decode(&self.base, response).await
    }

    /// POST /api/v1/customers
    pub async fn sign_up(&self, document: &str, name: &str, password: &str) -> Result<CustomerCreated, ClientError> {
        let body = NewCustomer { document: document.to_string(), name: name.to_string(), password: password.to_string() };
        self.post("/api/v1/customers", &body).await
    }

    /// POST /api/v1/sessions; `with_token(&session.token)` then acts as this customer.
    pub async fn sign_in(&self, document: &str, password: &str) -> Result<Session, ClientError> {
        self.post("/api/v1/sessions", &SignIn { document: document.to_string(), password: password.to_string() }).await
    }

    /// DELETE /api/v1/sessions (signs this client's token out).
    pub async fn sign_out(&self) -> Result<(), ClientError> {
        let response = self.request(reqwest::Method::DELETE, "/api/v1/sessions").send().await.map_err(transport(&self.base))?;
        expect_success(&self.base, response).await
    }

    /// POST /api/v1/accounts; `holders` are the other holders of a joint account.
    pub async fn open_account(&self, kind: AccountKind, holders: &[&str]) -> Result<AccountView, ClientError> {
        let body = NewAccount { kind, holders: holders.iter().map(|h| h.to_string()).collect() };
        self.post("/api/v1/accounts", &body).await
    }

    /// GET /api/v1/accounts: the caller's accounts at this bank.
    pub async fn accounts(&self) -> Result<Vec<AccountView>, ClientError> {
        self.get("/api/v1/accounts").await
    }

    /// GET /api/v1/accounts/{number}
    pub async fn account(&self, number: &str) -> Result<AccountView, ClientError> {
        self.get(&format!("/api/v1/accounts/{number}")).await
    }

    /// GET /api/v1/accounts/{number}/statement?limit=&before=
    pub async fn statement(&self, number: &str, limit: Option<u32>, before: Option<i64>) -> Result<StatementPage, ClientError> {
        let mut query = Vec::new();
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(before) = before {
            query.push(format!("before={before}"));
        }
        let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
        self.get(&format!("/api/v1/accounts/{number}/statement{query}")).await
    }

    /// POST /api/v1/deposits
    pub async fn deposit(&self, account: &str, amount_cents: i64, options: &PostOptions) -> Result<MoneyReply, ClientError> {
        self.post_money("deposits", &CashRequest { account: account.to_string(), amount_cents }, options).await
    }

    /// POST /api/v1/withdrawals
    pub async fn withdraw(&self, account: &str, amount_cents: i64, options: &PostOptions) -> Result<MoneyReply, ClientError> {
        self.post_money("withdrawals", &CashRequest { account: account.to_string(), amount_cents }, options).await
    }

    /// POST /api/v1/transfers
    pub async fn transfer(&self, transfer: &NewTransfer, options: &PostOptions) -> Result<MoneyReply, ClientError> {
        self.post_money("transfers", transfer, options).await
    }

    /// POST /api/v1/payments
    pub async fn pay(&self, payment: &NewPayment, options: &PostOptions) -> Result<MoneyReply, ClientError> {
        self.post_money("payments", payment, options).await
    }

    async fn post_money<B: serde::Serialize>(&self, collection: &str, body: &B, options: &PostOptions) -> Result<MoneyReply, ClientError> {
        let mut request = self.request(reqwest::Method::POST, &format!("/api/v1/{collection}")).json(body);
        if let Some(key) = &options.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(wait) = options.wait {
            request = request.header("prefer", format!("wait={}", wait.as_secs()));
        }
        let response = request.send().await.map_err(transport(&self.base))?;
        let http_status = response.status().as_u16();
        let transfer = decode(&self.base, response).await?;
        Ok(MoneyReply { http_status, transfer })
    }

    /// POST /api/v1/consents: allows `consent.grantee` to debit one of the caller's accounts here.
    pub async fn grant_consent(&self, consent: &NewConsent) -> Result<ConsentView, ClientError> {
        self.post("/api/v1/consents", consent).await
    }

    /// GET /api/v1/consents: the consents the caller granted here, newest first.
    pub async fn consents(&self) -> Result<Vec<ConsentView>, ClientError> {
        self.get("/api/v1/consents").await
    }

    /// DELETE /api/v1/consents/{id}: revokes a consent; the next debit under it is refused.
    pub async fn revoke_consent(&self, id: &str) -> Result<ConsentView, ClientError> {
        let response =
            self.request(reqwest::Method::DELETE, &format!("/api/v1/consents/{id}")).send().await.map_err(transport(&self.base))?;
        decode(&self.base, response).await
    }

    /// GET /api/v1/transfers/{id}
    pub async fn transfer_view(&self, id: &str) -> Result<TransferView, ClientError> {
        self.get(&format!("/api/v1/transfers/{id}")).await
    }
}
