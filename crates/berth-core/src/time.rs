//! Timestamps as the API families write them. berth keeps times as milliseconds since the
//! Unix epoch (UTC); each surface renders them in its own form.

use chrono::{DateTime, SecondsFormat, Utc};

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// RFC 3339 with milliseconds: `2020-10-30T11:35:02.939Z`.
pub fn rfc3339(ms: i64) -> String {
    at(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// RFC 3339 with microseconds, as SWR writes them: `2020-10-30T11:35:02.939000Z`.
pub fn rfc3339_micros(ms: i64) -> String {
    at(ms).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// RFC 3339 in whole seconds: `2020-10-30T11:35:02Z`.
pub fn rfc3339_secs(ms: i64) -> String {
    at(ms).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses RFC 3339 into milliseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let ms = 1_604_057_702_939;
        assert_eq!(rfc3339(ms), "2020-10-30T11:35:02.939Z");
        assert_eq!(rfc3339_micros(ms), "2020-10-30T11:35:02.939000Z");
        assert_eq!(rfc3339_secs(ms), "2020-10-30T11:35:02Z");
        assert_eq!(parse_rfc3339("2020-10-30T11:35:02.939Z"), Some(ms));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
