//! JSON request bodies: parse into a type and say where parsing failed.

use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Most nesting a request body may have; deeper documents are rejected before they are built.
pub const MAX_DEPTH: usize = 64;

/// Parses `bytes` as JSON into `T`. Errors name the line, column and field path that failed.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "BadRequestException",
            "request body is empty; a JSON document is required",
        ));
    }
    check_depth(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let where_ = if path == "." || path.is_empty() {
            String::new()
        } else {
            format!(" at {path}")
        };
        ApiError::bad_request(
            "BadRequestException",
            format!("malformed JSON body{where_}: {inner}"),
        )
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request("BadRequestException", format!("malformed JSON body: {e}"))
    })?;
    Ok(value)
}

/// Rejects documents nested deeper than [`MAX_DEPTH`] with a cheap byte scan (strings skipped).
fn check_depth(bytes: &[u8]) -> Result<(), ApiError> {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for &b in bytes {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ApiError::bad_request(
                        "BadRequestException",
                        format!("JSON body is nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// `over` deep-merged over `base`: objects field by field, anything else replaced. A stored
/// default request (walt.id's default requests) lies under the body of each call this way, so
/// the values a call sends always win.
pub fn deep_merge(base: &mut serde_json::Value, over: serde_json::Value) {
    use serde_json::Value;
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => deep_merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn says_where_it_failed() {
        let e = parse::<Body>(br#"{"name": "x", "inner": {"n": "seven"}}"#).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("inner.n"), "{}", e.message);
        let e = parse::<Body>(b"{\"name\": \n\"x\",, }").unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
        let e = parse::<Body>(br#"{"name": "x", "inner": {"n": 1}} trailing"#).unwrap_err();
        assert!(e.message.contains("trailing"), "{}", e.message);
    }

    #[test]
    fn rejects_deep_nesting_and_empty_bodies() {
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert!(parse::<serde_json::Value>(deep.as_bytes())
            .unwrap_err()
            .message
            .contains("deeper"));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse::<serde_json::Value>(ok.as_bytes()).is_ok());
        assert!(parse::<serde_json::Value>(br#""[[[[[[""#).is_ok());
        assert!(parse::<serde_json::Value>(b"  ")
            .unwrap_err()
            .message
            .contains("empty"));
    }
}
