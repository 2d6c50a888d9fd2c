#!/bin/bash
# make bench: one command, a fresh machine, crid against Debian's containerd.
#
# Starts a private Debian docker-registry on 127.0.0.1 (tests/fixtures/registry.sh),
# builds and pushes the bench images (tests/fixtures/images.py: busybox sleep,
# pause for containerd's sandbox_image, a ~158 MB 6-layer image for pulls;
# deterministic, cached under /var/tmp/crid-fixtures), starts crid and
# containerd (own root, state, sockets, CNI conf under a temp dir), runs every
# scenario against both (crid first: the baseline of the ratios), prints the
# tables and writes JSON and PNG plots to bench/results/<stamp>/. Everything
# it started is stopped and removed at the end, also on Ctrl-C.
#
# Environment:
#   CRID_BUILD       build dir (build)
#   BENCH_SCENARIOS  which scenarios (rpc podstart density relist pull churn exec)
#   BENCH_CALLS      rpc calls per endpoint and level (10000)
#   BENCH_PODS       podstart pods per phase / relist pods running (100)
#   BENCH_PARALLEL   podstart concurrency and worker threads (10)
#   BENCH_STEPS      density pod counts (100,500)
#   BENCH_DURATION   churn and relist seconds per endpoint (30)
#   BENCH_ROUNDS     pull rounds (3)
#   BENCH_ENDPOINTS  "crid containerd" (drop one to bench only the other; add crid-runc
#                    for a second crid whose default handler is runc, or crid-tcache for
#                    one with glibc's per-thread cache on, its default: what crid's
#                    malloc policy costs per call; the two share a bridge, so not both)
#   BENCH_ARGS       more crid-bench flags for every scenario
#   BENCH_NET        0..13: this run's bridges cb<N>{crid,ctd,floor} and subnets 172.<18+N>.x
#                    (default pid % 14: concurrent runs on one machine keep apart; the
#                    integration tests use 10.x)
#   BENCH_TRACE      1: crid logs at debug level and podstart reports its per-step trace
#                    (reactor/trace.h) per phase; default 1 unless rpc, relist or churn run
#                    (one log line per call would weigh on their sub-millisecond calls)
#   BENCH_EXEC_ARGS  more bench/exec.py flags (--calls --sessions --mbytes --rounds)
#   BENCH_METRICS_ARGS  more bench/metrics.py flags (--pods --calls --rounds); the metrics
#                    scenario (stats and CRI metrics lists) runs only when named
#   SOAK_MINUTES, SOAK_PODS  the soak scenario (bench/soak.py, `make soak`; only when named):
#                    minutes per endpoint (20) and pods (500), 10% of them churning
#   BENCH_SOAK_ARGS  more bench/soak.py flags (--churn --workers --interval)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
BUILD=${CRID_BUILD:-build}
SCENARIOS=${BENCH_SCENARIOS:-rpc podstart density relist pull churn exec}
ENDPOINTS=${BENCH_ENDPOINTS:-crid containerd}
if [ -z "${BENCH_TRACE:-}" ]; then
	BENCH_TRACE=1
	for s in $SCENARIOS; do case $s in rpc | relist | churn | soak) BENCH_TRACE=0 ;; esac; done
fi
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$REPO/bench/results/$STAMP
TMP=$(mktemp -d /tmp/crid-bench.XXXXXX)
FIX=$REPO/tests/fixtures
PIDS=()
# Bridges and subnets of this run only: runs by other users of the machine keep theirs.
NET=${BENCH_NET:-$(($$ % 14))}
BR_CTD=cb${NET}ctd BR_CRID=cb${NET}crid BR_FLOOR=cb${NET}floor BR_CRIDR=cb${NET}cridr
NET_CTD=172.$((18 + NET)).0.0/18 NET_CRID=172.$((18 + NET)).64.0/18 NET_FLOOR=172.$((18 + NET)).128.0/18
NET_CRIDR=172.$((18 + NET)).192.0/18
BRIDGES=("$BR_CTD" "$BR_CRID" "$BR_FLOOR" "$BR_CRIDR")
EP_ARGS=()
TRACE_ARGS=()
CONTAINERD_UP=false

log() { echo "bench: $*" >&2; }

# Stops what we started, in reverse: pods via CRI, daemons, shims, mounts, bridges, registry.
cleanup() {
	local pid m b
	trap - EXIT INT TERM
	set +e +o pipefail # best effort: every step runs even when an earlier one found nothing
	if [ ${#EP_ARGS[@]} -gt 0 ] && [ -x "$BUILD/crid-bench" ]; then
		timeout 120 "$BUILD/crid-bench" cleanup "${EP_ARGS[@]}" --timeout 20000 >/dev/null 2>&1 || true
	fi
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	# shims and containers outlive containerd: kill those of our containerd only
	for pid in $(grep -l -F -- "$TMP/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
		[ "$pid" = $$ ] || kill -KILL "$pid" 2>/dev/null || true
	done
	sleep 0.2
	grep -F " $TMP/" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	local sweep=()
	for b in "${BRIDGES[@]}"; do sweep+=(--bridge "$b"); done
	for m in "$TMP"/*/ipam "$TMP"/floor-ipam; do [ -d "$m" ] && sweep+=(--ipam-dir "$m"); done
	/usr/bin/python3 "$REPO/bench/net_sweep.py" "${sweep[@]}" || true
	for b in "${BRIDGES[@]}"; do ip link del "$b" 2>/dev/null || true; done
	"$FIX/registry.sh" stop "$TMP/registry" 2>/dev/null || true
	rm -rf "$TMP" 2>/dev/null || true
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

# bridge_plugin BRIDGE SUBNET DATADIR: the one plugin of every bench network (a /16: density
# runs 500 pods). crid, containerd
# and the CNI floor run the same one (no portmap: the pods map no ports), so the floor's ADD
# is the CNI plugins' own share of either runtime's RunPodSandbox.
bridge_plugin() {
	cat <<EOT
"type": "bridge", "bridge": "$1", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$2" }]], "dataDir": "$3",
                "routes": [{ "dst": "0.0.0.0/0" }] }
EOT
}

# bridge_conflist NAME BRIDGE SUBNET DATADIR
bridge_conflist() {
	cat <<EOT
{
  "cniVersion": "0.4.0",
  "name": "$1",
  "plugins": [
    { $(bridge_plugin "$2" "$3" "$4") }
  ]
}
EOT
}

# start_crid [NAME BRIDGE SUBNET [crid flags...]]: crid (its default handler) by default.
start_crid() {
	local name=${1:-crid} bridge=${2:-$BR_CRID} subnet=${3:-$NET_CRID}
	shift 3 2>/dev/null || shift $#
	mkdir -p "$TMP/$name/cni"
	bridge_conflist crid-bench "$bridge" "$subnet" "$TMP/$name/ipam" \
		>"$TMP/$name/cni/10-bench.conflist"
	"$BUILD/crid" --listen "$TMP/$name/crid.sock" --root "$TMP/$name/root" \
		--runroot "$TMP/$name/run" --log-level "$([ "$BENCH_TRACE" = 1 ] && echo debug || echo warn)" \
		--cni-config-dir "$TMP/$name/cni" --cni-plugin-dir /usr/lib/cni \
		--insecure-registry "$REGISTRY" "$@" >"$TMP/$name.log" 2>&1 &
	CRID_PID=$!
	PIDS+=("$CRID_PID")
	wait_ready "$name" "$CRID_PID" "$TMP/$name/crid.sock" "$TMP/$name.log"
}

# containerd as Debian ships it (1.6, CRI plugin), everything under $TMP/containerd.
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
  sandbox_image = "$REGISTRY/crid-test/pause:latest"
  # root here lacks CAP_SYS_RESOURCE: shims cannot lower oom_score_adj below ours
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REGISTRY"]
    endpoint = ["http://$REGISTRY"]

[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
EOT
}

start_containerd() {
	mkdir -p "$TMP/containerd/cni"
	bridge_conflist containerd-bench "$BR_CTD" "$NET_CTD" "$TMP/containerd/ipam" \
		>"$TMP/containerd/cni/10-bench.conflist"
	containerd_config >"$TMP/containerd/config.toml"
	containerd --config "$TMP/containerd/config.toml" >"$TMP/containerd.log" 2>&1 &
	CONTAINERD_PID=$!
	PIDS+=("$CONTAINERD_PID")
	wait_ready containerd "$CONTAINERD_PID" "$TMP/containerd/containerd.sock" \
		"$TMP/containerd.log"
}

fixtures() {
	REGISTRY=$("$FIX/registry.sh" start "$TMP/registry")
	log "registry at $REGISTRY"
	/usr/bin/python3 "$FIX/images.py" push "$REGISTRY" >&2
	PULL_BYTES=$(/usr/bin/python3 "$FIX/images.py" info |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["large"]["compressed_bytes"])')
	/usr/bin/python3 "$FIX/images.py" bundle "$TMP/floor-bundle" >&2
	cat >"$TMP/floor-cni.conf" <<EOT
{ "cniVersion": "0.4.0", "name": "crid-bench-floor",
  $(bridge_plugin "$BR_FLOOR" "$NET_FLOOR" "$TMP/floor-ipam") }
EOT
}

# The exec and metrics scenarios are Python (bench/<name>.py): exec's SPDY client is the
# test suite's.
exec_scenario() {
	local py=$BUILD/py
	mkdir -p "$py"
	/usr/bin/python3 -m grpc_tools.protoc -Iproto --python_out="$py" --grpc_python_out="$py" \
		proto/api.proto || return 1
	local extra=${BENCH_EXEC_ARGS:-}
	[ "$1" = metrics ] && extra=${BENCH_METRICS_ARGS:-}
	[ "$1" = soak ] && extra="--minutes ${SOAK_MINUTES:-20} --pods ${SOAK_PODS:-500} --out $RESULTS ${BENCH_SOAK_ARGS:-}"
	# shellcheck disable=SC2086 # the extra args are a list of flags
	CRID_PY=$py /usr/bin/python3 "bench/$1.py" "${EP_ARGS[@]}" --image "$REGISTRY/crid-test/busybox:latest" \
		--json "$RESULTS/$1.json" $extra | tee "$RESULTS/$1.txt" &
	wait $!
}

main() {
	local s common rc=0

	for bin in crid cridctl crid-bench; do
		[ -x "$BUILD/$bin" ] || { log "$BUILD/$bin is missing: run make all"; exit 1; }
	done
	[ "$(id -u)" = 0 ] || log "not root: the daemons may fail to start"
	for t in docker-registry skopeo gnuplot runc; do
		command -v "$t" >/dev/null || log "$t not found (make deps installs it)"
	done
	fixtures

	if [[ " $ENDPOINTS " == *" crid "* ]]; then
		start_crid || exit 1
		EP_ARGS+=(--endpoint "crid=unix://$TMP/crid/crid.sock" --pid "crid=$CRID_PID")
		if [ "$BENCH_TRACE" = 1 ]; then TRACE_ARGS=(--trace-log "crid=$TMP/crid.log"); fi
	fi
	if [[ " $ENDPOINTS " == *" crid-runc "* ]]; then
		start_crid crid-runc "$BR_CRIDR" "$NET_CRIDR" --default-runtime runc || exit 1
		EP_ARGS+=(--endpoint "crid-runc=unix://$TMP/crid-runc/crid.sock" --pid "crid-runc=$CRID_PID")
	fi
	if [[ " $ENDPOINTS " == *" crid-tcache "* ]]; then
		[[ " $ENDPOINTS " != *" crid-runc "* ]] || { log "crid-tcache and crid-runc share a bridge: name one"; exit 1; }
		# a user's tcache_count is kept (reactor/malloc_policy.h): 7 is glibc's default
		GLIBC_TUNABLES=glibc.malloc.tcache_count=7 start_crid crid-tcache "$BR_CRIDR" "$NET_CRIDR" || exit 1
		EP_ARGS+=(--endpoint "crid-tcache=unix://$TMP/crid-tcache/crid.sock" --pid "crid-tcache=$CRID_PID")
	fi
	if [[ " $ENDPOINTS " == *" containerd "* ]]; then
		if ! command -v containerd >/dev/null; then
			log "skipping containerd: not installed (apt-get install containerd)"
		elif start_containerd; then
			EP_ARGS+=(--endpoint "containerd=unix://$TMP/containerd/containerd.sock")
			EP_ARGS+=(--pid "containerd=$CONTAINERD_PID")
		else
			log "skipping containerd: it did not start"
		fi
	fi
	[ ${#EP_ARGS[@]} -gt 0 ] || { log "no endpoint to bench"; exit 1; }

	mkdir -p "$RESULTS"
	sleep 1 # let the daemons settle before idle memory readings
	common=(--image "$REGISTRY/crid-test/sleep:latest" --pull-image "$REGISTRY/crid-test/large:latest"
		--pull-bytes "$PULL_BYTES" --floor-bundle "$TMP/floor-bundle"
		--floor-cni "$TMP/floor-cni.conf" --plots "$RESULTS"
		--pods "${BENCH_PODS:-100}" --parallel "${BENCH_PARALLEL:-10}"
		--steps "${BENCH_STEPS:-100,500}" --duration "${BENCH_DURATION:-30}"
		--rounds "${BENCH_ROUNDS:-3}")
	for s in $SCENARIOS; do
		log "=== $s"
		local args=("$s" "${EP_ARGS[@]}" "${TRACE_ARGS[@]}" --json "$RESULTS/$s.json")
		if [ "$s" = exec ] || [ "$s" = metrics ] || [ "$s" = soak ]; then
			exec_scenario "$s" || rc=1
			continue
		elif [ "$s" = rpc ]; then
			args+=(-n "${BENCH_CALLS:-10000}")
		else
			args+=("${common[@]}")
		fi
		# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
		"$BUILD/crid-bench" "${args[@]}" ${BENCH_ARGS:-} | tee "$RESULTS/$s.txt" &
		# in the background, so a signal runs the trap at once instead of after the run
		wait $! || rc=1
		# an endpoint that failed mid-scenario keeps its pods (and their IPs): not into the next
		timeout 300 "$BUILD/crid-bench" cleanup "${EP_ARGS[@]}" --timeout 20000 >/dev/null 2>&1 || true
		echo
	done
	log "results: $RESULTS"
	return $rc
}

main "$@"
