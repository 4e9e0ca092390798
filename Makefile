# SPDX-License-Identifier: ISC
# pairtok - build, test, install.
#
#   make            library, CLI and tools into build/
#   make check      every test, then again under ASan+UBSan (build/asan/)
#   make demo       the pair flow on a throwaway home
#   make install    PREFIX=/usr/local DESTDIR=
#   make deb        Debian packages into build/deb/ (mk/deb.mk)
#
# CPPFLAGS, CFLAGS and LDFLAGS from the environment or the command line are
# added after the project's own flags (warnings and -Werror stay on), so
# the hardening flags of dpkg-buildflags reach every object and link.
#
# `make check`, `make demo`, `make bench` and `make deb` first install the
# missing Debian packages (scripts/install-deps); plain `make` installs
# nothing and names what is missing.
# Fragments in mk/*.mk add their own programs (PROGRAMS), tests (TEST_CMDS,
# TEST_DEPS) and install steps (extra prerequisites of install/uninstall).

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
PCDIR   ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

BUILD ?= build
SAN   ?= 0
CC    ?= cc

# The version has one home, the header; the library's file name, the .pc
# file and debian/changelog (checked by `make deb`) follow it.
VERSION := $(shell sed -n 's/^.define PAIRTOK_VERSION "\(.*\)"$$/\1/p' include/pairtok.h)
ifeq ($(VERSION),)
$(error cannot read PAIRTOK_VERSION from include/pairtok.h)
endif
SOMAJOR := 0

WARN := -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror
CPPFLAGS ?=
CFLAGS   ?=
LDFLAGS  ?=
# A caller's own _FORTIFY_SOURCE level replaces ours: two different
# definitions would be a redefinition warning, an error under -Werror.
FORTIFY := $(if $(filter -D_FORTIFY_SOURCE=%,$(CPPFLAGS) $(CFLAGS)),,-D_FORTIFY_SOURCE=2)
ifeq ($(SAN),1)
OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
HARDEN := -fstack-protector-strong
else
OPT    := -O2 -g
HARDEN := $(FORTIFY) -fstack-protector-strong
endif
# libpq's headers; Debian's place when libpq-dev is not installed yet (deps
# installs it before anything compiles).
PQ_CFLAGS := $(or $(shell pkg-config --cflags libpq 2>/dev/null),-I/usr/include/postgresql)
CPPFLAGS_ALL := -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc $(PQ_CFLAGS)
CFLAGS_ALL   := -std=c11 $(WARN) $(OPT) $(HARDEN) -fPIC $(CPPFLAGS_ALL) $(CPPFLAGS) $(CFLAGS)
LDFLAGS_ALL  := -Wl,-z,relro,-z,now $(filter -fsanitize=%,$(OPT)) $(LDFLAGS)
LDFLAGS_EXE  := -pie $(LDFLAGS_ALL)

LIB_LIBS  := -lsodium -lpq
# What LIB_LIBS links, for the .pc file (`pkg-config --static`): packages
# in Requires.private, bare -l flags in Libs.private.  libpq belongs in the
# latter (-lpq): Debian's libpq.pc names static libraries that libpq-dev
# does not ship (-lpgcommon -lpgport), so with libpq in Requires.private
# every `pkg-config --static --libs libpairtok` link would fail.
LIB_PC_REQUIRES     := libsodium
LIB_PC_LIBS_PRIVATE := -lpq
CLI_LIBS  := -lqrencode -ljansson
TEST_LIBS := -lcmocka

LIB_SRCS := $(sort $(wildcard src/*.c))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/obj/src/%.o)
LIB_A    := $(BUILD)/libpairtok.a
LIB_SO   := $(BUILD)/libpairtok.so.$(VERSION)

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# The one helper library of the C tests (tests/lib/, prefix tu_): unit
# tests, reliability suites and ctgrind link it; every object under tests/
# finds its header.  An archive, so a test links only what it uses.
TESTLIB_SRCS := $(sort $(wildcard tests/lib/*.c))
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(BUILD)/obj/%.o)
TESTLIB_A    := $(BUILD)/obj/tests/lib/libtestutil.a

# Fragments append to these.
PROGRAMS  :=
TEST_CMDS := $(UNIT_BINS)

.PHONY: all deps deps-check check check-build demo install uninstall clean
all: deps-check $(LIB_A) $(LIB_SO) $(BUILD)/libpairtok.pc programs

# `deps` installs what is missing (make check, demo, bench, deb call it);
# plain `make` only checks (`deps-check`) and stops with one line naming
# the missing packages.  INSTALL_DEPS=0 when the build dependencies are
# someone else's business (a package build: debian/control's
# Build-Depends).
INSTALL_DEPS ?= 1
deps:
ifeq ($(INSTALL_DEPS),1)
	@scripts/install-deps
endif

deps-check:
ifeq ($(INSTALL_DEPS),1)
	@scripts/install-deps --check-build
endif

$(BUILD)/obj/%.o: %.c | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(LIB_OBJS) src/libpairtok.map
	$(CC) -shared -Wl,-soname,libpairtok.so.$(SOMAJOR) -Wl,--version-script=src/libpairtok.map \
	    $(LDFLAGS_ALL) -o $@ $(LIB_OBJS) $(LIB_LIBS)
	ln -sf libpairtok.so.$(VERSION) $(BUILD)/libpairtok.so.$(SOMAJOR)
	ln -sf libpairtok.so.$(SOMAJOR) $(BUILD)/libpairtok.so

# `pkg-config --cflags --libs libpairtok`.  Rewritten only when its text
# changes, so a new PREFIX or LIBDIR reaches it without a clean build.
$(BUILD)/libpairtok.pc: FORCE
	@mkdir -p $(BUILD)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCDIR)' '' \
	    'Name: libpairtok' 'Description: pair-device token store of the Astrid runtime' \
	    'Version: $(VERSION)' 'Requires.private: $(LIB_PC_REQUIRES)' \
	    'Libs: -L$${libdir} -lpairtok' $(if $(LIB_PC_LIBS_PRIVATE),'Libs.private: $(LIB_PC_LIBS_PRIVATE)') \
	    'Cflags: -I$${includedir}' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@ && echo "wrote $@"; fi

.PHONY: FORCE
FORCE:

$(BUILD)/obj/tests/%.o: private CFLAGS_ALL += -Itests/lib

$(TESTLIB_A): $(TESTLIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# UNIT_EXTRA_OBJS: objects one test adds (a target-specific variable).
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TESTLIB_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_EXE) -o $@ $< $(UNIT_EXTRA_OBJS) $(TESTLIB_A) $(LIB_A) $(LIB_LIBS) $(TEST_LIBS)

-include $(sort $(wildcard mk/*.mk))

.PHONY: programs
programs: $(PROGRAMS)

# Everything the tests need in one build directory, and the list of tests.
check-build: all $(UNIT_BINS) $(TEST_DEPS)
	$(file >$(BUILD)/test-list,$(TEST_CMDS))

check: deps
	$(MAKE) --no-print-directory check-build BUILD=build SAN=0
	$(MAKE) --no-print-directory check-build BUILD=build/asan SAN=1
	scripts/run-tests build build/asan

# The library, its header, .pc file and man page (mk/cli.mk adds the CLI).
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PCDIR) $(DESTDIR)$(MANDIR)/man3
	install -m 644 include/pairtok.h $(DESTDIR)$(INCDIR)/pairtok.h
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libpairtok.a
	install -m 644 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libpairtok.so.$(VERSION)
	ln -sf libpairtok.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libpairtok.so.$(SOMAJOR)
	ln -sf libpairtok.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libpairtok.so
	install -m 644 $(BUILD)/libpairtok.pc $(DESTDIR)$(PCDIR)/libpairtok.pc
	install -m 644 man/pairtok.3 $(DESTDIR)$(MANDIR)/man3/pairtok.3

# pairtok.pc is the name older versions installed the .pc file under.
uninstall:
	rm -f $(DESTDIR)$(INCDIR)/pairtok.h $(DESTDIR)$(LIBDIR)/libpairtok.a \
	    $(DESTDIR)$(LIBDIR)/libpairtok.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libpairtok.so.$(SOMAJOR) \
	    $(DESTDIR)$(LIBDIR)/libpairtok.so $(DESTDIR)$(PCDIR)/libpairtok.pc \
	    $(DESTDIR)$(PCDIR)/pairtok.pc $(DESTDIR)$(MANDIR)/man3/pairtok.3

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
