/*
 * notify.h -- the daemon's side of systemd.
 *
 * Readiness and state for the service manager (sd_notify: READY=1,
 * RELOADING=1, STOPPING=1, STATUS=, WATCHDOG=1, EXTEND_TIMEOUT_USEC=), the
 * control socket from socket activation (sd_listen_fds), and structured
 * journal entries for reload events (sd_journal_send).
 *
 * Built without libsystemd (HAVE_SYSTEMD undefined, "./configure
 * --without-systemd") every function here does nothing and no socket is
 * ever inherited.  With it, and not started by systemd, they do nothing
 * either: sd_notify() is a no-op without NOTIFY_SOCKET.
 */
#ifndef HOTRELOAD_NOTIFY_H
#define HOTRELOAD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

/* Start the watchdog pings when the service manager asked for them. */
int	notify_init(struct event_base *, char **cause);
/* Stop the pings; safe to call when notify_init() was not. */
void	notify_free(void);

/*
 * The listening socket passed by socket activation: its descriptor, or -1
 * with *CAUSE NULL when there is none, or -1 with *CAUSE set (to free) when
 * what was passed cannot be used.
 */
int	notify_listen_fd(char **cause);

/* Start-up is done: READY=1 with the status line. */
void	notify_ready(void);
/* A reload starts: RELOADING=1 with MONOTONIC_USEC=. */
void	notify_reload_begin(void);
/* A reload ended: READY=1, and STATUS= with FAILURE when not NULL. */
void	notify_reload_end(const char *failure);
/* Drain or resume changed the status line: send it now. */
void	notify_status(void);
/*
 * Work started or ended: send the status line soon, at most once a second
 * (registry's work_changed hook).
 */
void	notify_status_changed(void);
/* The daemon is shutting down: STOPPING=1. */
void	notify_stopping(void);
/* A shutdown still waits: ask for SECONDS more and say for what. */
void	notify_extend_timeout(unsigned int seconds, const char *what);

/*
 * A reload event for the journal, with HOTRELOAD_SERVICE=, _GENERATION=
 * and _RESULT= fields; only when standard error is the journal.
 */
void	notify_journal_reload(const char *service, uint64_t generation,
	    bool ok, const char *message);

#endif /* HOTRELOAD_NOTIFY_H */
