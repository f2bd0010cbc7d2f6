// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IUniswapV3Pool} from "@uniswap/v3-core/contracts/interfaces/IUniswapV3Pool.sol";
import {IUniswapV3MintCallback} from "@uniswap/v3-core/contracts/interfaces/callback/IUniswapV3MintCallback.sol";
import {IUniswapV3SwapCallback} from "@uniswap/v3-core/contracts/interfaces/callback/IUniswapV3SwapCallback.sol";

/// @title UniswapV3Caller
/// @notice Adds liquidity to and swaps in real Uniswap V3 pools for tests. A pool pays out and then
/// calls back for what it is owed; this contract pays it from the balances of whoever called
/// `mint`/`swap`, who must have approved this contract for both tokens first.
contract UniswapV3Caller is IUniswapV3MintCallback, IUniswapV3SwapCallback {
    /// @dev The lowest and highest sqrt prices a swap may move to (TickMath's bounds, exclusive).
    uint160 internal constant MIN_SQRT_RATIO = 4295128739;
    uint160 internal constant MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342;

    // Which pool is being called and who pays it, for the duration of one call. A callback from
    // anything else is refused: otherwise any contract could pose as a pool and spend the approvals.
    address private transient activePool;
    address private transient payer;

    /// @notice A callback came from something other than the pool being called.
    error UnexpectedCallback(address caller);
    /// @notice A token refused the transfer to the pool.
    error PaymentFailed(address token);

    /// @notice Adds `amount` liquidity between the two ticks, owned by the caller.
    function mint(address pool, int24 tickLower, int24 tickUpper, uint128 amount)
        external
        returns (uint256 amount0, uint256 amount1)
    {
        _enter(pool);
        (amount0, amount1) = IUniswapV3Pool(pool).mint(msg.sender, tickLower, tickUpper, amount, "");
        _exit();
    }

    /// @notice Swaps in `pool`, proceeds to the caller. `amountSpecified` > 0 is an exact input,
    /// < 0 an exact output; a zero `sqrtPriceLimitX96` means "no limit".
    function swap(address pool, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96)
        external
        returns (int256 amount0, int256 amount1)
    {
        if (sqrtPriceLimitX96 == 0) {
            sqrtPriceLimitX96 = zeroForOne ? MIN_SQRT_RATIO + 1 : MAX_SQRT_RATIO - 1;
        }
        _enter(pool);
        (amount0, amount1) = IUniswapV3Pool(pool).swap(msg.sender, zeroForOne, amountSpecified, sqrtPriceLimitX96, "");
        _exit();
    }

    /// @inheritdoc IUniswapV3MintCallback
    function uniswapV3MintCallback(uint256 amount0Owed, uint256 amount1Owed, bytes calldata) external override {
        _pay(amount0Owed, amount1Owed);
    }

    /// @inheritdoc IUniswapV3SwapCallback
    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata) external override {
        // Positive deltas are what the pool must receive.
        _pay(amount0Delta > 0 ? uint256(amount0Delta) : 0, amount1Delta > 0 ? uint256(amount1Delta) : 0);
    }

    function _enter(address pool) private {
        activePool = pool;
        payer = msg.sender;
    }

    function _exit() private {
        activePool = address(0);
        payer = address(0);
    }

    function _pay(uint256 amount0, uint256 amount1) private {
        if (msg.sender != activePool || msg.sender == address(0)) revert UnexpectedCallback(msg.sender);
        IUniswapV3Pool pool = IUniswapV3Pool(msg.sender);
        if (amount0 > 0) _transfer(pool.token0(), amount0);
        if (amount1 > 0) _transfer(pool.token1(), amount1);
    }

    function _transfer(address token, uint256 amount) private {
        if (!IERC20(token).transferFrom(payer, msg.sender, amount)) revert PaymentFailed(token);
    }
}
