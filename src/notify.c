/*
 * notify.c -- the daemon's side of systemd: sd_notify, the watchdog, socket
 * activation and journal fields.
 *
 * The service manager hears READY=1 once the control socket listens and the
 * services configured at start-up have reported their first start;
 * RELOADING=1 (with MONOTONIC_USEC=, as Type=notify-reload requires) when a
 * reload starts, and READY=1 again when it ends, whether it worked or not
 * (a failure goes into STATUS=); STATUS= with a one-line summary when what it
 * shows changes (drain, resume, and work starting or ending: at most once a
 * second for the latter, with a trailing update so the last word is
 * right); STOPPING=1 at shutdown, then EXTEND_TIMEOUT_USEC= every
 * second while the shutdown still waits for work in flight; and WATCHDOG=1
 * at half the interval of WatchdogSec= from a libevent timer.
 *
 * Messages are sent with sd_notify() as its manual page describes: without
 * NOTIFY_SOCKET it does nothing, so the daemon behaves the same outside
 * systemd.  Without libsystemd at build time (HAVE_SYSTEMD undefined) the
 * messages are only formatted, never sent, and no socket is inherited.
 */
#include <sys/socket.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif

#include "hotreloadd.h"
#include "log.h"
#include "notify.h"

/* The longest failure quoted in STATUS=; the reply has all of it. */
#define NOTIFY_FAILURE_MAX	300
/* The summary ("running: ..."), and the whole line with a failure. */
#define NOTIFY_SUMMARY_SIZE	256
#define NOTIFY_LINE_SIZE	(NOTIFY_SUMMARY_SIZE + NOTIFY_FAILURE_MAX + 64)
/* The least time between two status lines that work coming and going sends. */
#define NOTIFY_STATUS_INTERVAL_US	1000000

static struct {
	struct event_base *base;
	struct event	*watchdog;
	struct event	*status_timer;	/* the trailing update, pending */
	bool		 enabled;	/* NOTIFY_SOCKET is set */
	bool		 ready;		/* READY=1 was sent */
	bool		 reloading;	/* RELOADING=1 was sent, READY=1 not yet */
	bool		 stopping;	/* STOPPING=1 was sent */
	/* Why the last reload failed, one line; "" when it worked. */
	char		 failure[NOTIFY_FAILURE_MAX + 4];
	char		 status[NOTIFY_LINE_SIZE];	/* the last STATUS= */
	uint64_t	 status_sent_us;	/* when it went, monotonic */
} notify;

/* Send one sd_notify message (newline-separated assignments). */
static void __attribute__((format(printf, 1, 2)))
notify_send(const char *fmt, ...)
{
#ifdef HAVE_SYSTEMD
	va_list	 ap;
	char	*message;
	int	 r;

	va_start(ap, fmt);
	message = str_vprintf(fmt, ap);
	va_end(ap);
	if (message == NULL)
		return;
	if ((r = sd_notify(0, message)) < 0)
		log_debug("sd_notify: %s", strerror(-r));
	free(message);
#else
	(void)fmt;
#endif
}

/*
 * The status line: "running: hsp gen 3, llm gen 2, 0 in flight", or
 * "draining: 2 in flight (hsp gen 3, llm gen 2)".  Services that are not
 * configured are left out.
 */
static void
notify_summary(char *buf, size_t size)
{
	static const enum service_id	 shown[] = { SERVICE_HSP, SERVICE_LLM };
	struct service_slot		*slot;
	char				 services[128];
	size_t				 i, used = 0;
	unsigned int			 in_flight;

	services[0] = '\0';
	for (i = 0; i < sizeof shown / sizeof shown[0]; i++) {
		slot = registry_slot(hr->registry, shown[i]);
		if (slot->current == NULL || used >= sizeof services)
			continue;
		used += (size_t)snprintf(services + used, sizeof services - used,
		    "%s%s gen %" PRIu64, used > 0 ? ", " : "", slot->name,
		    slot->current->generation);
	}
	in_flight = registry_in_flight(hr->registry);
	if (hr->registry->draining)
		snprintf(buf, size, "draining: %u in flight%s%s%s", in_flight,
		    services[0] != '\0' ? " (" : "", services,
		    services[0] != '\0' ? ")" : "");
	else
		snprintf(buf, size, "running: %s%s%u in flight", services,
		    services[0] != '\0' ? ", " : "", in_flight);
}

/*
 * The status line: the summary, or after a failed reload "reload failed:
 * CAUSE (SUMMARY)", until a reload works or the operator drains or resumes.
 */
static void
notify_line(char *buf, size_t size)
{
	char	summary[NOTIFY_SUMMARY_SIZE];

	notify_summary(summary, sizeof summary);
	if (notify.failure[0] == '\0')
		snprintf(buf, size, "%s", summary);
	else
		snprintf(buf, size, "reload failed: %s (%s)", notify.failure,
		    summary);
}

/* CLOCK_MONOTONIC in microseconds. */
static uint64_t
notify_now_us(void)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000);
}

/*
 * Send ASSIGNMENTS (READY=1 and the like, or "") with STATUS=LINE, and
 * remember the line and when it went, for notify_status_changed().
 */
static void
notify_send_status(const char *assignments, const char *line)
{
	notify_send("%s%sSTATUS=%s", assignments,
	    assignments[0] != '\0' ? "\n" : "", line);
	snprintf(notify.status, sizeof notify.status, "%s", line);
	notify.status_sent_us = notify_now_us();
}

/* The trailing update: send the line if it is not the one last sent. */
static void
notify_status_timer_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, __attribute__((unused)) void *arg)
{
	char	line[NOTIFY_LINE_SIZE];

	if (notify.stopping || notify.reloading)
		return;
	notify_line(line, sizeof line);
	if (strcmp(line, notify.status) != 0)
		notify_send_status("", line);
}

#ifdef HAVE_SYSTEMD
/* The watchdog interval passed: tell the manager the loop still turns. */
static void
notify_watchdog_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, __attribute__((unused)) void *arg)
{
	notify_send("WATCHDOG=1");
}
#endif

/* Start the watchdog pings when WATCHDOG_USEC asks for them. */
int
notify_init(struct event_base *base, char **cause)
{
#ifdef HAVE_SYSTEMD
	uint64_t	 usec;
	struct timeval	 tv;
	int		 r;

	*cause = NULL;
	notify.base = base;
	notify.enabled = getenv("NOTIFY_SOCKET") != NULL;
	if ((r = sd_watchdog_enabled(0, &usec)) < 0) {
		*cause = str_printf("watchdog: %s", strerror(-r));
		return (-1);
	}
	if (r == 0)
		return (0);
	/* Half the interval, as sd_watchdog_enabled(3) recommends. */
	usec /= 2;
	if (usec == 0)
		usec = 1;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	notify.watchdog = event_new(base, -1, EV_PERSIST, notify_watchdog_cb,
	    NULL);
	if (notify.watchdog == NULL || event_add(notify.watchdog, &tv) == -1) {
		*cause = strdup("watchdog: cannot add a timer");
		return (-1);
	}
	log_info("watchdog: pinging systemd every %.3f s",
	    (double)usec / 1e6);
	notify_send("WATCHDOG=1");
#else
	(void)base;
	*cause = NULL;
#endif
	return (0);
}

/* Stop the watchdog pings and the status updates. */
void
notify_free(void)
{
	if (notify.watchdog != NULL) {
		event_free(notify.watchdog);
		notify.watchdog = NULL;
	}
	if (notify.status_timer != NULL) {
		event_free(notify.status_timer);
		notify.status_timer = NULL;
	}
	/* Work that ends while the registry is freed sends nothing. */
	notify.enabled = false;
}

/* The socket systemd passed, if any (see notify.h). */
int
notify_listen_fd(char **cause)
{
#ifdef HAVE_SYSTEMD
	int	n, r, fd = SD_LISTEN_FDS_START;

	*cause = NULL;
	/* 1: unset LISTEN_* so nothing we might start inherits them. */
	if ((n = sd_listen_fds(1)) < 0) {
		*cause = str_printf("socket activation: %s", strerror(-n));
		return (-1);
	}
	if (n == 0)
		return (-1);
	if (n > 1) {
		*cause = str_printf("socket activation: systemd passed %d "
		    "sockets; hotreloadd takes exactly one, the control "
		    "socket (check ListenStream= in hotreloadd.socket)", n);
		return (-1);
	}
	r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
	if (r < 0) {
		*cause = str_printf("socket activation: descriptor %d: %s", fd,
		    strerror(-r));
		return (-1);
	}
	if (r == 0) {
		*cause = str_printf("socket activation: descriptor %d is not "
		    "a listening Unix stream socket (hotreloadd.socket needs "
		    "ListenStream=/path)", fd);
		return (-1);
	}
	return (fd);
#else
	*cause = NULL;
	return (-1);
#endif
}

/* Start-up is done. */
void
notify_ready(void)
{
	char	line[NOTIFY_LINE_SIZE];

	if (notify.stopping || notify.ready)
		return;
	notify.ready = true;
	notify_line(line, sizeof line);
	notify_send_status("READY=1", line);
}

/* A reload starts. */
void
notify_reload_begin(void)
{
	char	assignments[64];

	/* Before READY=1 the manager still waits for the start-up. */
	if (notify.stopping || !notify.ready)
		return;
	notify.reloading = true;
	snprintf(assignments, sizeof assignments,
	    "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, notify_now_us());
	notify_send_status(assignments, "reloading");
}

/* A reload ended, with FAILURE when it failed. */
void
notify_reload_end(const char *failure)
{
	char	line[NOTIFY_LINE_SIZE];
	size_t	i;

	if (notify.stopping || !notify.ready)
		return;
	notify.reloading = false;
	notify.failure[0] = '\0';
	if (failure != NULL) {
		/* One line: a newline would end the STATUS= assignment. */
		snprintf(notify.failure, sizeof notify.failure, "%.*s%s",
		    NOTIFY_FAILURE_MAX, failure,
		    strlen(failure) > NOTIFY_FAILURE_MAX ? "..." : "");
		for (i = 0; notify.failure[i] != '\0'; i++) {
			if (notify.failure[i] == '\n' ||
			    notify.failure[i] == '\r')
				notify.failure[i] = ' ';
		}
	}
	notify_line(line, sizeof line);
	notify_send_status("READY=1", line);
}

/* Drain, resume: send the new status line, now. */
void
notify_status(void)
{
	char	line[NOTIFY_LINE_SIZE];

	if (notify.stopping || !notify.ready)
		return;
	/* The operator has acted since the failed reload. */
	notify.failure[0] = '\0';
	notify_line(line, sizeof line);
	notify_send_status("", line);
}

/*
 * Work started or ended, so the count in flight changed.  Send the status
 * line on a later loop turn: at once if the last one went a second ago or
 * more, else when that second is over; one timer, whatever happens
 * meanwhile.  So a busy daemon sends at most one line a second, and the
 * last one is right.  Nothing outside systemd, before READY=1, during a
 * reload (its READY=1 brings the line) or after STOPPING=1.
 */
void
notify_status_changed(void)
{
	struct timeval	tv;
	uint64_t	now, due, wait_us = 0;

	if (!notify.enabled || !notify.ready || notify.stopping ||
	    notify.reloading)
		return;
	if (notify.status_timer == NULL &&
	    (notify.status_timer = evtimer_new(notify.base,
	    notify_status_timer_cb, NULL)) == NULL)
		return;
	if (evtimer_pending(notify.status_timer, NULL))
		return;
	now = notify_now_us();
	due = notify.status_sent_us + NOTIFY_STATUS_INTERVAL_US;
	if (due > now)
		wait_us = due - now;
	tv.tv_sec = (time_t)(wait_us / 1000000);
	tv.tv_usec = (suseconds_t)(wait_us % 1000000);
	evtimer_add(notify.status_timer, &tv);
}

/* The daemon is shutting down. */
void
notify_stopping(void)
{
	if (notify.stopping)
		return;
	notify.stopping = true;
	notify_send("STOPPING=1\nSTATUS=stopping: %u in flight",
	    registry_in_flight(hr->registry));
}

/* The shutdown still waits for WHAT: ask for SECONDS more. */
void
notify_extend_timeout(unsigned int seconds, const char *what)
{
	notify_send("EXTEND_TIMEOUT_USEC=%" PRIu64 "\nSTATUS=stopping: %s",
	    (uint64_t)seconds * 1000000, what);
}

/* A reload event with structured fields, when stderr is the journal. */
void
notify_journal_reload(const char *service, uint64_t generation, bool ok,
    const char *message)
{
#ifdef HAVE_SYSTEMD
	int	r;

	if (!log_to_journal())
		return;
	r = sd_journal_send("MESSAGE=%s", message,
	    "PRIORITY=%d", ok ? LOG_INFO : LOG_WARNING,
	    "SYSLOG_IDENTIFIER=hotreloadd",
	    "HOTRELOAD_SERVICE=%s", service,
	    "HOTRELOAD_GENERATION=%" PRIu64, generation,
	    "HOTRELOAD_RESULT=%s", ok ? "ok" : "failed",
	    NULL);
	if (r < 0)
		log_debug("sd_journal_send: %s", strerror(-r));
#else
	(void)service;
	(void)generation;
	(void)ok;
	(void)message;
#endif
}
