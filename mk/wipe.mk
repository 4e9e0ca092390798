# SPDX-License-Identifier: ISC
# The wiping test (tests/unit/test_wipe.c) sees libpairtok's calls to
# sodium_memzero, randombytes_buf and sodium_bin2base64 through its own
# __wrap_* functions, to check that every buffer that held a raw token or
# its random bytes is wiped; it also runs the library on a thread of its
# own to search that thread's stack afterwards.
$(BUILD)/tests/test_wipe: private LDFLAGS_EXE += -pthread \
    -Wl,--wrap=sodium_memzero,--wrap=randombytes_buf,--wrap=sodium_bin2base64
