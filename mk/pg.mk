# SPDX-License-Identifier: ISC
# pg.mk - the PostgreSQL backend's tests.  They run against a throwaway
# server that tests/pg/with-pg starts and stops around them: the unit test
# build/tests/test_backend_pg (built and listed with the other unit tests)
# runs itself under it when started without one, test-with-pg.sh checks
# the harness itself, test-shared.sh runs the unit tests that hold for
# every backend on a database, and test-cli.sh the CLI.  Included by the top-level Makefile.

TEST_CMDS += tests/pg/test-with-pg.sh tests/pg/test-shared.sh tests/pg/test-cli.sh
