/*
 * notify.c -- the daemon's side of systemd: sd_notify, the watchdog, socket
 * activation and journal fields.
 *
 * The service manager hears READY=1 once the control socket listens and the
 * services configured at start-up have reported their first start;
 * RELOADING=1 (with MONOTONIC_USEC=, as Type=notify-reload requires) when a
 * reload starts, and READY=1 again when it ends, whether it worked or not
 * (a failure goes into STATUS=); STATUS= with a one-line summary when what it
 * shows changes; STOPPING=1 at shutdown, then EXTEND_TIMEOUT_USEC= every
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

static struct {
	struct event	*watchdog;
	bool		 ready;		/* READY=1 was sent */
	bool		 stopping;	/* STOPPING=1 was sent */
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

/* Stop the watchdog pings. */
void
notify_free(void)
{
	if (notify.watchdog != NULL) {
		event_free(notify.watchdog);
		notify.watchdog = NULL;
	}
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
	char	summary[256];

	if (notify.stopping || notify.ready)
		return;
	notify.ready = true;
	notify_summary(summary, sizeof summary);
	notify_send("READY=1\nSTATUS=%s", summary);
}

/* A reload starts. */
void
notify_reload_begin(void)
{
	struct timespec	now;

	/* Before READY=1 the manager still waits for the start-up. */
	if (notify.stopping || !notify.ready)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	notify_send("RELOADING=1\nMONOTONIC_USEC=%" PRIu64
	    "\nSTATUS=reloading", (uint64_t)now.tv_sec * 1000000 +
	    (uint64_t)now.tv_nsec / 1000);
}

/* A reload ended, with FAILURE when it failed. */
void
notify_reload_end(const char *failure)
{
	char	summary[256], quoted[NOTIFY_FAILURE_MAX + 4];
	size_t	i;

	if (notify.stopping || !notify.ready)
		return;
	notify_summary(summary, sizeof summary);
	if (failure == NULL) {
		notify_send("READY=1\nSTATUS=%s", summary);
		return;
	}
	/* One line: a newline would end the STATUS= assignment. */
	snprintf(quoted, sizeof quoted, "%.*s%s", NOTIFY_FAILURE_MAX, failure,
	    strlen(failure) > NOTIFY_FAILURE_MAX ? "..." : "");
	for (i = 0; quoted[i] != '\0'; i++) {
		if (quoted[i] == '\n' || quoted[i] == '\r')
			quoted[i] = ' ';
	}
	notify_send("READY=1\nSTATUS=reload failed: %s (%s)", quoted,
	    summary);
}

/* Drain, resume: send the new status line. */
void
notify_status(void)
{
	char	summary[256];

	if (notify.stopping || !notify.ready)
		return;
	notify_summary(summary, sizeof summary);
	notify_send("STATUS=%s", summary);
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
