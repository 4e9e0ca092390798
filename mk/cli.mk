# SPDX-License-Identifier: ISC
# cli.mk - the pairtok command-line tool, its man pages, bash completion,
# CLI tests and `make demo`.  Included by the top-level Makefile.

CLI_SRCS := $(sort $(wildcard cli/*.c))
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_BIN  := $(BUILD)/pairtok
JSONQ    := $(BUILD)/tests/jsonq
COMPLETIONSDIR ?= $(PREFIX)/share/bash-completion/completions

PROGRAMS  += $(CLI_BIN)
TEST_CMDS += $(sort $(wildcard tests/cli/test-*.sh))
TEST_DEPS += $(CLI_BIN) $(JSONQ)

# The CLI links libpairtok.a, so the tests run build/pairtok as it is.
# CLI_SHARED=1 (the Debian package) links libpairtok.so instead, so the
# library is shipped once and the pairtok package depends on libpairtok0.
ifeq ($(CLI_SHARED),1)
CLI_LIB      := $(LIB_SO)
CLI_LIB_LINK := -L$(BUILD) -lpairtok
else
CLI_LIB      := $(LIB_A)
CLI_LIB_LINK := $(LIB_A)
endif

$(CLI_BIN): $(CLI_OBJS) $(CLI_LIB)
	$(CC) $(LDFLAGS_EXE) -o $@ $(CLI_OBJS) $(CLI_LIB_LINK) $(LIB_LIBS) $(CLI_LIBS)

# An explicit rule, so the unit-test pattern rule does not claim it.
$(JSONQ): $(BUILD)/obj/tests/cli/jsonq.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_EXE) -o $@ $< -ljansson

.PHONY: install-cli uninstall-cli
install: install-cli
uninstall: uninstall-cli

# The completion file is named after the command: bash-completion loads
# completions/<command> the first time <command> is completed.
install-cli: $(CLI_BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPLETIONSDIR)
	install -m 755 $(CLI_BIN) $(DESTDIR)$(BINDIR)/pairtok
	install -m 644 man/pairtok.1 $(DESTDIR)$(MANDIR)/man1/pairtok.1
	install -m 644 completions/pairtok.bash $(DESTDIR)$(COMPLETIONSDIR)/pairtok

uninstall-cli:
	rm -f $(DESTDIR)$(BINDIR)/pairtok $(DESTDIR)$(MANDIR)/man1/pairtok.1 \
	    $(DESTDIR)$(COMPLETIONSDIR)/pairtok

# The pair flow on a throwaway home; never touches ~/.astrid.
demo: deps all
	rm -rf $(BUILD)/demo-home
	scripts/demo $(CLI_BIN) $(BUILD)/demo-home

# The QR test decodes what issue --qr draws (tests/cli/test-qr.sh).
QR2PBM := $(BUILD)/tests/qr2pbm
TEST_DEPS += $(QR2PBM)
$(QR2PBM): $(BUILD)/obj/tests/cli/qr2pbm.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_EXE) -o $@ $<

# Unit test of the --ttl parser (tests/cli/test_duration.c); an explicit
# rule, so the unit-test pattern rule does not claim it.
CLI_DURATION_TEST := $(BUILD)/tests/test_cli_duration
TEST_DEPS += $(CLI_DURATION_TEST)
TEST_CMDS += $(CLI_DURATION_TEST)
$(BUILD)/obj/tests/cli/test_duration.o: private CFLAGS_ALL += -Icli
$(CLI_DURATION_TEST): $(BUILD)/obj/tests/cli/test_duration.o $(BUILD)/obj/cli/duration.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_EXE) -o $@ $^ $(TEST_LIBS)
