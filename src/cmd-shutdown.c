/*
 * cmd-shutdown.c -- the daemon's own "shutdown", queued by SIGTERM/SIGINT.
 *
 * Not a client command: it is not in the command table.  It goes through the
 * queue like every state change, so a reload that is running finishes first.
 * Commands still pending are answered shutting_down.  Then: drain (wait for
 * work in flight up to drain.timeout_s), retire every service, wait for the
 * retirements (bounded by the same timeout), and leave the loop.
 *
 * systemd hears STOPPING=1 (from the signal handler, or here), and while the
 * shutdown waits, EXTEND_TIMEOUT_USEC= once a second so that a drain within
 * drain.timeout_s is not cut short by TimeoutStopSec=.
 */
#include <stdio.h>
#include <stdlib.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "log.h"
#include "notify.h"

#define CMD_SHUTDOWN_POLL_MS	100
/* Ask systemd for this much more time, once a second while waiting. */
#define CMD_SHUTDOWN_EXTEND_S	5

/* A shutdown in progress. */
struct cmd_shutdown_state {
	struct cmdq_item	*item;
	struct event		*timer;
	bool			 retired;
	bool			 left;		/* out of the share group */
	struct timespec		 phase_started;
	struct timespec		 last_extend;	/* EXTEND_TIMEOUT_USEC= */
};

/* Free the state (item data destructor). */
static void
cmd_shutdown_state_free(void *arg)
{
	struct cmd_shutdown_state	*s = arg;

	if (s->timer != NULL)
		event_free(s->timer);
	free(s);
}

/* Still waiting: once a second, ask systemd for more time. */
static void
cmd_shutdown_extend(struct cmd_shutdown_state *s, unsigned int in_flight)
{
	char	what[64];

	if (timespec_elapsed_s(&s->last_extend) < 1.0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &s->last_extend);
	if (!s->retired)
		snprintf(what, sizeof what, "draining, %u in flight",
		    in_flight);
	else
		snprintf(what, sizeof what, "retiring services");
	notify_extend_timeout(CMD_SHUTDOWN_EXTEND_S, what);
}

/* Step through drain, retire and exit as each phase completes. */
static void
cmd_shutdown_poll_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct cmd_shutdown_state	*s = arg;
	struct timeval			 tv = { 0, CMD_SHUTDOWN_POLL_MS * 1000 };
	unsigned int			 n = registry_in_flight(hr->registry);
	double				 elapsed, limit;

	elapsed = timespec_elapsed_s(&s->phase_started);
	limit = hr->config->drain.timeout_s;

	if (!s->retired) {
		if ((n > 0 || !s->left) && elapsed < limit) {
			cmd_shutdown_extend(s, n);
			evtimer_add(s->timer, &tv);
			return;
		}
		if (n > 0)
			log_warnx("shutdown: %u still in flight after %.0f s "
			    "(drain.timeout_s); retiring anyway", n, limit);
		if (!s->left)
			registry_drain_cancel(hr->registry);
		/* Peers hear "offline" (retained) before the connector goes;
		 * it delivers it as it retires. */
		router_advertise_offline();
		registry_retire_all(hr->registry);
		s->retired = true;
		clock_gettime(CLOCK_MONOTONIC, &s->phase_started);
		elapsed = 0;
	}
	if (!registry_quiet(hr->registry) && elapsed < limit) {
		cmd_shutdown_extend(s, n);
		evtimer_add(s->timer, &tv);
		return;
	}
	if (!registry_quiet(hr->registry))
		log_warnx("shutdown: services did not retire within %.0f s",
		    limit);
	log_info("shutdown complete");
	cmdq_item_ok(s->item, json_pack("{s:b}", "shutdown", 1));
	daemon_exit(0);
	cmdq_item_done(s->item);
}

/* The share group is left (UNSUBACK): the drain phase may end. */
static void
cmd_shutdown_left_cb(void *arg, __attribute__((unused)) bool ok,
    __attribute__((unused)) const char *why)
{
	struct cmd_shutdown_state	*s = arg;

	s->left = true;
}

/* Begin the shutdown: refuse new work, then wait for the rest. */
static enum cmd_retval
cmd_shutdown_exec(struct cmdq_item *item)
{
	struct cmd_shutdown_state	*s;

	hr->registry->shutting_down = true;
	hr->registry->draining = true;
	if (hr->draining_since == 0)
		hr->draining_since = time(NULL);
	notify_stopping();
	cmdq_cancel_pending(hr->cmdq, HR_ERR_SHUTTING_DOWN,
	    "hotreloadd is shutting down");
	log_info("shutting down: %u in flight",
	    registry_in_flight(hr->registry));

	if ((s = calloc(1, sizeof *s)) == NULL ||
	    (s->timer = evtimer_new(hr->base, cmd_shutdown_poll_cb, s)) ==
	    NULL) {
		free(s);
		cmdq_item_ok(item, json_pack("{s:b}", "shutdown", 1));
		daemon_exit(0);
		return (CMD_RETURN_NORMAL);
	}
	s->item = item;
	/*
	 * A pool member leaves its share group first, as drain does, so the
	 * broker stops giving it requests it could no longer answer.
	 */
	s->left = registry_drain(hr->registry, true, cmd_shutdown_left_cb,
	    s) != 0;
	clock_gettime(CLOCK_MONOTONIC, &s->phase_started);
	s->last_extend = s->phase_started;
	item->data = s;
	item->data_free = cmd_shutdown_state_free;
	/* Shutdown has its own deadline (drain.timeout_s), not the queue's. */
	cmdq_item_unlock(item);
	cmd_shutdown_poll_cb(-1, 0, s);
	return (CMD_RETURN_WAIT);
}

const struct cmd_entry cmd_shutdown_entry = {
	.name = "shutdown",
	.flags = CMD_STATE_CHANGING,
	.exec = cmd_shutdown_exec,
};
