// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

/// @notice The subset of Foundry's cheatcodes our tests use (forge-std is not available offline).
interface Vm {
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function warp(uint256 newTimestamp) external;
    function expectRevert() external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData) external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter)
        external;
    function addr(uint256 privateKey) external pure returns (address);
    function assume(bool condition) external pure;
    function label(address account, string calldata newLabel) external;
    function toString(uint256 value) external pure returns (string memory);
    function toString(address value) external pure returns (string memory);
}

/// @notice Minimal test base: the cheatcode handle plus assertion helpers that revert with a message.
abstract contract Test {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function fail(string memory message) internal pure {
        revert(message);
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) fail(message);
    }

    function assertTrue(bool condition) internal pure {
        assertTrue(condition, "assertion failed: expected true");
    }

    function assertFalse(bool condition, string memory message) internal pure {
        if (condition) fail(message);
    }

    function assertFalse(bool condition) internal pure {
        assertFalse(condition, "assertion failed: expected false");
    }

    function assertEq(uint256 left, uint256 right, string memory message) internal pure {
        if (left != right) {
            fail(string.concat(message, ": ", vm.toString(left), " != ", vm.toString(right)));
        }
    }

    function assertEq(uint256 left, uint256 right) internal pure {
        assertEq(left, right, "assertEq(uint256) failed");
    }

    function assertEq(address left, address right, string memory message) internal pure {
        if (left != right) {
            fail(string.concat(message, ": ", vm.toString(left), " != ", vm.toString(right)));
        }
    }

    function assertEq(address left, address right) internal pure {
        assertEq(left, right, "assertEq(address) failed");
    }

    function assertEq(bool left, bool right, string memory message) internal pure {
        if (left != right) fail(message);
    }

    function assertEq(bool left, bool right) internal pure {
        assertEq(left, right, "assertEq(bool) failed");
    }

    function assertEq(string memory left, string memory right, string memory message) internal pure {
        if (keccak256(bytes(left)) != keccak256(bytes(right))) {
            fail(string.concat(message, ": \"", left, "\" != \"", right, "\""));
        }
    }

    function assertEq(string memory left, string memory right) internal pure {
        assertEq(left, right, "assertEq(string) failed");
    }

    /// @dev Maps any fuzz input into [min, max] while keeping small inputs (edge cases) near the edges.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        return min + (x % (size + 1));
    }
}
