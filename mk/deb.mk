# SPDX-License-Identifier: ISC
# deb.mk - the Debian binary packages libpairtok0, libpairtok-dev and
# pairtok (debian/), built with dpkg-buildpackage and checked with lintian.
# Included by the top-level Makefile.
#
#   make deb                the packages into build/deb/ (debug symbols in
#                           build/deb/dbgsym/); fails on a lintian error
#   make deb-install-check  as root, on a machine without them: installs
#                           build/deb/*.deb, runs debian/tests, purges them
#                           and checks that no file is left behind
#
#   DEB_JOBS=N        parallel jobs of the package build (default: auto)
#   DEB_LINTIAN=0     skip lintian
#
# dpkg-buildpackage writes its results to the parent directory of the
# source tree, so the package is built from a copy, $(DEB_SRC), whose
# parent is $(DEB_DIR): nothing is written outside build/.  The copy is
# the working tree, uncommitted changes included: in a git checkout or
# worktree, the files git tracks or would track (.gitignore applies), else
# everything but build/.

DEB_DIR     := build/deb
DEB_SRC     := $(DEB_DIR)/pairtok-$(VERSION)
DEB_JOBS    ?= auto
DEB_LINTIAN ?= 1

# The files of the source tree, NUL-terminated, for tar --null -T -.
define deb_tree_files
if [ -e .git ] && command -v git >/dev/null; then \
    git ls-files -z --cached --others --exclude-standard | \
        xargs -0 sh -c 'for f; do if [ -e "$$f" ]; then printf "%s\0" "$$f"; fi; done' sh; \
else \
    find . -path ./build -prune -o ! -type d -printf '%P\0'; \
fi
endef

.PHONY: deb deb-install-check
deb: deps
	@changelog=$$(dpkg-parsechangelog -l debian/changelog -S Version); \
	if [ "$$changelog" != "$(VERSION)" ]; then \
	    echo "deb: debian/changelog is at $$changelog, include/pairtok.h at $(VERSION):" \
	         "add an entry for $(VERSION) at the top of debian/changelog" >&2; \
	    exit 1; \
	fi
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_SRC)
	{ $(deb_tree_files); } | tar --null -T - -cf - | tar -x -C $(DEB_SRC) -f -
	cd $(DEB_SRC) && dpkg-buildpackage -us -uc -b -j$(DEB_JOBS)
	rm -rf $(DEB_SRC)
ifeq ($(DEB_LINTIAN),1)
	lintian --fail-on error --info $(DEB_DIR)/pairtok_$(VERSION)_*.changes
endif
	mkdir -p $(DEB_DIR)/dbgsym
	for deb in $(DEB_DIR)/*-dbgsym_*.deb; do if [ -e "$$deb" ]; then mv "$$deb" $(DEB_DIR)/dbgsym/; fi; done
	@ls -1 $(DEB_DIR)/*.deb

deb-install-check:
	debian/install-check $(DEB_DIR)
