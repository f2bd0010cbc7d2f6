// SPDX-License-Identifier: GPL-2.0-or-later
pragma solidity =0.7.6;
pragma abicoder v2;

import {OracleLibrary} from "@uniswap/v3-periphery/contracts/libraries/OracleLibrary.sol";

/// @title OracleLibraryHarness
/// @notice Exposes Uniswap's own OracleLibrary (v3-periphery 1.4.4, compiled with solc 0.7.6) so
/// that tests can compare oracle-sources' Rust port with it, number for number, on real pools.
contract OracleLibraryHarness {
    /// @notice `OracleLibrary.consult`: the arithmetic mean tick and the harmonic-mean liquidity of
    /// `pool` over the last `secondsAgo` seconds.
    function consult(address pool, uint32 secondsAgo)
        external
        view
        returns (int24 arithmeticMeanTick, uint128 harmonicMeanLiquidity)
    {
        return OracleLibrary.consult(pool, secondsAgo);
    }

    /// @notice `OracleLibrary.getWeightedArithmeticMeanTick` over `(ticks[i], weights[i])`.
    function weightedArithmeticMeanTick(int24[] calldata ticks, uint128[] calldata weights)
        external
        pure
        returns (int24)
    {
        require(ticks.length == weights.length, "lengths");
        OracleLibrary.WeightedTickData[] memory data = new OracleLibrary.WeightedTickData[](ticks.length);
        for (uint256 i = 0; i < ticks.length; i++) {
            data[i] = OracleLibrary.WeightedTickData({tick: ticks[i], weight: weights[i]});
        }
        return OracleLibrary.getWeightedArithmeticMeanTick(data);
    }

    /// @notice `OracleLibrary.getQuoteAtTick`.
    function quoteAtTick(int24 tick, uint128 baseAmount, address baseToken, address quoteToken)
        external
        pure
        returns (uint256)
    {
        return OracleLibrary.getQuoteAtTick(tick, baseAmount, baseToken, quoteToken);
    }
}
