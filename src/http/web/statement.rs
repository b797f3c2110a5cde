//! The statement's lines as the pages show them (local time, the other side's names masked,
//! a link to the comprovante), the date filter (from/until, local calendar days), and the
//! exports: CSV (Brazilian spreadsheet style: `;` separated, comma decimals) and OFX 2.1.1
//! (what Brazilian personal-finance apps import).

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Filter;

use super::i18n::Tr;
use super::session::{visit, Visit};
use super::{signed_in, with_state};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::ledger::{StatementFilter, StatementRow};
use crate::service::operations;
use ringbank_domain::display::{mask_person_name, parse_date, LocalZone};
use ringbank_domain::money::format_brl;

/// Most lines one export holds (newest first); a longer range is cut and says so in the CSV.
const EXPORT_LINES_MAX: u32 = 5_000;

/// A statement line as shown.
pub struct Line {
    pub date: String,
    pub label: String,
    pub detail: String,
    /// The other side, masked as Pix shows it ("Fulano de T***"), when it is at this bank.
    pub who: String,
    pub receipt_href: Option<String>,
    pub amount: String,
    pub credit: bool,
    pub balance_after: String,
    /// A transfer or payment received (not itself a refund) can be refunded: its refund page.
    pub refund_href: Option<String>,
}

impl Line {
    pub fn new(t: Tr, zone: &LocalZone, row: &StatementRow, account: &str) -> Line {
        let line = &row.line;
        let refundable =
            line.amount_cents > 0 && matches!(line.kind.as_str(), "transfer" | "payment") && !line.description.starts_with("devolução de ");
        let detail = if matches!(line.kind.as_str(), "transfer" | "payment") { line.description.clone() } else { String::new() };
        Line {
            date: super::display::local_time(zone, t.lang, &line.created_at),
            label: t.get(&format!("entry.{}", line.kind)).to_string(),
            detail,
            who: who(row),
            receipt_href: row.has_receipt.then(|| format!("/transfers/{}", line.entry_id)),
            amount: format_brl(line.amount_cents),
            credit: line.amount_cents > 0,
            balance_after: format_brl(line.balance_after_cents),
            refund_href: refundable.then(|| format!("/transfers/{}/refund?account={account}", line.entry_id)),
        }
    }
}

/// The other side's names: a person's masked, a company's whole.
fn who(row: &StatementRow) -> String {
    row.counterparties
        .iter()
        .map(|(name, document)| if document.len() == 11 { mask_person_name(name) } else { name.clone() })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The date filter of a statement page or export: `from` and `until` (inclusive local days,
/// yyyy-mm-dd or dd/mm/yyyy), as typed (for the form) and as milliseconds.
pub struct DateFilter {
    pub from: String,
    pub until: String,
    pub from_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub error: Option<String>,
}

impl DateFilter {
    pub fn read(t: Tr, zone: &LocalZone, visit: &Visit) -> DateFilter {
        let from = visit.query_value("from").unwrap_or("").trim().to_string();
        let until = visit.query_value("until").unwrap_or("").trim().to_string();
        let mut error = None;
        let mut day = |text: &str, next_day: bool| -> Option<i64> {
            if text.is_empty() {
                return None;
            }
            let parsed = parse_date(text).and_then(|(y, m, d)| zone.day_start_ms(y, m, d));
            if parsed.is_none() {
                error = Some(t.get("statement.date_invalid").to_string());
            }
            // The end of an inclusive day is the start of the next one (days are not always 24 h).
            parsed.map(|start| {
                if next_day {
                    zone.local(start + 36 * 3_600_000).and_then(|l| zone.day_start_ms(l.year, l.month, l.day)).unwrap_or(start)
                } else {
                    start
                }
            })
        };
        let from_ms = day(&from, false);
        let until_ms = day(&until, true);
        if let (Some(a), Some(b)) = (from_ms, until_ms) {
            if a >= b {
                error = Some(t.get("statement.date_order").to_string());
            }
        }
        DateFilter { from, until, from_ms, until_ms, error }
    }

    pub fn is_set(&self) -> bool {
        self.from_ms.is_some() || self.until_ms.is_some()
    }

    /// `from=..&until=..` for links (empty when no filter).
    pub fn query(&self) -> String {
        let mut pairs = Vec::new();
        if !self.from.is_empty() {
            pairs.push(("from", self.from.as_str()));
        }
        if !self.until.is_empty() {
            pairs.push(("until", self.until.as_str()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("accounts" / String / String)
        .and(warp::get())
        .and(visit(&state))
        .and(with_state(state))
        .then(|number: String, file: String, visit: Visit, state: Arc<AppState>| async move {
            let format = match file.as_str() {
                "statement.csv" => Export::Csv,
                "statement.ofx" => Export::Ofx,
                _ => {
                    let session = visit.session(&state).await;
                    return super::not_found(&state, &visit, session.as_ref());
                }
            };
            let session = match signed_in(&state, &visit).await {
                Ok(session) => session,
                Err(response) => return response,
            };
            match export(&state, &visit, &session, &number, format).await {
                Ok(response) => response,
                Err(error) => super::failure(&state, &visit, Some(&session), &error),
            }
        })
        .boxed()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Export {
    Csv,
    Ofx,
}

/// GET /accounts/{number}/statement.csv|.ofx?from&until -> the lines in the range, newest first
async fn export(
    state: &AppState,
    visit: &Visit,
    session: &super::session::Session,
    number: &str,
    format: Export,
) -> Result<Response, ApiError> {
    let view = operations::held_account(&state.services, &session.caller, number).await.map_err(ApiError::from)?;
    let t = visit.tr();
    let zone = &state.config.time_zone;
    let dates = DateFilter::read(t, zone, visit);
    if let Some(error) = dates.error {
        return Err(ApiError::InvalidField(error));
    }
    let filter = StatementFilter { before: None, from_ms: dates.from_ms, until_ms: dates.until_ms, limit: EXPORT_LINES_MAX };
    let (rows, more) = state.ledger.statement_rows(&view.number, &session.caller.document, filter).await?;
    let (body, content_type, extension) = match format {
        Export::Csv => (csv(t, zone, &rows, more.is_some()), "text/csv; charset=utf-8", "csv"),
        Export::Ofx => {
            (ofx(state.bank(), &view.number, view.balance_cents, zone, &rows, crate::clock::wall_clock_ms()), "application/x-ofx", "ofx")
        }
    };
    let mut response = Response::new(body.into());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let name = format!("attachment; filename=\"extrato-{}-{}.{extension}\"", state.bank(), view.number);
    if let Ok(value) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Centavos as a spreadsheet reads them in pt-BR: "-1234,56" (no thousands points).
fn plain_decimal(cents: i64, separator: char) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}{separator}{:02}", abs / 100, abs % 100)
}

/// One CSV field: quoted when it holds a separator, a quote or a line break; a leading
/// = + - @ is neutralised so a spreadsheet never runs a description as a formula.
fn csv_field(text: &str) -> String {
    let mut text = text.replace(['\r', '\n'], " ");
    if text.starts_with(['=', '+', '-', '@']) {
        text.insert(0, '\'');
    }
    if text.contains([';', '"']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn csv(t: Tr, zone: &LocalZone, rows: &[StatementRow], cut: bool) -> String {
    let mut out = String::from("\u{feff}");
    let header = [
        "statement.date",
        "statement.kind",
        "statement.description",
        "statement.who",
        "statement.amount",
        "statement.balance_after",
        "status.id",
    ];
    out.push_str(&header.iter().map(|k| csv_field(t.get(k))).collect::<Vec<_>>().join(";"));
    out.push_str("\r\n");
    for row in rows {
        let line = &row.line;
        let date = super::display::local_time(zone, t.lang, &line.created_at);
        // Text goes through csv_field; amounts are numbers and stay numbers ("-123,45").
        let fields = [
            csv_field(&date),
            csv_field(t.get(&format!("entry.{}", line.kind))),
            csv_field(&line.description),
            csv_field(&who(row)),
            plain_decimal(line.amount_cents, ','),
            plain_decimal(line.balance_after_cents, ','),
            csv_field(&line.entry_id),
        ];
        out.push_str(&fields.join(";"));
        out.push_str("\r\n");
    }
    if cut {
        out.push_str(&csv_field(&t.fill("statement.export_cut", &[&EXPORT_LINES_MAX.to_string()])));
        out.push_str("\r\n");
    }
    out
}

/// Text for an OFX element: the XML escapes.
fn ofx_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// OFX date-time in the bank's zone: 20261130120405[-3:BRT] style (offset in hours).
fn ofx_time(zone: &LocalZone, unix_ms: i64) -> String {
    match zone.local(unix_ms) {
        Some(l) => {
            let hours = l.offset_minutes / 60;
            format!("{:04}{:02}{:02}{:02}{:02}{:02}[{hours}]", l.year, l.month, l.day, l.hour, l.minute, l.second)
        }
        None => String::new(),
    }
}

fn ofx(bank: &str, account: &str, balance_cents: i64, zone: &LocalZone, rows: &[StatementRow], now_ms: i64) -> String {
    let first = rows.last().map(|r| r.created_at_ms).unwrap_or(now_ms);
    let last = rows.first().map(|r| r.created_at_ms).unwrap_or(now_ms);
    let mut transactions = String::new();
    for row in rows {
        let line = &row.line;
        let kind = match (line.kind.as_str(), line.amount_cents > 0) {
            ("deposit", _) => "DEP",
            ("withdrawal", _) => "CASH",
            ("payment", false) => "PAYMENT",
            (_, true) => "CREDIT",
            (_, false) => "DEBIT",
        };
        let who = who(row);
        let memo = [line.description.as_str(), who.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" - ");
        transactions.push_str(&format!(
            "<STMTTRN><TRNTYPE>{kind}</TRNTYPE><DTPOSTED>{}</DTPOSTED><TRNAMT>{}</TRNAMT><FITID>{}-{}</FITID><NAME>{}</NAME><MEMO>{}</MEMO></STMTTRN>\n",
            ofx_time(zone, row.created_at_ms),
            plain_decimal(line.amount_cents, '.'),
            ofx_text(&line.entry_id),
            line.line,
            ofx_text(&line.kind),
            ofx_text(&memo),
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?OFX OFXHEADER=\"200\" VERSION=\"211\" SECURITY=\"NONE\" OLDFILEUID=\"NONE\" NEWFILEUID=\"NONE\"?>\n\
<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS><DTSERVER>{now}</DTSERVER><LANGUAGE>POR</LANGUAGE></SONRS></SIGNONMSGSRSV1>\n\
<BANKMSGSRSV1><STMTTRNRS><TRNUID>1</TRNUID><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS><STMTRS><CURDEF>BRL</CURDEF>\n\
<BANKACCTFROM><BANKID>{bank}</BANKID><ACCTID>{account}</ACCTID><ACCTTYPE>CHECKING</ACCTTYPE></BANKACCTFROM>\n\
<BANKTRANLIST><DTSTART>{start}</DTSTART><DTEND>{end}</DTEND>\n{transactions}</BANKTRANLIST>\n\
<LEDGERBAL><BALAMT>{balance}</BALAMT><DTASOF>{now}</DTASOF></LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n",
        now = ofx_time(zone, now_ms),
        bank = ofx_text(bank),
        account = ofx_text(account),
        start = ofx_time(zone, first),
        end = ofx_time(zone, last),
        balance = plain_decimal(balance_cents, '.'),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("pão; queijo"), "\"pão; queijo\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-R$ 1"), "'-R$ 1");
        assert_eq!(plain_decimal(-123456, ','), "-1234,56");
        assert_eq!(plain_decimal(5, '.'), "0.05");
        assert_eq!(ofx_time(&LocalZone::sao_paulo(), 1_796_050_000_000), "20261130114640[-3]");
    }
}
