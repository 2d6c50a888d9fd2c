# crid — build, test, run, bench, fuzz. `make deps` is the only target that installs
# packages, and it says so; every other target only builds into $(BUILD).

VERSION := 0.1.0
BUILD ?= build
CC ?= cc
SAN ?=
FUZZ ?=

DEB_PACKAGES := build-essential pkg-config clang libclang-rt-14-dev clang-format \
	libev-dev libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler \
	libyajl-dev libh2o-dev libwslay-dev python3 python3-grpcio python3-websocket python3-grpc-tools python3-protobuf python3-h2 nghttp2-client \
	crun runc containernetworking-plugins iproute2 iptables util-linux containerd gnuplot-nox procps \
	docker-registry skopeo busybox-static curl python3-cryptography libcap-dev libseccomp-dev libsystemd-dev \
	debhelper fakeroot lintian man-db groff-base \
	libssl-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev libc-ares-dev umoci libyaml-dev openssl python3-prometheus-client criu valgrind \
	systemd-container

CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -DCRID_VERSION='"$(VERSION)"' -g -Wall -Wextra -Werror \
	-I. -I$(BUILD)
ifeq ($(FUZZ),1)
CC := clang
CFLAGS_COMMON += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-DCRID_FUZZING
LDFLAGS_SAN := -fsanitize=address,undefined
else ifeq ($(SAN),1)
CFLAGS_COMMON += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
LDFLAGS_SAN := -fsanitize=address,undefined
else
CFLAGS_COMMON += -O2
LDFLAGS_SAN :=
endif
CFLAGS ?=
CFLAGS += $(CFLAGS_COMMON)
# --as-needed: the daemon maps only the libraries it really calls (idle RSS).
LDLIBS := -Wl,--as-needed -lev -lnghttp2 -lh2o -lwslay -lprotobuf-c -lyajl -lcurl -lcares -lzstd -lz -lssl -lcrypto -lseccomp -lcap -lsystemd -lm

PROTO_C := $(BUILD)/proto/api.pb-c.c
PROTO_H := $(BUILD)/proto/api.pb-c.h
LIB_SRC := $(sort $(wildcard reactor/*.c io/*.c runtime/*/*.c handlers/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/proto/api.pb-c.o
CLI_SRC := $(wildcard cli/*.c)
BENCH_SRC := $(wildcard bench/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)
NPROC := $(shell nproc 2>/dev/null || echo 1)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all deps run test test-bins check chaos unit integration format-check include-check fuzz fuzzers fuzz-smoke fuzz-long bench clean

all: $(BUILD)/crid $(BUILD)/cridctl $(BUILD)/crid-bench $(BUILD)/crid-pinns $(BUILD)/crid-keeper
	@true


$(PROTO_C) $(PROTO_H): proto/api.proto
	@mkdir -p $(BUILD)/proto
	protoc-c --c_out=$(BUILD)/proto -Iproto proto/api.proto

$(BUILD)/proto/api.pb-c.o: $(PROTO_C)
	$(CC) $(CFLAGS) -Wno-unused-parameter -c -o $@ $<

$(BUILD)/%.o: %.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libcrid.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/crid: $(BUILD)/crid.o $(BUILD)/libcrid.a
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)

# The pod namespace pinner: a separate program on libc only (runtime/pod/pinns/ is not in libcrid).
$(BUILD)/crid-pinns: $(BUILD)/runtime/pod/pinns/crid-pinns.o
	$(CC) $(LDFLAGS_SAN) -o $@ $^

# The node's fd store when crid runs without systemd: libc only (runtime/state/keeper/ is not in libcrid).
$(BUILD)/crid-keeper: $(BUILD)/runtime/state/keeper/crid-keeper.o
	$(CC) $(LDFLAGS_SAN) -o $@ $^

# libyaml reads config files in cridctl only; the daemon does not link it.
$(BUILD)/cridctl: $(CLI_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libcrid.a
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS) -lyaml

$(BUILD)/crid-bench: $(BENCH_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libcrid.a
	$(CC) $(LDFLAGS_SAN) -pthread -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libcrid.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_podconfig: $(BUILD)/tests/unit/test_podconfig.o $(BUILD)/cli/podconfig.o \
		$(BUILD)/cli/pbfield.o \
		$(BUILD)/libcrid.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS) -lyaml

# cridctl's pure parts, tested with every cli object but main's.
$(BUILD)/tests/test_cridctl_%: $(BUILD)/tests/unit/test_cridctl_%.o \
		$(filter-out $(BUILD)/cli/cridctl.o,$(CLI_SRC:%.c=$(BUILD)/%.o)) $(BUILD)/libcrid.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS) -lyaml

$(BUILD)/tests/helpers/%: $(BUILD)/tests/helpers/%.o $(BUILD)/libcrid.a
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(BUILD)/libcrid.a
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Installs every Debian package the build, the daemon and the tests need.
# Idempotent: apt runs only when a package is missing.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing $$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to install packages" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	fi

# Starts the daemon with its defaults. A node with no CNI configuration gets
# crid's default bridge network, so pods are networked with no manual step.
run: deps all
	@dist/cni-default.sh /etc/cni/net.d cni/10-crid-bridge.conflist
	exec $(BUILD)/crid $(CRID_FLAGS)

unit: $(UNIT_BIN) $(BUILD)/crid-pinns $(BUILD)/crid-keeper
	@fail=0; for t in $(UNIT_BIN); do echo "== $$t"; \
		CRID_PINNS=$(abspath $(BUILD))/crid-pinns CRID_KEEPER=$(abspath $(BUILD))/crid-keeper \
		$$t || fail=1; done; exit $$fail

integration: all $(HELPER_BIN)
	CRID_BUILD=$(BUILD) tests/integration/run.sh

check: unit integration

# kill -9 chaos (tests/chaos/chaos.py): CHAOS_KILLS SIGKILLs of a real crid under a
# seeded kubelet-like workload, invariants checked after every restart. The seed is
# printed first; CHAOS_SEED=<seed> (same CHAOS_KILLS) replays a run's choices.
CHAOS_KILLS ?= 100
CHAOS_SEED ?=
CHAOS_BUILD ?= $(BUILD)
chaos:
	@$(MAKE) --no-print-directory -s BUILD=$(CHAOS_BUILD) $(if $(findstring asan,$(CHAOS_BUILD)),SAN=1) all >/dev/null
	@mkdir -p $(CHAOS_BUILD)/py && /usr/bin/python3 -m grpc_tools.protoc -Iproto \
		--python_out=$(CHAOS_BUILD)/py --grpc_python_out=$(CHAOS_BUILD)/py proto/api.proto
	@/usr/bin/python3 tests/chaos/chaos.py --kills $(CHAOS_KILLS) --build $(CHAOS_BUILD) \
		$(if $(CHAOS_SEED),--seed $(CHAOS_SEED))

# One clang-format per 40 files, one per core (a process per file cost minutes on a busy node).
format-check:
	@out=$$(git ls-files -z '*.c' '*.h' | xargs -0 -P $(NPROC) -n 40 \
		clang-format --style=file --dry-run -Werror 2>&1); rc=$$?; \
	bad=$$(echo "$$out" | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u); \
	if [ -n "$$bad" ]; then echo "not clang-formatted:"; echo "$$bad"; exit 1; fi; \
	if [ $$rc -ne 0 ]; then echo "$$out"; echo "format-check: clang-format failed (exit $$rc)"; exit 1; fi

# No include circle between files or folders, and no include pointing up the floors.
include-check:
	@python3 tests/layout/check_includes.py

fuzzers: $(FUZZ_BIN)

# Builds the libFuzzer targets (clang) into build-fuzz/fuzz/.
fuzz:
	$(MAKE) -j$(NPROC) BUILD=build-fuzz FUZZ=1 fuzzers

# Runs every fuzz target for a short while (FUZZ_SECONDS, default 5) from its
# seed corpus and dictionary (part of `make test`), one per core (FUZZ_JOBS);
# new coverage goes to build-fuzz/corpus/, never to the committed tests/fuzz/corpus/.
fuzz-smoke: fuzz
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),5) FUZZ_JOBS=$(or $(FUZZ_JOBS),$(NPROC)) tests/fuzz/run.sh

# Runs every fuzz target for FUZZ_SECONDS (default 3600) one after another,
# FUZZ_JOBS (default 1) at a time, and prints each one's executions.
fuzz-long: fuzz
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),3600) FUZZ_JOBS=$(or $(FUZZ_JOBS),1) tests/fuzz/run.sh

# Everything `check` runs, built with every core.
test-bins: all $(UNIT_BIN) $(HELPER_BIN) $(BUILD)/crid-pinns $(BUILD)/crid-keeper

# The builds use every core, each before the tests that need it (the tests time real
# runtime calls; a build beside them only adds to the load they see).
test: deps
	$(MAKE) format-check
	$(MAKE) include-check
	$(MAKE) -j$(NPROC) test-bins
	$(MAKE) check
	$(MAKE) -j$(NPROC) BUILD=build-asan SAN=1 test-bins
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(MAKE) BUILD=build-asan SAN=1 check
	$(MAKE) fuzz-smoke

# ---- install, uninstall, Debian package (issue 15) ----
# `make install` copies what `make all` built; run the build as yourself and
# only this step as root. DESTDIR stages into a tree (packaging, tests).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
DOCDIR ?= $(PREFIX)/share/doc/crid
DESTDIR ?=
MAN_PAGES := man/crid.8 man/crid.toml.5 man/cridctl.1

.PHONY: install uninstall deb deb-test

install: $(BUILD)/crid $(BUILD)/cridctl $(BUILD)/crid-pinns $(BUILD)/crid-keeper
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)/crid $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(SYSCONFDIR)/crid $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(BUILD)/crid $(BUILD)/cridctl $(DESTDIR)$(BINDIR)/
	install -m 0755 $(BUILD)/crid-pinns $(BUILD)/crid-keeper $(DESTDIR)$(LIBEXECDIR)/crid/
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/crid.service.in \
		>$(DESTDIR)$(UNITDIR)/crid.service && chmod 0644 $(DESTDIR)$(UNITDIR)/crid.service
	install -m 0644 man/cridctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/crid.toml.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/crid.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 dist/cridctl.bash-completion $(DESTDIR)$(COMPLETIONDIR)/cridctl
	install -m 0644 examples/pod.yaml examples/container.yaml $(DESTDIR)$(DOCDIR)/examples/
	@# an operator's configuration is never overwritten
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/crid/crid.toml ]; then \
		echo "make install: keeping $(DESTDIR)$(SYSCONFDIR)/crid/crid.toml"; \
	else install -m 0644 config.example.toml $(DESTDIR)$(SYSCONFDIR)/crid/crid.toml; fi
	dist/cni-default.sh $(DESTDIR)$(SYSCONFDIR)/cni/net.d cni/10-crid-bridge.conflist

# Removes what install put in place, except the configuration files (an
# operator's, maybe edited) and crid's state under /var/lib/crid.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/crid $(DESTDIR)$(BINDIR)/cridctl \
		$(DESTDIR)$(LIBEXECDIR)/crid/crid-pinns $(DESTDIR)$(LIBEXECDIR)/crid/crid-keeper \
		$(DESTDIR)$(UNITDIR)/crid.service $(DESTDIR)$(MANDIR)/man1/cridctl.1 \
		$(DESTDIR)$(MANDIR)/man5/crid.toml.5 $(DESTDIR)$(MANDIR)/man8/crid.8 \
		$(DESTDIR)$(COMPLETIONDIR)/cridctl $(DESTDIR)$(DOCDIR)/examples/pod.yaml \
		$(DESTDIR)$(DOCDIR)/examples/container.yaml
	-rmdir $(DESTDIR)$(LIBEXECDIR)/crid $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null
	@echo "make uninstall: left $(SYSCONFDIR)/crid/crid.toml, $(SYSCONFDIR)/cni/net.d and /var/lib/crid in place"

# crid_$(VERSION)_amd64.deb with debhelper, into $(BUILD)/deb/ (needs debhelper,
# fakeroot; lintian checks it when installed).
deb:
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/src
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(BUILD)/deb/src
	cd $(BUILD)/deb/src && dpkg-buildpackage -us -uc -b -j2 >../build.log 2>&1 || \
		{ tail -n 40 ../build.log; exit 1; }
	@ls $(BUILD)/deb/*.deb
	@if command -v lintian >/dev/null; then lintian -I --pedantic $(BUILD)/deb/*.changes; fi

# Builds the package, unpacks it into a temporary root and runs the daemon from it.
deb-test: deb
	CRID_DEB_DIR=$(abspath $(BUILD))/deb CRID_BUILD=$(BUILD) tests/integration/run.sh test_deb

bench: deps all
	bench/run.sh

# ---- soak and sanitizers (issue 14) ----
# `make soak SOAK_MINUTES=N SOAK_PODS=M`: bench/soak.py through bench/run.sh against crid
# (BENCH_ENDPOINTS="crid containerd" adds containerd, one after the other): kubelet's polling
# load with 10% of the pods churning; CSV and PNG under bench/results/<stamp>/; fails when fds
# or memory grow or p99 drifts beyond the bounds of README's Reliability section.
SOAK_MINUTES ?= 20
SOAK_PODS ?= 500
# `make lsan-churn LSAN_CHURNS=N`: an ASan build of crid through N pod churns, then SIGTERM:
# exit 0 and no LeakSanitizer report (make test's ASan pass runs 40 of them).
LSAN_CHURNS ?= 1000
.PHONY: soak lsan-churn valgrind

soak: deps all
	BENCH_SCENARIOS=soak BENCH_ENDPOINTS="$${BENCH_ENDPOINTS:-crid}" SOAK_MINUTES=$(SOAK_MINUTES) \
		SOAK_PODS=$(SOAK_PODS) bench/run.sh

lsan-churn:
	$(MAKE) -j2 BUILD=build-asan SAN=1 all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		CRID_CHURNS=$(LSAN_CHURNS) CRID_MODULE_TIMEOUT=7200 CRID_BUILD=build-asan \
		tests/integration/run.sh test_churn_leaks

# Every unit suite under valgrind's memcheck, two at a time (tests/unit/valgrind.sh says what
# fails the run). Not a SAN build: valgrind and ASan do not mix.
valgrind: $(UNIT_BIN) $(BUILD)/crid-pinns $(BUILD)/crid-keeper
	tests/unit/valgrind.sh $(BUILD) $(UNIT_BIN)

clean:
	rm -rf build build-asan build-fuzz
