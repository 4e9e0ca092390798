# SPDX-License-Identifier: ISC
# build-tests.mk - tests of the build itself (tests/build/): what plain
# `make` does when a dependency is missing.
TEST_CMDS += $(sort $(wildcard tests/build/test-*.sh))
