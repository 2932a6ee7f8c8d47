//! The audit report of an x509-service (as AWS Private CA's): every certificate it issued, with
//! its revocation state, as CSV or JSON, each page's SHA-256 recorded in the audit log in the
//! same step as it is produced, so a report handed to an auditor can be matched to the log.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64U;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{IssuedCertificate, IssuedProfile, Record};
use trustfn_domain::reply::{PageParams, Reply};
use trustfn_domain::repo::{Op, Repository};

use crate::inventory::{iacas, x509_service};

/// Query parameters of `certificates/report`.
pub const REPORT_QUERY: &[&str] = &["format", "limit", "cursor"];

/// Rows of a page by default and at most: a page of the largest rows stays well under Lambda's
/// 6 MB answer.
pub const MAX_ROWS: usize = 10_000;

/// Children read per storage call.
const READ_PAGE: usize = 1000;

/// The columns, in order (CSV header, JSON field names).
const COLUMNS: [&str; 14] = [
    "id",
    "profile",
    "serialNumber",
    "iacaSerialNumber",
    "subject",
    "issuer",
    "notBefore",
    "notAfter",
    "sha256Fingerprint",
    "keyPath",
    "state",
    "revocationDate",
    "revocationReason",
    "createdAt",
];

/// One certificate of the report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    id: String,
    profile: &'static str,
    serial_number: String,
    iaca_serial_number: Option<String>,
    subject: Option<String>,
    issuer: String,
    not_before: Option<String>,
    not_after: Option<String>,
    sha256_fingerprint: Option<String>,
    key_path: Option<String>,
    state: &'static str,
    revocation_date: Option<String>,
    revocation_reason: Option<String>,
    created_at: String,
}

impl Row {
    fn of(rec: &Record<IssuedCertificate>) -> Row {
        let c = &rec.doc;
        let time = |t: &chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        Row {
            id: rec.id.to_string(),
            profile: c.profile.as_str(),
            serial_number: c.serial_number.as_str().to_owned(),
            iaca_serial_number: (c.profile != IssuedProfile::Iaca)
                .then(|| rec.id.parent().map(|p| p.leaf().to_owned()))
                .flatten(),
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            not_before: c.not_before.as_ref().map(time),
            not_after: c.not_after.as_ref().map(time),
            sha256_fingerprint: c.sha256_fingerprint.clone(),
            key_path: c.key_path.as_ref().map(|k| k.to_string()),
            state: if c.revocation.is_some() {
                "revoked"
            } else {
                "valid"
            },
            revocation_date: c.revocation.as_ref().map(|r| time(&r.revocation_date)),
            revocation_reason: c.revocation.as_ref().and_then(|r| {
                serde_json::to_value(r.reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            }),
            created_at: rec.created_at.clone(),
        }
    }

    fn cells(&self) -> [Option<&str>; 14] {
        [
            Some(&self.id),
            Some(self.profile),
            Some(&self.serial_number),
            self.iaca_serial_number.as_deref(),
            self.subject.as_deref(),
            Some(&self.issuer),
            self.not_before.as_deref(),
            self.not_after.as_deref(),
            self.sha256_fingerprint.as_deref(),
            self.key_path.as_deref(),
            Some(self.state),
            self.revocation_date.as_deref(),
            self.revocation_reason.as_deref(),
            Some(&self.created_at),
        ]
    }
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. A field a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`.
fn csv_field(out: &mut String, v: &str) {
    let formula = v.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let v = if formula {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&v);
    }
}

fn to_csv(rows: &[Row]) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for r in rows {
        for (i, cell) in r.cells().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_field(&mut out, cell.unwrap_or(""));
        }
        out.push_str("\r\n");
    }
    out
}

/// Where the next page starts: the IACA (by position in serial order), whether its own row is
/// out, and the storage cursor among its children.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Cursor {
    iaca: usize,
    #[serde(default)]
    shown: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    children: Option<String>,
}

impl Cursor {
    fn parse(s: &str) -> Result<Cursor, ApiError> {
        B64U.decode(s)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ApiError::validation("cursor: not one this endpoint gave"))
    }
    fn encode(&self) -> String {
        B64U.encode(serde_json::to_vec(self).expect("a cursor serializes"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Json,
}

/// `GET /v1/{x509Service}/x509-service-api/certificates/report?format=csv|json[&limit=][&cursor=]`:
/// every certificate the service issued, IACAs in serial order each followed by what it signed,
/// with its state, up to `limit` rows a page (`x-next-cursor` goes on). The page's SHA-256
/// (`x-report-sha256`, over the body's bytes) is recorded in the organization's audit log
/// before the page is answered: no report leaves without its entry.
pub async fn report(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::IssuedList>,
    format: Option<&str>,
    page: &PageParams,
) -> Result<Reply, ApiError> {
    let service = auth.target();
    let format = match format.unwrap_or("csv") {
        "csv" => Format::Csv,
        "json" => Format::Json,
        other => {
            return Err(ApiError::validation(format!(
                "format: csv or json, not {other}"
            )))
        }
    };
    let limit = match &page.limit {
        None => MAX_ROWS,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_ROWS).contains(n))
            .ok_or_else(|| {
                ApiError::validation(format!("limit must be an integer from 1 to {MAX_ROWS}"))
            })?,
    };
    if page.offset.is_some() {
        return Err(ApiError::validation(
            "the report pages by cursor, not offset",
        ));
    }
    let start = match &page.cursor {
        Some(c) => Cursor::parse(c)?,
        None => Cursor::default(),
    };
    x509_service(repo, service).await?;
    let roots = iacas(repo, service).await?;
    if start.iaca > roots.len() {
        return Err(ApiError::validation("cursor: not one this endpoint gave"));
    }

    let mut rows = Vec::new();
    let mut at = start;
    let next = loop {
        let Some(iaca) = roots.get(at.iaca) else {
            break None;
        };
        if rows.len() == limit {
            break Some(at);
        }
        if !at.shown {
            rows.push(Row::of(iaca));
            at.shown = true;
            continue;
        }
        let want = (limit - rows.len()).min(READ_PAGE);
        let got = repo
            .children(Some(&iaca.id), want, at.children.as_deref())
            .await?;
        rows.extend(
            got.items
                .into_iter()
                .filter_map(|r| r.downcast::<IssuedCertificate>().ok())
                .map(|r| Row::of(&r)),
        );
        at = match got.next {
            Some(c) => Cursor {
                children: Some(c),
                ..at
            },
            None => Cursor {
                iaca: at.iaca + 1,
                ..Cursor::default()
            },
        };
    };

    let (media_type, body) = match format {
        Format::Csv => ("text/csv; charset=utf-8", to_csv(&rows)),
        Format::Json => (
            "application/json",
            serde_json::to_string(&rows).expect("rows serialize"),
        ),
    };
    let sha256 = hex::encode(Sha256::digest(body.as_bytes()));
    let next = next.map(|c| c.encode());
    // The page's evidence, in the log before the page leaves.
    repo.commit(vec![Op::Audit(vec![json!({
        "op": "report",
        "id": service.as_str(),
        "format": if format == Format::Csv { "csv" } else { "json" },
        "rows": rows.len(),
        "reportSha256": sha256,
        "cursor": page.cursor,
        "complete": next.is_none(),
    })
    .as_object()
    .cloned()
    .unwrap_or_default()])])
        .await?;
    let mut reply = Reply::text(200, media_type, body);
    reply.headers.push(("x-report-sha256", sha256));
    if let Some(c) = next {
        reply.headers.push(("x-next-cursor", c));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        let mut s = String::new();
        for v in [
            "plain",
            "a,b",
            "say \"hi\"",
            "=SUM(A1)",
            "line\nbreak",
            "-1",
        ] {
            csv_field(&mut s, v);
            s.push('|');
        }
        assert_eq!(
            s,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|'=SUM(A1)|\"line\nbreak\"|'-1|"
        );
    }

    #[test]
    fn a_cursor_round_trips_and_a_made_up_one_is_refused() {
        let c = Cursor {
            iaca: 2,
            shown: true,
            children: Some("abc".into()),
        };
        assert_eq!(Cursor::parse(&c.encode()).unwrap(), c);
        assert_eq!(Cursor::parse("not-base64!").unwrap_err().status, 400);
    }
}
