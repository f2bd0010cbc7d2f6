// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

/// @title RoundPriceFeed
/// @notice An oracle shaped unlike ManualPriceOracle, for the generic EVM target's worked example
///         (examples/generic_target.rs): numbered rounds that must follow each other, signed
///         18-decimal prices, BTC before ETH, and the time the prices were observed as an argument.
contract RoundPriceFeed {
    /// @notice The last round written.
    uint80 public roundId;
    /// @notice BTC/USD, 18 decimals.
    int256 public btcUsd;
    /// @notice ETH/USD, 18 decimals.
    int256 public ethUsd;
    /// @notice When the reporter observed the last prices.
    uint64 public observedAt;
    /// @notice The block time of the last write.
    uint64 public updatedAt;
    /// @notice The only account that may submit.
    address public immutable reporter;

    error NotReporter();
    error WrongRound(uint80 expected, uint80 got);
    error NotAPrice();
    error FromTheFuture(uint64 observedAt, uint256 blockTime);

    event Submitted(uint80 indexed roundId, int256 btcUsd, int256 ethUsd, uint64 observedAt);

    constructor(address reporter_, int256 btc, int256 eth) {
        reporter = reporter_;
        btcUsd = btc;
        ethUsd = eth;
        updatedAt = uint64(block.timestamp);
    }

    /// @notice Writes round `round` (the last one plus one).
    function submit(uint80 round, int256 btc, int256 eth, uint64 observed) external {
        if (msg.sender != reporter) revert NotReporter();
        if (round != roundId + 1) revert WrongRound(roundId + 1, round);
        if (btc <= 0 || eth <= 0) revert NotAPrice();
        if (observed > block.timestamp + 60) revert FromTheFuture(observed, block.timestamp);
        roundId = round;
        btcUsd = btc;
        ethUsd = eth;
        observedAt = observed;
        updatedAt = uint64(block.timestamp);
        emit Submitted(round, btc, eth, observed);
    }

    /// @notice The last round, both prices and the block time they were written at.
    function latest() external view returns (uint80, int256, int256, uint64) {
        return (roundId, btcUsd, ethUsd, updatedAt);
    }
}
