# hotreload -- hand-written GNU make.  Works on a fresh clone: libraries are
# found with pkg-config.  ./configure (made by "make configure") writes
# config.mk for packagers; it is included when present.
#
#   make            build hotreloadd and hotreloadctl
#   make check      install missing Debian packages, build with warnings as
#                   errors, run the unit and integration tests
#   make demo       a live demo of status, drain, resume and reload
#   make install    DESTDIR=... PREFIX=...
#   make uninstall  the same variables; the configuration is kept
#   make dist       hotreload-VERSION.tar.gz of the git checkout
#
# More targets live in mk/*.mk, each with its own header: sanitizers
# (check-asan, check-valgrind), fuzzing (fuzz, fuzz-run), benchmarks
# (bench) and the units under a real systemd (check-systemd).

-include config.mk

.DEFAULT_GOAL	:= all

# The version is stated once, in the file VERSION (configure.ac reads it
# too; test_man checks the man pages' headers against it).
VERSION		:= $(shell cat $(dir $(lastword $(MAKEFILE_LIST)))VERSION)

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
DATAROOTDIR	?= $(PREFIX)/share
MANDIR		?= $(DATAROOTDIR)/man
SYSCONFDIR	?= /etc
RUNSTATEDIR	?= /run
SYSUSERSDIR	?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR	?= $(PREFIX)/lib/tmpfiles.d
COMPLETIONDIR	?= $(DATAROOTDIR)/bash-completion/completions
WITH_SYSTEMD	?= yes

PKG_CONFIG	?= pkg-config
PKGS		= libevent jansson libmosquitto libcurl nettle openssl

# systemd (sd_notify, socket activation, journal fields): used unless
# WITH_SYSTEMD=no, when pkg-config finds libsystemd.  Without it the daemon's
# notify_* functions do nothing and the units are not installed (they need
# Type=notify), unless SYSTEMDUNITDIR is given.
#
# The units go under PREFIX like everything else: PREFIX/lib/systemd/system
# (/usr/local/lib/systemd/system by default, where systemd looks too), and
# with PREFIX=/usr where the distribution's systemd keeps its own
# (pkg-config: /lib/systemd/system on Debian 12).  SYSUSERSDIR and
# TMPFILESDIR follow the same rule.
HAVE_SYSTEMD	:=
ifneq ($(WITH_SYSTEMD),no)
ifeq ($(shell $(PKG_CONFIG) --exists libsystemd 2>/dev/null && echo yes),yes)
HAVE_SYSTEMD	:= yes
PKGS		+= libsystemd
else
$(warning libsystemd not found with pkg-config: building without systemd \
    support (Debian: apt-get install libsystemd-dev; or WITH_SYSTEMD=no))
endif
endif
ifeq ($(origin SYSTEMDUNITDIR),undefined)
ifeq ($(HAVE_SYSTEMD),yes)
ifeq ($(PREFIX),/usr)
SYSTEMDUNITDIR	:= $(or $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir \
		   systemd 2>/dev/null),$(PREFIX)/lib/systemd/system)
else
SYSTEMDUNITDIR	:= $(PREFIX)/lib/systemd/system
endif
else
SYSTEMDUNITDIR	:=
endif
endif
# The systemd the units are for (pkg-config's; a packager building for
# another release sets it).  hotreloadd-notify-reload.service needs 253
# (Type=notify-reload): on an older one "make install" leaves it out and
# says so.
ifeq ($(origin SYSTEMD_VERSION),undefined)
SYSTEMD_VERSION	:= $(shell $(PKG_CONFIG) --modversion systemd 2>/dev/null)
endif
CC		?= cc
CFLAGS		?= -O2 -g
WERROR		?= -Werror
WARNINGS	= -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes \
		  -Wstrict-prototypes

PKG_CFLAGS	:= $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS	:= $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS	:= $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS	:= $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

# The daemon is not linked with libcurl: it loads it when its first LLM
# transfer needs it (src/llm-curl-load.c), so that an idle daemon does not
# carry the 25 libraries libcurl brings.  CURL_SONAME is the file it loads:
# the one the libcurl pkg-config found links to (libcurl.so.4 for Debian's
# libcurl4-openssl-dev).  A package of the daemon must depend on that
# library itself (dpkg-shlibdeps does not see it).
ifeq ($(origin CURL_SONAME),undefined)
CURL_SONAME	:= $(or $(shell readelf -d "$$($(PKG_CONFIG) --variable=libdir \
		   libcurl 2>/dev/null)/libcurl.so" 2>/dev/null | \
		   sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'),libcurl.so.4)
endif
DAEMON_LIBS	:= $(shell $(PKG_CONFIG) --libs $(filter-out libcurl,$(PKGS)) \
		   2>/dev/null) -lm -ldl

DEFS		= -DHOTRELOAD_VERSION='"$(VERSION)"' \
		  -DHR_DEFAULT_CONFIG='"$(SYSCONFDIR)/hotreloadd/hotreloadd.conf"' \
		  -DHR_DEFAULT_SOCKET='"$(RUNSTATEDIR)/hotreloadd/control.sock"' \
		  -DHR_CURL_SONAME='"$(CURL_SONAME)"' \
		  $(if $(HAVE_SYSTEMD),-DHAVE_SYSTEMD)
ALL_CFLAGS	= -std=gnu11 -D_GNU_SOURCE $(WARNINGS) $(WERROR) -Iinclude -Isrc $(DEFS) \
		  $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
# --as-needed: a program depends only on the libraries it uses (Debian's
# gcc passes it already, clang does not): hotreloadctl needs libjansson and
# libc, not the 40 libraries of PKG_LIBS, and starts ten times faster.
ALL_LDFLAGS	= -Wl,--as-needed $(LDFLAGS)
LIBS		= $(PKG_LIBS) -lm

B		= build

# "make V=1" shows the compiler command lines.
ifeq ($(V),1)
Q		=
else
Q		= @printf '  CC      %s\n' $< ;
endif

DAEMON_SRCS	= $(wildcard src/*.c)
DAEMON_OBJS	= $(DAEMON_SRCS:%.c=$(B)/%.o)
CTL_SRCS	= $(wildcard ctl/*.c)
CTL_OBJS	= $(CTL_SRCS:%.c=$(B)/%.o)

# Unit tests: each links the module under test and what it needs.
UNIT_TESTS	= tests/unit/test_config tests/unit/test_proto \
		  tests/unit/test_cmdq tests/unit/test_registry \
		  tests/unit/test_router tests/unit/test_llm_provider \
		  tests/unit/test_llm_usage \
		  tests/unit/test_log tests/unit/test_hsp tests/unit/test_dedup \
		  tests/unit/test_jscan
CONFIG_OBJS	= src/config.o src/config-diag.o src/config-rules.o src/digest.o \
		  src/config-headers.o src/config-scan.o src/config-schema.o \
		  src/config-walk.o
UNIT_test_config	= $(CONFIG_OBJS) src/util.o
UNIT_test_log		= src/log.o src/util.o
UNIT_test_dedup		= src/dedup.o
UNIT_test_jscan		= src/jscan.o src/util.o
UNIT_test_proto		= src/proto.o src/util.o
UNIT_test_cmdq		= src/cmdq.o src/proto.o src/log.o src/util.o
UNIT_test_registry	= src/registry.o src/util.o src/log.o \
			  $(CONFIG_OBJS)
UNIT_test_llm_provider	= src/llm-provider.o src/util.o
UNIT_test_llm_usage	= src/llm-usage.o src/util.o
UNIT_test_router	= src/router.o src/dedup.o src/hsp-envelope.o src/jscan.o \
			  src/dispatcher.o src/dialogue.o \
			  src/discovery.o src/registry.o $(CONFIG_OBJS) \
			  src/util.o src/log.o tests/support/stubs-hsp.o
UNIT_test_hsp		= src/hsp.o src/hsp-connect.o src/hsp-intake.o \
			  src/hsp-loop.o src/hsp-pub.o src/hsp-tls.o src/hsp-envelope.o src/jscan.o \
			  src/router.o src/dedup.o src/dispatcher.o \
			  src/discovery.o src/registry.o $(CONFIG_OBJS) \
			  src/util.o src/log.o

# systemd units and snippets: templates in systemd/, with @SBINDIR@ and the
# other paths substituted into $(B)/systemd/ for the paths of this build.
SYSTEMD_UNITS	= hotreloadd.service hotreloadd-notify-reload.service \
		  hotreloadd.socket
SYSTEMD_FILES	= $(SYSTEMD_UNITS:%=$(B)/systemd/%) \
		  $(B)/systemd/hotreloadd.sysusers $(B)/systemd/hotreloadd.tmpfiles
SUBST_PATHS	= -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
		  -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		  -e 's|@RUNSTATEDIR@|$(RUNSTATEDIR)|g'

# Test peers (tests/support): built for the integration tests.
SUPPORT_PROGS	= tests/support/loadpeer tests/support/llmserver

tests/support/loadpeer: $(B)/tests/support/loadpeer.o $(B)/tests/support/tool.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

tests/support/llmserver: $(B)/tests/support/llmserver.o \
		$(B)/tests/support/llmserver-tls.o $(B)/tests/support/tool.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) \
		$$($(PKG_CONFIG) --libs libevent_openssl)

.PHONY: all clean distclean check check-build check-unit check-integration \
	check-structure demo deps install uninstall configure dist FORCE

all: hotreloadd hotreloadctl $(SYSTEMD_FILES)

hotreloadd: $(DAEMON_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $(DAEMON_OBJS) $(DAEMON_LIBS)

hotreloadctl: $(CTL_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CTL_OBJS) $(PKG_LIBS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c -o $@ $<

.SECONDEXPANSION:
$(UNIT_TESTS): %: $(B)/%.o $$(addprefix $(B)/,$$(UNIT_$$(notdir $$@)))
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LIBS)

-include $(wildcard $(B)/src/*.d $(B)/ctl/*.d $(B)/tests/unit/*.d \
	$(B)/tests/support/*.d)

# The paths substituted into the units, rewritten only when they change, so
# that "make install PREFIX=/usr" after "make" does not install stale paths.
$(B)/systemd/paths: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' $(SUBST_PATHS) >$@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

$(B)/systemd/%: systemd/% $(B)/systemd/paths
	@printf '  GEN     %s\n' $@
	@sed $(SUBST_PATHS) $< >$@.new && mv -f $@.new $@

# Rebuild when ./configure changes the flags or the paths, or when the
# command line changes what is compiled in (SYSCONFDIR, WITH_SYSTEMD, ...).
$(B)/defs: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' $(DEFS) >$@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

$(DAEMON_OBJS) $(CTL_OBJS) $(UNIT_TESTS:%=$(B)/%.o): $(wildcard config.mk) \
	$(B)/defs

# The optional targets: sanitizers, fuzzing, benchmarks.
CLEAN_EXTRA	=
include $(sort $(wildcard mk/*.mk))

# Install what the project needs (Debian packages); prints the command to
# run when not root.
deps:
	@scripts/install-deps

# The README's test command.  The packages are installed first, then a
# second make (which sees the libraries) builds and runs everything.
check: deps
	@$(MAKE) --no-print-directory check-build
	@$(MAKE) --no-print-directory check-unit
	@$(MAKE) --no-print-directory check-integration

check-build: all $(UNIT_TESTS) $(SUPPORT_PROGS)

check-unit: $(UNIT_TESTS) check-structure
	@failed=0; for t in $(UNIT_TESTS); do \
		echo "== $$t"; ./$$t || failed=1; \
	done; exit $$failed

# The dependency rules of HACKING.md ("Edges point down"), read from the
# objects with nm.
check-structure: $(DAEMON_OBJS)
	@scripts/check-structure $(B)/src

check-integration: all $(SUPPORT_PROGS)
	@tests/integration/run

demo: deps
	@$(MAKE) --no-print-directory all $(SUPPORT_PROGS)
	@scripts/demo

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 hotreloadd $(DESTDIR)$(SBINDIR)/hotreloadd
	install -m 0755 hotreloadctl $(DESTDIR)$(BINDIR)/hotreloadctl
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/hotreloadctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/hotreloadd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/hotreloadd.8 $(DESTDIR)$(MANDIR)/man8/
	install -d $(DESTDIR)$(COMPLETIONDIR)
	install -m 0644 completion/hotreloadctl $(DESTDIR)$(COMPLETIONDIR)/hotreloadctl
ifneq ($(SYSTEMDUNITDIR),)
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR)
	install -m 0644 $(B)/systemd/hotreloadd.service \
		$(B)/systemd/hotreloadd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/
	@v='$(SYSTEMD_VERSION)'; v=$${v%%[!0-9]*}; \
	variant=$(DESTDIR)$(SYSTEMDUNITDIR)/hotreloadd-notify-reload.service; \
	if [ -z "$$v" ] || [ "$$v" -ge 253 ]; then \
		[ -n "$$v" ] || echo "warning: the version of systemd is" \
		    "unknown (pkg-config systemd); installing" \
		    "hotreloadd-notify-reload.service, which needs 253" >&2; \
		echo "install -m 0644 $(B)/systemd/hotreloadd-notify-reload.service $$variant"; \
		install -m 0644 $(B)/systemd/hotreloadd-notify-reload.service "$$variant"; \
	else \
		rm -f "$$variant"; \
		echo "NOTE: not installing hotreloadd-notify-reload.service:" \
		    "systemd $(SYSTEMD_VERSION) does not know Type=notify-reload" \
		    "(253 and later do); use hotreloadd.service" \
		    "(SYSTEMD_VERSION=253 installs it for a newer systemd)" >&2; \
	fi
	install -m 0644 $(B)/systemd/hotreloadd.sysusers \
		$(DESTDIR)$(SYSUSERSDIR)/hotreloadd.conf
	install -m 0644 $(B)/systemd/hotreloadd.tmpfiles \
		$(DESTDIR)$(TMPFILESDIR)/hotreloadd.conf
endif
	install -d $(DESTDIR)$(SYSCONFDIR)/hotreloadd
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/hotreloadd/hotreloadd.conf ]; then \
		echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/hotreloadd/hotreloadd.conf"; \
	else \
		echo "install -m 0644 conf/hotreloadd.conf $(DESTDIR)$(SYSCONFDIR)/hotreloadd/hotreloadd.conf"; \
		install -m 0644 conf/hotreloadd.conf \
			$(DESTDIR)$(SYSCONFDIR)/hotreloadd/hotreloadd.conf; \
	fi

# The configuration stays: it may hold the operator's changes.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/hotreloadd $(DESTDIR)$(BINDIR)/hotreloadctl \
		$(DESTDIR)$(MANDIR)/man1/hotreloadctl.1 \
		$(DESTDIR)$(MANDIR)/man5/hotreloadd.conf.5 \
		$(DESTDIR)$(MANDIR)/man8/hotreloadd.8 \
		$(DESTDIR)$(COMPLETIONDIR)/hotreloadctl
ifneq ($(SYSTEMDUNITDIR),)
	rm -f $(SYSTEMD_UNITS:%=$(DESTDIR)$(SYSTEMDUNITDIR)/%) \
		$(DESTDIR)$(SYSUSERSDIR)/hotreloadd.conf \
		$(DESTDIR)$(TMPFILESDIR)/hotreloadd.conf
endif

# A source tarball of what git knows of: the tracked files, and new files
# that are not ignored (so that a change not yet committed is in it); never
# build outputs.  It builds and passes "make check" on its own.
DIST		= hotreload-$(VERSION)
dist:
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || \
		{ echo "make dist needs a git checkout" >&2; exit 1; }
	@mkdir -p $(B)
	git ls-files --cached --others --exclude-standard | \
		while IFS= read -r f; do if [ -e "$$f" ]; then echo "$$f"; fi; done | \
		LC_ALL=C sort -u >$(B)/dist-files
	tar -cf $(DIST).tar.gz.new --use-compress-program='gzip -9n' \
		--owner=0 --group=0 --numeric-owner --mode=go-w \
		--transform 's,^,$(DIST)/,' -T $(B)/dist-files
	@mv -f $(DIST).tar.gz.new $(DIST).tar.gz
	@echo "wrote $(DIST).tar.gz ($$(wc -l <$(B)/dist-files) files)"

# For packagers: ./configure writes config.mk.  pkg.m4 comes from pkg-config.
# automake (aclocal) is not needed: pkg.m4 is looked for where pkg-config
# puts it.
configure: configure.ac config.mk.in
	@for d in $$(aclocal --print-ac-dir 2>/dev/null) /usr/share/aclocal \
		/usr/local/share/aclocal; do \
		if [ -f "$$d/pkg.m4" ]; then \
			echo "cat $$d/pkg.m4 > aclocal.m4"; \
			cat "$$d/pkg.m4" > aclocal.m4; exit 0; \
		fi; \
	done; \
	echo "pkg.m4 not found (Debian: apt-get install pkg-config)" >&2; exit 1
	autoconf

# mk/*.mk add their own build directories and programs to CLEAN_EXTRA.
clean:
	rm -rf $(B) hotreloadd hotreloadctl $(UNIT_TESTS) $(SUPPORT_PROGS) \
		$(CLEAN_EXTRA)

distclean: clean
	rm -rf config.mk config.log config.status configure configure~ aclocal.m4 \
		autom4te.cache $(DIST).tar.gz
