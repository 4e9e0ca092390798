# SPDX-License-Identifier: ISC
# valgrind.mk - the unit tests again under valgrind memcheck (plain build).
TEST_CMDS += tests/valgrind.sh
