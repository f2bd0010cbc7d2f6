//! The guarantees with whole `oracle-bot` processes on anvil: a bot killed with `kill -9` while
//! its update is stuck, restarted (or replaced by another bot with the same key), lands exactly
//! one update; a leader paused past its lease and resumed never writes after its successor.
//! Verdicts come from the chain.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use alloy::{primitives::U256, providers::ext::AnvilApi};
use oracle_tests::{
    Deployment,
    bot::{BotProcess, env_for, with_redis_election},
    chain::{await_pending_with_price, updates},
    election::RedisServer,
};

const BOT: &str = env!("CARGO_BIN_EXE_oracle-bot");

/// Kills the bot whose update sits in a paused mempool, moves the price, and starts `next` (the
/// same bot again, or another with the same key); returns once mining resumed and `next` landed.
async fn stuck_then_killed(next_state_dir: Option<&std::path::Path>) -> (Deployment, String) {
    let d = Deployment::start().await;
    d.advance_target(120).await;
    d.target_admin.anvil_set_auto_mine(false).await.unwrap();
    d.set_eth(3_100_00000000).await;
    let state = tempfile::tempdir().unwrap();
    let mut env = env_for(&d, "bot-1");
    env.insert("STATE_DIR".into(), state.path().display().to_string());
    env.insert("STUCK_AFTER_S".into(), "1".into());
    env.insert("RECEIPT_TIMEOUT_S".into(), "600".into());

    let mut first = BotProcess::spawn(BOT, &env);
    await_pending_with_price(&d.target_admin, d.updater, 3_100_00000000).await;
    first.kill9().await;

    d.set_eth(3_200_00000000).await;
    let mut next_env = env.clone();
    if let Some(dir) = next_state_dir {
        next_env.insert("STATE_DIR".into(), dir.display().to_string());
        next_env.insert("BOT_ID".into(), "bot-2".into());
    }
    let mut next = BotProcess::spawn(BOT, &next_env);
    // The stuck nonce is replaced with the fresh price, never joined by a second nonce.
    await_pending_with_price(&d.target_admin, d.updater, 3_200_00000000).await;
    d.target_admin.anvil_set_auto_mine(true).await.unwrap();
    d.target_admin.evm_mine(None).await.unwrap();
    next.await_line("Oracle updated successfully").await;
    let log = next.log();
    assert!(!log.contains("panicked"), "{log}");
    (d, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_killed_with_its_update_stuck_replaces_it_after_a_restart() {
    let (d, log) = stuck_then_killed(None).await;
    assert!(
        log.contains("found an update sent earlier and not yet resolved"),
        "the journal was not read:\n{log}"
    );
    let landed = updates(&d).await;
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert_eq!(landed[0].eth, U256::from(3_200_00000000u128), "the replacement carried the fresh price");
    assert_eq!(landed[0].nonce, 0, "the stuck nonce was replaced, not joined by another");
    assert_eq!(d.nonce(d.updater).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_bot_with_the_key_takes_over_the_untracked_stuck_nonce() {
    // bot-2 has its own state directory: it knows nothing of bot-1's transaction but finds the
    // pending nonce on chain.
    let other = tempfile::tempdir().unwrap();
    let (d, log) = stuck_then_killed(Some(other.path())).await;
    assert!(log.contains("a transaction this bot does not track is pending at nonce 0"), "{log}");
    let landed = updates(&d).await;
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert_eq!(landed[0].eth, U256::from(3_200_00000000u128));
    assert_eq!(landed[0].nonce, 0);
    assert_eq!(d.nonce(d.updater).await, 1);
}

/// Two bots elect through Redis on the fenced oracle. The leader is paused (SIGSTOP) past its
/// lease; the follower takes over and lands updates; the old leader is resumed while the price
/// keeps moving. On chain, no update carries the old leader's token after the first update of
/// its successor. (Redis, not the lock file: a process paused inside the file backend's `flock`
/// holds the election until it resumes, see docs/transactions.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_never_writes_after_its_successor() {
    let d = Deployment::start_fenced().await;
    d.advance_target(120).await;
    d.set_eth(3_100_00000000).await;
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start().await;
    let bot = |id: &str| {
        let mut env = env_for(&d, id);
        with_redis_election(&mut env, &redis.url());
        env.insert("STATE_DIR".into(), dir.path().join(id).display().to_string());
        // Updates as often as the price moves, so a resumed leader has every chance to write.
        env.insert("MIN_UPDATE_INTERVAL_S".into(), "1".into());
        BotProcess::spawn(BOT, &env)
    };
    let mut one = bot("bot-1");
    one.await_line("Oracle updated successfully").await;
    let mut two = bot("bot-2");
    two.await_line("is follower").await;

    one.pause();
    d.set_eth(3_200_00000000).await;
    d.advance_target(5).await;
    two.await_line("Oracle updated successfully").await;
    one.resume();
    // The price keeps moving: the resumed bot sees the same chances to write as its successor.
    for eth in [3_300_00000000i128, 3_400_00000000] {
        d.set_eth(eth).await;
        d.advance_target(5).await;
        two.await_line("Oracle updated successfully").await;
    }
    let landed = updates(&d).await;
    let tokens: Vec<u64> = landed.iter().map(|u| u.token.expect("fenced updates")).collect();
    assert!(tokens.len() >= 4, "{landed:?}");
    let old = tokens[0];
    let successor = tokens.iter().position(|t| *t != old).expect("the successor wrote");
    assert!(tokens[successor] > old);
    assert!(
        tokens[successor..].iter().all(|t| *t != old),
        "the resumed leader wrote after its successor: {tokens:?}\n{}",
        one.log()
    );
    assert!(tokens.windows(2).all(|w| w[0] <= w[1]), "tokens went backwards: {tokens:?}");
}
