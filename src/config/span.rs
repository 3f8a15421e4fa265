//! Durations in the configuration file: `"30s"`, `"10m"`, `"1h"`, `"7d"`, or
//! a whole number of seconds.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Visitor};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(Duration);

impl Span {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }
    pub const fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
    pub fn duration(self) -> Duration {
        self.0
    }

    /// Parse `<digits><unit>` with unit `ms`, `s`, `m`, `h` or `d`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let n: u64 = digits.parse().map_err(|_| {
            format!("\"{text}\" is not a duration; write e.g. \"30s\", \"10m\", \"1h\"")
        })?;
        if unit == "ms" {
            return Ok(Self(Duration::from_millis(n)));
        }
        let mult = match unit {
            "s" | "" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => {
                return Err(format!(
                    "\"{text}\" has unknown unit \"{unit}\"; use ms, s, m, h or d"
                ));
            }
        };
        n.checked_mul(mult)
            .map(Self::from_secs)
            .ok_or_else(|| format!("\"{text}\" is too large"))
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_nanos() != 0 {
            return write!(f, "{}ms", self.0.as_millis());
        }
        let s = self.0.as_secs();
        match s {
            0 => f.write_str("0s"),
            s if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            s if s % 3_600 == 0 => write!(f, "{}h", s / 3_600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"10m\" or \"1h\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
                Span::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Span, E> {
                u64::try_from(v)
                    .map(Span::from_secs)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Span, E> {
                Ok(Span::from_secs(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        for (text, secs) in [
            ("30s", 30),
            ("10m", 600),
            ("1h", 3_600),
            ("2d", 172_800),
            ("45", 45),
            ("2500ms", 2),
        ] {
            assert_eq!(Span::parse(text).unwrap().as_secs(), secs, "{text}");
        }
    }

    #[test]
    fn refuses_garbage() {
        for text in ["", "m", "10x", "-5m", "1.5h", "99999999999999999999d"] {
            assert!(Span::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn displays_in_largest_whole_unit() {
        assert_eq!(Span::from_secs(600).to_string(), "10m");
        assert_eq!(Span::from_secs(90).to_string(), "90s");
        assert_eq!(Span::from_secs(7_200).to_string(), "2h");
        assert_eq!(Span::parse("300ms").unwrap().to_string(), "300ms");
        assert_eq!(Span::parse("2000ms").unwrap().to_string(), "2s");
    }
}
