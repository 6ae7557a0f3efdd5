# mk/sanitize.mk -- the whole suite under the sanitizers and under valgrind.
#
#   make check-asan       the unit and integration tests built with gcc's
#                         AddressSanitizer, UndefinedBehaviorSanitizer and
#                         LeakSanitizer, in a copy of the tree under
#                         build-asan/ (never mixed with the normal build)
#   make check-asan ASAN_TESTS="soak reload"
#                         the same with only those integration tests
#   make check-valgrind   the unit tests under memcheck, then the reload
#                         soak (tests/integration/test_soak.sh, fewer
#                         iterations) with the daemon under memcheck
#
# check-asan copies the source tree (what "make dist" would pack: the git
# files, tracked and new-but-not-ignored; outside git, every file but the
# build outputs) into build-asan/tree and runs that tree's own make there
# with the sanitizer flags, then its unit tests and tests/integration/run,
# so no test knows it runs sanitized.  The tree's build/ directory is kept
# between runs (the copy keeps modification times), so a second run only
# rebuilds what changed.  Any sanitizer report fails the run: the process
# stops at the first one with exit status 86 (the daemon's exit status is
# checked at the end of every test, and a dead daemon fails the checks
# after it).  ASan and LeakSanitizer reports are also written to
# build-asan/reports/, which must be empty at the end: that catches a
# helper whose status no test reads.  (UBSan, in the same runtime, ignores
# log_path: its reports stay on the process's stderr, for the daemon its
# log, which a failing test shows.)  ASan makes the tests slower: each
# integration test may take up to ASAN_TEST_TIMEOUT seconds.
#
# check-valgrind runs in the normal build.  Any memcheck error or definitely
# lost block fails it; tests/valgrind.supp holds the suppressions for
# third-party noise, each with its reason.

ASAN_DIR	= build-asan
ASAN_CC		?= gcc
ASAN_SANITIZE	= -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_CFLAGS	?= -O1 -g $(ASAN_SANITIZE) -fno-omit-frame-pointer
ASAN_LDFLAGS	?= $(ASAN_SANITIZE)
ASAN_TEST_TIMEOUT ?= 300
# How many times slower the sanitized programs run, roughly (lib.sh's
# SLOWDOWN: the tests whose load must outlast an operation make it longer).
ASAN_SLOWDOWN	?= 4
ASAN_TESTS	?=
# halt_on_error: the first report ends the process (as -fno-sanitize-recover
# does for UBSan); exitcode: a status no program of ours uses.  ASan's and
# LSan's reports go to files (log_path, ".PID" added to the name) so none
# is lost in a test's log.
ASAN_REPORTS	= $(CURDIR)/$(ASAN_DIR)/reports
ASAN_ENV	= ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:exitcode=86:strict_string_checks=1:check_initialization_order=1:log_path=$(ASAN_REPORTS)/asan \
		  LSAN_OPTIONS=exitcode=86 \
		  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=86
ASAN_MAKE	= $(MAKE) --no-print-directory -C $(ASAN_DIR)/tree \
		  CC='$(ASAN_CC)' CFLAGS='$(ASAN_CFLAGS)' LDFLAGS='$(ASAN_LDFLAGS)'

VALGRIND	?= valgrind
# --error-exitcode: a status the daemon and the unit tests never use.
VALGRIND_FLAGS	= --quiet --leak-check=full --errors-for-leak-kinds=definite \
		  --show-leak-kinds=definite --error-exitcode=87 \
		  --track-origins=yes --suppressions=$(CURDIR)/tests/valgrind.supp
# The soak under valgrind: fewer reloads (memcheck runs the daemon some
# 20-50 times slower), and the requests that go with them.
VALGRIND_SOAK	= SOAK_RELOAD_LLM=100 SOAK_RELOAD_HSP=30
VALGRIND_TEST_TIMEOUT ?= 300

CLEAN_EXTRA	+= $(ASAN_DIR)

.PHONY: check-asan asan-tree check-valgrind

# Copy the source tree into $(ASAN_DIR)/tree, keeping only its build/
# (unless the compiler or the flags changed: the objects do not record them).
# The file list is make dist's; outside git, every file but the build
# outputs (the same ones .gitignore names).  $(ASAN_DIR) itself is left
# out even where .gitignore does not name it (an old checkout).
asan-tree:
	@mkdir -p $(ASAN_DIR)
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files --cached --others --exclude-standard; \
	else \
		find . \( -path ./.git -o -path './build*' \
		    -o -name '*.o' -o -name '*.d' -o -path './hotreload-*.tar.gz*' \
		    -o -path ./autom4te.cache \) -prune -o -type f \
		    ! -path ./hotreloadd ! -path ./hotreloadctl \
		    ! -path ./config.mk ! -path ./config.log \
		    ! -path ./config.status ! -path ./configure \
		    ! -path ./aclocal.m4 \
		    ! -path ./tests/support/loadpeer \
		    ! -path ./tests/support/llmserver \
		    ! \( -path './tests/unit/test_*' ! -name '*.c' \) \
		    -print | sed 's|^\./||'; \
	fi | while IFS= read -r f; do \
		case $$f in $(ASAN_DIR)/*) continue ;; esac; \
		if [ -f "$$f" ]; then echo "$$f"; fi; \
	done >$(ASAN_DIR)/files
	@rm -rf $(ASAN_DIR)/tree.new
	@mkdir -p $(ASAN_DIR)/tree.new
	@tar -cf - -T $(ASAN_DIR)/files | tar -xf - -C $(ASAN_DIR)/tree.new
	@printf '%s\n' '$(ASAN_CC)' '$(ASAN_CFLAGS)' '$(ASAN_LDFLAGS)' \
		>$(ASAN_DIR)/flags.new
	@if [ -d $(ASAN_DIR)/tree/build ] && \
	    cmp -s $(ASAN_DIR)/flags.new $(ASAN_DIR)/flags; then \
		mv $(ASAN_DIR)/tree/build $(ASAN_DIR)/tree.new/build; fi
	@mv -f $(ASAN_DIR)/flags.new $(ASAN_DIR)/flags
	@rm -rf $(ASAN_DIR)/tree
	@mv $(ASAN_DIR)/tree.new $(ASAN_DIR)/tree
	@echo "copied $$(wc -l <$(ASAN_DIR)/files) files to $(ASAN_DIR)/tree"

# The reports directory is world-writable (sticky): test_permissions runs
# hotreloadctl as nobody, and a report it wrote must not be lost.
check-asan: deps
	@$(MAKE) --no-print-directory asan-tree
	@$(ASAN_MAKE) check-build
	@rm -rf $(ASAN_REPORTS) && mkdir -p $(ASAN_REPORTS) && \
		chmod 1777 $(ASAN_REPORTS)
	@failed=0; \
	$(ASAN_ENV) $(ASAN_MAKE) check-unit || failed=1; \
	cd $(ASAN_DIR)/tree && \
	$(ASAN_ENV) HOTRELOAD_TEST_TIMEOUT=$(ASAN_TEST_TIMEOUT) \
		HOTRELOAD_TEST_SLOWDOWN=$(ASAN_SLOWDOWN) \
		tests/integration/run $(ASAN_TESTS) || failed=1; \
	cd $(CURDIR); \
	for f in $(ASAN_REPORTS)/*; do \
		[ -f "$$f" ] || continue; \
		echo "== sanitizer report $$f"; cat "$$f"; failed=1; \
	done; \
	if [ $$failed -ne 0 ]; then echo "check-asan: FAILED"; exit 1; fi; \
	echo "check-asan: no sanitizer report"

check-valgrind: deps
	@$(MAKE) --no-print-directory check-build
	@rm -f build/valgrind-soak.*.log
	@failed=0; for t in $(UNIT_TESTS); do \
		echo "== valgrind $$t"; \
		CK_FORK=no $(VALGRIND) $(VALGRIND_FLAGS) ./$$t || failed=1; \
	done; \
	$(VALGRIND_SOAK) HOTRELOAD_TEST_TIMEOUT=$(VALGRIND_TEST_TIMEOUT) \
	HOTRELOADD_WRAPPER='$(VALGRIND) $(VALGRIND_FLAGS) --log-file=$(CURDIR)/build/valgrind-soak.%p.log' \
		tests/integration/run test_soak || failed=1; \
	for f in build/valgrind-soak.*.log; do \
		[ -s "$$f" ] || continue; \
		echo "== $$f"; cat "$$f"; failed=1; \
	done; \
	rm -f build/valgrind-soak.*.log; \
	if [ $$failed -ne 0 ]; then echo "check-valgrind: FAILED"; exit 1; fi; \
	echo "check-valgrind: no memcheck error, no definite leak"
