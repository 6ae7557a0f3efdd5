/*
 * cmdq.c -- the command queue, which is the reload lock.
 *
 * Every state-changing command (drain, resume, the reloads, shutdown) is an
 * item in one FIFO queue.  Exactly one item runs at a time and runs to
 * completion before the next starts, so two reloads can never interleave.
 * The queue is bounded; a running item has a deadline, after which its cancel
 * function abandons it (leaving state as it was) and the queue moves on.
 *
 * An item outlives the client that sent it: when the client goes away its
 * reply callback is cleared and the outcome is only logged.  A command that
 * has done its locked part but must still wait for something outside the lock
 * (drain --wait) calls cmdq_item_unlock() and finishes later.
 *
 * Read-only commands use the same items but skip the queue (cmdq_run_now).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "log.h"

static void	cmdq_next_cb(evutil_socket_t, short, void *);
static void	cmdq_timeout_cb(evutil_socket_t, short, void *);
static void	cmdq_item_finish(struct cmdq_item *);

/* Create an empty queue of at most DEPTH pending items. */
struct cmdq *
cmdq_create(struct event_base *base, size_t depth, int timeout_s)
{
	struct cmdq	*q;

	if ((q = calloc(1, sizeof *q)) == NULL)
		return (NULL);
	q->base = base;
	TAILQ_INIT(&q->pending);
	TAILQ_INIT(&q->unlocked);
	q->depth = depth;
	q->timeout_s = timeout_s;
	q->next_event = event_new(base, -1, 0, cmdq_next_cb, q);
	if (q->next_event == NULL) {
		free(q);
		return (NULL);
	}
	return (q);
}

/* Free an item and what it holds. */
static void
cmdq_item_free(struct cmdq_item *item)
{
	if (item->timeout_event != NULL)
		event_free(item->timeout_event);
	if (item->data_free != NULL)
		item->data_free(item->data);
	json_decref(item->id);
	json_decref(item->args);
	json_decref(item->error);
	free(item->origin);
	free(item);
}

/*
 * Free the queue.  Items still pending or running are dropped without a
 * reply; this happens only when the daemon exits.
 */
void
cmdq_free(struct cmdq *q)
{
	struct cmdq_item	*item;

	if (q == NULL)
		return;
	while ((item = TAILQ_FIRST(&q->pending)) != NULL) {
		TAILQ_REMOVE(&q->pending, item, entry);
		cmdq_item_free(item);
	}
	while ((item = TAILQ_FIRST(&q->unlocked)) != NULL) {
		TAILQ_REMOVE(&q->unlocked, item, entry);
		cmdq_item_free(item);
	}
	if (q->running != NULL)
		cmdq_item_free(q->running);
	event_free(q->next_event);
	free(q);
}

/* Change the bound and the per-command timeout (on reload). */
void
cmdq_set_limits(struct cmdq *q, size_t depth, int timeout_s)
{
	q->depth = depth;
	q->timeout_s = timeout_s;
}

/* Make an item for command CMD; ID and ARGS are referenced, not taken. */
struct cmdq_item *
cmdq_item_create(const struct cmd_entry *cmd, json_t *id, json_t *args,
    uid_t uid, pid_t pid, const char *origin)
{
	struct cmdq_item	*item;

	if ((item = calloc(1, sizeof *item)) == NULL)
		return (NULL);
	item->cmd = cmd;
	item->id = id != NULL ? json_incref(id) : json_null();
	item->args = args != NULL ? json_incref(args) : json_object();
	item->uid = uid;
	item->pid = pid;
	item->origin = strdup(origin != NULL ? origin : "daemon");
	item->state = CMDQ_ITEM_NEW;
	clock_gettime(CLOCK_MONOTONIC, &item->queued_at);
	if (item->origin == NULL) {
		cmdq_item_free(item);
		return (NULL);
	}
	return (item);
}

/* Run the next pending item on a later loop turn if the lock is free. */
static void
cmdq_schedule(struct cmdq *q)
{
	if (q->running == NULL && !TAILQ_EMPTY(&q->pending))
		event_active(q->next_event, 0, 0);
}

/*
 * Queue ITEM.  When the queue is full, answer queue_full, free ITEM and
 * return -1.  FORCE ignores the bound (for the daemon's own shutdown, which
 * must never be refused).
 */
int
cmdq_append(struct cmdq *q, struct cmdq_item *item, bool force)
{
	if (!force && q->pending_count >= q->depth) {
		q->rejected_full++;
		cmdq_item_error(item, HR_ERR_QUEUE_FULL, "the command queue is "
		    "full (%zu pending, control.queue_depth is %zu); try again "
		    "later", q->pending_count, q->depth);
		cmdq_item_free(item);
		return (-1);
	}
	item->queue = q;
	item->state = CMDQ_ITEM_PENDING;
	TAILQ_INSERT_TAIL(&q->pending, item, entry);
	q->pending_count++;
	log_debug("queued %s from %s (%zu pending)", item->cmd->name,
	    item->origin, q->pending_count);
	cmdq_schedule(q);
	return (0);
}

/* Run a read-only ITEM at once, outside the queue. */
void
cmdq_run_now(struct cmdq *q, struct cmdq_item *item)
{
	item->queue = q;
	item->state = CMDQ_ITEM_UNLOCKED;
	TAILQ_INSERT_TAIL(&q->unlocked, item, entry);
	clock_gettime(CLOCK_MONOTONIC, &item->started_at);
	clock_gettime(CLOCK_REALTIME, &item->started_wall);
	if (item->cmd->exec(item) == CMD_RETURN_NORMAL)
		cmdq_item_finish(item);
}

/* Take the first pending item and run it while it holds the lock. */
static void
cmdq_next_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct cmdq		*q = arg;
	struct cmdq_item	*item;
	struct timeval		 tv;

	if (q->running != NULL || (item = TAILQ_FIRST(&q->pending)) == NULL)
		return;
	TAILQ_REMOVE(&q->pending, item, entry);
	q->pending_count--;
	q->running = item;
	item->state = CMDQ_ITEM_RUNNING;
	clock_gettime(CLOCK_MONOTONIC, &item->started_at);
	clock_gettime(CLOCK_REALTIME, &item->started_wall);
	log_debug("running %s from %s after %.3f s in the queue",
	    item->cmd->name, item->origin,
	    timespec_elapsed_s(&item->queued_at) -
	    timespec_elapsed_s(&item->started_at));

	if (q->timeout_s > 0) {
		item->timeout_event = evtimer_new(q->base, cmdq_timeout_cb,
		    item);
		if (item->timeout_event != NULL) {
			tv.tv_sec = q->timeout_s;
			tv.tv_usec = 0;
			evtimer_add(item->timeout_event, &tv);
		}
	}
	if (q->started != NULL)
		q->started(item);
	if (item->cmd->exec(item) == CMD_RETURN_NORMAL)
		cmdq_item_finish(item);
}

/* The running item passed its deadline: cancel it and move on. */
static void
cmdq_timeout_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct cmdq_item	*item = arg;
	int			 timeout_s = item->queue->timeout_s;

	log_warnx("%s from %s did not finish within %d s: cancelled",
	    item->cmd->name, item->origin, timeout_s);
	if (item->cmd->cancel != NULL)
		item->cmd->cancel(item);
	if (!item->replied)
		cmdq_item_error(item, HR_ERR_TIMEOUT, "%s did not finish "
		    "within %d s (control.command_timeout_s) and was "
		    "cancelled", item->cmd->name, timeout_s);
	cmdq_item_finish(item);
}

/* An item has ended: make sure it replied, release it, run the next. */
static void
cmdq_item_finish(struct cmdq_item *item)
{
	struct cmdq	*q = item->queue;

	if (!item->replied)
		cmdq_item_error(item, HR_ERR_INTERNAL, "%s ended without a "
		    "result", item->cmd->name);
	if (q->finished != NULL && (item->cmd->flags & CMD_STATE_CHANGING) &&
	    (item->state == CMDQ_ITEM_RUNNING ||
	    item->state == CMDQ_ITEM_UNLOCKED))
		q->finished(item);
	if (item->state == CMDQ_ITEM_RUNNING)
		q->running = NULL;
	else if (item->state == CMDQ_ITEM_UNLOCKED)
		TAILQ_REMOVE(&q->unlocked, item, entry);
	item->state = CMDQ_ITEM_DONE;
	q->completed++;
	cmdq_item_free(item);
	cmdq_schedule(q);
}

/* A waiting command has finished (after sending its final reply). */
void
cmdq_item_done(struct cmdq_item *item)
{
	cmdq_item_finish(item);
}

/*
 * Let the queue move on while ITEM goes on outside the lock.  Its deadline
 * goes with the lock: the command owns its own timeout from now on.
 */
void
cmdq_item_unlock(struct cmdq_item *item)
{
	struct cmdq	*q = item->queue;

	if (item->state != CMDQ_ITEM_RUNNING)
		return;
	if (item->timeout_event != NULL) {
		event_free(item->timeout_event);
		item->timeout_event = NULL;
	}
	q->running = NULL;
	item->state = CMDQ_ITEM_UNLOCKED;
	TAILQ_INSERT_TAIL(&q->unlocked, item, entry);
	cmdq_schedule(q);
}

/* Answer every pending item with an error and drop it (at shutdown). */
void
cmdq_cancel_pending(struct cmdq *q, const char *code, const char *message)
{
	struct cmdq_item	*item;

	while ((item = TAILQ_FIRST(&q->pending)) != NULL) {
		TAILQ_REMOVE(&q->pending, item, entry);
		q->pending_count--;
		cmdq_item_error(item, code, "%s", message);
		cmdq_item_free(item);
	}
}

/* Is nothing running or waiting in the queue? */
bool
cmdq_idle(struct cmdq *q)
{
	return (q->running == NULL && TAILQ_EMPTY(&q->pending));
}

/* Send the item's replies to CB; NULL when its client has gone away. */
void
cmdq_item_set_reply(struct cmdq_item *item, cmdq_reply_cb cb, void *arg)
{
	item->reply_cb = cb;
	item->reply_arg = arg;
	/* A stream has nobody to stream to any more: it ends. */
	if (cb == NULL && item->cmd->gone != NULL && !item->replied)
		item->cmd->gone(item);
}

/* Deliver a reply line to whoever listens. */
static void
cmdq_item_send(struct cmdq_item *item, json_t *line, bool final)
{
	if (item->reply_cb != NULL)
		item->reply_cb(item, line, final, item->reply_arg);
	json_decref(line);
}

/* Send a progress line; takes PROGRESS. */
void
cmdq_item_progress(struct cmdq_item *item, json_t *progress)
{
	if (item->replied) {
		json_decref(progress);
		return;
	}
	cmdq_item_send(item, proto_reply_progress(item->id, progress), false);
}

/* Send an event line of a stream; takes EVENT. */
void
cmdq_item_event(struct cmdq_item *item, json_t *event)
{
	if (item->replied) {
		json_decref(event);
		return;
	}
	cmdq_item_send(item, proto_reply_event(item->id, event), false);
}

/* Send the final success reply; takes RESULT. */
void
cmdq_item_ok(struct cmdq_item *item, json_t *result)
{
	if (item->replied) {
		json_decref(result);
		return;
	}
	item->replied = true;
	if (item->cmd->flags & CMD_STATE_CHANGING)
		log_info("%s from %s: done in %.0f ms%s", item->cmd->name,
		    item->origin, timespec_elapsed_s(&item->started_at) * 1e3,
		    item->reply_cb == NULL ? " (client gone)" : "");
	cmdq_item_send(item, proto_reply_ok(item->id, result), true);
}

/* Send the final error reply. */
void
cmdq_item_error(struct cmdq_item *item, const char *code, const char *fmt, ...)
{
	va_list	 ap;
	char	*message;

	if (item->replied)
		return;
	item->replied = true;
	item->failed = true;
	va_start(ap, fmt);
	message = str_vprintf(fmt, ap);
	va_end(ap);
	if (item->cmd->flags & CMD_STATE_CHANGING)
		log_warnx("%s from %s: failed: %s: %s%s", item->cmd->name,
		    item->origin, code, message != NULL ? message : "",
		    item->reply_cb == NULL ? " (client gone)" : "");
	item->error = json_pack("{s:s, s:s}", "code", code, "message",
	    message != NULL ? message : "");
	cmdq_item_send(item, proto_reply_error(item->id, code, message), true);
	free(message);
}

/* How long ITEM has been running, in seconds. */
double
cmdq_item_running_s(struct cmdq_item *item)
{
	return (timespec_elapsed_s(&item->started_at));
}
