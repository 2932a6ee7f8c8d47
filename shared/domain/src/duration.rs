//! Durations as API keys' `expiration` accepts them: the Kotlin style (`30d`, `1d 12h`,
//! `1h 0m 30.5s`, units d/h/m/s) and ISO-8601 (`P30D`, `PT12H`, `P1DT2H3M4.058S`; no Y/M/W units).

use crate::error::ApiError;

/// Parses a duration into whole seconds (fractions are rounded down). Zero and negative
/// durations are rejected.
pub fn parse_duration_secs(input: &str) -> Result<i64, ApiError> {
    let s = input.trim();
    let bad = || {
        ApiError::validation(format!(
            "invalid duration {input:?}: use e.g. \"30d\", \"1d 12h\", \"90m\" or ISO-8601 \"P30D\", \"PT12H\""
        ))
    };
    let secs = if let Some(iso) = s.strip_prefix('P').or_else(|| s.strip_prefix('p')) {
        parse_iso(iso).ok_or_else(bad)?
    } else {
        parse_units(s).ok_or_else(bad)?
    };
    if secs < 1.0 {
        return Err(ApiError::validation(format!(
            "duration {input:?} must be at least one second"
        )));
    }
    if secs > 100.0 * 365.0 * 86400.0 {
        return Err(ApiError::validation(format!(
            "duration {input:?} is longer than 100 years"
        )));
    }
    Ok(secs as i64)
}

fn unit_secs(u: char) -> Option<f64> {
    match u.to_ascii_lowercase() {
        'd' => Some(86400.0),
        'h' => Some(3600.0),
        'm' => Some(60.0),
        's' => Some(1.0),
        _ => None,
    }
}

/// `1d 12h`, `90m`, `1h 0m 30.340s`: number-unit pairs, optionally separated by spaces, each unit
/// at most once and in decreasing order.
fn parse_units(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut last_unit = f64::INFINITY;
    let mut rest = s;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, tail) = rest.split_at(end);
        let value: f64 = num.parse().ok()?;
        let unit = tail.chars().next()?;
        let u = unit_secs(unit)?;
        if u >= last_unit {
            return None;
        }
        last_unit = u;
        total += value * u;
        rest = &tail[unit.len_utf8()..];
    }
    Some(total)
}

/// The part after `P`: `[nD][T[nH][nM][n.nS]]`.
fn parse_iso(s: &str) -> Option<f64> {
    let (date, time) = match s.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut total = 0.0;
    let mut any = false;
    if !date.is_empty() {
        let days: f64 = date.strip_suffix(['D', 'd'])?.parse().ok()?;
        total += days * 86400.0;
        any = true;
    }
    if let Some(t) = time {
        if t.is_empty() {
            return None;
        }
        let mut rest = t;
        let mut last = f64::INFINITY;
        while !rest.is_empty() {
            let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
            let (num, tail) = rest.split_at(end);
            let unit = tail.chars().next()?;
            let u = match unit.to_ascii_uppercase() {
                'H' => 3600.0,
                'M' => 60.0,
                'S' => 1.0,
                _ => return None,
            };
            if u >= last {
                return None;
            }
            last = u;
            total += num.parse::<f64>().ok()? * u;
            rest = &tail[1..];
            any = true;
        }
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kotlin_style() {
        assert_eq!(parse_duration_secs("30d").unwrap(), 30 * 86400);
        assert_eq!(parse_duration_secs("5h").unwrap(), 5 * 3600);
        assert_eq!(parse_duration_secs("1d 12h").unwrap(), 86400 + 12 * 3600);
        assert_eq!(parse_duration_secs("1h 0m 30.340s").unwrap(), 3630);
        assert_eq!(parse_duration_secs("90m").unwrap(), 5400);
    }

    #[test]
    fn iso_style() {
        assert_eq!(
            parse_duration_secs("P1DT2H3M4.058S").unwrap(),
            86400 + 7200 + 180 + 4
        );
        assert_eq!(parse_duration_secs("PT12H").unwrap(), 43200);
        assert_eq!(parse_duration_secs("P30D").unwrap(), 30 * 86400);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "d", "30", "30y", "1h 2d", "1h1h", "P", "PT", "P1Y", "P1W", "-5d", "0s", "abc",
            "1e3s",
        ] {
            assert_eq!(parse_duration_secs(bad).unwrap_err().status, 400, "{bad:?}");
        }
    }
}
