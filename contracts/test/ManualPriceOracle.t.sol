// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ManualPriceOracle} from "../src/ManualPriceOracle.sol";
import {Test} from "./utils/Test.sol";

contract ManualPriceOracleTest is Test {
    // Mirrors of the contract's constants, so that argument lists never make an external call that would
    // consume a pending `prank`/`expectRevert`.
    uint256 constant MIN_ETH = 50_000_000_000;
    uint256 constant MAX_ETH = 1_000_000_000_000;
    uint256 constant MIN_ELIZA = 100;
    uint256 constant MAX_ELIZA = 1_000_000_000_000;

    uint256 constant ETH0 = 300_000_000_000; // $3,000.00
    uint256 constant ELIZA0 = 10_000_000; // $0.10
    uint256 constant T0 = 1_700_000_000;

    ManualPriceOracle oracle;
    address owner = vm.addr(1);
    address updater = vm.addr(2);
    address stranger = vm.addr(3);

    function setUp() public {
        vm.warp(T0);
        oracle = new ManualPriceOracle(ETH0, ELIZA0, owner);
        vm.prank(owner);
        oracle.setPriceUpdater(updater);
    }

    // ---------------------------------------------------------------- constructor

    function test_Constructor_SetsState() public {
        ManualPriceOracle fresh = new ManualPriceOracle(ETH0, ELIZA0, owner);
        assertEq(fresh.ethUsdPrice(), ETH0, "ethUsdPrice");
        assertEq(fresh.elizaUsdPrice(), ELIZA0, "elizaUsdPrice");
        assertEq(fresh.lastUpdateTime(), T0, "lastUpdateTime");
        assertEq(fresh.owner(), owner, "owner");
        assertEq(fresh.priceUpdater(), address(0), "priceUpdater starts unset");
        assertEq(fresh.version(), "1.0.0", "version");
    }

    function test_Constants() public view {
        assertEq(oracle.PRICE_STALE_THRESHOLD(), 3600, "PRICE_STALE_THRESHOLD");
        assertEq(oracle.MAX_DEVIATION_PCT(), 50, "MAX_DEVIATION_PCT");
        assertEq(oracle.MIN_ELIZA_PRICE(), MIN_ELIZA, "MIN_ELIZA_PRICE");
        assertEq(oracle.MAX_ELIZA_PRICE(), MAX_ELIZA, "MAX_ELIZA_PRICE");
        assertEq(oracle.MIN_ETH_PRICE(), MIN_ETH, "MIN_ETH_PRICE");
        assertEq(oracle.MAX_ETH_PRICE(), MAX_ETH, "MAX_ETH_PRICE");
    }

    function test_Constructor_AcceptsInclusiveBounds() public {
        ManualPriceOracle lo = new ManualPriceOracle(MIN_ETH, MIN_ELIZA, owner);
        assertEq(lo.ethUsdPrice(), MIN_ETH, "min eth");
        assertEq(lo.elizaUsdPrice(), MIN_ELIZA, "min eliza");
        ManualPriceOracle hi = new ManualPriceOracle(MAX_ETH, MAX_ELIZA, owner);
        assertEq(hi.ethUsdPrice(), MAX_ETH, "max eth");
        assertEq(hi.elizaUsdPrice(), MAX_ELIZA, "max eliza");
    }

    function test_Constructor_RevertsOutOfBounds() public {
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        new ManualPriceOracle(MIN_ETH - 1, ELIZA0, owner);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        new ManualPriceOracle(MAX_ETH + 1, ELIZA0, owner);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        new ManualPriceOracle(ETH0, MIN_ELIZA - 1, owner);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        new ManualPriceOracle(ETH0, MAX_ELIZA + 1, owner);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        new ManualPriceOracle(0, 0, owner);
    }

    function test_Constructor_RevertsZeroOwner() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new ManualPriceOracle(ETH0, ELIZA0, address(0));
    }

    // ---------------------------------------------------------------- bounds on updates

    function test_Update_AcceptsInclusiveBounds() public {
        // Past the one-day bypass so only the bounds apply.
        vm.warp(T0 + 1 days + 1);
        vm.prank(updater);
        oracle.updatePrices(MIN_ETH, MIN_ELIZA);
        assertEq(oracle.ethUsdPrice(), MIN_ETH, "min eth");
        assertEq(oracle.elizaUsdPrice(), MIN_ELIZA, "min eliza");

        vm.warp(T0 + 3 days);
        vm.prank(updater);
        oracle.updatePrices(MAX_ETH, MAX_ELIZA);
        assertEq(oracle.ethUsdPrice(), MAX_ETH, "max eth");
        assertEq(oracle.elizaUsdPrice(), MAX_ELIZA, "max eliza");
    }

    function test_Update_RevertsOutOfBounds() public {
        vm.warp(T0 + 2 days);
        vm.startPrank(updater);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        oracle.updatePrices(MIN_ETH - 1, ELIZA0);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        oracle.updatePrices(MAX_ETH + 1, ELIZA0);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        oracle.updatePrices(ETH0, MIN_ELIZA - 1);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        oracle.updatePrices(ETH0, MAX_ELIZA + 1);
        vm.stopPrank();
        assertEq(oracle.lastUpdateTime(), T0, "nothing stored");
    }

    function test_Update_BoundsCheckedBeforeDeviation() public {
        // MAX_ETH + 1 is also a >50% move; the bounds error wins.
        vm.prank(updater);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        oracle.updatePrices(MAX_ETH + 1, ELIZA0);
    }

    function testFuzz_Update_RevertsAnyOutOfBounds(uint256 ethPrice, uint256 elizaPrice, bool ethSide) public {
        if (ethSide) {
            vm.assume(ethPrice < MIN_ETH || ethPrice > MAX_ETH);
            elizaPrice = bound(elizaPrice, MIN_ELIZA, MAX_ELIZA);
        } else {
            vm.assume(elizaPrice < MIN_ELIZA || elizaPrice > MAX_ELIZA);
            ethPrice = bound(ethPrice, MIN_ETH, MAX_ETH);
        }
        vm.prank(owner);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        oracle.updatePrices(ethPrice, elizaPrice);
    }

    // ---------------------------------------------------------------- deviation

    function test_Deviation_ExactlyFiftyPercentAllowed() public {
        vm.prank(updater);
        oracle.updatePrices(ETH0 * 3 / 2, ELIZA0 * 3 / 2); // +50% both
        assertEq(oracle.ethUsdPrice(), 450_000_000_000, "eth +50%");
        assertEq(oracle.elizaUsdPrice(), 15_000_000, "eliza +50%");

        vm.prank(updater);
        oracle.updatePrices(225_000_000_000, 7_500_000); // -50% both
        assertEq(oracle.ethUsdPrice(), 225_000_000_000, "eth -50%");
        assertEq(oracle.elizaUsdPrice(), 7_500_000, "eliza -50%");
    }

    function test_Deviation_FiftyOnePercentRejected() public {
        vm.startPrank(updater);
        vm.expectRevert(ManualPriceOracle.PriceDeviationTooLarge.selector);
        oracle.updatePrices(453_000_000_000, ELIZA0); // eth +51%
        vm.expectRevert(ManualPriceOracle.PriceDeviationTooLarge.selector);
        oracle.updatePrices(147_000_000_000, ELIZA0); // eth -51%
        vm.expectRevert(ManualPriceOracle.PriceDeviationTooLarge.selector);
        oracle.updatePrices(ETH0, 15_100_000); // eliza +51%
        vm.expectRevert(ManualPriceOracle.PriceDeviationTooLarge.selector);
        oracle.updatePrices(ETH0, 4_900_000); // eliza -51%
        vm.stopPrank();
    }

    function test_Deviation_IntegerDivisionRoundsDown() public {
        // +50.99999...%: |new-old|*100/old = 50 after integer division, so accepted.
        vm.prank(updater);
        oracle.updatePrices(452_999_999_999, 15_099_999);
        assertEq(oracle.ethUsdPrice(), 452_999_999_999, "eth +50.99%");
        assertEq(oracle.elizaUsdPrice(), 15_099_999, "eliza +50.99%");

        // -50.99...% from there also rounds to 50: |221_970_000_001 - 452_999_999_999| * 100 / 452_999_999_999
        // = 50.999...
        uint256 ethDown = 221_970_000_001;
        vm.prank(updater);
        oracle.updatePrices(ethDown, 15_099_999);
        assertEq(oracle.ethUsdPrice(), ethDown, "eth -50.99%");
    }

    function test_Deviation_EachPriceCheckedSeparately() public {
        // A fine ETH move does not excuse a bad elizaOS move, and vice versa.
        vm.startPrank(updater);
        vm.expectRevert(ManualPriceOracle.PriceDeviationTooLarge.selector);
        oracle.updatePrices(ETH0 + 1, ELIZA0 * 2);
        vm.expectRevert(ManualPriceOracle.PriceDeviationTooLarge.selector);
        oracle.updatePrices(ETH0 * 2, ELIZA0 + 1);
        vm.stopPrank();
    }

    /// @dev Model check: for any stored and new in-bounds prices, a fresh update succeeds exactly when both
    ///      integer-division deviations are <= 50.
    function testFuzz_Deviation_MatchesRule(uint256 oldEth, uint256 oldEliza, uint256 newEth, uint256 newEliza)
        public
    {
        oldEth = bound(oldEth, MIN_ETH, MAX_ETH);
        oldEliza = bound(oldEliza, MIN_ELIZA, MAX_ELIZA);
        newEth = bound(newEth, MIN_ETH, MAX_ETH);
        newEliza = bound(newEliza, MIN_ELIZA, MAX_ELIZA);
        vm.prank(owner);
        oracle.emergencyPriceUpdate(oldEth, oldEliza);

        bool ok = _dev(newEth, oldEth) <= 50 && _dev(newEliza, oldEliza) <= 50;
        if (!ok) vm.expectRevert(ManualPriceOracle.PriceDeviationTooLarge.selector);
        vm.prank(updater);
        oracle.updatePrices(newEth, newEliza);
        if (ok) {
            assertEq(oracle.ethUsdPrice(), newEth, "eth stored");
            assertEq(oracle.elizaUsdPrice(), newEliza, "eliza stored");
        }
    }

    /// @dev Any in-bounds move of at most 50% (exactly, not just after rounding) passes.
    function testFuzz_Deviation_WithinFiftyPercentPasses(uint256 newEth, uint256 newEliza) public {
        newEth = bound(newEth, ETH0 / 2, ETH0 * 3 / 2);
        newEliza = bound(newEliza, ELIZA0 / 2, ELIZA0 * 3 / 2);
        vm.prank(updater);
        oracle.updatePrices(newEth, newEliza);
        assertEq(oracle.ethUsdPrice(), newEth, "eth stored");
        assertEq(oracle.elizaUsdPrice(), newEliza, "eliza stored");
    }

    // ---------------------------------------------------------------- one-day bypass

    function test_Bypass_StillCheckedAtExactlyOneDay() public {
        // "Older than 1 day" is strict: age == 1 day still enforces the deviation limit.
        vm.warp(T0 + 1 days);
        vm.prank(updater);
        vm.expectRevert(ManualPriceOracle.PriceDeviationTooLarge.selector);
        oracle.updatePrices(ETH0 * 3, ELIZA0);
    }

    function test_Bypass_LargeMoveAcceptedAfterOneDay() public {
        vm.warp(T0 + 1 days + 1);
        vm.prank(updater);
        oracle.updatePrices(ETH0 * 3, ELIZA0 / 10);
        assertEq(oracle.ethUsdPrice(), ETH0 * 3, "eth x3");
        assertEq(oracle.elizaUsdPrice(), ELIZA0 / 10, "eliza /10");
        assertEq(oracle.lastUpdateTime(), T0 + 1 days + 1, "timestamp");

        // The clock restarts: the next big move is checked again.
        vm.prank(updater);
        vm.expectRevert(ManualPriceOracle.PriceDeviationTooLarge.selector);
        oracle.updatePrices(ETH0, ELIZA0 / 10);
    }

    function testFuzz_Bypass_AnyInBoundsAcceptedWhenOld(uint256 newEth, uint256 newEliza, uint256 age) public {
        newEth = bound(newEth, MIN_ETH, MAX_ETH);
        newEliza = bound(newEliza, MIN_ELIZA, MAX_ELIZA);
        age = bound(age, 1 days + 1, 3650 days);
        vm.warp(T0 + age);
        vm.prank(updater);
        oracle.updatePrices(newEth, newEliza);
        assertEq(oracle.ethUsdPrice(), newEth, "eth stored");
        assertEq(oracle.elizaUsdPrice(), newEliza, "eliza stored");
    }

    // ---------------------------------------------------------------- authorization

    function test_Auth_StrangerRejected() public {
        vm.prank(stranger);
        vm.expectRevert(ManualPriceOracle.NotAuthorized.selector);
        oracle.updatePrices(ETH0, ELIZA0);
    }

    function test_Auth_CheckedBeforeBounds() public {
        vm.prank(stranger);
        vm.expectRevert(ManualPriceOracle.NotAuthorized.selector);
        oracle.updatePrices(0, 0);
    }

    function testFuzz_Auth_AnyOtherAccountRejected(address caller) public {
        vm.assume(caller != owner && caller != updater);
        vm.prank(caller);
        vm.expectRevert(ManualPriceOracle.NotAuthorized.selector);
        oracle.updatePrices(ETH0, ELIZA0);
    }

    function test_Auth_UpdaterAndOwnerAllowed() public {
        vm.prank(updater);
        oracle.updatePrices(ETH0 + 1, ELIZA0 + 1);
        assertEq(oracle.ethUsdPrice(), ETH0 + 1, "updater stored");

        vm.prank(owner);
        oracle.updatePrices(ETH0 + 2, ELIZA0 + 2);
        assertEq(oracle.ethUsdPrice(), ETH0 + 2, "owner stored");
    }

    function test_Auth_UnsetUpdaterIsNobody() public {
        // Before the owner names an updater, address(0) is stored but nobody can act as it.
        ManualPriceOracle fresh = new ManualPriceOracle(ETH0, ELIZA0, owner);
        vm.prank(updater);
        vm.expectRevert(ManualPriceOracle.NotAuthorized.selector);
        fresh.updatePrices(ETH0, ELIZA0);
    }

    function test_SetPriceUpdater_ReplacesAndEmits() public {
        vm.expectEmit(true, false, false, true, address(oracle));
        emit ManualPriceOracle.PriceUpdaterSet(stranger);
        vm.prank(owner);
        oracle.setPriceUpdater(stranger);
        assertEq(oracle.priceUpdater(), stranger, "priceUpdater");

        // The previous updater loses its right.
        vm.prank(updater);
        vm.expectRevert(ManualPriceOracle.NotAuthorized.selector);
        oracle.updatePrices(ETH0, ELIZA0);
        vm.prank(stranger);
        oracle.updatePrices(ETH0, ELIZA0);
    }

    function test_SetPriceUpdater_OnlyOwner() public {
        vm.prank(updater);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, updater));
        oracle.setPriceUpdater(stranger);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        oracle.setPriceUpdater(stranger);
    }

    function test_SetPriceUpdater_RejectsZero() public {
        vm.prank(owner);
        vm.expectRevert(ManualPriceOracle.InvalidAddress.selector);
        oracle.setPriceUpdater(address(0));
        assertEq(oracle.priceUpdater(), updater, "unchanged");
    }

    // ---------------------------------------------------------------- emergency updates

    function test_Emergency_OnlyOwner() public {
        vm.prank(updater);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, updater));
        oracle.emergencyPriceUpdate(ETH0, ELIZA0);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        oracle.emergencyPriceUpdate(ETH0, ELIZA0);
    }

    function test_Emergency_BypassesDeviation() public {
        vm.warp(T0 + 10);
        vm.expectEmit(false, false, false, true, address(oracle));
        emit ManualPriceOracle.PricesUpdated(ETH0 * 3, ELIZA0 * 100, T0 + 10);
        vm.prank(owner);
        oracle.emergencyPriceUpdate(ETH0 * 3, ELIZA0 * 100);
        (uint256 ethUsd, uint256 elizaUsd, uint256 lastUpdate, bool fresh) = oracle.getPrices();
        assertEq(ethUsd, ETH0 * 3, "eth");
        assertEq(elizaUsd, ELIZA0 * 100, "eliza");
        assertEq(lastUpdate, T0 + 10, "lastUpdate");
        assertTrue(fresh, "fresh after emergency update");
    }

    function test_Emergency_StillBoundsChecked() public {
        vm.startPrank(owner);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        oracle.emergencyPriceUpdate(MIN_ETH - 1, ELIZA0);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        oracle.emergencyPriceUpdate(MAX_ETH + 1, ELIZA0);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        oracle.emergencyPriceUpdate(ETH0, MIN_ELIZA - 1);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        oracle.emergencyPriceUpdate(ETH0, MAX_ELIZA + 1);
        oracle.emergencyPriceUpdate(MIN_ETH, MAX_ELIZA);
        vm.stopPrank();
        assertEq(oracle.ethUsdPrice(), MIN_ETH, "min eth");
        assertEq(oracle.elizaUsdPrice(), MAX_ELIZA, "max eliza");
    }

    // ---------------------------------------------------------------- freshness

    function test_Freshness_Boundary() public {
        vm.warp(T0 + 3600);
        assertTrue(oracle.isPriceFresh(), "fresh at 3600 s");
        (,,, bool fresh) = oracle.getPrices();
        assertTrue(fresh, "getPrices fresh at 3600 s");

        vm.warp(T0 + 3601);
        assertFalse(oracle.isPriceFresh(), "stale at 3601 s");
        (,,, fresh) = oracle.getPrices();
        assertFalse(fresh, "getPrices stale at 3601 s");
    }

    function test_Freshness_RestoredByUpdate() public {
        vm.warp(T0 + 7200);
        assertFalse(oracle.isPriceFresh(), "stale");
        vm.prank(updater);
        oracle.updatePrices(ETH0, ELIZA0);
        assertTrue(oracle.isPriceFresh(), "fresh again");
        assertEq(oracle.lastUpdateTime(), T0 + 7200, "lastUpdateTime");
    }

    function testFuzz_Freshness(uint256 age) public {
        age = bound(age, 0, 3650 days);
        vm.warp(T0 + age);
        assertEq(oracle.isPriceFresh(), age <= 3600, "isPriceFresh");
        (uint256 ethUsd, uint256 elizaUsd, uint256 lastUpdate, bool fresh) = oracle.getPrices();
        assertEq(fresh, age <= 3600, "getPrices().fresh");
        assertEq(ethUsd, ETH0, "ethUsd");
        assertEq(elizaUsd, ELIZA0, "elizaUsd");
        assertEq(lastUpdate, T0, "lastUpdate");
    }

    // ---------------------------------------------------------------- conversion

    function test_ElizaOSPerETH() public {
        // $3,000 / $0.10 = 30,000 elizaOS per ETH, 18 decimals.
        assertEq(oracle.getElizaOSPerETH(), 30_000e18, "30k per ETH");
        assertEq(oracle.previewConversion(1 ether), 30_000e18, "1 ETH");
        assertEq(oracle.previewConversion(0.5 ether), 15_000e18, "0.5 ETH");
        assertEq(oracle.previewConversion(0), 0, "0 ETH");

        // Non-terminating ratio: both steps round down.
        vm.prank(owner);
        oracle.emergencyPriceUpdate(ETH0, 7_000_000); // $0.07
        assertEq(oracle.getElizaOSPerETH(), 42_857_142_857_142_857_142_857, "3000/0.07");
        assertEq(oracle.previewConversion(123_456_789), 5_291_005_242_857, "preview rounds down");
    }

    function testFuzz_PreviewConversion(uint256 ethAmount) public view {
        ethAmount = bound(ethAmount, 0, 1e30);
        assertEq(oracle.previewConversion(ethAmount), ethAmount * 30_000, "linear at 30k per ETH");
    }

    // ---------------------------------------------------------------- events

    function test_Update_EmitsPricesUpdated() public {
        vm.warp(T0 + 60);
        vm.expectEmit(true, true, true, true, address(oracle));
        emit ManualPriceOracle.PricesUpdated(ETH0 + 1, ELIZA0 - 1, T0 + 60);
        vm.prank(updater);
        oracle.updatePrices(ETH0 + 1, ELIZA0 - 1);
        assertEq(oracle.lastUpdateTime(), T0 + 60, "lastUpdateTime");
    }

    // ---------------------------------------------------------------- helpers

    function _dev(uint256 newPrice, uint256 oldPrice) private pure returns (uint256) {
        uint256 diff = newPrice > oldPrice ? newPrice - oldPrice : oldPrice - newPrice;
        return diff * 100 / oldPrice;
    }
}
