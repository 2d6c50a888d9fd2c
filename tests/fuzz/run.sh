#!/bin/bash
# Runs libFuzzer targets of build-fuzz/fuzz/, FUZZ_JOBS at a time, each for
# FUZZ_SECONDS, from build-fuzz/corpus/<target> (grown in place) and the
# committed seeds of tests/fuzz/corpus/<target> (read only), with the
# target's dictionary when there is one. Prints one line per target:
#   <target> <seconds> s <executions> runs <exec/s> exec/s <crashes> crash
# (whole, in the order the targets end) and exits 1 when a target crashes, leaks
# or aborts, its log's tail and crash input (build-fuzz/crash-<target>-*) shown:
# one at a time, right after it; several at a time, after the others running ended.
#
# Usage: tests/fuzz/run.sh [target...]   (default: every built target)
# FUZZ_SECONDS (default 8), FUZZ_BUILD (default build-fuzz),
# FUZZ_JOBS: targets run at the same time (default 1; each target is one process).
set -u
secs=${FUZZ_SECONDS:-8}
build=${FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_JOBS:-1}
here=$(dirname "$0")
# A pointer into a returned stack frame is what the integration suite once missed
# (ListPodSandboxMetrics' interface names): the targets look for it too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=1}

if [ $# -eq 0 ]; then
	set -- $(ls "$build"/fuzz/ | grep '^fuzz_')
fi

# Prints stdin whole, one target's output at a time (targets may run side by side).
say() {
	out=$(cat)
	{
		flock 9
		printf '%s\n' "$out"
	} 9>>"$build/.run.lock"
}

# One target: its summary line on stdout, 0 when clean.
run_one() {
	n=$1
	bin=$build/fuzz/$n
	log=$build/$n.log
	mkdir -p "$build/corpus/$n"
	seeds=$here/corpus/$n
	[ -d "$seeds" ] || seeds=
	dict=$here/dict/$n.dict
	if [ -f "$dict" ]; then dict="-dict=$dict"; else dict=; fi
	start=$(date +%s)
	# -rss_limit_mb: every target bounds its own allocations far below this.
	"$bin" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
		-artifact_prefix="$build/crash-$n-" $dict "$build/corpus/$n" $seeds >"$log" 2>&1
	rc=$?
	end=$(date +%s)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	crash=0
	[ $rc -eq 0 ] || crash=1
	{
		echo "$n $((end - start)) s ${runs:-0} runs ${rate:-0} exec/s $crash crash"
		if [ $rc -ne 0 ]; then
			tail -n 40 "$log"
			echo "$n: FAILED (exit $rc; crash input in $build/crash-$n-*, log $log)"
		fi
	} | say
	[ $rc -eq 0 ]
}

fail=0
if [ "$jobs" -le 1 ]; then
	for n in "$@"; do
		run_one "$n" || exit 1
	done
	exit 0
fi
# Several at a time: a crash stops no other target; the exit status says whether any failed.
running=0
for n in "$@"; do
	run_one "$n" &
	running=$((running + 1))
	if [ $running -ge "$jobs" ]; then
		wait -n 2>/dev/null || fail=1
		running=$((running - 1))
	fi
done
while [ $running -gt 0 ]; do
	wait -n 2>/dev/null || fail=1
	running=$((running - 1))
done
exit $fail
