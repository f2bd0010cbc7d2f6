// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title ManualPriceOracle
/// @notice ETH/USD and elizaOS/USD prices pushed by an off-chain updater, with sanity bounds and a
///         per-update deviation limit. Our own implementation of the interface deployed on Jeju
///         (same signatures, constants, errors, events and behaviour; see docs/architecture.md).
/// @dev Prices are USD with 8 decimals (Chainlink format): 300000000000 = $3,000.00.
contract ManualPriceOracle is Ownable {
    /// @notice Data older than this (seconds) is reported as not fresh.
    uint256 public constant PRICE_STALE_THRESHOLD = 3600;
    /// @notice Largest allowed move per update, in whole percent (after integer division).
    uint256 public constant MAX_DEVIATION_PCT = 50;
    /// @notice elizaOS/USD bounds (8 decimals), inclusive.
    uint256 public constant MIN_ELIZA_PRICE = 100;
    uint256 public constant MAX_ELIZA_PRICE = 1_000_000_000_000;
    /// @notice ETH/USD bounds (8 decimals), inclusive: $500 to $10,000.
    uint256 public constant MIN_ETH_PRICE = 50_000_000_000;
    uint256 public constant MAX_ETH_PRICE = 1_000_000_000_000;

    /// @dev Past this age the stored data is too old to compare against, so the deviation check is skipped
    ///      (lets the oracle recover after a long outage). The spec names no public constant for it.
    uint256 private constant DEVIATION_BYPASS_AGE = 1 days;

    /// @notice Latest ETH/USD price (8 decimals).
    uint256 public ethUsdPrice;
    /// @notice Latest elizaOS/USD price (8 decimals).
    uint256 public elizaUsdPrice;
    /// @notice Block timestamp of the latest price write (constructor or update).
    uint256 public lastUpdateTime;
    /// @notice Account allowed to call `updatePrices` besides the owner; zero until the owner sets it.
    address public priceUpdater;

    error PriceOutOfBounds();
    error PriceDeviationTooLarge();
    error NotAuthorized();
    error InvalidAddress();

    /// @notice Emitted on every price write after construction.
    event PricesUpdated(uint256 ethPrice, uint256 elizaPrice, uint256 timestamp);
    /// @notice Emitted when the owner changes the updater.
    event PriceUpdaterSet(address indexed updater);

    /// @param initialEthPrice ETH/USD, 8 decimals, within bounds.
    /// @param initialElizaPrice elizaOS/USD, 8 decimals, within bounds.
    /// @param initialOwner Owner (OpenZeppelin reverts `OwnableInvalidOwner` on zero).
    /// @dev The spec is silent on events here, so the constructor emits none.
    constructor(uint256 initialEthPrice, uint256 initialElizaPrice, address initialOwner) Ownable(initialOwner) {
        _checkBounds(initialEthPrice, initialElizaPrice);
        ethUsdPrice = initialEthPrice;
        elizaUsdPrice = initialElizaPrice;
        lastUpdateTime = block.timestamp;
    }

    /// @notice Regular update by the updater or the owner: bounds, then deviation (unless the data is
    ///         older than one day).
    function updatePrices(uint256 newEthPrice, uint256 newElizaPrice) external virtual {
        _updatePrices(newEthPrice, newElizaPrice);
    }

    /// @dev The regular update's checks and write, shared with variants that add their own checks.
    function _updatePrices(uint256 newEthPrice, uint256 newElizaPrice) internal {
        if (msg.sender != priceUpdater && msg.sender != owner()) revert NotAuthorized();
        _checkBounds(newEthPrice, newElizaPrice);
        // "Older than 1 day" is strict: at exactly 1 day of age the deviation check still applies.
        if (block.timestamp - lastUpdateTime <= DEVIATION_BYPASS_AGE) {
            _checkDeviation(newEthPrice, ethUsdPrice);
            _checkDeviation(newElizaPrice, elizaUsdPrice);
        }
        _store(newEthPrice, newElizaPrice);
    }

    /// @notice Owner-only update that skips the deviation check (bounds still apply).
    function emergencyPriceUpdate(uint256 newEthPrice, uint256 newElizaPrice) external onlyOwner {
        _checkBounds(newEthPrice, newElizaPrice);
        _store(newEthPrice, newElizaPrice);
    }

    /// @notice Sets the account allowed to call `updatePrices`.
    function setPriceUpdater(address updater) external onlyOwner {
        if (updater == address(0)) revert InvalidAddress();
        priceUpdater = updater;
        emit PriceUpdaterSet(updater);
    }

    /// @notice Both prices, their timestamp, and whether they are fresh (age <= PRICE_STALE_THRESHOLD).
    function getPrices() external view returns (uint256 ethUsd, uint256 elizaUsd, uint256 lastUpdate, bool fresh) {
        return (ethUsdPrice, elizaUsdPrice, lastUpdateTime, isPriceFresh());
    }

    /// @notice True while the stored prices are at most PRICE_STALE_THRESHOLD seconds old.
    function isPriceFresh() public view returns (bool) {
        return block.timestamp - lastUpdateTime <= PRICE_STALE_THRESHOLD;
    }

    /// @notice elizaOS per ETH, 18 decimals.
    function getElizaOSPerETH() public view returns (uint256) {
        return (ethUsdPrice * 1e18) / elizaUsdPrice;
    }

    /// @notice elizaOS (18 decimals) received for `ethAmount` wei at the stored prices.
    function previewConversion(uint256 ethAmount) external view returns (uint256) {
        return (ethAmount * getElizaOSPerETH()) / 1e18;
    }

    /// @notice Interface version of the deployed contract.
    function version() external pure returns (string memory) {
        return "1.0.0";
    }

    function _checkBounds(uint256 ethPrice, uint256 elizaPrice) private pure {
        if (ethPrice < MIN_ETH_PRICE || ethPrice > MAX_ETH_PRICE) revert PriceOutOfBounds();
        if (elizaPrice < MIN_ELIZA_PRICE || elizaPrice > MAX_ELIZA_PRICE) revert PriceOutOfBounds();
    }

    /// @dev Stored prices are never zero (bounds), so the division is safe.
    function _checkDeviation(uint256 newPrice, uint256 oldPrice) private pure {
        uint256 diff = newPrice > oldPrice ? newPrice - oldPrice : oldPrice - newPrice;
        if ((diff * 100) / oldPrice > MAX_DEVIATION_PCT) revert PriceDeviationTooLarge();
    }

    function _store(uint256 ethPrice, uint256 elizaPrice) private {
        ethUsdPrice = ethPrice;
        elizaUsdPrice = elizaPrice;
        lastUpdateTime = block.timestamp;
        emit PricesUpdated(ethPrice, elizaPrice, block.timestamp);
    }
}
