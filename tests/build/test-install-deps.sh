#!/bin/bash
# SPDX-License-Identifier: ISC
# Plain `make` never installs: scripts/install-deps --check-build, which it
# runs first, reports what is missing in one line and calls no installer.
# A fake dpkg-query says one package is missing; a fake apt-get and sudo
# record whether anything tried to install.
set -u
cd "$(dirname "$0")/../.."
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; failed=1; }

fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
cat >"$fake/dpkg-query" <<'SH'
#!/bin/sh
for last; do :; done
if [ "$last" = "libsodium-dev" ]; then exit 1; fi
printf 'install ok installed'
SH
for tool in apt-get sudo; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/called"\n' "$tool" "$fake" >"$fake/$tool"
done
chmod +x "$fake"/*

out=$(PATH="$fake:$PATH" scripts/install-deps --check-build 2>&1)
rc=$?
if [ "$rc" -eq 1 ]; then ok "--check-build exits 1 when a package is missing"; else not_ok "exit $rc"; fi
lines=$(printf '%s\n' "$out" | wc -l)
if [ "$lines" -eq 1 ] && printf '%s' "$out" | grep -q 'libsodium-dev' &&
    printf '%s' "$out" | grep -q 'scripts/install-deps'; then
    ok "one line naming the package and scripts/install-deps: $out"
else
    not_ok "message: $out"
fi
if [ ! -e "$fake/called" ]; then ok "nothing was installed"; else not_ok "installer ran: $(cat "$fake/called")"; fi

out=$(PATH="$fake:$PATH" make --no-print-directory -n all BUILD="$fake/build" 2>&1)
if printf '%s' "$out" | grep -q 'install-deps --check-build' &&
    ! printf '%s' "$out" | grep -qE 'install-deps( |$)[^-]'; then
    ok "make all checks and does not install"
else
    not_ok "make all runs: $(printf '%s' "$out" | grep install-deps)"
fi
echo "1..$n"
exit "$failed"
