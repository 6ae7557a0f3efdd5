# mk/fuzz.mk -- fuzzing with libFuzzer (clang), and replaying the corpora
# without it.  Included by the Makefile.
#
#   make fuzz                        build the libFuzzer targets into
#                                    build-fuzz/ (clang, ASan and UBSan)
#   make fuzz-run [FUZZ_SECONDS=60]  run each target in turn for that long
#                                    over a copy of its seed corpus; fails,
#                                    naming the input, on a crash
#   make check-fuzz-corpus           replay tests/fuzz/corpus/ and
#                                    tests/fuzz/regressions/ through every
#                                    harness, built with $(CC); part of
#                                    "make check-unit"
#
# Targets: proto (control-protocol framing, request parsing and replies),
# config (the configuration loader), hsp (HSP envelopes and the router with
# the real dispatcher, discovery and dialogue tool, a stub connector and a
# stand-in LLM), cmd (the command table and every command's argument check,
# on request lines, with stubs for what only the commands' exec calls),
# jscan (the tree-less JSON reader of the HSP hot path, against jansson).
# Inputs libFuzzer generates stay in build-fuzz/, never
# in the tree; a crash is kept by copying it to tests/fuzz/regressions/NAME/.

FUZZ_B		= build-fuzz
FUZZ_CC		?= $(or $(shell command -v clang 2>/dev/null),clang-14)
FUZZ_SECONDS	?= 60
FUZZ_TARGETS	= proto config hsp cmd jscan
FUZZ_SANITIZE	= -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS	= -std=gnu11 -D_GNU_SOURCE $(WARNINGS) -Iinclude -Isrc $(DEFS) \
		  $(PKG_CFLAGS) -g -O1 -fno-omit-frame-pointer $(FUZZ_SANITIZE)

# What each harness links besides itself.
FUZZ_SRCS_proto		= src/proto.c src/util.c
FUZZ_SRCS_jscan		= src/jscan.c src/util.c
FUZZ_SRCS_config	= $(CONFIG_OBJS:.o=.c) src/util.c
FUZZ_SRCS_hsp		= src/router.c src/dedup.c src/hsp-envelope.c src/jscan.c \
			  src/dispatcher.c src/dialogue.c src/discovery.c \
			  src/registry.c $(CONFIG_OBJS:.o=.c) src/util.c \
			  tests/support/stubs-hsp.c
# Every command file of the table; cmd-shutdown.c is not in the table.
FUZZ_SRCS_cmd		= src/cmd.c $(filter-out src/cmd-shutdown.c, \
			  $(wildcard src/cmd-*.c)) src/proto.c src/util.c
# The longest input per target: a request line a little over the smallest
# control.max_request_bytes; a configuration file; a few envelopes; one
# request line, long enough for arguments far longer than any cause quotes;
# a JSON text.
FUZZ_MAX_LEN_proto	= 4096
FUZZ_MAX_LEN_config	= 8192
FUZZ_MAX_LEN_hsp	= 8192
FUZZ_MAX_LEN_cmd	= 4096
FUZZ_MAX_LEN_jscan	= 4096

# The objects, under build directory $(1), that harness $(2) links.
fuzz_objs	= $(addprefix $(1)/,$(patsubst %.c,%.o,$(FUZZ_SRCS_$(2))))

FUZZ_PROGS	= $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz_%)
FUZZ_REPLAY	= $(FUZZ_TARGETS:%=$(B)/tests/fuzz/replay_%)

CLEAN_EXTRA	+= $(FUZZ_B)

.PHONY: fuzz fuzz-run check-fuzz-corpus

fuzz: $(FUZZ_PROGS)

$(FUZZ_B)/%.o: %.c
	@mkdir -p $(@D)
	@printf '  CLANG   %s\n' $<
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c \
		-o $@ $<

$(FUZZ_B)/fuzz_%: $(FUZZ_B)/tests/fuzz/fuzz_%.o \
	$$(call fuzz_objs,$(FUZZ_B),$$*)
	$(FUZZ_CC) $(FUZZ_SANITIZE) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# The same harnesses under driver.c, with the normal compiler and warnings.
$(B)/tests/fuzz/replay_%: $(B)/tests/fuzz/driver.o \
	$(B)/tests/fuzz/fuzz_%.o $$(call fuzz_objs,$(B),$$*)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

FUZZ_ALL_SRCS	= $(sort $(foreach t,$(FUZZ_TARGETS),tests/fuzz/fuzz_$(t).c \
		  $(FUZZ_SRCS_$(t))))
$(FUZZ_ALL_SRCS:%.c=$(FUZZ_B)/%.o) $(FUZZ_TARGETS:%=$(B)/tests/fuzz/fuzz_%.o) \
	$(B)/tests/fuzz/driver.o: $(wildcard config.mk) $(B)/defs

-include $(wildcard $(FUZZ_B)/src/*.d $(FUZZ_B)/tests/fuzz/*.d \
	$(B)/tests/fuzz/*.d)

# One target at a time (never in parallel: the machine is shared).  Each
# runs over its own copy of the seeds and the regressions in
# build-fuzz/corpus/NAME, which keeps what earlier runs found.
fuzz-run: fuzz
	@failed=; for t in $(FUZZ_TARGETS); do \
		corpus=$(FUZZ_B)/corpus/$$t; artifacts=$(FUZZ_B)/artifacts/$$t; \
		mkdir -p $$corpus $$artifacts; \
		cp tests/fuzz/corpus/$$t/* $$corpus/; \
		if [ -n "$$(ls tests/fuzz/regressions/$$t 2>/dev/null)" ]; then \
			cp tests/fuzz/regressions/$$t/* $$corpus/; fi; \
		echo "== fuzz_$$t for $(FUZZ_SECONDS)s"; \
		$(FUZZ_B)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-max_len=$(FUZZ_MAX_LEN_$$t) -timeout=10 \
			-dict=tests/fuzz/$$t.dict -print_final_stats=1 \
			-artifact_prefix=$$artifacts/ $$corpus \
			>$(FUZZ_B)/fuzz_$$t.log 2>&1; \
		rc=$$?; \
		grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
			$(FUZZ_B)/fuzz_$$t.log; \
		if [ $$rc -ne 0 ]; then \
			grep -E 'ERROR:|SUMMARY:|property does not hold' \
				$(FUZZ_B)/fuzz_$$t.log | head -5; \
			input=$$(sed -n 's/.*Test unit written to //p' \
				$(FUZZ_B)/fuzz_$$t.log | tail -1); \
			echo "fuzz_$$t FAILED (exit $$rc); log: $(FUZZ_B)/fuzz_$$t.log"; \
			echo "crashing input: $${input:-none written}"; \
			failed="$$failed $$t"; \
		fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz-run: failed:$$failed"; exit 1; fi

check-fuzz-corpus: $(FUZZ_REPLAY)
	@failed=0; for t in $(FUZZ_TARGETS); do \
		echo "== replay_$$t"; \
		$(B)/tests/fuzz/replay_$$t tests/fuzz/corpus/$$t \
			$$(ls -d tests/fuzz/regressions/$$t 2>/dev/null) || failed=1; \
	done; exit $$failed

# "make check-unit" replays the corpora too.
check-unit: check-fuzz-corpus
# ... and "make check-build" builds the replay programs with the rest.
check-build: $(FUZZ_REPLAY)
