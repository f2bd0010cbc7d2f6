//! A fleet of three bots sharing nine targets, each target its own election, through the real
//! Redis and etcd (and the file backend for one host): every bot ends up with its fair share;
//! when one dies, the other two pick up its targets and keep their own: losing a bot moves only
//! its share.
// Test helpers may fail loudly: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use oracle_core::{LeaderElector, Leadership};
use oracle_election::{
    ElectorConfig, EtcdConfig, LeaseConfig, RedisUrl,
    share::{Membership, Share, SharedElector},
};
use oracle_tests::{
    bot::eventually,
    election::{EtcdServer, RedisServer, serial},
};

const TARGETS: usize = 9;

/// One bot: its share and one elector per target.
struct Bot {
    share: Arc<Share>,
    electors: Vec<SharedElector>,
}

impl Bot {
    /// One election round for every target.
    async fn round(&self) {
        for e in &self.electors {
            // A failed round is a follower round; the next one tries again.
            let _ = e.acquire_or_renew().await;
        }
    }

    fn held(&self) -> BTreeSet<String> {
        self.share.held()
    }
}

fn lease(secs_ms: u64) -> LeaseConfig {
    LeaseConfig::builder()
        .duration(Duration::from_millis(secs_ms))
        .renew_interval(Duration::from_millis(200))
        .renew_deadline(Duration::from_millis(1000))
        .build()
        .unwrap()
}

/// Three bots through `config(target)` electors and `members(bot)`; the scenario of the module.
async fn three_bots_share_nine_targets<C, M>(config: C, members: M, lease: LeaseConfig)
where
    C: Fn(&str) -> ElectorConfig,
    M: Fn(&str) -> Membership,
{
    let targets: Vec<String> = (0..TARGETS).map(|i| format!("target-{i}")).collect();
    let mut bots = Vec::new();
    for id in ["bot-a", "bot-b", "bot-c"] {
        let share = Share::new(Arc::new(members(id)), TARGETS, 0);
        let mut electors = Vec::new();
        for t in &targets {
            let inner: Arc<dyn LeaderElector> = config(t).connect(id, lease).await.unwrap();
            electors.push(SharedElector::new(share.clone(), t.clone(), inner));
        }
        bots.push(Bot { share, electors });
    }

    // Rounds until each bot leads exactly its fair share: 3 of 9.
    let before = eventually("each bot leads 3 of the 9 targets", || async {
        for b in &bots {
            b.round().await;
        }
        let held: Vec<BTreeSet<String>> = bots.iter().map(Bot::held).collect();
        (held.iter().all(|h| h.len() == 3)).then_some(held)
    })
    .await;
    let all: BTreeSet<String> = before.iter().flatten().cloned().collect();
    assert_eq!(all.len(), TARGETS, "every target has a leader, none two: {before:?}");
    // The backend names, for every target, the bot that believes it leads it; another round
    // changes nothing.
    for (b, held) in bots.iter().zip(&before) {
        for e in &b.electors {
            let leads = matches!(e.acquire_or_renew().await.unwrap(), Leadership::Leader(_));
            let named = e.leader().await.unwrap().map(|l| l.holder);
            assert_eq!(
                leads,
                named.as_deref() == Some(e.id()),
                "{e:?}: leads {leads}, backend names {named:?}"
            );
        }
        assert_eq!(&b.held(), held, "a settled fleet stays as it is");
    }

    // bot-c dies: no release, its leases and its membership run out.
    let dead = bots.pop().unwrap();
    let dead_held = dead.held();
    drop(dead);
    let after = eventually("the two live bots lead all 9 targets", || async {
        for b in &bots {
            b.round().await;
        }
        let held: Vec<BTreeSet<String>> = bots.iter().map(Bot::held).collect();
        let union: BTreeSet<&String> = held.iter().flatten().collect();
        (union.len() == TARGETS && held[0].is_disjoint(&held[1])).then_some(held)
    })
    .await;
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(b.is_subset(a), "bot {i} kept its own targets {b:?}, now {a:?}");
        assert!(a.len() <= TARGETS.div_ceil(2), "bot {i} within its new share: {a:?}");
    }
    let moved: BTreeSet<String> = after
        .iter()
        .flatten()
        .filter(|t| !before[0].contains(*t) && !before[1].contains(*t))
        .cloned()
        .collect();
    assert_eq!(moved, dead_held, "only the dead bot's targets moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_shares_targets_through_redis() {
    let _one = serial().await;
    let redis = RedisServer::start().await;
    let url = RedisUrl::parse(&redis.url()).unwrap();
    let lease = lease(1500);
    three_bots_share_nine_targets(
        |t| ElectorConfig::Redis { url: url.clone(), key_prefix: format!("oracle:{t}") },
        |bot| Membership::redis(&url, "oracle-fleet", bot, lease.duration()).unwrap(),
        lease,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_shares_targets_through_etcd() {
    let _one = serial().await;
    let etcd = EtcdServer::start().await;
    let endpoints = vec![etcd.endpoint()];
    let lease = lease(2000);
    three_bots_share_nine_targets(
        |t| {
            let mut c = EtcdConfig::new(endpoints.clone());
            c.election = format!("oracle/{t}");
            ElectorConfig::Etcd(c)
        },
        |bot| Membership::etcd(&endpoints, "oracle-fleet", bot, lease.duration()),
        lease,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_shares_targets_through_files_on_one_host() {
    let dir = tempfile::tempdir().unwrap();
    let lease = lease(1500);
    let root = dir.path().to_path_buf();
    three_bots_share_nine_targets(
        |t| ElectorConfig::File { path: root.join(format!("{t}.lock")) },
        |bot| Membership::file(root.join("members"), bot, lease.duration()),
        lease,
    )
    .await;
}
