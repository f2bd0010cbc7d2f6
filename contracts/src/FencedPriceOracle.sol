// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ManualPriceOracle} from "./ManualPriceOracle.sol";

/// @title FencedPriceOracle
/// @notice A ManualPriceOracle whose regular updates carry the updater's fencing token (the term
///         number handed out by leader election) and are refused when the token is lower than the
///         highest one seen. A leader that lost its lease (paused, partitioned) and wakes up with an
///         old token cannot overwrite the prices its successor wrote: the chain itself enforces
///         "one leader at a time", not just the bots' clocks.
/// @dev Same storage, bounds, deviation rule and emergency path as ManualPriceOracle. The unfenced
///      `updatePrices` is disabled, or a stale leader could simply bypass the fence.
contract FencedPriceOracle is ManualPriceOracle {
    /// @notice The highest fencing token accepted so far.
    uint256 public highestFencingToken;

    /// @notice A fenced update carried a token lower than one already accepted.
    error StaleFencingToken(uint256 token, uint256 highest);
    /// @notice The unfenced update was called on the fenced oracle.
    error FencingTokenRequired();

    /// @notice The owner set the highest accepted token by hand (recovery).
    event HighestFencingTokenSet(uint256 previous, uint256 highest);

    constructor(uint256 initialEthPrice, uint256 initialElizaPrice, address initialOwner)
        ManualPriceOracle(initialEthPrice, initialElizaPrice, initialOwner)
    {}

    /// @notice Disabled: use `updatePricesFenced`.
    function updatePrices(uint256, uint256) external pure override {
        revert FencingTokenRequired();
    }

    /// @notice Recovery, owner only: sets the highest accepted token, lower or higher. Lower it
    ///         when the fleet moved to an election backend whose tokens cannot exceed the old
    ///         highest (the bots raise their tokens above it themselves where the backend can,
    ///         so this is the last resort); raise it to shut out every current term at once.
    /// @dev Lowering it readmits terms older than the current one: stop the old fleet first.
    function setHighestFencingToken(uint256 highest) external onlyOwner {
        emit HighestFencingTokenSet(highestFencingToken, highest);
        highestFencingToken = highest;
    }

    /// @notice A regular update (authorization, bounds, deviation rule) from the leader holding
    ///         `fencingToken`; equal tokens are accepted (one leader updates many times per term).
    function updatePricesFenced(uint256 newEthPrice, uint256 newElizaPrice, uint256 fencingToken) external {
        if (fencingToken < highestFencingToken) revert StaleFencingToken(fencingToken, highestFencingToken);
        highestFencingToken = fencingToken;
        _updatePrices(newEthPrice, newElizaPrice);
    }
}
