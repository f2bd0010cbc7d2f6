//! The end-to-end scenarios every backend runs, with probes (separate processes).

use std::collections::{BTreeSet, HashSet};

use oracle_election::Leadership;

use super::*;

fn summary(terms: &[(String, u64, u64, u64)]) -> String {
    terms.iter().map(|(id, t, _, _)| format!("{id}#{t}")).collect::<Vec<_>>().join(" ")
}

/// Three probes that each lead for `hold` and release, until `rounds` terms have acted: the
/// action log shows one leader at a time, strictly growing tokens, no refusals, and more than
/// one bot leading.
pub async fn one_leader_at_a_time(bin: &str, config: &ProbeConfig, rounds: usize) {
    let config = config.clone().args(&["--hold-ms", "600", "--rest-ms", "300"]);
    let mut p = Probes::start(bin, 3, &config);
    let mut tokens = BTreeSet::new();
    while tokens.len() < rounds {
        let e = p.until_acted("the next term", |_| true).await;
        tokens.insert(e.token().expect("ACTED carries a token"));
    }
    p.stop_all(&[]).await;
    let actions = p.target.actions();
    assert!(actions.iter().all(|a| a.accepted), "a fenced action was refused: {actions:?}");
    let terms = assert_one_leader_at_a_time(&actions);
    assert!(terms.len() >= rounds, "{} terms: {}", terms.len(), summary(&terms));
    let leaders: HashSet<&str> = terms.iter().map(|t| t.0.as_str()).collect();
    assert!(leaders.len() >= 2, "only {leaders:?} led: {}", summary(&terms));
    for pair in terms.windows(2) {
        assert!(pair[0].3 <= pair[1].2, "terms overlap: {pair:?}");
    }
    eprintln!("{} terms, {} actions: {}", terms.len(), actions.len(), summary(&terms));
}

/// The leader is killed without releasing: another probe takes over the expired lease (it
/// logs the takeover of a dead leader), with a larger token, and one leader acts at a time.
/// Returns the failover time (a figure for the benchmark, not asserted: timing on a loaded
/// machine says nothing about correctness).
pub async fn killed_leader_is_replaced(bin: &str, config: &ProbeConfig) -> Duration {
    let mut p = Probes::start(bin, 3, config);
    let first = p.until_acted("a first leader", |_| true).await;
    let (old, old_token) = (first.probe, first.token().expect("token"));
    let killed = Instant::now();
    p.probes[old].kill().await;
    let next = p.until("a new leader", |e| e.kind() == "LEADER" && e.probe != old).await;
    let took = next.at - killed;
    let new_token = next.token().expect("token");
    assert!(new_token > old_token, "token {new_token} after {old_token}");
    p.until_acted("the new leader's first action", |e| e.probe == next.probe).await;
    let dead = format!("Previous leader {} is dead, taking over", p.id(old));
    let log = p.probes[next.probe].log();
    assert!(log.contains(&dead), "the new leader did not log {dead:?}:\n{log}");
    p.stop_all(&[old]).await;
    let terms = assert_one_leader_at_a_time(&p.target.actions());
    eprintln!(
        "killed {} (token {old_token}); {} led after {took:?}: {}",
        p.id(old),
        p.id(next.probe),
        summary(&terms)
    );
    took
}

/// The leader releases: another probe takes the released record (not an expired one: it does
/// not log a dead leader's takeover) and acts, with a larger token. Returns the gap between the
/// old leader's last action and the new leader's first, from the log (a figure, not asserted).
pub async fn release_hands_over_at_once(bin: &str, config: &ProbeConfig) -> Duration {
    let mut p = Probes::start(bin, 3, config);
    let first = p.until_acted("a first leader", |_| true).await;
    let old = first.probe;
    p.probes[old].send("release").await;
    // The new leader's ACTED may arrive before the old leader's RELEASED: wait for both.
    let events = p
        .until_each(
            "the release and a new leader's action",
            &[&|e: &Event| e.probe == old && e.kind() == "RELEASED", &|e: &Event| {
                e.probe != old && e.kind() == "ACTED"
            }],
        )
        .await;
    let (released, next) = (&events[0], &events[1]);
    let handover = next.at.saturating_duration_since(released.at);
    assert!(next.token() > first.token());
    p.stop_all(&[]).await;
    let terms = assert_one_leader_at_a_time(&p.target.actions());
    let i = terms.iter().position(|t| t.1 == next.token().expect("token")).expect("the new term acted");
    assert!(i > 0, "the new term is not the second: {}", summary(&terms));
    let gap = Duration::from_micros(terms[i].2.saturating_sub(terms[i - 1].3));
    let log = p.probes[next.probe].log();
    assert!(
        !log.contains("is dead, taking over"),
        "the new leader waited for the lease to expire instead of taking the release:\n{log}"
    );
    eprintln!("release handover: {handover:?} between the lines, {gap:?} between the actions");
    gap
}

/// The leader is paused (SIGSTOP) until another probe leads and acts, then resumed: its first
/// word is not an action (it reports FOLLOWER, or its fence refuses), and the target refuses
/// its stale token.
pub async fn paused_leader_does_not_act(bin: &str, config: &ProbeConfig) {
    let mut p = Probes::start(bin, 3, config);
    let first = p.until_acted("a first leader", |_| true).await;
    let (old, old_token) = (first.probe, first.token().expect("token"));
    p.probes[old].pause();
    // The pause may have caught the old leader inside the target's lock, so it is resumed as
    // soon as another probe leads; the newcomer acts once the lock is free.
    let next = p.until("a new leader", |e| e.probe != old && e.kind() == "LEADER").await;
    assert!(next.token().expect("token") > old_token);
    p.probes[old].resume();
    // The resumed probe's next line, and the new leader's first action on the target (so the
    // stale action below meets a target that has seen the newer token), in either order.
    let new_leader = next.probe;
    let seen = p
        .until_each(
            "the resumed probe's next line and the new leader's action",
            &[&|e: &Event| e.probe == old, &|e: &Event| e.probe == new_leader && e.kind() == "ACTED"],
        )
        .await;
    let after = seen[0].clone();
    // REFUSED is possible and is the target's fence at work: the pause can fall between the
    // probe's (live) fence check and its action, the one window no check can close. The
    // chain-level test (`oracle-bot/tests/it/bot_guarantees.rs`) measures what reaches the chain.
    assert!(
        matches!(after.kind(), "FOLLOWER" | "FENCED" | "ERROR" | "REFUSED"),
        "after the pause the old leader said {:?}\n{}",
        after.line,
        p.logs()
    );
    p.probes[old].send("stale").await;
    let stale = p
        .until("the stale action's verdict", |e| {
            e.probe == old && matches!(e.kind(), "REFUSED" | "STALE_ACCEPTED")
        })
        .await;
    assert_eq!((stale.kind(), stale.token()), ("REFUSED", Some(old_token)), "{}", stale.line);
    p.stop_all(&[]).await;
    let actions = p.target.actions();
    let terms = assert_one_leader_at_a_time(&actions);
    let new_first = terms.iter().find(|t| t.1 == next.token().expect("token")).expect("new term").2;
    // Every attempt after the successor's first action counts: at most the one in flight when
    // the pause hit, and the deliberate stale one; none accepted.
    let late: Vec<&Action> =
        actions.iter().filter(|a| a.token == old_token && a.at_micros > new_first).collect();
    assert!(late.len() <= 2, "the paused leader kept acting after its successor: {late:?}");
    assert!(late.iter().all(|a| !a.accepted), "a late action was accepted: {late:?}");
    assert!(actions.iter().filter(|a| !a.accepted).all(|a| a.token == old_token && a.id == p.id(old)));
    eprintln!("paused {} (token {old_token}): {} then {:?}", p.id(old), after.line, stale.line);
}

/// The coordination server is killed: the leader stops acting (its fence refuses, or its
/// rounds fail) and nobody acts while the server is down (for one lease after the leader's
/// renew deadline); after the restart a leader acts again with a token no smaller than
/// before.
pub async fn server_restart<S: Restartable>(
    bin: &str,
    config: &ProbeConfig,
    server: &mut S,
    deadline: Duration,
    lease: Duration,
) {
    let mut p = Probes::start(bin, 3, config);
    let first = p.until_acted("a first leader", |_| true).await;
    let (old, old_token) = (first.probe, first.token().expect("token"));
    let killed_wall = SystemTime::now();
    let killed = Instant::now();
    server.kill_now();
    let down = p
        .until("the leader stepping down", |e| {
            e.probe == old && matches!(e.kind(), "FENCED" | "ERROR" | "FOLLOWER")
        })
        .await;
    let stepped_down = down.at.saturating_duration_since(killed);
    // The outage lasts one more lease: long enough for any lease to have run out.
    tokio::time::sleep(lease).await;
    let restart_wall = SystemTime::now();
    server.start_again().await;
    let again = p.until_acted("a leader after the restart", |_| true).await;
    let new_token = again.token().expect("token");
    assert!(new_token >= old_token, "token {new_token} after {old_token}");
    p.stop_all(&[]).await;
    let actions = p.target.actions();
    assert_one_leader_at_a_time(&actions);
    let (from, to) = (unix_micros(killed_wall + deadline), unix_micros(restart_wall));
    let during: Vec<&Action> = actions.iter().filter(|a| a.at_micros > from && a.at_micros < to).collect();
    assert!(during.is_empty(), "acted while the server was down: {during:?}");
    eprintln!(
        "server killed: {} stepped down after {stepped_down:?} ({}); after the restart {} led with token {new_token} (was {old_token})",
        p.id(old),
        down.line,
        p.id(again.probe)
    );
}

/// In process: `a` leads, `admin` deposes it, and `b` is elected with a larger token only
/// after `a`'s term is over (a learnt it at its next renewal and let go): there is no moment
/// in which `a` may still act and `b` leads.
pub async fn force_step_down(a: SharedElector, b: SharedElector, admin: SharedElector) {
    let first = lead(&a).await;
    assert_eq!(b.acquire_or_renew().await.unwrap(), Leadership::Follower { leader: Some(a.id().into()) });
    let mut b_wake = b.watch().unwrap();
    let deposed = admin.force_step_down().await.unwrap().expect("someone led");
    assert_eq!((deposed.holder.as_str(), deposed.token), (a.id(), first.token));
    assert_eq!(admin.current_leader().await.unwrap(), None, "a deposed leader is nobody's leader");
    assert_eq!(admin.force_step_down().await.unwrap(), None, "already deposed");
    let start = Instant::now();
    let second = loop {
        match b.acquire_or_renew().await.unwrap() {
            Leadership::Leader(l) => {
                assert_eq!(a.live_deadline(&first), None, "b leads while the deposed a may still act");
                break l;
            }
            Leadership::Follower { leader } => {
                assert_ne!(leader.as_deref(), Some(a.id()), "the deposed leader is not reported as leading");
            }
        }
        assert!(start.elapsed() < HANG_GUARD, "b never led after the step-down");
        // Woken by the release (or the expiry); a short poll covers a missed wake-up.
        let _ = tokio::time::timeout(Duration::from_millis(100), b_wake.changed()).await;
    };
    assert!(second.token > first.token);
    assert_eq!(a.acquire_or_renew().await.unwrap(), Leadership::Follower { leader: Some(b.id().into()) });
    assert_eq!(admin.current_leader().await.unwrap().unwrap().token, second.token);
    b.release().await.unwrap();
}
