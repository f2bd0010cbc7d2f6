//! One real `oracle-bot` process whose Base and Jeju endpoints are hostile proxies
//! (`oracle_tests::hostile`): a seeded fraction of the answers are truncated, of the wrong shape
//! or type, 24 MB, trickled, with bad batch ids, odd errors, a block number going backwards or
//! a changed chain id. The ETH/USD answer moves; the bot lands every move, never panics, and every
//! update on chain is a price the source had, each exactly once.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::collections::HashSet;

use alloy::primitives::U256;
use oracle_tests::{
    Deployment,
    bot::{BotProcess, env_for},
    chain::updates,
    hostile::HostileProxy,
};

const BOT: &str = env!("CARGO_BIN_EXE_oracle-bot");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_behind_hostile_endpoints_lands_every_move_once() {
    let d = Deployment::start().await;
    d.advance_target(120).await;
    let base = HostileProxy::start(&d.source.endpoint(), 0xB07, 60).await;
    let jeju = HostileProxy::start(&d.target.endpoint(), 0xB08, 60).await;
    // Honest while the bot starts (it refuses to start on a chain it cannot read), hostile after.
    base.set_enabled(false);
    jeju.set_enabled(false);
    // Its own state directory: a journal left by this bot (killed at the end of the test) must
    // not be found by the next bot test on this machine with the same anvil addresses.
    let state = tempfile::tempdir().unwrap();
    let mut env = env_for(&d, "hostile-bot");
    env.insert("STATE_DIR".into(), state.path().display().to_string());
    env.insert("BASE_RPC_URLS".into(), base.url.clone());
    env.insert("JEJU_RPC_URL".into(), jeju.url.clone());
    env.insert("RUST_LOG".into(), "info".into());
    let mut bot = BotProcess::spawn(BOT, &env);
    bot.await_line("connected to the oracle").await;
    base.set_enabled(true);
    jeju.set_enabled(true);

    let moves: Vec<u128> = (1..=10u128).map(|i| 3_000_00000000 + i * 75_00000000 + i).collect();
    for price in &moves {
        // Past the bot's minimum interval on the target's clock.
        d.advance_target(61).await;
        d.set_eth(i128::try_from(*price).unwrap()).await;
        // Each move lands, whatever the endpoints answered on the way.
        loop {
            bot.await_line("Oracle updated successfully").await;
            if updates(&d).await.iter().any(|u| u.eth == U256::from(*price)) {
                break;
            }
        }
    }
    base.set_enabled(false);
    jeju.set_enabled(false);

    let log = bot.log();
    assert!(!log.contains("panicked"), "{log}");
    let faults = base.faults().len() + jeju.faults().len();
    assert!(faults > 0, "no fault was injected");
    let landed = updates(&d).await;
    let walked: HashSet<U256> = moves.iter().map(|p| U256::from(*p)).collect();
    let mut seen = HashSet::new();
    for u in &landed {
        assert!(walked.contains(&u.eth), "{} was never the source's price", u.eth);
        assert!(seen.insert(u.eth), "{} landed twice", u.eth);
    }
    for price in &moves {
        assert!(seen.contains(&U256::from(*price)), "{price} never landed");
    }
    eprintln!("{} updates landed through {faults} injected faults", landed.len());
}
