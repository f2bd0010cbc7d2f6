//! The leader-election harness: real `redis-server` and `etcd` processes on free loopback ports in
//! temporary directories (kill, pause, resume, restart), `elector-probe` processes whose stdout
//! lines the tests await, and the fenced target the probes act on.
//!
//! Nothing here sleeps to wait for something: servers are ready when a connection answers,
//! probes are followed through the lines they print. Every wait has a hang guard
//! ([`HANG_GUARD`]) that fails the test with the probes' logs instead of hanging CI; it is not a
//! timing assertion.

mod fenced;
mod probes;
pub mod scenarios;
mod servers;

pub use fenced::*;
pub use probes::*;
pub use servers::*;

use std::{
    net::TcpListener,
    path::Path,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tokio::sync::{Mutex, MutexGuard};

/// The longest any single awaited event may take before the test fails as hung.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// Serialises the election tests of one test binary: their timing (leases of 1–2 s) should not
/// compete for the machine's two cores with another election test.
pub async fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::const_new(());
    LOCK.lock().await
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local address")
        .port()
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid =
        rustix::process::Pid::from_raw(i32::try_from(pid).expect("pid fits i32")).expect("pid is not 0");
    rustix::process::kill_process(pid, signal).expect("send a signal");
}

/// Microseconds since the unix epoch (the action log's clock).
pub fn unix_micros(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).expect("after 1970").as_micros()).expect("fits u64")
}

fn tail(path: &Path, max: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    text[start..].to_owned()
}
