// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ManualPriceOracle} from "../src/ManualPriceOracle.sol";
import {FencedPriceOracle} from "../src/FencedPriceOracle.sol";
import {Test} from "./utils/Test.sol";

contract FencedPriceOracleTest is Test {
    uint256 constant ETH0 = 300_000_000_000; // $3,000.00
    uint256 constant ELIZA0 = 10_000_000; // $0.10
    uint256 constant T0 = 1_700_000_000;

    FencedPriceOracle oracle;
    address owner = vm.addr(1);
    address updater = vm.addr(2);
    address stranger = vm.addr(3);

    function setUp() public {
        vm.warp(T0);
        oracle = new FencedPriceOracle(ETH0, ELIZA0, owner);
        vm.prank(owner);
        oracle.setPriceUpdater(updater);
    }

    function test_AcceptsRisingAndEqualTokens() public {
        vm.prank(updater);
        oracle.updatePricesFenced(306_000_000_000, ELIZA0, 5);
        assertEq(oracle.highestFencingToken(), 5, "highest after 5");
        vm.prank(updater);
        oracle.updatePricesFenced(310_000_000_000, ELIZA0, 5);
        assertEq(oracle.ethUsdPrice(), 310_000_000_000, "same term updates again");
        vm.prank(updater);
        oracle.updatePricesFenced(320_000_000_000, ELIZA0, 9);
        assertEq(oracle.highestFencingToken(), 9, "highest after 9");
    }

    function test_RejectsAStaleToken() public {
        vm.prank(updater);
        oracle.updatePricesFenced(306_000_000_000, ELIZA0, 7);
        vm.prank(updater);
        vm.expectRevert(abi.encodeWithSelector(FencedPriceOracle.StaleFencingToken.selector, 6, 7));
        oracle.updatePricesFenced(320_000_000_000, ELIZA0, 6);
        assertEq(oracle.ethUsdPrice(), 306_000_000_000, "the stale leader wrote nothing");
    }

    function test_OwnerCanResetTheHighestToken() public {
        vm.prank(updater);
        oracle.updatePricesFenced(306_000_000_000, ELIZA0, 1_000_000);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSignature("OwnableUnauthorizedAccount(address)", stranger));
        oracle.setHighestFencingToken(0);
        vm.prank(updater);
        vm.expectRevert(abi.encodeWithSignature("OwnableUnauthorizedAccount(address)", updater));
        oracle.setHighestFencingToken(0);
        vm.prank(owner);
        vm.expectEmit(false, false, false, true, address(oracle));
        emit FencedPriceOracle.HighestFencingTokenSet(1_000_000, 3);
        oracle.setHighestFencingToken(3);
        assertEq(oracle.highestFencingToken(), 3, "lowered");
        vm.prank(updater);
        oracle.updatePricesFenced(310_000_000_000, ELIZA0, 3);
        assertEq(oracle.ethUsdPrice(), 310_000_000_000, "a lower token is accepted again");
    }

    function test_UnfencedUpdateIsDisabled() public {
        vm.prank(updater);
        vm.expectRevert(FencedPriceOracle.FencingTokenRequired.selector);
        oracle.updatePrices(306_000_000_000, ELIZA0);
    }

    function test_KeepsTheBaseChecks() public {
        vm.prank(stranger);
        vm.expectRevert(ManualPriceOracle.NotAuthorized.selector);
        oracle.updatePricesFenced(306_000_000_000, ELIZA0, 1);
        vm.prank(updater);
        vm.expectRevert(ManualPriceOracle.PriceDeviationTooLarge.selector);
        oracle.updatePricesFenced(600_000_000_000, ELIZA0, 1);
        vm.prank(updater);
        vm.expectRevert(ManualPriceOracle.PriceOutOfBounds.selector);
        oracle.updatePricesFenced(1, ELIZA0, 1);
        assertEq(oracle.highestFencingToken(), 0, "a reverted update records no token");
    }

    function test_EmergencyUpdateIsUnfenced() public {
        vm.prank(owner);
        oracle.emergencyPriceUpdate(600_000_000_000, ELIZA0);
        assertEq(oracle.ethUsdPrice(), 600_000_000_000, "owner's emergency path");
    }
}
