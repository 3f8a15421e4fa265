//! `[break_glass]`: how long an operator's fallback window may last.

use serde::Deserialize;

use super::Span;

/// `[break_glass]`: the roll-out's fallback path, bounded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassConfig {
    /// The longest window (default and at most 24h).
    #[serde(default = "default_max_window")]
    pub max_window: Span,
}

impl Default for BreakGlassConfig {
    fn default() -> Self {
        Self {
            max_window: default_max_window(),
        }
    }
}

/// A break-glass window never lasts longer than this, whatever the
/// configuration says.
pub const BREAK_GLASS_CEILING: Span = Span::from_secs(24 * 3_600);

fn default_max_window() -> Span {
    BREAK_GLASS_CEILING
}
