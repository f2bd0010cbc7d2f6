//! A generic EVM target: contracts shaped "one function takes N prices"; see [`GenericTarget`].

use alloy::{
    dyn_abi::{DynSolType, DynSolValue, FunctionExt, JsonAbiExt},
    json_abi::Function,
    primitives::{Bytes, I256, U256},
};

use super::EvmError;
use crate::{FeedId, Fence, Price, PriceUpdate, SubmitError};

/// What one argument of the update function carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The price of a feed, at the target's decimals (an `int` or `uint` argument).
    Price(FeedId),
    /// The unix time (seconds) the update was built at.
    Timestamp,
    /// The stored round number (from the getter's [`Output::Round`]) plus one.
    Round,
    /// The leader's fencing token.
    FencingToken,
}

/// What one output of the getter carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The stored price of a feed.
    Price(FeedId),
    /// When the prices were written (unix seconds): the decision's "last update".
    UpdatedAt,
    /// The stored round number.
    Round,
    /// Something the engine does not need.
    Ignore,
}

/// A generic EVM target: any contract shaped "one function takes N prices" (and, optionally, a
/// timestamp, a round number or the leader's fencing token), with a view function that returns
/// the stored prices and when they were written. It is described by the two signatures, what each
/// argument and each output carries, and the prices' decimals; the
/// [`ManualOracleSubmitter`](super::ManualOracleSubmitter) then lands updates on it exactly as on
/// `ManualPriceOracle` (simulate, capped fees, replacement, journal, the lowest-nonce rule).
///
/// ```
/// use oracle_core::{FeedId, evm::{GenericTarget, Input, Output}};
///
/// // function submit(uint80 roundId, int256 btcUsd, int256 ethUsd, uint64 observedAt)
/// // function latest() view returns (uint80 roundId, int256 btcUsd, int256 ethUsd, uint64 updatedAt)
/// let target = GenericTarget::builder()
///     .update("function submit(uint80 roundId, int256 btcUsd, int256 ethUsd, uint64 observedAt)")
///     .inputs([Input::Round, Input::Price(FeedId::new("BTC/USD")), Input::Price(FeedId::ETH_USD), Input::Timestamp])
///     .getter("function latest() view returns (uint80, int256, int256, uint64)")
///     .outputs([Output::Round, Output::Price(FeedId::new("BTC/USD")), Output::Price(FeedId::ETH_USD), Output::UpdatedAt])
///     .decimals(18)
///     .build()?;
/// assert_eq!(target.feeds(), vec![FeedId::new("BTC/USD"), FeedId::ETH_USD]);
/// # Ok::<(), oracle_core::evm::EvmError>(())
/// ```
///
/// Why the Jeju `ManualPriceOracle` stays its own configuration rather than becoming one of
/// these: its submitter also reads the contract's bounds and deviation rule (so `decide` never
/// plans an update the contract reverts), checks that the key is `priceUpdater()`, and detects
/// the fenced variant. A generic contract exposes none of that in a known shape; the engine
/// relies on simulation alone there. Both share the transaction machinery (`tx.rs`).
#[derive(Debug, Clone)]
pub struct GenericTarget {
    update: Function,
    inputs: Vec<Input>,
    getter: Function,
    outputs: Vec<Output>,
    decimals: u8,
}

/// Builds a [`GenericTarget`]; [`build`](Self::build) checks the description.
#[derive(Debug, Clone, Default)]
pub struct GenericTargetBuilder {
    update: Option<String>,
    inputs: Vec<Input>,
    getter: Option<String>,
    outputs: Vec<Output>,
    decimals: Option<u8>,
}

/// The decimals of the stored prices, by default: Chainlink's 8.
pub const DEFAULT_GENERIC_DECIMALS: u8 = 8;

impl GenericTargetBuilder {
    /// The update function's signature, `function name(type [name], ...)` (required).
    pub fn update(mut self, signature: impl Into<String>) -> Self {
        self.update = Some(signature.into());
        self
    }

    /// What each of the update function's arguments carries, in order (required).
    pub fn inputs(mut self, inputs: impl IntoIterator<Item = Input>) -> Self {
        self.inputs = inputs.into_iter().collect();
        self
    }

    /// The view function that returns the stored prices, `function name() view returns (...)`
    /// (required).
    pub fn getter(mut self, signature: impl Into<String>) -> Self {
        self.getter = Some(signature.into());
        self
    }

    /// What each of the getter's outputs carries, in order (required; one [`Output::UpdatedAt`]).
    pub fn outputs(mut self, outputs: impl IntoIterator<Item = Output>) -> Self {
        self.outputs = outputs.into_iter().collect();
        self
    }

    /// The decimals of the stored prices (default [`DEFAULT_GENERIC_DECIMALS`]).
    pub fn decimals(mut self, decimals: u8) -> Self {
        self.decimals = Some(decimals);
        self
    }

    /// Checks the description: both signatures parse, the roles match the arguments and outputs
    /// one to one and their types, every price written is read back, and the getter says when.
    pub fn build(self) -> Result<GenericTarget, EvmError> {
        let bad = |reason: String| EvmError::GenericTarget { reason };
        let parse = |which: &str, sig: Option<String>| -> Result<Function, EvmError> {
            let sig = sig.ok_or_else(|| bad(format!("the {which} function's signature is required")))?;
            let sig = if sig.trim_start().starts_with("function ") { sig } else { format!("function {sig}") };
            Function::parse(&sig)
                .map_err(|e| bad(format!("the {which} signature {sig:?} does not parse: {e}")))
        };
        let update = parse("update", self.update)?;
        let getter = parse("getter", self.getter)?;
        let decimals = self.decimals.unwrap_or(DEFAULT_GENERIC_DECIMALS);
        if decimals > 76 {
            return Err(bad(format!("{decimals} decimals: at most 76 fit 256 bits")));
        }
        if update.inputs.len() != self.inputs.len() {
            return Err(bad(format!(
                "{} takes {} arguments but {} roles were given",
                update.name,
                update.inputs.len(),
                self.inputs.len()
            )));
        }
        if getter.outputs.len() != self.outputs.len() {
            return Err(bad(format!(
                "{} returns {} values but {} roles were given",
                getter.name,
                getter.outputs.len(),
                self.outputs.len()
            )));
        }
        if !getter.inputs.is_empty() {
            return Err(bad(format!("the getter {} must take no arguments", getter.name)));
        }
        for (param, role) in update.inputs.iter().zip(&self.inputs) {
            let ty = DynSolType::parse(&param.ty).map_err(|e| bad(format!("{}: {e}", param.ty)))?;
            let integer = matches!(ty, DynSolType::Int(_) | DynSolType::Uint(_));
            if !integer {
                return Err(bad(format!(
                    "argument {:?} ({}) carries {role:?}: it must be an integer",
                    param.name, param.ty
                )));
            }
            if !matches!(role, Input::Price(_)) && matches!(ty, DynSolType::Int(_)) {
                return Err(bad(format!("argument {:?} carries {role:?}: it must be unsigned", param.name)));
            }
        }
        for (param, role) in getter.outputs.iter().zip(&self.outputs) {
            let ty = DynSolType::parse(&param.ty).map_err(|e| bad(format!("{}: {e}", param.ty)))?;
            if !matches!(role, Output::Ignore) && !matches!(ty, DynSolType::Int(_) | DynSolType::Uint(_)) {
                return Err(bad(format!(
                    "output {:?} ({}) carries {role:?}: it must be an integer",
                    param.name, param.ty
                )));
            }
        }
        let written: Vec<&FeedId> =
            self.inputs.iter().filter_map(|i| if let Input::Price(f) = i { Some(f) } else { None }).collect();
        let read: Vec<&FeedId> = self
            .outputs
            .iter()
            .filter_map(|o| if let Output::Price(f) = o { Some(f) } else { None })
            .collect();
        if written.is_empty() {
            return Err(bad("the update function writes no price".into()));
        }
        for (i, f) in written.iter().enumerate() {
            if written[..i].contains(f) {
                return Err(bad(format!("{f} is written twice")));
            }
            if !read.contains(f) {
                return Err(bad(format!("{f} is written but the getter does not return it")));
            }
        }
        if self.outputs.iter().filter(|o| **o == Output::UpdatedAt).count() != 1 {
            return Err(bad(
                "the getter must return exactly one UpdatedAt (when the prices were written)".into()
            ));
        }
        if self.inputs.contains(&Input::Round) && !self.outputs.contains(&Output::Round) {
            return Err(bad("the update takes a round but the getter does not return one".into()));
        }
        Ok(GenericTarget { update, inputs: self.inputs, getter, outputs: self.outputs, decimals })
    }
}

/// What the getter returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// Each price the update writes, in the update's argument order.
    pub(crate) prices: Vec<(FeedId, Price)>,
    /// When they were written (unix seconds).
    pub(crate) updated_at: u64,
    /// The stored round, if the getter returns one.
    pub(crate) round: Option<U256>,
}

impl GenericTarget {
    /// A builder.
    pub fn builder() -> GenericTargetBuilder {
        GenericTargetBuilder::default()
    }

    /// The feeds the update writes, in argument order.
    pub fn feeds(&self) -> Vec<FeedId> {
        self.inputs
            .iter()
            .filter_map(|i| if let Input::Price(f) = i { Some(f.clone()) } else { None })
            .collect()
    }

    /// The stored prices' decimals.
    pub fn decimals(&self) -> u8 {
        self.decimals
    }

    /// The update function's name, for logs.
    pub fn function_name(&self) -> &str {
        &self.update.name
    }

    /// The getter's call data.
    pub(crate) fn getter_calldata(&self) -> Bytes {
        Bytes::from(self.getter.selector().to_vec())
    }

    /// Decodes the getter's answer.
    pub(crate) fn decode(&self, raw: &[u8]) -> Result<Stored, SubmitError> {
        let invalid = |reason: String| SubmitError::InvalidResponse { reason };
        if raw.is_empty() {
            return Err(invalid(format!(
                "{}() returned no data: no such contract or function at the address",
                self.getter.name
            )));
        }
        let values = self
            .getter
            .abi_decode_output(raw)
            .map_err(|e| invalid(format!("{}() returned undecodable data: {e}", self.getter.name)))?;
        let mut found: Vec<(FeedId, Price)> = Vec::new();
        let (mut updated_at, mut round) = (None, None);
        for (value, role) in values.iter().zip(&self.outputs) {
            let what = || format!("{}() output {role:?}", self.getter.name);
            match role {
                Output::Ignore => {}
                Output::Price(feed) => {
                    let v = non_negative(value)
                        .ok_or_else(|| invalid(format!("{}: {value:?} is not a price", what())))?;
                    let price =
                        Price::new(v, self.decimals).map_err(|e| invalid(format!("{}: {e}", what())))?;
                    found.push((feed.clone(), price));
                }
                Output::UpdatedAt => {
                    let v = non_negative(value).and_then(|v| u64::try_from(v).ok());
                    updated_at =
                        Some(v.ok_or_else(|| invalid(format!("{}: {value:?} is not a timestamp", what())))?);
                }
                Output::Round => round = non_negative(value),
            }
        }
        let prices = self
            .feeds()
            .into_iter()
            .map(|f| {
                let p = found.iter().find(|(g, _)| *g == f).map(|(_, p)| *p);
                p.map(|p| (f.clone(), p)).ok_or_else(|| invalid(format!("the getter returned no {f}")))
            })
            .collect::<Result<_, _>>()?;
        let updated_at = updated_at.ok_or_else(|| invalid("the getter returned no update time".into()))?;
        Ok(Stored { prices, updated_at, round })
    }

    /// The update's call data: each argument from its role.
    pub(crate) fn calldata(
        &self,
        update: &PriceUpdate,
        fence: &Fence,
        now_unix: u64,
        stored_round: Option<U256>,
    ) -> Result<Bytes, SubmitError> {
        let invalid = |reason: String| SubmitError::InvalidResponse { reason };
        let mut values = Vec::with_capacity(self.inputs.len());
        for (param, role) in self.update.inputs.iter().zip(&self.inputs) {
            let ty = DynSolType::parse(&param.ty).map_err(|e| invalid(format!("{}: {e}", param.ty)))?;
            let magnitude = match role {
                Input::Price(feed) => {
                    let price = update
                        .price(feed)
                        .ok_or_else(|| invalid(format!("the update has no {feed} price")))?;
                    price.rescale(self.decimals).map_err(|e| invalid(format!("{feed}: {e}")))?.mantissa()
                }
                Input::Timestamp => U256::from(now_unix),
                Input::Round => stored_round
                    .unwrap_or_default()
                    .checked_add(U256::from(1u8))
                    .ok_or_else(|| invalid("the stored round is at its largest".into()))?,
                Input::FencingToken => U256::from(fence.token().0),
            };
            values.push(integer(&ty, magnitude).ok_or_else(|| {
                invalid(format!(
                    "{role:?} = {magnitude} does not fit argument {:?} ({})",
                    param.name, param.ty
                ))
            })?);
        }
        self.update
            .abi_encode_input(&values)
            .map(Bytes::from)
            .map_err(|e| invalid(format!("encoding {}: {e}", self.update.name)))
    }
}

/// A non-negative integer value as `U256`.
fn non_negative(value: &DynSolValue) -> Option<U256> {
    match value {
        DynSolValue::Uint(v, _) => Some(*v),
        DynSolValue::Int(v, _) if !v.is_negative() => Some(v.into_raw()),
        _ => None,
    }
}

/// `v` as a value of integer type `ty`, if it fits its bits.
fn integer(ty: &DynSolType, v: U256) -> Option<DynSolValue> {
    match *ty {
        DynSolType::Uint(bits) => {
            (bits >= 256 || v < (U256::from(1u8) << bits)).then_some(DynSolValue::Uint(v, bits))
        }
        DynSolType::Int(bits) => {
            // Positive values of an intN fit N - 1 bits.
            let fits = v < (U256::from(1u8) << (bits.saturating_sub(1)));
            fits.then(|| I256::try_from(v).ok()).flatten().map(|i| DynSolValue::Int(i, bits))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btc() -> FeedId {
        FeedId::new("BTC/USD")
    }

    fn target() -> GenericTarget {
        GenericTarget::builder()
            .update("submit(uint80 roundId, int256 btcUsd, int256 ethUsd, uint64 observedAt)")
            .inputs([Input::Round, Input::Price(btc()), Input::Price(FeedId::ETH_USD), Input::Timestamp])
            .getter("function latest() view returns (uint80, int256, int256, uint64)")
            .outputs([Output::Round, Output::Price(btc()), Output::Price(FeedId::ETH_USD), Output::UpdatedAt])
            .decimals(18)
            .build()
            .unwrap()
    }

    fn fence() -> Fence {
        Fence::unfenced()
    }

    #[test]
    fn a_description_whose_roles_do_not_match_is_refused_naming_what() {
        let err = |b: GenericTargetBuilder| b.build().unwrap_err().to_string();
        let base = || {
            GenericTarget::builder()
                .update("set(uint256 a, uint256 b)")
                .inputs([Input::Price(FeedId::ETH_USD), Input::Price(btc())])
                .getter("get() view returns (uint256, uint256, uint256)")
                .outputs([Output::Price(FeedId::ETH_USD), Output::Price(btc()), Output::UpdatedAt])
        };
        assert!(base().build().is_ok());
        assert!(
            err(base().inputs([Input::Price(FeedId::ETH_USD)])).contains("takes 2 arguments but 1 roles")
        );
        assert!(err(base().update("set(uint256 a, address b)")).contains("must be an integer"));
        assert!(
            err(base().update("set(uint256 a, int256 b)").inputs([Input::Price(btc()), Input::Timestamp]))
                .contains("must be unsigned")
        );
        assert!(
            err(base().outputs([Output::Price(FeedId::ETH_USD), Output::Price(btc()), Output::Ignore]))
                .contains("exactly one UpdatedAt")
        );
        assert!(
            err(base().outputs([Output::Price(FeedId::ETH_USD), Output::Ignore, Output::UpdatedAt]))
                .contains("BTC/USD is written but the getter does not return it")
        );
        assert!(err(base().update("set(uint256 a")).contains("does not parse"));
        assert!(err(base().decimals(77)).contains("at most 76"));
        assert!(err(GenericTarget::builder()).contains("update function's signature is required"));
    }

    #[test]
    fn calldata_puts_each_argument_where_its_role_says_and_decode_reads_it_back() {
        let t = target();
        let update = PriceUpdate {
            prices: vec![
                (FeedId::ETH_USD, Price::parse("3000", 8).unwrap()),
                (btc(), Price::parse("95000.5", 8).unwrap()),
            ],
            max_fee_per_gas: 1,
        };
        let data = t.calldata(&update, &fence(), 1_700_000_000, Some(U256::from(41u8))).unwrap();
        let args = t.update.abi_decode_input(&data[4..]).unwrap();
        let e18 = U256::from(10u8).pow(U256::from(18u8));
        assert_eq!(args[0], DynSolValue::Uint(U256::from(42u8), 80), "the stored round plus one");
        assert_eq!(
            args[1],
            DynSolValue::Int(I256::try_from(U256::from(950_005_u64) * e18 / U256::from(10u8)).unwrap(), 256)
        );
        assert_eq!(args[2], DynSolValue::Int(I256::try_from(U256::from(3_000u64) * e18).unwrap(), 256));
        assert_eq!(args[3], DynSolValue::Uint(U256::from(1_700_000_000u64), 64));

        let answer = t.getter.abi_encode_output(&[
            DynSolValue::Uint(U256::from(42u8), 80),
            args[1].clone(),
            args[2].clone(),
            DynSolValue::Uint(U256::from(1_700_000_001u64), 64),
        ]);
        let stored = t.decode(&answer.unwrap()).unwrap();
        assert_eq!(stored.updated_at, 1_700_000_001);
        assert_eq!(stored.round, Some(U256::from(42u8)));
        assert_eq!(stored.prices[0].0, btc(), "in the update's argument order");
        assert!(stored.prices[1].1.cmp_value(&Price::from_u128(3_000, 0).unwrap()).is_eq());
    }

    #[test]
    fn values_that_do_not_fit_or_negative_answers_are_errors_not_panics() {
        let t = GenericTarget::builder()
            .update("set(uint8 eth, uint256 token)")
            .inputs([Input::Price(FeedId::ETH_USD), Input::FencingToken])
            .getter("get() view returns (int256, uint256)")
            .outputs([Output::Price(FeedId::ETH_USD), Output::UpdatedAt])
            .decimals(0)
            .build()
            .unwrap();
        let update = |v: u128| PriceUpdate {
            prices: vec![(FeedId::ETH_USD, Price::from_u128(v, 0).unwrap())],
            max_fee_per_gas: 1,
        };
        assert!(t.calldata(&update(255), &fence(), 0, None).is_ok());
        let e = t.calldata(&update(256), &fence(), 0, None).unwrap_err().to_string();
        assert!(e.contains("does not fit argument \"eth\" (uint8)"), "{e}");
        let negative = t
            .getter
            .abi_encode_output(&[DynSolValue::Int(I256::MINUS_ONE, 256), DynSolValue::Uint(U256::ZERO, 256)])
            .unwrap();
        assert!(t.decode(&negative).unwrap_err().to_string().contains("is not a price"));
        assert!(t.decode(&[]).unwrap_err().to_string().contains("no data"));
        assert!(t.decode(&[1, 2, 3]).unwrap_err().to_string().contains("undecodable"));
    }
}
