//! Instants in documents: stored and answered as RFC 3339 to the second in UTC
//! (`2026-12-04T10:49:17Z`), held as `DateTime<Utc>` everywhere else. A stored time that is not
//! one fails to parse (the record is an error, never a default).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// The instant of Unix time `secs` (out of range: the epoch, which no caller passes).
pub fn from_unix(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// `t` without its fraction of a second, as documents hold it.
pub fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    from_unix(t.timestamp())
}

/// `#[serde(with = "time::secs")]` for a `DateTime<Utc>`.
pub mod secs {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time: {e}")))
    }
}

/// `#[serde(with = "time::secs_opt")]` for an `Option<DateTime<Utc>>`.
pub mod secs_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::secs::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::secs")] DateTime<Utc>);
        Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(t)| t))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde::Serialize;

    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "super::secs")]
        at: chrono::DateTime<chrono::Utc>,
        #[serde(
            with = "super::secs_opt",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        until: Option<chrono::DateTime<chrono::Utc>>,
    }

    #[test]
    fn times_round_trip_as_rfc3339_seconds_and_bad_ones_do_not_parse() {
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 12, 4, 10, 49, 17)
            .unwrap();
        let v = serde_json::to_value(T {
            at,
            until: Some(at),
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"at": "2026-12-04T10:49:17Z", "until": "2026-12-04T10:49:17Z"})
        );
        let back: T =
            serde_json::from_value(serde_json::json!({"at": "2026-12-04T11:49:17+01:00"})).unwrap();
        assert_eq!(back, T { at, until: None });
        assert!(serde_json::from_value::<T>(serde_json::json!({"at": "yesterday"})).is_err());
    }
}
