/*
 * cmd-drain.c -- "drain": stop taking new work, optionally wait for the rest.
 *
 * The drain flag flips inside the queue (so it is ordered with reloads);
 * with "wait" the command then releases the lock and waits outside it,
 * sending a progress line every second, until nothing is in flight or its
 * own timeout ("timeout_s", default drain.timeout_s) passes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "log.h"
#include "notify.h"

#define CMD_DRAIN_POLL_MS	100

/* A drain --wait in progress. */
struct cmd_drain_wait {
	struct cmdq_item	*item;
	struct event		*timer;
	double			 timeout_s;
	double			 last_progress_s;
	unsigned int		 last_in_flight;
};

/* Arguments: wait (bool), timeout_s (number, 0 to 86400). */
static int
cmd_drain_check(json_t *args, char **cause)
{
	static const char *const allowed[] = { "wait", "timeout_s", NULL };
	json_t			*value;

	if (cmd_check_arg_names(args, allowed, cause) == -1)
		return (-1);
	value = json_object_get(args, "wait");
	if (value != NULL && !json_is_boolean(value)) {
		*cause = strdup("argument \"wait\" must be true or false");
		return (-1);
	}
	value = json_object_get(args, "timeout_s");
	if (value != NULL && (!json_is_number(value) ||
	    !isfinite(json_number_value(value)) ||
	    json_number_value(value) < 0 ||
	    json_number_value(value) > 86400)) {
		*cause = strdup("argument \"timeout_s\" must be a number of "
		    "seconds from 0 to 86400");
		return (-1);
	}
	return (0);
}

/* The result line of a drain. */
static json_t *
cmd_drain_result(unsigned int in_flight)
{
	/* Watchers see the drain's progress as the client does. */
	watch_event(json_pack("{s:s, s:b, s:I}", "type", "drain", "draining",
	    hr->registry->draining, "in_flight", (json_int_t)in_flight));
	return (json_pack("{s:b, s:I, s:b}", "draining",
	    hr->registry->draining, "in_flight", (json_int_t)in_flight,
	    "drained", hr->registry->draining && in_flight == 0));
}

/* Free the wait state (item data destructor). */
static void
cmd_drain_wait_free(void *arg)
{
	struct cmd_drain_wait	*w = arg;

	if (w->timer != NULL)
		event_free(w->timer);
	free(w);
}

/* Look at the in-flight count; finish, or report progress. */
static void
cmd_drain_poll_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct cmd_drain_wait	*w = arg;
	struct cmdq_item	*item = w->item;
	unsigned int		 n = registry_in_flight(hr->registry);
	double			 elapsed = cmdq_item_running_s(item);
	struct timeval		 tv = { 0, CMD_DRAIN_POLL_MS * 1000 };

	if (n == 0 || !hr->registry->draining) {
		if (n == 0 && hr->registry->draining)
			log_info("drained after %.1f s", elapsed);
		cmdq_item_ok(item, cmd_drain_result(n));
		cmdq_item_done(item);
		return;
	}
	if (elapsed >= w->timeout_s) {
		log_warnx("drain: %u still in flight after %.0f s", n,
		    w->timeout_s);
		cmdq_item_ok(item, cmd_drain_result(n));
		cmdq_item_done(item);
		return;
	}
	if (n != w->last_in_flight || elapsed - w->last_progress_s >= 1.0) {
		cmdq_item_progress(item, json_pack("{s:I, s:f, s:f}",
		    "in_flight", (json_int_t)n, "elapsed_s", elapsed,
		    "timeout_s", w->timeout_s));
		w->last_in_flight = n;
		w->last_progress_s = elapsed;
	}
	evtimer_add(w->timer, &tv);
}

/* The flag is set (and the share group left): answer, or wait. */
static enum cmd_retval
cmd_drain_continue(struct cmdq_item *item)
{
	struct cmd_drain_wait	*w;
	json_t			*value;
	unsigned int		 n;

	n = registry_in_flight(hr->registry);

	if (!json_is_true(json_object_get(item->args, "wait")) || n == 0) {
		cmdq_item_ok(item, cmd_drain_result(n));
		return (CMD_RETURN_NORMAL);
	}

	if ((w = calloc(1, sizeof *w)) == NULL) {
		cmdq_item_error(item, HR_ERR_INTERNAL, "out of memory");
		return (CMD_RETURN_NORMAL);
	}
	w->item = item;
	value = json_object_get(item->args, "timeout_s");
	w->timeout_s = value != NULL ? json_number_value(value) :
	    hr->config->drain.timeout_s;
	w->last_in_flight = n;
	w->timer = evtimer_new(hr->base, cmd_drain_poll_cb, w);
	item->data = w;
	item->data_free = cmd_drain_wait_free;
	if (w->timer == NULL) {
		cmdq_item_error(item, HR_ERR_INTERNAL, "out of memory");
		return (CMD_RETURN_NORMAL);
	}
	/* The flag is set: waiting needs no lock. */
	cmdq_item_unlock(item);
	clock_gettime(CLOCK_MONOTONIC, &item->started_at);
	cmdq_item_progress(item, json_pack("{s:I, s:f, s:f}", "in_flight",
	    (json_int_t)n, "elapsed_s", 0.0, "timeout_s", w->timeout_s));
	cmd_drain_poll_cb(-1, 0, w);
	return (CMD_RETURN_WAIT);
}

/* The share group is left (UNSUBACK): go on with the drain. */
static void
cmd_drain_left_cb(void *arg, bool ok, const char *why)
{
	struct cmdq_item	*item = arg;

	if (!ok)
		log_warnx("drain: could not leave the share group: %s", why);
	if (cmd_drain_continue(item) == CMD_RETURN_NORMAL)
		cmdq_item_done(item);
}

/*
 * Set the drain flag.  A pool member (hsp.share_group) first leaves its
 * share group, so the broker gives new requests to the other members;
 * without one, new requests are rejected.  With wait, the rest happens
 * outside the lock.
 */
static enum cmd_retval
cmd_drain_exec(struct cmdq_item *item)
{
	if (!hr->registry->draining) {
		log_info(router_pooled() ? "draining: leaving the share group" :
		    "draining: new work is refused from now on");
		hr->registry->draining = true;
		hr->draining_since = time(NULL);
		router_readvertise();
		notify_status();
	}
	switch (registry_drain(hr->registry, true, cmd_drain_left_cb, item)) {
	case 0:
		return (CMD_RETURN_WAIT);
	case -1:
		log_warnx("drain: cannot leave the share group");
		break;
	}
	return (cmd_drain_continue(item));
}

/* Timed out waiting for the UNSUBACK: forget the callback. */
static void
cmd_drain_cancel(__attribute__((unused)) struct cmdq_item *item)
{
	registry_drain_cancel(hr->registry);
}

const struct cmd_entry cmd_drain_entry = {
	.name = HR_CMD_DRAIN,
	.flags = CMD_STATE_CHANGING,
	.check = cmd_drain_check,
	.exec = cmd_drain_exec,
	.cancel = cmd_drain_cancel,
};
