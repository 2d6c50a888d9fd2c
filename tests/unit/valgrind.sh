#!/bin/bash
# make valgrind: every unit suite under valgrind's memcheck, two at a time.
#
#   tests/unit/valgrind.sh BUILD SUITE...
#
# memcheck exits 97 when it found an error (a leak, a read of uninitialised or freed
# memory): that fails the run, with valgrind's report. A suite that also exits non-zero
# for its own checks, memcheck finding nothing, is listed (valgrind's slowdown breaks
# timing checks) but does not fail the run. A suite calling a syscall this valgrind does
# not know (3.19: pidfd_open 434, openat2 437) gets ENOSYS where the kernel would answer,
# so it is listed as not checked instead, with memcheck's error count; so is a suite still
# running after SUITE_TIMEOUT seconds (300; test_fd_store waits on a pidfd valgrind refused).
set -u
SUITE_TIMEOUT=${SUITE_TIMEOUT:-300}
build=$1
shift
export CRID_PINNS=$PWD/$build/crid-pinns CRID_KEEPER=$PWD/$build/crid-keeper
mkdir -p "$build/valgrind"

one() {
	local t=$1 log=$build/valgrind/$(basename "$1").log rc sys
	# timeout signals its whole process group: the suite's forked children go too
	timeout -k 10 "$SUITE_TIMEOUT" valgrind --leak-check=full --error-exitcode=97 --quiet \
		--suppressions=tests/unit/valgrind.supp --log-file="$log.vg" "$t" >"$log" 2>&1
	rc=$?
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		echo "not checked $t: still running after ${SUITE_TIMEOUT} s under valgrind" \
			"($(grep -c '^==[0-9]*== [A-Z]' "$log.vg") memcheck reports so far)"
		return 0
	fi
	sys=$(grep -o 'unhandled amd64-linux syscall: [0-9]*' "$log.vg" | awk '{print $4}' |
		sort -u | tr '\n' ' ')
	if [ -n "$sys" ]; then
		echo "not checked $t: valgrind lacks syscall ${sys}($(grep -c '^==[0-9]*== [A-Z]' \
			"$log.vg") memcheck reports, see $log.vg)"
	elif [ $rc = 0 ]; then
		echo "ok          $t"
	elif [ $rc != 97 ]; then
		echo "clean       $t: memcheck found nothing; its own checks failed under valgrind:"
		grep '^not ok' "$log" | head -n 5 | sed 's/^/              /'
	else
		echo "FAIL        $t"
		grep -v '^--' "$log.vg" | head -n 80
		return 1
	fi
}
export -f one
export build SUITE_TIMEOUT

start=$(date +%s)
printf '%s\n' "$@" | xargs -P2 -I{} bash -c 'one {}'
rc=$?
echo "make valgrind: $# unit suites in $(($(date +%s) - start)) s"
[ $rc = 0 ]
