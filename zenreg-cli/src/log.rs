//! `ZENREG_LOG`: the diagnostic log on stderr, off unless asked for. Its value is a
//! `tracing-subscriber` env filter (`debug`, `trace`, `zenreg_push=debug,zenreg_store=trace`).
//!
//! Only zenreg's own events are shown, whatever the filter says: the HTTP, TLS and runtime
//! libraries below log at trace level with details zenreg does not control (headers, frames),
//! and zenreg's events are written never to hold a credential.

use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The environment variable that turns the log on.
pub const VARIABLE: &str = "ZENREG_LOG";

/// Installs the stderr log when `ZENREG_LOG` is set and not empty; an unreadable filter is an
/// error that names it.
pub fn init() -> Result<(), crate::Error> {
    let Some(value) = std::env::var_os(VARIABLE).filter(|v| !v.is_empty()) else { return Ok(()) };
    let value = value.to_str().ok_or_else(|| invalid(&value.to_string_lossy(), "not UTF-8"))?.to_string();
    let filter = EnvFilter::builder().parse(&value).map_err(|e| invalid(&value, &e.to_string()))?;
    let ours = FilterFn::new(|metadata| metadata.target().starts_with("zenreg"));
    let format = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true)
        .with_filter(ours);
    // A subscriber already set (a binary of a flavor's own that installed one) stays.
    let _ = tracing_subscriber::registry().with(filter).with(format).try_init();
    Ok(())
}

fn invalid(value: &str, why: &str) -> crate::Error {
    crate::Error::usage(
        format!("{VARIABLE}=`{value}` is not a log filter: {why}"),
        Some(format!("write a level (`{VARIABLE}=debug`) or targets with levels (`{VARIABLE}=zenreg_push=trace`)")),
    )
}
