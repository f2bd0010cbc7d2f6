//! Confirming large moves before they are sent.
//!
//! A move beyond the review threshold (`MAX_PRICE_DEVIATION_PCT`, 10%) is what a manipulated pool,
//! a glitched API or a misconfigured feed produces, and the contract lets one update move a price
//! by 50%. So such a move is held until [`Policy::confirm_ticks`] consecutive ticks have seen it,
//! in the same direction; one that reverts within the hold is never sent. Like [`decide`], this
//! is pure: what was seen so far ([`Holds`]) goes in, and the next [`Holds`] comes out.
//!
//! ```
//! use oracle_core::{Decision, Holds, Policy, confirm};
//! # fn plan() -> Decision { unimplemented!() }
//! # fn demo() {
//! let policy = Policy::default(); // confirm_ticks = 2
//! let holds = Holds::default();
//! let (first, holds) = confirm(plan(), &holds, &policy);   // a 20% move: held (1 of 2)
//! let (second, holds) = confirm(plan(), &holds, &policy);  // seen again: sent
//! # let _ = (first, second, holds); }
//! ```
//!
//! [`decide`]: crate::decide

use std::collections::BTreeMap;

use crate::{Decision, FeedId, Policy, SkipReason};

/// The large moves seen on the last consecutive ticks, per feed: direction and count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holds(BTreeMap<FeedId, (bool, u32)>);

impl Holds {
    /// Whether a large move is held for `feed`, and how many ticks have seen it.
    pub fn seen(&self, feed: &FeedId) -> Option<u32> {
        self.0.get(feed).map(|(_, n)| *n)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Applies the confirmation rule to `decision`: a plan with large moves is held (a
/// [`SkipReason::HeldForConfirmation`] skip) until every one has been seen on
/// [`Policy::confirm_ticks`] consecutive ticks in the same direction. Anything but a plan with
/// large moves (a quiet tick, a skip for another reason, a plan without them) ends every hold:
/// a move must persist, tick after tick, to be sent.
pub fn confirm(decision: Decision, holds: &Holds, policy: &Policy) -> (Decision, Holds) {
    let Decision::Submit(plan) = decision else { return (decision, Holds::default()) };
    if plan.review.is_empty() {
        return (Decision::Submit(plan), Holds::default());
    }
    let needed = policy.confirm_ticks();
    let mut next = Holds::default();
    let mut waiting = None;
    for flag in &plan.review {
        let seen = match holds.0.get(&flag.feed) {
            Some((rising, n)) if *rising == flag.rising => n.saturating_add(1),
            _ => 1,
        };
        next.0.insert(flag.feed.clone(), (flag.rising, seen));
        if seen < needed && waiting.is_none() {
            waiting = Some(SkipReason::HeldForConfirmation {
                feed: flag.feed.clone(),
                move_bps: flag.move_bps,
                seen,
                needed,
            });
        }
    }
    match waiting {
        Some(reason) => (Decision::Skip(reason), next),
        // Confirmed: once sent, the chain holds the new price and nothing is held any more.
        None => (Decision::Submit(plan), Holds::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Price, PriceUpdate, ReviewFlag, SubmitPlan, SubmitReason};

    fn large(rising: bool) -> Decision {
        Decision::Submit(SubmitPlan {
            update: PriceUpdate { prices: vec![(FeedId::ETH_USD, Price::whole(3600))], max_fee_per_gas: 1 },
            reasons: vec![SubmitReason::Deviation { feed: FeedId::ETH_USD, move_bps: Some(2_000) }],
            review: vec![ReviewFlag {
                feed: FeedId::ETH_USD,
                move_bps: Some(2_000),
                threshold_bps: 1_000,
                rising,
            }],
        })
    }

    fn quiet() -> Decision {
        Decision::Skip(SkipReason::WithinThreshold {
            largest_move_bps: 10,
            threshold_bps: 100,
            age: std::time::Duration::from_secs(60),
        })
    }

    #[test]
    fn a_large_move_is_sent_on_the_confirming_tick() {
        let policy = Policy::default();
        let (d, holds) = confirm(large(true), &Holds::default(), &policy);
        assert!(
            matches!(d, Decision::Skip(SkipReason::HeldForConfirmation { seen: 1, needed: 2, .. })),
            "{d:?}"
        );
        assert_eq!(holds.seen(&FeedId::ETH_USD), Some(1));
        let (d, holds) = confirm(large(true), &holds, &policy);
        assert!(matches!(d, Decision::Submit(_)), "{d:?}");
        assert!(holds.is_empty());
    }

    #[test]
    fn a_move_that_reverts_or_turns_is_never_sent() {
        let policy = Policy::builder().confirm_ticks(3).build().unwrap();
        let (_, holds) = confirm(large(true), &Holds::default(), &policy);
        let (_, holds) = confirm(large(true), &holds, &policy);
        // Reverted: a quiet tick ends the hold, and the count starts over.
        let (d, holds) = confirm(quiet(), &holds, &policy);
        assert_eq!(d, quiet());
        assert!(holds.is_empty());
        let (_, holds) = confirm(large(true), &holds, &policy);
        let (_, holds) = confirm(large(true), &holds, &policy);
        // Turned around: a fall is another move.
        let (d, holds) = confirm(large(false), &holds, &policy);
        assert!(matches!(d, Decision::Skip(SkipReason::HeldForConfirmation { seen: 1, .. })), "{d:?}");
        assert_eq!(holds.seen(&FeedId::ETH_USD), Some(1));
    }

    #[test]
    fn one_tick_sends_at_once_and_small_moves_are_untouched() {
        let once = Policy::builder().confirm_ticks(1).build().unwrap();
        assert!(matches!(confirm(large(true), &Holds::default(), &once).0, Decision::Submit(_)));
        assert!(Policy::builder().confirm_ticks(0).build().is_err());
        let Decision::Submit(mut plan) = large(true) else { unreachable!() };
        plan.review.clear();
        let small = Decision::Submit(plan);
        assert_eq!(confirm(small.clone(), &Holds::default(), &Policy::default()).0, small);
    }
}
