/*
 * cmd-history.c -- "history": the last state-changing commands.
 *
 * Every state-changing command that ran (not one refused before it
 * started) leaves an entry as it ends, and the daemon's start leaves one
 * ("startup"): seq, at (when it started, UTC), command, args (as the
 * command got them: dry_run, check, service, wait...), origin (a client's
 * {"uid", "pid"}, or "SIGHUP", "SIGTERM", "startup"), ok, error ({code,
 * message} or null), duration_ms, config_sha256 (of the configuration file
 * it read, or null) and generations (every service's, after it).  The last
 * control.history_size entries are kept; "history" answers newest first,
 * at most its "limit".
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotreloadd.h"

/* The entries, oldest first; a ring of at most control.history_size. */
static json_t		*history_entries;
static json_int_t	 history_seq;

/* Every service's generation now ({"llm": 2, ...}; 0: never started). */
static json_t *
history_generations(void)
{
	json_t			*generations = json_object();
	struct service_slot	*slot;
	int			 i;

	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = registry_slot(hr->registry, i);
		json_object_set_new(generations, slot->name,
		    json_integer((json_int_t)slot->generation));
	}
	return (generations);
}

/* "2026-12-02T11:35:07.123Z" for TS. */
static json_t *
history_time(const struct timespec *ts)
{
	char	text[TIME_TEXT_SIZE];

	return (json_string(time_text_ms(ts, text)));
}

/* Append one entry (ORIGIN and ERROR are taken), dropping the oldest. */
static void
history_append(const char *command, json_t *args, const struct timespec *at,
    json_t *origin, bool ok, json_t *error, double duration_s,
    const char *sha256)
{
	size_t	limit = (size_t)hr->config->control.history_size;

	if (history_entries == NULL && (history_entries = json_array()) ==
	    NULL) {
		json_decref(origin);
		json_decref(error);
		return;
	}
	json_array_append_new(history_entries, json_pack("{s:I, s:o, s:s, "
	    "s:O, s:o, s:b, s:o, s:I, s:s?, s:o}",
	    "seq", ++history_seq,
	    "at", history_time(at),
	    "command", command,
	    "args", args,
	    "origin", origin,
	    "ok", ok,
	    "error", error != NULL ? error : json_null(),
	    "duration_ms", (json_int_t)(duration_s * 1e3),
	    "config_sha256", sha256 != NULL && *sha256 != '\0' ? sha256 : NULL,
	    "generations", history_generations()));
	while (json_array_size(history_entries) > limit)
		json_array_remove(history_entries, 0);
}

/* An entry that is not a client's command (the start, "startup"). */
void
history_add(const char *command, json_t *origin, bool ok, json_t *error,
    double duration_s, const char *sha256)
{
	struct timespec	 now;
	json_t		*args;

	clock_gettime(CLOCK_REALTIME, &now);
	now.tv_sec -= (time_t)duration_s;
	args = json_object();
	history_append(command, args, &now, origin, ok, error, duration_s,
	    sha256);
	json_decref(args);
}

/* ITEM (state-changing, it ran) is ending: keep what it did. */
void
history_record(struct cmdq_item *item)
{
	json_t	*origin;

	/* The daemon's own items (signals) say where they came from. */
	if (item->id == NULL || json_is_null(item->id))
		origin = json_string(item->origin);
	else
		origin = json_pack("{s:I, s:I}", "uid", (json_int_t)item->uid,
		    "pid", (json_int_t)item->pid);
	history_append(item->cmd->name, item->args, &item->started_wall, origin,
	    !item->failed, json_incref(item->error),
	    cmdq_item_running_s(item), item->config_sha256);
}

/* Forget the history (exit). */
void
history_free(void)
{
	json_decref(history_entries);
	history_entries = NULL;
}

/* "limit": an integer from 1 up. */
static int
cmd_history_check(json_t *args, char **cause)
{
	static const char *const allowed[] = { "limit", NULL };
	json_t			*limit;

	if (cmd_check_arg_names(args, allowed, cause) == -1)
		return (-1);
	limit = json_object_get(args, "limit");
	if (limit != NULL && (!json_is_integer(limit) ||
	    json_integer_value(limit) < 1)) {
		*cause = strdup("limit must be an integer of 1 or more");
		return (-1);
	}
	return (0);
}

/* The entries, newest first, at most "limit" of them. */
static enum cmd_retval
cmd_history_exec(struct cmdq_item *item)
{
	json_t		*entries = json_array(), *limit;
	size_t		 n = json_array_size(history_entries), count = n, i;

	limit = json_object_get(item->args, "limit");
	if (limit != NULL && (json_int_t)count > json_integer_value(limit))
		count = (size_t)json_integer_value(limit);
	for (i = 0; i < count; i++)
		json_array_append(entries, json_array_get(history_entries,
		    n - 1 - i));
	cmdq_item_ok(item, json_pack("{s:o, s:I}", "entries", entries,
	    "size", (json_int_t)hr->config->control.history_size));
	return (CMD_RETURN_NORMAL);
}

const struct cmd_entry cmd_history_entry = {
	.name = HR_CMD_HISTORY,
	.check = cmd_history_check,
	.exec = cmd_history_exec,
};
