#!/bin/bash
# Integration tests: drive the real crid daemon through independent gRPC/HTTP/2
# clients (python3-grpcio with stubs generated here from proto/api.proto,
# python-h2, hyperframe). Each tests/integration/test_*.py module starts its own
# daemon(s) on a private temp dir.
#
#   CRID_BUILD=build tests/integration/run.sh              # every module
#   CRID_BUILD=build tests/integration/run.sh test_bad_input test_runtime_info
#
# Exit status is non-zero if any module fails. Uses /usr/bin/python3 on purpose:
# Debian's python3-grpcio/-protobuf/-h2 live there, not in a pyenv python.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 2

CRID_BUILD=${CRID_BUILD:-build}
case $CRID_BUILD in /*) build=$CRID_BUILD ;; *) build=$repo/$CRID_BUILD ;; esac
PY=${PYTHON:-/usr/bin/python3}
CRID_BIN=${CRID_BIN:-$build/crid}
CRID_PY=$build/py
CRID_MODULE_TIMEOUT=${CRID_MODULE_TIMEOUT:-900}
export CRID_BUILD CRID_BIN CRID_PY

if [ ! -x "$CRID_BIN" ]; then
	echo "integration: $CRID_BIN is missing; build it first (make BUILD=$CRID_BUILD all)" >&2
	exit 2
fi
missing=
for m in grpc grpc_tools google.protobuf h2 hyperframe hpack; do
	"$PY" -c "import $m" 2>/dev/null || missing="$missing $m"
done
if [ -n "$missing" ]; then
	echo "integration: $PY lacks python modules:$missing" >&2
	echo "integration: apt-get install python3-grpcio python3-grpc-tools python3-protobuf python3-h2 (make deps)" >&2
	exit 2
fi

# Stubs are generated from the project's proto at test time, never checked in.
mkdir -p "$CRID_PY" || exit 2
if ! "$PY" -m grpc_tools.protoc -Iproto --python_out="$CRID_PY" --grpc_python_out="$CRID_PY" \
	proto/api.proto; then
	echo "integration: generating python stubs from proto/api.proto failed" >&2
	exit 2
fi

if [ $# -gt 0 ]; then
	modules=$*
else
	modules=$(cd "$here" && for f in test_*.py; do echo "${f%.py}"; done)
fi

echo "integration: daemon $CRID_BIN ($("$CRID_BIN" --version 2>&1 | head -n 1))"
echo "integration: python $("$PY" -c 'import sys, grpc, google.protobuf, h2; print(sys.version.split()[0], "grpcio", grpc.__version__, "protobuf", google.protobuf.__version__, "h2", h2.__version__)')"
[ "$(id -u)" = 0 ] || echo "integration: not root: tests that need root will be skipped"

# Modules run CRID_JOBS at a time (2 by default: most of a module's time is
# spent waiting on processes, not on a core); those that time real processes
# against each other run alone afterwards. Each module's output is printed
# whole when it ends.
JOBS=${CRID_JOBS:-2}
SERIAL=${CRID_SERIAL_MODULES:-"test_bench test_ctr_timing test_exec_timeout test_tty"}
total=0 passed=0 failed=0 errors=0 skipped=0 bad_modules=
# private per run: several runs (build, build-asan, a colleague's) may overlap
logdir=$(mktemp -d "${TMPDIR:-/tmp}/crid-integration.XXXXXX") || exit 2

run_module() {
	# CRID_RUN_ID, CRID_MODULE: every process of the module inherits them (leftovers.py)
	CRID_RUN_ID=$logdir CRID_MODULE=$1 \
		PYTHONPATH="$CRID_PY:$here${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
		timeout -k 10 "$CRID_MODULE_TIMEOUT" "$PY" "$here/crid_fixture.py" "$1" >"$logdir/$1.out" 2>&1
	echo "$SECONDS" >"$logdir/$1.end"
}

# What is on the machine now (/tmp/crid-* dirs, mounts below them, cr* bridges), for the
# leftover check at the end (tests/integration/leftovers.py).
snaps=0
snapshot() {
	snaps=$((snaps + 1))
	"$PY" "$here/leftovers.py" snap "$logdir/snap.$snaps" "$1" ||
		echo "integration: leftover snapshot failed ($1)" >&2
}
# Which module uses which dir, sampled while they run; not a job of this shell (the
# job count paces the modules).
("$PY" "$here/leftovers.py" watch "$logdir" $$ >"$logdir/watch.log" 2>&1 &
	echo $! >"$logdir/watch.pid")

report_module() {
	local m=$1 out=$logdir/$1.out summary t p f e s others
	others=$(for o in "${pending[@]}"; do
		[ "$o" = "$m" ] || [ -e "$logdir/$o.end" ] || printf ' %s' "$o"
	done)
	snapshot "$m${others:+ (running beside it:$others)}"
	echo
	echo "=== $m ($(($(cat "$logdir/$m.end") - $(cat "$logdir/$m.start"))) s)"
	cat "$out"
	summary=$(grep '^CRID-SUMMARY ' "$out" | tail -n 1)
	if [ -z "$summary" ]; then
		echo "integration: $m did not complete (crashed or timed out after ${CRID_MODULE_TIMEOUT}s)"
		bad_modules="$bad_modules $m"
		errors=$((errors + 1))
		return
	fi
	field() { echo "$summary" | sed "s/.* $1=\([0-9]*\).*/\1/"; }
	t=$(field tests) p=$(field passed) f=$(field failed) e=$(field fixture_errors) s=$(field skipped)
	total=$((total + t)) passed=$((passed + p)) failed=$((failed + f)) errors=$((errors + e))
	skipped=$((skipped + s))
	if [ "$f" != 0 ] || [ "$e" != 0 ]; then
		bad_modules="$bad_modules $m"
	fi
}

# Reports, in start order, every module that has ended.
declare -a pending=()
report_ended() {
	local left=() m
	for m in "${pending[@]}"; do
		if [ -e "$logdir/$m.end" ]; then report_module "$m"; else left+=("$m"); fi
	done
	pending=("${left[@]}")
}

# The longest modules (their seconds in make test) start first, so that both lanes end
# together instead of one running a long module alone at the end of the pass.
FIRST=${CRID_FIRST_MODULES:-"test_containers_recovery test_log_kill test_chaos test_ctr_stream
	test_stream_rpc test_containers_ops test_containers test_stream_exec test_stream_ws
	test_faults_runtime test_stream_spdy test_faults_host"}
FIRST=$(echo $FIRST)
snapshot "the run began"
parallel= serial= rest=
for m in $modules; do
	m=${m%.py}
	case " $SERIAL " in *" $m "*) serial="$serial $m" ;; *) rest="$rest $m" ;; esac
done
for m in $FIRST; do
	case " $rest " in *" $m "*) parallel="$parallel $m" ;; esac
done
for m in $rest; do
	case " $FIRST " in *" $m "*) ;; *) parallel="$parallel $m" ;; esac
done
for m in $parallel; do
	while [ "$(jobs -pr | wc -l)" -ge "$JOBS" ]; do
		wait -n
		report_ended
	done
	echo "$SECONDS" >"$logdir/$m.start"
	run_module "$m" &
	pending+=("$m")
done
wait
report_ended
for m in $serial; do
	echo "$SECONDS" >"$logdir/$m.start"
	run_module "$m"
	pending+=("$m")
	report_ended
done

echo
echo "integration summary ($CRID_BUILD): $total tests, $passed passed, $failed failed, $skipped skipped, $errors fixture/module errors"
for m in $modules; do grep -h '^SKIPPED ' "$logdir/${m%.py}.out" 2>/dev/null; done | sed 's/^/  /'
# a module must take away what it made: dirs, mounts, bridges (CRID_KEEP keeps dirs on purpose)
touch "$logdir/watch.stop"
for _ in $(seq 1 10); do
	[ -e "/proc/$(cat "$logdir/watch.pid")" ] || break
	sleep 0.5
done
if [ -z "${CRID_KEEP:-}" ] && ! "$PY" "$here/leftovers.py" report "$logdir"; then
	bad_modules="$bad_modules (leftovers)"
fi
if [ -n "$bad_modules" ]; then
	echo "integration: FAILED modules:$bad_modules (full output in $logdir)"
	exit 1
fi
echo "integration: OK"
rm -rf "$logdir"
exit 0
