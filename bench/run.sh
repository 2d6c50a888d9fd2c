#!/bin/bash
# make bench: starts crid and Debian's containerd (CRI plugin) side by side in
# a temporary directory, runs `crid-bench rpc` against both (crid first, the
# baseline of the ratios), prints the table, keeps the JSON under
# bench/results/, and stops everything it started, also on Ctrl-C.
#
# Environment: CRID_BUILD (build dir, default build), BENCH_CALLS (calls per
# endpoint and concurrency, default 10000), BENCH_ARGS (more crid-bench flags).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${CRID_BUILD:-build}
CALLS=${BENCH_CALLS:-10000}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=bench/results
TMP=$(mktemp -d /tmp/crid-bench.XXXXXX)
PIDS=()

log() { echo "bench: $*" >&2; }

# Stops what we started: TERM, up to 5 s, then KILL; then removes the temp dir.
cleanup() {
	local pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# wait_ready NAME PID SOCKET LOG: until a Version call answers (20 s), or the daemon exits.
wait_ready() {
	local name=$1 pid=$2 sock=$3 logf=$4
	for _ in $(seq 200); do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited during start-up; last lines of its log:"
			tail -n 20 "$logf" >&2
			return 1
		fi
		if [ -S "$sock" ] && "$BUILD/cridctl" -r "unix://$sock" -t 1s version >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	log "$name did not answer Version on $sock within 20 s; last lines of its log:"
	tail -n 20 "$logf" >&2
	return 1
}

start_crid() {
	mkdir -p "$TMP/crid/cni"
	"$BUILD/crid" --listen "$TMP/crid/crid.sock" --root "$TMP/crid/root" \
		--runroot "$TMP/crid/run" --log-level warn \
		--cni-config-dir "$TMP/crid/cni" --cni-plugin-dir /usr/lib/cni \
		>"$TMP/crid.log" 2>&1 &
	CRID_PID=$!
	PIDS+=("$CRID_PID")
	wait_ready crid "$CRID_PID" "$TMP/crid/crid.sock" "$TMP/crid.log"
}

# containerd as Debian ships it, with its own root, state and sockets under $TMP.
containerd_config() {
	local d=$TMP/containerd
	cat <<EOT
version = 2
root = "$d/root"
state = "$d/state"

[grpc]
  address = "$d/containerd.sock"

[ttrpc]
  address = "$d/containerd.sock.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:latest"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni"

[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
EOT
}

start_containerd() {
	mkdir -p "$TMP/containerd/cni"
	containerd_config >"$TMP/containerd/config.toml"
	containerd --config "$TMP/containerd/config.toml" >"$TMP/containerd.log" 2>&1 &
	CONTAINERD_PID=$!
	PIDS+=("$CONTAINERD_PID")
	wait_ready containerd "$CONTAINERD_PID" "$TMP/containerd/containerd.sock" \
		"$TMP/containerd.log"
}

main() {
	local args=(rpc -n "$CALLS")

	for bin in crid cridctl crid-bench; do
		[ -x "$BUILD/$bin" ] || { log "$BUILD/$bin is missing: run make all"; exit 1; }
	done
	[ "$(id -u)" = 0 ] || log "not root: the daemons may fail to start"

	start_crid || exit 1
	args+=(--endpoint "crid=unix://$TMP/crid/crid.sock" --pid "crid=$CRID_PID")

	if ! command -v containerd >/dev/null; then
		log "skipping containerd: not installed (apt-get install containerd)"
	elif start_containerd; then
		args+=(--endpoint "containerd=unix://$TMP/containerd/containerd.sock")
		args+=(--pid "containerd=$CONTAINERD_PID")
	else
		log "skipping containerd: it did not start"
	fi

	mkdir -p "$RESULTS"
	sleep 1 # let both settle before the idle memory reading
	# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
	"$BUILD/crid-bench" "${args[@]}" --json "$RESULTS/rpc-$STAMP.json" ${BENCH_ARGS:-} &
	# in the background, so a signal runs the trap at once instead of after the run
	PIDS=("$!" "${PIDS[@]}")
	wait "${PIDS[0]}"
	log "results: $RESULTS/rpc-$STAMP.json"
}

main "$@"
