/*
 * cmd-watch.c -- "watch": a live stream of what the daemon does
 * (DESIGN.md 7.2).
 *
 * A watcher sends {"cmd":"watch","args":{"services":[...]}} and gets event
 * lines {"v":1,"id":X,"event":{"seq":N,"at":"...","type":"...",...}} until
 * it closes the connection; at shutdown a final {"ok":true,"result":
 * {"ended":"shutting_down"}}.  The first event is "hello", with every
 * service's generation and state.  Then:
 *
 *   command   phase start|end, cmd, origin, and at the end ok, error and
 *             duration_ms (state-changing commands: cmdq.c)
 *   reload    service, generation, phase build|ready|swap|retiring|
 *             retired|failed|cancelled, reason (registry.c)
 *   drain     draining, in_flight (cmd-drain.c, cmd-resume.c)
 *   hsp       connected|disconnected|retrying|left_group|joined_group,
 *             broker, reason, delay_s (hsp.c)
 *   llm       backend, cooled_down|recovered, reason (llm.c)
 *
 * The modules below the hub emit through the registry's event hook, which
 * main.c points here.  Events are numbered and stamped once, whoever
 * watches; a watcher that names services gets only the events of those
 * (and those of no service).  How much one watcher may leave unread is the
 * control socket's business (control.watch_buffer_bytes, control.c): the
 * rest is dropped and a "lagged" event says how many.  Watchers are
 * read-only clients, exempt from control.idle_timeout_s (a command runs)
 * and counted against control.max_clients.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hotreloadd.h"
#include "log.h"

struct watcher {
	struct cmdq_item	*item;
	unsigned int		 services;	/* bit per service; 0: all */
	LIST_ENTRY(watcher)	 entry;
};

static LIST_HEAD(, watcher)	 watchers = LIST_HEAD_INITIALIZER(watchers);
static json_int_t		 watch_seq;

/* Is anybody watching (worth building an event for)? */
bool
watch_active(void)
{
	return (!LIST_EMPTY(&watchers));
}

/* "2026-12-02T11:35:07.123Z", now. */
static json_t *
watch_now(void)
{
	struct timespec	ts;
	char		text[TIME_TEXT_SIZE];

	clock_gettime(CLOCK_REALTIME, &ts);
	return (json_string(time_text_ms(&ts, text)));
}

/* The bit of service NAME, 0 when it is none. */
static unsigned int
watch_service_bit(const char *name)
{
	struct service_slot	*slot;

	if (name == NULL || hr == NULL ||
	    (slot = registry_find_slot(hr->registry, name)) == NULL)
		return (0);
	return (1U << slot->id);
}

/*
 * Number, stamp and send EVENT (taken; its "type" and, if it is about one,
 * "service" set) to every watcher that wants it.
 */
void
watch_event(json_t *event)
{
	struct watcher	*w;
	unsigned int	 bit;

	if (event == NULL)
		return;
	if (LIST_EMPTY(&watchers)) {
		json_decref(event);
		return;
	}
	json_object_set_new(event, "seq", json_integer(++watch_seq));
	json_object_set_new(event, "at", watch_now());
	bit = watch_service_bit(json_string_value(json_object_get(event,
	    "service")));
	LIST_FOREACH(w, &watchers, entry) {
		if (w->services != 0 && bit != 0 && !(w->services & bit))
			continue;
		cmdq_item_event(w->item, json_incref(event));
	}
	json_decref(event);
}

/* The registry's event hook: a module's event (TYPE, FIELDS taken). */
void
watch_registry_event(__attribute__((unused)) struct registry *reg,
    const char *type, json_t *fields)
{
	if (fields == NULL)
		return;
	if (LIST_EMPTY(&watchers)) {
		json_decref(fields);
		return;
	}
	json_object_set_new(fields, "type", json_string(type));
	watch_event(fields);
}

/* A command of the queue started (START) or ended. */
void
watch_command(struct cmdq_item *item, bool start)
{
	json_t	*event;

	if (LIST_EMPTY(&watchers))
		return;
	event = json_pack("{s:s, s:s, s:s, s:s}", "type", "command",
	    "phase", start ? "start" : "end", "cmd", item->cmd->name,
	    "origin", item->origin);
	if (event != NULL && !start) {
		json_object_set_new(event, "ok", json_boolean(!item->failed));
		json_object_set_new(event, "error", item->error != NULL ?
		    json_incref(item->error) : json_null());
		json_object_set_new(event, "duration_ms", json_integer(
		    (json_int_t)(cmdq_item_running_s(item) * 1e3)));
	}
	if (event != NULL && json_object_size(item->args) > 0)
		json_object_set(event, "args", item->args);
	watch_event(event);
}

/* Forget W and end its item with RESULT (taken). */
static void
watch_end(struct watcher *w, json_t *result)
{
	struct cmdq_item	*item = w->item;

	LIST_REMOVE(w, entry);
	free(w);
	item->data = NULL;
	cmdq_item_ok(item, result);
	cmdq_item_done(item);
}

/* The daemon shuts down: every watcher gets its final line. */
void
watch_end_all(const char *why)
{
	struct watcher	*w;

	while ((w = LIST_FIRST(&watchers)) != NULL)
		watch_end(w, json_pack("{s:s}", "ended", why));
}

/* "services": an array of service names (llm, hsp, ...). */
static int
cmd_watch_check(json_t *args, char **cause)
{
	static const char *const allowed[] = { "services", NULL };
	static const char *const names[] = { "llm", "hsp", "tool_dispatcher",
	    "dialogue_manager", "service_discovery", NULL };
	json_t			*services, *name;
	size_t			 i, j;

	if (cmd_check_arg_names(args, allowed, cause) == -1)
		return (-1);
	if ((services = json_object_get(args, "services")) == NULL)
		return (0);
	if (!json_is_array(services)) {
		*cause = strdup("services must be an array of service names");
		return (-1);
	}
	json_array_foreach(services, i, name) {
		for (j = 0; names[j] != NULL; j++) {
			if (json_is_string(name) &&
			    strcmp(json_string_value(name), names[j]) == 0)
				break;
		}
		if (names[j] == NULL) {
			*cause = strdup("services: each one of llm, hsp, "
			    "tool_dispatcher, dialogue_manager, "
			    "service_discovery");
			return (-1);
		}
	}
	return (0);
}

/* The "hello" event: every service's generation and state now. */
static json_t *
watch_hello(void)
{
	struct service_slot	*slot;
	json_t			*services = json_object(), *status;
	int			 i;

	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = registry_slot(hr->registry, i);
		status = registry_slot_status(slot);
		json_object_set_new(services, slot->name, json_pack(
		    "{s:O?, s:O?}", "generation", json_object_get(status,
		    "generation"), "state", json_object_get(status,
		    "state")));
		json_decref(status);
	}
	return (json_pack("{s:s, s:I, s:o, s:b}", "type", "hello",
	    "pid", (json_int_t)getpid(), "services", services,
	    "draining", hr->registry->draining));
}

/* Start streaming to the client; the item ends when it goes. */
static enum cmd_retval
cmd_watch_exec(struct cmdq_item *item)
{
	struct watcher	*w;
	json_t		*name, *hello;
	size_t		 i;

	if ((w = calloc(1, sizeof *w)) == NULL) {
		cmdq_item_error(item, HR_ERR_INTERNAL, "out of memory");
		return (CMD_RETURN_NORMAL);
	}
	w->item = item;
	json_array_foreach(json_object_get(item->args, "services"), i, name)
		w->services |= watch_service_bit(json_string_value(name));
	item->data = w;
	LIST_INSERT_HEAD(&watchers, w, entry);
	log_debug("watch: %s watches", item->origin);
	/* The hello goes to this watcher first, numbered like the rest. */
	hello = watch_hello();
	json_object_set_new(hello, "seq", json_integer(++watch_seq));
	json_object_set_new(hello, "at", watch_now());
	cmdq_item_event(item, hello);
	return (CMD_RETURN_WAIT);
}

/* The client went away. */
static void
cmd_watch_gone(struct cmdq_item *item)
{
	struct watcher	*w = item->data;

	if (w != NULL)
		watch_end(w, json_pack("{s:s}", "ended", "client_gone"));
}

/* The event after DROPPED events did not fit the watcher's buffer. */
static json_t *
cmd_watch_lagged(__attribute__((unused)) struct cmdq_item *item,
    uint64_t dropped)
{
	return (json_pack("{s:I, s:o, s:s, s:I}", "seq", ++watch_seq, "at",
	    watch_now(), "type", "lagged", "dropped", (json_int_t)dropped));
}

const struct cmd_entry cmd_watch_entry = {
	.name = HR_CMD_WATCH,
	.flags = CMD_STREAM,
	.check = cmd_watch_check,
	.exec = cmd_watch_exec,
	.gone = cmd_watch_gone,
	.lagged = cmd_watch_lagged,
};
