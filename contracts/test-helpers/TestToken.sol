// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken
/// @notice A plain OpenZeppelin ERC-20 with configurable decimals and an open `mint`, for tests on
/// local chains only (the Uniswap V3 source needs tokens with 6 and 18 decimals in either order).
contract TestToken is ERC20 {
    uint8 private immutable _decimals;

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_) {
        _decimals = decimals_;
    }

    /// @inheritdoc ERC20
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Creates `amount` tokens for `to`. Unrestricted: this token only exists in tests.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
