//! The `oracle-bot` process with Telegram and Discord pointed at local servers that speak their
//! APIs, and a real failure on anvil: the oracle's owner (account 0) hands `priceUpdater` to
//! another address, so every update the bot simulates is refused. Both channels get the alert;
//! once the owner gives the key back, both get the recovery.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use oracle_tests::{
    Deployment,
    bot::{BotProcess, env_for},
    chat_servers::{
        ChatReply, ChatServer, DISCORD_WEBHOOK_TOKEN, TELEGRAM_CHAT_ID as CHAT_ID, TELEGRAM_TOKEN,
        with_chat_alerts,
    },
    set_updater,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_updater_key_is_alerted_on_both_channels_and_its_recovery_too() {
    let (tg, dc) = (ChatServer::telegram().await, ChatServer::discord().await);
    // The first answer of each platform is a rate limit: the bot waits and sends again.
    tg.script([ChatReply::RateLimited { retry_after_secs: 1.0 }]);
    dc.script([ChatReply::RateLimited { retry_after_secs: 0.2 }]);
    let d = Deployment::start().await;
    // An update is due (a 3.3% move), and the key that would send it is no longer the updater.
    d.advance_target(120).await;
    d.set_eth(3_100_00000000).await;
    let stranger = d.target.addresses()[2];
    set_updater(&d.target_admin, d.oracle, stranger).await;

    let mut env = env_for(&d, "alerts-bot");
    // Only the old variables turn the channels on; the API URLs point them at the local servers.
    with_chat_alerts(&mut env, &tg, &dc);
    let mut bot = BotProcess::spawn(env!("CARGO_BIN_EXE_oracle-bot"), &env);
    let serving = bot.await_line("serving /health and /metrics").await;
    let port = serving.split("bound=").nth(1).and_then(|s| s.split_whitespace().next()).unwrap();
    let port = port.rsplit(':').next().unwrap().to_owned();
    bot.await_line("NotAuthorized").await;

    for server in [&tg, &dc] {
        let alert = server.await_message("Oracle updates failing").await;
        let text = alert.plain_text();
        for part in [
            "Jeju Oracle Bot Alert",
            "CRITICAL",
            "5 ticks failed in a row",
            "NotAuthorized",
            "Bot: alerts-bot",
            "UTC",
        ] {
            assert!(text.contains(part), "{part:?} missing in {text}");
        }
    }
    let first = tg.await_message("Oracle updates failing").await;
    assert_eq!(first.body["chat_id"].to_string(), CHAT_ID);
    let retried = tg.requests();
    assert_eq!(retried[0].reply, ChatReply::RateLimited { retry_after_secs: 1.0 });
    assert!(
        retried[1].at.duration_since(retried[0].at).as_secs_f64() >= 1.0,
        "Telegram's retry_after was honoured"
    );

    // The owner gives the key back: the next tick lands, and the condition clears.
    set_updater(&d.target_admin, d.oracle, d.updater).await;
    bot.await_line("Oracle updated successfully").await;
    for server in [&tg, &dc] {
        let recovery = server.await_message("Resolved: Oracle updates failing").await;
        let text = recovery.plain_text();
        assert!(text.contains("RESOLVED (was critical)") && text.contains("Lasted: "), "{text}");
        // One alert and one recovery: the failing ticks in between did not repeat it.
        let failing = server.delivered().iter().filter(|t| t.contains("Oracle updates failing")).count();
        assert_eq!(failing, 2, "{:#?}", server.delivered());
    }

    let metrics = alloy::transports::http::reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for channel in ["telegram", "discord"] {
        let series = format!("oracle_alerts_sent_total{{bot_id=\"alerts-bot\",channel=\"{channel}\"}}");
        assert!(metrics.contains(&series), "missing {series} in:\n{metrics}");
        assert!(
            metrics.contains("oracle_alert_failures_total")
                && metrics.contains("oracle_alerts_dropped_total")
        );
    }
    let health = alloy::transports::http::reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let log = bot.log();
    let token_secret = TELEGRAM_TOKEN.split(':').nth(1).unwrap();
    for secret in [token_secret, DISCORD_WEBHOOK_TOKEN] {
        for (what, text) in [("log", &log), ("/metrics", &metrics), ("/health", &health)] {
            assert!(!text.contains(secret), "a secret in the bot's {what}:\n{text}");
        }
    }
    assert!(log.contains("alerts go to Telegram") && log.contains("alerts go to Discord"), "{log}");
}
