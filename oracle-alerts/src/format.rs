//! The message text: the old bot's shape ("Jeju Oracle Bot Alert", the message, the bot id, the
//! time) plus the severity and, for a recovery, how long the condition lasted; escaped for each
//! platform's markup so that a price string or an error message can neither break nor inject
//! formatting.

use std::time::SystemTime;

use oracle_core::{Alert, AlertKind, Severity, format_duration};

/// The old bot's heading, kept so operators' filters and habits still match.
pub const DEFAULT_HEADING: &str = "Jeju Oracle Bot Alert";

/// Telegram refuses messages over 4096 characters; the body is cut well before.
const TELEGRAM_MAX_BODY: usize = 3000;
/// Discord refuses webhook content over 2000 characters; the escaped body is cut at this.
const DISCORD_MAX_BODY: usize = 1500;

/// What every message carries besides the alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContext {
    /// The first line (default [`DEFAULT_HEADING`]).
    pub heading: String,
    /// The bot that raised the alert.
    pub bot_id: String,
}

impl MessageContext {
    /// The old heading and `bot_id`.
    pub fn new(bot_id: impl Into<String>) -> Self {
        Self { heading: DEFAULT_HEADING.to_owned(), bot_id: bot_id.into() }
    }
}

/// The severity as a word and a sign, e.g. `🚨 CRITICAL` or `✅ RESOLVED (was critical)`.
fn severity_label(alert: &Alert) -> String {
    match alert.kind {
        AlertKind::Resolved { was, .. } => format!("✅ RESOLVED (was {was})"),
        _ => {
            let sign = match alert.severity {
                Severity::Critical => "🚨",
                Severity::Error => "❗",
                Severity::Warning => "⚠️",
                Severity::Info => "ℹ️",
            };
            format!("{sign} {}", alert.severity.to_string().to_uppercase())
        }
    }
}

/// The plain lines of a message, before markup: (label, title, body, bot id, time, lasted).
struct Parts {
    label: String,
    time: String,
    lasted: Option<String>,
}

fn parts(alert: &Alert) -> Parts {
    let lasted = match alert.kind {
        AlertKind::Resolved { lasted: Some(d), .. } => Some(format_duration(d)),
        _ => None,
    };
    Parts { label: severity_label(alert), time: format_time(alert.at), lasted }
}

/// A Telegram message in its HTML parse mode (`parse_mode=HTML`).
pub fn telegram_html(alert: &Alert, ctx: &MessageContext) -> String {
    let p = parts(alert);
    let mut out = format!(
        "<b>{}</b>\n<b>{}</b> · {}\n\n{}\n\nBot: <code>{}</code>\nTime: {}",
        escape_telegram_html(&ctx.heading),
        escape_telegram_html(&p.label),
        escape_telegram_html(&alert.title),
        escape_telegram_html(&cut(&alert.body, TELEGRAM_MAX_BODY)),
        escape_telegram_html(&ctx.bot_id),
        escape_telegram_html(&p.time),
    );
    if let Some(lasted) = p.lasted {
        out.push_str(&format!("\nLasted: {}", escape_telegram_html(&lasted)));
    }
    out
}

/// A Discord webhook message's content (Discord's markdown).
pub fn discord_markdown(alert: &Alert, ctx: &MessageContext) -> String {
    let p = parts(alert);
    let mut out = format!(
        "**{}**\n**{}** · {}\n\n{}\n\nBot: {}\nTime: {}",
        escape_discord_markdown(&ctx.heading),
        escape_discord_markdown(&p.label),
        escape_discord_markdown(&alert.title),
        escape_discord_cut(&alert.body, DISCORD_MAX_BODY),
        escape_discord_markdown(&ctx.bot_id),
        escape_discord_markdown(&p.time),
    );
    if let Some(lasted) = p.lasted {
        out.push_str(&format!("\nLasted: {}", escape_discord_markdown(&lasted)));
    }
    out
}

/// Telegram's HTML mode needs `<`, `>`, `&` (and `"` inside attributes) as entities; nothing
/// else has meaning there, so an escaped text shows exactly as written.
pub fn escape_telegram_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Discord's markdown treats a backslash before any ASCII punctuation as "this character,
/// literally". Escaping every punctuation character (not a list of today's markup characters)
/// keeps a hostile string from opening bold, code, spoilers, masked links, headings, quotes,
/// mentions (`<@id>`, `@everyone`) or custom emoji, now and when Discord adds syntax.
pub fn escape_discord_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// [`escape_discord_markdown`] of `text`, cut (with `…`) so that the result has at most `max`
/// characters; never between a backslash and the character it escapes.
fn escape_discord_cut(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0usize;
    for c in text.chars() {
        let width = if c.is_ascii_punctuation() { 2 } else { 1 };
        if count + width > max {
            out.push('…');
            break;
        }
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
        count += width;
    }
    out
}

/// `text` cut to at most `max` characters (with `…` when cut), on a character boundary.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((i, _)) => format!("{}…", &text[..i]),
    }
}

/// `2026-05-01 12:34:56 UTC`, from the proleptic Gregorian calendar (no time-zone database).
pub fn format_time(at: SystemTime) -> String {
    let Ok(since) = at.duration_since(SystemTime::UNIX_EPOCH) else {
        return "before 1970".to_owned();
    };
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's `civil_from_days`, in unsigned
/// arithmetic that cannot overflow for any `u64` day count a `SystemTime` can hold.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn alert(title: &str, body: &str) -> Alert {
        let mut a = Alert::new(Severity::Critical, "k", title, body);
        a.at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_777_638_896);
        a
    }

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(format_time(SystemTime::UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            format_time(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            format_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_777_638_896)),
            "2026-05-01 12:34:56 UTC"
        );
    }

    #[test]
    fn telegram_text_keeps_the_old_shape_and_escapes() {
        let text =
            telegram_html(&alert("ETH <b>moved</b>", "price 3100 & <i>x</i>"), &MessageContext::new("bot-1"));
        assert_eq!(
            text,
            "<b>Jeju Oracle Bot Alert</b>\n<b>🚨 CRITICAL</b> · ETH &lt;b&gt;moved&lt;/b&gt;\n\n\
             price 3100 &amp; &lt;i&gt;x&lt;/i&gt;\n\nBot: <code>bot-1</code>\nTime: 2026-05-01 12:34:56 UTC"
        );
    }

    #[test]
    fn discord_text_escapes_every_markup_character() {
        let hostile = "**bold** _x_ `code` ||spoiler|| [link](https://evil) <@123> @everyone # h\n> q";
        let text = discord_markdown(&alert("t", hostile), &MessageContext::new("bot_1"));
        let body = text.lines().nth(3).unwrap();
        assert_eq!(
            body,
            r"\*\*bold\*\* \_x\_ \`code\` \|\|spoiler\|\| \[link\]\(https\:\/\/evil\) \<\@123\> \@everyone \# h"
        );
        assert!(text.contains(r"Bot: bot\_1"));
        // Removing each escaping backslash gives the original back: nothing was lost.
        let unescaped: String = {
            let mut out = String::new();
            let escaped = escape_discord_markdown(hostile);
            let mut chars = escaped.chars().peekable();
            while let Some(c) = chars.next() {
                match chars.peek() {
                    Some(&next) if c == '\\' && next.is_ascii_punctuation() => {
                        out.push(next);
                        chars.next();
                    }
                    _ => out.push(c),
                }
            }
            out
        };
        assert_eq!(unescaped, hostile);
    }

    #[test]
    fn a_recovery_says_what_it_was_and_how_long_it_lasted() {
        let mut a =
            Alert::resolved("k", "Resolved: x", "gone", Severity::Error, Some(Duration::from_secs(125)));
        a.at = SystemTime::UNIX_EPOCH;
        let text = discord_markdown(&a, &MessageContext::new("b"));
        assert!(text.contains("✅ RESOLVED \\(was error\\)"), "{text}");
        assert!(text.ends_with("Lasted: 2m 5s"), "{text}");
    }

    #[test]
    fn long_bodies_are_cut_within_the_platform_limits() {
        let long = "é".repeat(10_000);
        assert!(telegram_html(&alert("t", &long), &MessageContext::new("b")).chars().count() < 4096);
        let punct = ".".repeat(10_000);
        assert!(discord_markdown(&alert("t", &punct), &MessageContext::new("b")).chars().count() < 2000);
    }
}
