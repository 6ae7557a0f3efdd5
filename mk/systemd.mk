# mk/systemd.mk -- the units under a real systemd.
#
#   make check-systemd    boot this machine's system in a container
#                         (systemd-nspawn on a read-only overlay of /) and
#                         check the installed units there: tests/systemd/run
#                         and tests/systemd/check.sh say what
#
# Needs root; installs systemd-container (systemd-nspawn) through
# scripts/install-deps --systemd, then builds the daemon, the client and
# the test peers as "make check" does.

.PHONY: check-systemd

check-systemd:
	@scripts/install-deps --systemd
	@$(MAKE) --no-print-directory all $(SUPPORT_PROGS)
	@tests/systemd/run
