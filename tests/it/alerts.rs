//! The real Telegram (teloxide) and Discord (serenity) alerters behind the alert layer, against
//! local servers that speak both APIs (`oracle_tests::chat_servers`): text, chat and severity as
//! they arrive; reminders and recoveries; a hanging channel while the engine ticks on anvil;
//! rate-limit answers; escaping; floods; and no secret in any log line.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// 8-decimal prices are written `dollars_fraction` (`3_100_00000000` is $3100).
#![allow(clippy::inconsistent_digit_grouping)]

use std::{sync::Arc, time::Duration};

use oracle_alerts::{
    Alert, AlertLayer, Alerter, Channel, DiscordAlerter, MessageContext, Secret, Severity, TelegramAlerter,
    TelegramChat,
};
use oracle_core::{AlwaysLeader, TickOutcome, engine::AlertRules};
use oracle_tests::{
    Deployment,
    bot::HANG_GUARD,
    capture::LogCapture,
    chat_servers::{
        ChatReply, ChatServer, DISCORD_WEBHOOK_ID, DISCORD_WEBHOOK_TOKEN, TELEGRAM_TOKEN, discord_webhook_url,
    },
    init_tracing,
    parts::engine_builder,
    set_updater,
};
use tokio_util::sync::CancellationToken;

const CHAT_ID: i64 = -1_001_234_567_890;

fn telegram(server: &ChatServer) -> Arc<TelegramAlerter> {
    Arc::new(
        TelegramAlerter::builder(Secret::new(TELEGRAM_TOKEN), TelegramChat::Id(CHAT_ID))
            .api_url(server.url())
            .context(MessageContext::new("alerts-test"))
            .build()
            .unwrap(),
    )
}

fn discord(server: &ChatServer) -> Arc<DiscordAlerter> {
    Arc::new(
        DiscordAlerter::builder(&Secret::new(discord_webhook_url()))
            .unwrap()
            .api_url(server.url())
            .context(MessageContext::new("alerts-test"))
            .build()
            .unwrap(),
    )
}

/// A channel with quick retries, so failing answers are retried within the test.
fn channel(alerter: Arc<dyn Alerter>) -> Channel {
    Channel::new(alerter).retries(4, Duration::from_millis(50), Duration::from_millis(200))
}

/// Both channels behind one layer, reminders every `reminder` (or never).
fn layer(telegram: &ChatServer, discord: &ChatServer, reminder: Option<Duration>) -> AlertLayer {
    AlertLayer::builder()
        .channel(channel(self::telegram(telegram)))
        .channel(channel(self::discord(discord)))
        .reminder_interval(reminder)
        .build()
        .unwrap()
}

/// Sends a marker alert and waits for it on every server. A channel delivers in order, so every
/// alert sent before it has been counted in the layer's stats by then (the marker itself may or
/// may not be: compare `failed` and `dropped`, and count deliveries on the servers).
async fn settle(layer: &AlertLayer, servers: &[&ChatServer]) {
    layer.send(&Alert::event(Severity::Critical, "settle", "settle marker", "")).await.unwrap();
    for server in servers {
        server.await_message("settle marker").await;
    }
}

async fn servers() -> (ChatServer, ChatServer) {
    (ChatServer::telegram().await, ChatServer::discord().await)
}

#[tokio::test]
async fn messages_arrive_with_the_right_text_chat_and_severity() {
    let (tg, dc) = servers().await;
    let layer = layer(&tg, &dc, None);
    let alert = Alert::new(
        Severity::Critical,
        "update-failed",
        "Oracle updates failing",
        "Bot alerts-test: 5 ticks failed in a row.",
    );
    layer.send(&alert).await.unwrap();

    let sent = tg.await_message("Oracle updates failing").await;
    // Bot API method names are case-insensitive; teloxide writes `SendMessage`.
    assert!(sent.path.eq_ignore_ascii_case(&format!("/bot{TELEGRAM_TOKEN}/sendMessage")), "{}", sent.path);
    assert_eq!(sent.body["chat_id"], CHAT_ID);
    assert_eq!(sent.body["parse_mode"], "HTML");
    let text = sent.text();
    for part in [
        "<b>Jeju Oracle Bot Alert</b>",
        "🚨 CRITICAL",
        "Bot alerts-test: 5 ticks failed in a row.",
        "Bot: <code>alerts-test</code>",
        "Time: 20",
        " UTC",
    ] {
        assert!(text.contains(part), "{part:?} missing in {text}");
    }

    let sent = dc.await_message("Oracle updates failing").await;
    assert_eq!(sent.path, format!("/api/v10/webhooks/{DISCORD_WEBHOOK_ID}/{DISCORD_WEBHOOK_TOKEN}"));
    assert_eq!(sent.query.as_deref(), Some("&wait=true"));
    assert_eq!(sent.body["allowed_mentions"]["parse"], serde_json::json!([]), "nobody is pinged");
    let text = sent.text();
    for part in ["**Jeju Oracle Bot Alert**", "🚨 CRITICAL", "Bot: alerts\\-test", "UTC"] {
        assert!(text.contains(part), "{part:?} missing in {text}");
    }
}

#[tokio::test]
async fn a_persisting_condition_yields_one_alert_one_reminder_and_one_recovery() {
    let (tg, dc) = servers().await;
    let layer = layer(&tg, &dc, Some(Duration::from_secs(2)));
    layer
        .send(&Alert::new(Severity::Warning, "balance-low", "Updater wallet balance low", "0.005 ETH"))
        .await
        .unwrap();
    for server in [&tg, &dc] {
        server.await_message("Reminder: Updater wallet balance low").await;
    }
    layer
        .send(&Alert::resolved(
            "balance-low",
            "Resolved: Updater wallet balance low",
            "topped up",
            Severity::Warning,
            Some(Duration::from_secs(2)),
        ))
        .await
        .unwrap();
    for server in [&tg, &dc] {
        let recovery = server.await_message("Resolved: Updater wallet balance low").await;
        assert!(recovery.plain_text().contains("RESOLVED (was warning)"), "{}", recovery.text());
        assert!(recovery.plain_text().contains("Lasted: 2s"), "{}", recovery.text());
        let titles: Vec<String> = server
            .delivered()
            .iter()
            .map(|t| t.lines().nth(1).unwrap_or_default().split(" · ").nth(1).unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            titles,
            [
                "Updater wallet balance low",
                "Reminder: Updater wallet balance low",
                "Resolved: Updater wallet balance low"
            ],
            "one alert, one reminder, one recovery"
        );
    }
}

/// The engine ticks every 100 ms on anvil with its updater key revoked (every tick fails and
/// raises an alert at once). Telegram accepts the alert's request and never answers; Discord
/// answers 502 again and again. Ticks go on at their interval the whole time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_failing_channel_does_not_delay_ticks() {
    init_tracing();
    let (tg, dc) = servers().await;
    tg.script([ChatReply::Hang]);
    dc.script([ChatReply::ServerError; 50]);
    let layer = AlertLayer::builder()
        // The hung request stays open for the whole test: the channel's own limit is an hour.
        .channel(Channel::new(telegram(&tg)).send_timeout(Duration::from_secs(3600)))
        .channel(channel(discord(&dc)).retries(50, Duration::from_millis(50), Duration::from_millis(50)))
        .build()
        .unwrap();

    let d = Deployment::start().await;
    set_updater(&d.target_admin, d.oracle, d.target.addresses()[2]).await;
    d.advance_target(120).await;
    d.set_eth(3_100_00000000).await;
    let interval = Duration::from_millis(100);
    let engine = Arc::new(
        engine_builder(&d, Arc::new(AlwaysLeader::new("tick-bot")), Arc::new(d.submitter(1).await))
            .alerter(Arc::new(layer))
            .alert_rules(AlertRules::default().failure_threshold(1))
            .interval(interval)
            .build()
            .unwrap(),
    );
    let mut status = engine.status();
    let cancel = CancellationToken::new();
    let running = tokio::spawn({
        let (engine, cancel) = (engine.clone(), cancel.clone());
        async move { engine.run(cancel).await }
    });

    let hung = tg.await_requests(1).await;
    assert!(hung[0].plain_text().contains("Oracle updates failing"), "{}", hung[0].text());
    dc.await_requests(2).await;
    let first = status.borrow_and_update().ticks;
    let mut starts = Vec::new();
    while starts.len() < 6 {
        tokio::time::timeout(HANG_GUARD, status.changed()).await.expect("ticks go on").unwrap();
        let s = status.borrow_and_update().clone();
        let report = s.last_report.unwrap();
        assert!(matches!(report.outcome, TickOutcome::Failed(_)), "{report:?}");
        starts.push(report.started_at);
    }
    // Still the one request, still unanswered: the channel hung through all these ticks.
    let requests = tg.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].reply, ChatReply::Hang);
    assert!(status.borrow().ticks >= first + 6);
    // Each tick started about one interval after the previous one; a tick that waited on the
    // channel would have taken the channel's hour. (The bound is a hang guard, not a timing
    // measurement.)
    for pair in starts.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap();
        assert!(gap >= interval / 2 && gap < Duration::from_secs(30), "ticks {pair:?} are {gap:?} apart");
    }
    cancel.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn rate_limit_answers_are_honoured() {
    let (tg, dc) = servers().await;
    tg.script([ChatReply::RateLimited { retry_after_secs: 1.0 }]);
    dc.script([ChatReply::RateLimited { retry_after_secs: 0.5 }]);
    let layer = layer(&tg, &dc, None);
    layer.send(&Alert::new(Severity::Error, "a", "first", "")).await.unwrap();
    layer.send(&Alert::new(Severity::Error, "b", "second", "")).await.unwrap();
    for (server, asked) in [(&tg, Duration::from_secs(1)), (&dc, Duration::from_millis(500))] {
        server.await_message("second").await;
        let r = server.requests();
        let replies: Vec<ChatReply> = r.iter().map(|r| r.reply).collect();
        assert_eq!(
            replies,
            [ChatReply::RateLimited { retry_after_secs: asked.as_secs_f64() }, ChatReply::Ok, ChatReply::Ok]
        );
        assert!(r[1].plain_text().contains("first") && r[2].plain_text().contains("second"));
        // Neither the retry nor the next message went out before the platform's wait was over.
        assert!(
            r[1].at.duration_since(r[0].at) >= asked,
            "retried after {:?}",
            r[1].at.duration_since(r[0].at)
        );
        assert!(r[2].at.duration_since(r[0].at) >= asked);
    }
}

#[tokio::test]
async fn server_errors_are_retried_and_refusals_are_counted_not_retried() {
    let (tg, dc) = servers().await;
    dc.script([ChatReply::ServerError, ChatReply::ServerError]);
    tg.script([ChatReply::Refused]);
    let layer = layer(&tg, &dc, None);
    layer.send(&Alert::new(Severity::Error, "a", "first", "")).await.unwrap();
    dc.await_message("first").await;
    assert_eq!(dc.requests().len(), 3, "two 502s, then delivered");
    layer.send(&Alert::new(Severity::Error, "b", "second", "")).await.unwrap();
    tg.await_message("second").await;
    let replies: Vec<ChatReply> = tg.requests().iter().map(|r| r.reply).collect();
    assert_eq!(replies, [ChatReply::Refused, ChatReply::Ok], "a 401 is not retried");
    settle(&layer, &[&tg, &dc]).await;
    let stats = layer.stats();
    assert_eq!((stats[0].failed, stats[1].failed), (1, 0), "the refused message is counted: {stats:?}");
}

#[tokio::test]
async fn a_hostile_string_arrives_escaped() {
    let (tg, dc) = servers().await;
    let layer = layer(&tg, &dc, None);
    // A source's error message or a price string that tries to format, link, ping and close tags.
    let hostile = r#"price </code><b>0</b> & <a href="https://evil.example">x</a> **bold** [link](https://evil.example) <@123> @everyone `tick` ||spoiler||"#;
    layer
        .send(&Alert::new(Severity::Error, "skip:zero_price", "ELIZAOS/USD <i>zero</i>", hostile))
        .await
        .unwrap();

    let sent = tg.await_message("ELIZAOS/USD").await;
    let text = sent.text();
    assert!(text.contains("ELIZAOS/USD &lt;i&gt;zero&lt;/i&gt;"), "{text}");
    let body = text.split("\n\n").nth(1).unwrap();
    assert!(!body.contains('<') && !body.contains('>'), "no tag survives: {body}");
    let unescaped =
        body.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&");
    assert_eq!(unescaped, hostile, "the text shows exactly as written");
    assert_eq!(sent.body["link_preview_options"]["is_disabled"], true);

    let sent = dc.await_message("ELIZAOS").await;
    let body = sent.text().split("\n\n").nth(1).unwrap();
    let mut unescaped = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(&next) if c == '\\' && next.is_ascii_punctuation() => {
                unescaped.push(next);
                chars.next();
            }
            Some(_) | None if c.is_ascii_punctuation() => panic!("{c:?} left unescaped in {body}"),
            _ => unescaped.push(c),
        }
    }
    assert_eq!(unescaped, hostile);
    assert_eq!(sent.body["allowed_mentions"]["parse"], serde_json::json!([]));
}

#[tokio::test(flavor = "current_thread")]
async fn a_flood_becomes_one_summary() {
    let (tg, dc) = servers().await;
    let layer = layer(&tg, &dc, None);
    // Every RPC endpoint down at once and a burst of failures: 120 alerts within one moment
    // (nothing here yields, so all of them wait before the channels' tasks run). The queues hold
    // 100 each: the 20 oldest of the least severe are dropped, the critical ones are kept.
    for i in 0..120 {
        let severity = if i < 3 { Severity::Critical } else { Severity::Error };
        layer
            .send(&Alert::new(severity, format!("rpc-down:{i}"), format!("RPC {i} down"), ""))
            .await
            .unwrap();
    }
    for server in [&tg, &dc] {
        let summary = server.await_message("100 alerts at once").await;
        let text = summary.plain_text();
        assert!(text.contains("3 critical, 97 error"), "{text}");
        assert!(text.contains("[critical] RPC 0 down") && text.contains("[critical] RPC 2 down"), "{text}");
        assert!(text.contains("20 lower-severity alerts were dropped"), "{text}");
        assert!(summary.plain_text().contains("CRITICAL"), "{}", summary.text());
    }
    assert_eq!((tg.requests().len(), dc.requests().len()), (1, 1), "one message per channel");
    settle(&layer, &[&tg, &dc]).await;
    let stats = layer.stats();
    assert!(stats.iter().all(|s| s.dropped == 20 && s.failed == 0), "{stats:?}");
}

/// Every outcome a channel can meet (delivered, rate limited, server error, refused, timed out),
/// logged at `trace` with every library's spans and events: no line holds the bot token, the
/// webhook token or the webhook URL. `Debug` output and error messages neither.
#[tokio::test(flavor = "current_thread")]
async fn no_secret_appears_in_any_captured_log_line() {
    let (capture, _guard) = LogCapture::start_with("trace");
    let (tg, dc) = servers().await;
    tg.script([ChatReply::RateLimited { retry_after_secs: 1.0 }, ChatReply::Refused, ChatReply::Hang]);
    dc.script([ChatReply::RateLimited { retry_after_secs: 0.1 }, ChatReply::ServerError, ChatReply::Refused]);
    let (tga, dca) = (telegram(&tg), discord(&dc));
    tracing::info!(telegram = ?tga, discord = ?dca, "alerters built");
    let layer = AlertLayer::builder()
        .channel(channel(tga.clone()).send_timeout(Duration::from_millis(500)))
        .channel(channel(dca.clone()).retries(0, Duration::ZERO, Duration::ZERO))
        .build()
        .unwrap();
    tracing::info!(layer = ?layer, "layer built");
    for i in 0..4 {
        layer.send(&Alert::new(Severity::Error, format!("k{i}"), format!("alert {i}"), "")).await.unwrap();
    }
    tg.await_message("alert 3").await;
    dc.await_message("alert 3").await;
    // Direct errors, as a caller of the alerters would see them.
    tg.script([ChatReply::Refused]);
    dc.script([ChatReply::Refused]);
    let alert = Alert::new(Severity::Info, "x", "direct", "");
    let errors = [tga.send(&alert).await.unwrap_err(), dca.send(&alert).await.unwrap_err()];
    tracing::info!(?errors, "direct errors");
    for e in &errors {
        tracing::warn!(error = %e, "direct error");
    }

    let text = capture.text();
    assert!(text.contains("alert not delivered"), "the failures were logged: {text}");
    assert!(text.contains("alert delivery failed, retrying"), "{text}");
    let token_secret = TELEGRAM_TOKEN.split(':').nth(1).unwrap();
    for secret in [TELEGRAM_TOKEN, token_secret, DISCORD_WEBHOOK_TOKEN, &discord_webhook_url()] {
        assert!(!text.contains(secret), "a secret in the log:\n{text}");
    }
}
