# mk/bench.mk -- benchmarks: figures, not pass/fail ("bench/run --help"
# says what each one measures).
#
#   make bench            install what the peers need (supervisor), build the
#                         daemon, the client, the support programs and the
#                         bench programs with the normal flags (-O2, warnings
#                         as errors), run every benchmark and write
#                         bench/RESULTS.md; its headline table gives each
#                         goal of issue 19 as met or missed
#   make bench BENCH="control reload"     only these (RESULTS.md untouched)
#   make bench BENCH_ARGS="--quick"       arguments for bench/run (the
#                         default writes bench/RESULTS.md)
#   make bench-build      only build
#
# The bench programs are built like the daemon (ALL_CFLAGS: the project's
# WARNINGS and WERROR).  The throughput peers: raw-responder (libmosquitto
# only, the ceiling) and echo-responder (jansson and src/hsp-envelope.c,
# the previous ceiling, kept as a second row).

BENCH_PROGS	= bench/ctlbench bench/echo-responder bench/raw-responder
BENCH		?=
# A run of every benchmark rewrites bench/RESULTS.md; a run of some does not.
BENCH_ARGS	?= $(if $(BENCH),,--write bench/RESULTS.md)

CLEAN_EXTRA	+= $(BENCH_PROGS)

.PHONY: bench bench-build bench-deps

bench/ctlbench: $(B)/bench/ctlbench.o $(B)/tests/support/tool.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Both responders share bench/responder.c (the MQTT shell).
bench/echo-responder: $(B)/bench/echo-responder.o $(B)/bench/responder.o \
		$(B)/src/hsp-envelope.o $(B)/src/jscan.o $(B)/src/util.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Nothing from src/ and no JSON library: the ceiling of the throughput
# benchmark is what libmosquitto and the protocol cost.
bench/raw-responder: $(B)/bench/raw-responder.o $(B)/bench/responder.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs libmosquitto)

-include $(wildcard $(B)/bench/*.d)

bench-deps:
	@scripts/install-deps --bench

bench-build: all $(SUPPORT_PROGS) $(BENCH_PROGS)

# The bench programs are compiled by "make check" too (warnings as errors),
# so that they do not rot between benchmark runs.
check-build: $(BENCH_PROGS)

# Like "make check": the packages first, then a second make that sees them.
bench: bench-deps
	@$(MAKE) --no-print-directory bench-build
	@bench/run $(BENCH_ARGS) $(BENCH)
