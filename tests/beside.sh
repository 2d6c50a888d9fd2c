#!/bin/bash
# Runs a build at the lowest CPU and I/O priority beside a test command (make test):
# an integration pass mostly waits on processes, so the next pass's build takes
# the cores it leaves idle instead of a stretch of wall time of its own.
#
#   tests/beside.sh LOG 'BUILD COMMAND' TEST COMMAND...
#
# The build's output goes to LOG and is printed whole once both have ended. Exit
# status: the test command's, or the build's when only the build failed.
set -u
log=$1 build=$2
shift 2

nice -n 19 ionice -c 3 bash -c "$build" >"$log" 2>&1 &
bpid=$!
"$@"
rc=$?
wait "$bpid"
brc=$?
echo "== built beside the tests (exit $brc): $build"
cat "$log"
[ "$rc" -ne 0 ] && exit "$rc"
exit "$brc"
