/*
 * print.c -- how hotreloadctl shows a successful result.
 *
 * With --json the daemon's result object is printed as it came, indented.
 * Otherwise each command has a short, aligned, human-readable form.  The
 * printers read only the members they know and cope with missing or
 * mistyped ones ("?" or "-"), so output does not break when the daemon
 * grows new fields.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadctl.h"

static bool	print_plan_result(json_t *);

/* Width of the labels in the first lines of status. */
#define PRINT_LABEL_WIDTH	12

/* The columns of the services table in status; LAST RELOAD comes last. */
enum print_column {
	COLUMN_SERVICE,
	COLUMN_STATE,
	COLUMN_GENERATION,
	COLUMN_IN_FLIGHT,
	COLUMN_RETIRING,
	COLUMN_COUNT
};

/* A column of a table: its title, and how its cells align. */
struct print_column_spec {
	const char	*title;
	int		 right;		/* right-aligned */
};

static const struct print_column_spec print_columns[COLUMN_COUNT] = {
	{ "SERVICE",	0 },
	{ "STATE",	0 },
	{ "GEN",	1 },
	{ "IN-FLIGHT",	1 },
	{ "RETIRING",	1 },
};

/* One row of the services table. */
struct print_row {
	char	cells[COLUMN_COUNT][64];
};

/* The string member KEY of OBJECT, or FALLBACK. */
static const char *
print_string(json_t *object, const char *key, const char *fallback)
{
	const char	*value;

	value = json_string_value(json_object_get(object, key));
	return (value != NULL ? value : fallback);
}

/* Format the integer member KEY of OBJECT into BUFFER, or FALLBACK. */
static const char *
print_integer(json_t *object, const char *key, const char *fallback,
    char *buffer, size_t size)
{
	json_t	*value = json_object_get(object, key);

	if (!json_is_integer(value))
		return (fallback);
	snprintf(buffer, size, "%" JSON_INTEGER_FORMAT,
	    json_integer_value(value));
	return (buffer);
}

/* The integer member KEY of OBJECT, or FALLBACK. */
static json_int_t
print_integer_value(json_t *object, const char *key, json_int_t fallback)
{
	json_t	*value = json_object_get(object, key);

	return (json_is_integer(value) ? json_integer_value(value) : fallback);
}

/* Humanise a duration: 45s, 3m12s, 2h05m, 3d04h. */
void
print_duration(char *buffer, size_t size, double seconds)
{
	long long	s;

	s = seconds > 0 ? (long long)seconds : 0;
	if (s < 60)
		snprintf(buffer, size, "%llds", s);
	else if (s < 3600)
		snprintf(buffer, size, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buffer, size, "%lldh%02lldm", s / 3600, s / 60 % 60);
	else
		snprintf(buffer, size, "%lldd%02lldh", s / 86400, s / 3600 % 24);
}

/* Print a JSON value on stdout, indented, in the daemon's member order. */
void
print_json(json_t *value)
{
	json_dumpf(value, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
	putchar('\n');
}

/* The queue line of status: what runs, what waits. */
static void
print_status_queue(json_t *queue)
{
	json_t	*running;
	char	 since[32];
	double	 seconds;

	printf("%-*s", PRINT_LABEL_WIDTH, "queue");
	running = json_object_get(queue, "running");
	if (json_is_object(running)) {
		printf("running %s (", print_string(running, "command", "?"));
		if (json_is_integer(json_object_get(running, "uid"))) {
			printf("uid %" JSON_INTEGER_FORMAT ", ",
			    print_integer_value(running, "uid", 0));
		}
		seconds = json_number_value(json_object_get(running,
		    "running_s"));
		if (seconds < 60)
			snprintf(since, sizeof since, "%.1fs", seconds);
		else
			print_duration(since, sizeof since, seconds);
		printf("%s)", since);
	} else
		printf("idle");

	if (json_is_integer(json_object_get(queue, "pending"))) {
		printf(", %" JSON_INTEGER_FORMAT " pending",
		    print_integer_value(queue, "pending", 0));
	}
	if (json_is_integer(json_object_get(queue, "depth"))) {
		printf(" (depth %" JSON_INTEGER_FORMAT ")",
		    print_integer_value(queue, "depth", 0));
	}
	putchar('\n');
}

/* Fill the table cells of service NAME. */
static void
print_service_row(const char *name, json_t *service, struct print_row *row)
{
	json_t		*retiring;
	json_int_t	 generation;
	size_t		 size = sizeof row->cells[0];

	snprintf(row->cells[COLUMN_SERVICE], size, "%s", name);
	snprintf(row->cells[COLUMN_STATE], size, "%s",
	    print_string(service, "state", "?"));

	/* Generation 0: the service was never started. */
	generation = print_integer_value(service, "generation", 0);
	if (generation > 0) {
		snprintf(row->cells[COLUMN_GENERATION], size,
		    "%" JSON_INTEGER_FORMAT, generation);
	} else
		snprintf(row->cells[COLUMN_GENERATION], size, "-");

	if (json_is_integer(json_object_get(service, "in_flight"))) {
		snprintf(row->cells[COLUMN_IN_FLIGHT], size,
		    "%" JSON_INTEGER_FORMAT,
		    print_integer_value(service, "in_flight", 0));
	} else
		snprintf(row->cells[COLUMN_IN_FLIGHT], size, "-");

	/* How many old generations are still finishing their work. */
	retiring = json_object_get(service, "retiring");
	if (json_array_size(retiring) > 0) {
		snprintf(row->cells[COLUMN_RETIRING], size, "%zu",
		    json_array_size(retiring));
	} else
		snprintf(row->cells[COLUMN_RETIRING], size, "-");
}

/* The LAST RELOAD cell: "ok AT (D ms)", "failed AT (D ms): error" or "-". */
static void
print_last_reload(json_t *last)
{
	json_t		*duration;
	const char	*error;

	if (!json_is_object(last)) {
		printf("-");
		return;
	}
	printf("%s %s", json_is_true(json_object_get(last, "ok")) ? "ok" :
	    "failed", print_string(last, "at", "?"));
	duration = json_object_get(last, "duration_ms");
	if (json_is_number(duration))
		printf(" (%.0f ms)", json_number_value(duration));
	if ((error = print_string(last, "error", NULL)) != NULL)
		printf(": %s", error);
}

/* Print one line of the services table; LAST is NULL for the titles. */
static void
print_table_line(const char *const *cells, const size_t *widths,
    json_t *last, int titles)
{
	int	column;

	for (column = 0; column < COLUMN_COUNT; column++) {
		if (column > 0)
			printf("  ");
		printf(print_columns[column].right ? "%*s" : "%-*s",
		    (int)widths[column], cells[column]);
	}
	printf("  ");
	if (titles)
		printf("LAST RELOAD");
	else
		print_last_reload(last);
	putchar('\n');
}

/* The services table of status, in the daemon's order. */
static void
print_status_services(json_t *services)
{
	struct print_row	 row;
	const char		*cells[COLUMN_COUNT];
	const char		*name;
	json_t			*service;
	size_t			 widths[COLUMN_COUNT], length;
	int			 column;

	for (column = 0; column < COLUMN_COUNT; column++) {
		cells[column] = print_columns[column].title;
		widths[column] = strlen(cells[column]);
	}
	json_object_foreach(services, name, service) {
		print_service_row(name, service, &row);
		for (column = 0; column < COLUMN_COUNT; column++) {
			length = strlen(row.cells[column]);
			if (length > widths[column])
				widths[column] = length;
		}
	}

	print_table_line(cells, widths, NULL, 1);
	json_object_foreach(services, name, service) {
		print_service_row(name, service, &row);
		for (column = 0; column < COLUMN_COUNT; column++)
			cells[column] = row.cells[column];
		print_table_line(cells, widths,
		    json_object_get(service, "last_reload"), 0);
	}
}

/* The columns of the LLM back ends' table in status. */
enum print_backend_column {
	BACKEND_NAME,
	BACKEND_HEALTH,
	BACKEND_REQUESTS,
	BACKEND_ERRORS,
	BACKEND_P50,
	BACKEND_TOKENS_IN,
	BACKEND_TOKENS_OUT,
	BACKEND_COLUMNS
};

static const struct print_column_spec print_backend_columns[BACKEND_COLUMNS] = {
	{ "LLM BACKEND",	0 },
	{ "HEALTH",		0 },
	{ "REQUESTS",		1 },
	{ "ERRORS",		1 },
	{ "P50",		1 },
	{ "TOKENS IN",		1 },
	{ "TOKENS OUT",		1 },
};

/*
 * Fill the cells of LLM back end B: its health (healthy, cooling while
 * cooled down, failing otherwise), counters, median latency and tokens.
 */
static void
print_backend_row(json_t *b, char cells[BACKEND_COLUMNS][64])
{
	json_t	*p50 = json_object_get(b, "p50_latency_ms");
	char	 number[32];

	snprintf(cells[BACKEND_NAME], 64, "%s", print_string(b, "name", "?"));
	snprintf(cells[BACKEND_HEALTH], 64, "%s",
	    json_is_true(json_object_get(b, "healthy")) ? "healthy" :
	    json_is_string(json_object_get(b, "cooled_down_until")) ?
	    "cooling" : "failing");
	snprintf(cells[BACKEND_REQUESTS], 64, "%s",
	    print_integer(b, "requests", "-", number, sizeof number));
	snprintf(cells[BACKEND_ERRORS], 64, "%s",
	    print_integer(b, "errors", "-", number, sizeof number));
	if (json_is_number(p50))
		snprintf(cells[BACKEND_P50], 64, json_number_value(p50) < 10 ?
		    "%.1f ms" : "%.0f ms", json_number_value(p50));
	else
		snprintf(cells[BACKEND_P50], 64, "-");
	snprintf(cells[BACKEND_TOKENS_IN], 64, "%s",
	    print_integer(b, "tokens_in", "-", number, sizeof number));
	snprintf(cells[BACKEND_TOKENS_OUT], 64, "%s",
	    print_integer(b, "tokens_out", "-", number, sizeof number));
}

/* The LLM back ends of status, a line each, aligned. */
static void
print_status_backends(json_t *backends)
{
	char	(*cells)[BACKEND_COLUMNS][64];
	size_t	 widths[BACKEND_COLUMNS], count, i, length;
	int	 column;

	if ((count = json_array_size(backends)) == 0 ||
	    (cells = calloc(count, sizeof *cells)) == NULL)
		return;
	for (column = 0; column < BACKEND_COLUMNS; column++)
		widths[column] = strlen(print_backend_columns[column].title);
	for (i = 0; i < count; i++) {
		print_backend_row(json_array_get(backends, i), cells[i]);
		for (column = 0; column < BACKEND_COLUMNS; column++) {
			length = strlen(cells[i][column]);
			if (length > widths[column])
				widths[column] = length;
		}
	}
	putchar('\n');
	for (i = 0; i <= count; i++) {
		for (column = 0; column < BACKEND_COLUMNS; column++) {
			printf(column == 0 ? "" : "  ");
			printf(print_backend_columns[column].right ? "%*s" :
			    "%-*s", (int)widths[column], i == 0 ?
			    print_backend_columns[column].title :
			    cells[i - 1][column]);
		}
		putchar('\n');
	}
	free(cells);
}

/*
 * status: the daemon, drain, queue, then one line per service, and one per
 * back end of the LLM service.
 */
void
print_status(__attribute__((unused)) struct ctl *ctl, json_t *result)
{
	json_t	*draining, *uptime, *services;
	char	 pid[32], in_flight[32], up[32];

	if (json_is_number((uptime = json_object_get(result, "uptime_s"))))
		print_duration(up, sizeof up, json_number_value(uptime));
	else
		snprintf(up, sizeof up, "?");
	printf("hotreloadd %s  pid %s  up %s\n",
	    print_string(result, "version", "?"),
	    print_integer(result, "pid", "?", pid, sizeof pid), up);

	draining = json_object_get(result, "draining");
	printf("%-*s%s\n", PRINT_LABEL_WIDTH, "draining",
	    json_is_boolean(draining) ? (json_is_true(draining) ? "yes" : "no") :
	    "?");
	printf("%-*s%s\n", PRINT_LABEL_WIDTH, "in flight",
	    print_integer(result, "in_flight", "?", in_flight,
	    sizeof in_flight));
	print_status_queue(json_object_get(result, "queue"));

	services = json_object_get(result, "services");
	if (json_object_size(services) > 0) {
		putchar('\n');
		print_status_services(services);
	}
	print_status_backends(json_object_get(json_object_get(services,
	    "llm"), "backends"));
}

/* drain: how much is in flight, or with --wait whether it all finished. */
void
print_drain(struct ctl *ctl, json_t *result)
{
	const char	*in_flight;
	char		 buffer[32];

	in_flight = print_integer(result, "in_flight", "?", buffer,
	    sizeof buffer);
	if (!ctl->drain_wait)
		printf("draining: %s in flight\n", in_flight);
	else if (json_is_true(json_object_get(result, "drained")))
		printf("drained\n");
	else
		printf("drain timed out: %s still in flight\n", in_flight);
}

/* resume. */
void
print_resume(__attribute__((unused)) struct ctl *ctl,
    __attribute__((unused)) json_t *result)
{
	printf("resumed: taking new work\n");
}

/* reload-llm, reload-hsp: the generation change and what still finishes. */
void
print_reload_service(struct ctl *ctl, json_t *result)
{
	const char	*service;
	json_int_t	 generation, previous, finishing;
	double		 duration;

	if (print_plan_result(result))
		return;
	service = print_string(result, "service", ctl->command->name);
	generation = print_integer_value(result, "generation", 0);
	previous = print_integer_value(result, "previous_generation", 0);
	finishing = print_integer_value(result, "previous_in_flight", 0);
	duration = json_number_value(json_object_get(result, "duration_ms"));

	if (json_is_false(json_object_get(result, "reloaded"))) {
		printf("%s: not reloaded, still generation %" JSON_INTEGER_FORMAT
		    "\n", service, generation);
		return;
	}
	if (previous > 0) {
		printf("%s: generation %" JSON_INTEGER_FORMAT " -> %"
		    JSON_INTEGER_FORMAT " in %.0f ms", service, previous,
		    generation, duration);
	} else {
		printf("%s: generation %" JSON_INTEGER_FORMAT " in %.0f ms",
		    service, generation, duration);
	}
	if (finishing > 0 && previous > 0) {
		printf(" (%" JSON_INTEGER_FORMAT " request%s finishing on "
		    "generation %" JSON_INTEGER_FORMAT ")", finishing,
		    finishing == 1 ? "" : "s", previous);
	}
	putchar('\n');
}

/* One line of reload: LABEL and the service names in ARRAY, or "none". */
static void
print_service_list(const char *label, json_t *array)
{
	json_t	*name;
	size_t	 i, printed = 0;

	printf("%s:", label);
	json_array_foreach(array, i, name) {
		if (!json_is_string(name))
			continue;
		printf("%s %s", printed > 0 ? "," : "",
		    json_string_value(name));
		printed++;
	}
	if (printed == 0)
		printf(" none");
	putchar('\n');
}

/*
 * reload: what was replaced, what was left alone, what is not configured,
 * how long it took.
 */
void
print_reload(struct ctl *ctl, json_t *result)
{
	json_t	*duration;

	if (print_plan_result(result))
		return;
	/* rollback of one service answers as reload-llm does. */
	if (json_object_get(result, "service") != NULL) {
		print_reload_service(ctl, result);
		return;
	}
	/* Only when some changed: older daemons do not send the list. */
	if (json_array_size(json_object_get(result, "settings")) > 0)
		print_service_list("settings", json_object_get(result,
		    "settings"));
	print_service_list("reloaded", json_object_get(result, "reloaded"));
	print_service_list("unchanged", json_object_get(result, "unchanged"));
	/* Only when there are some: older daemons do not send the list. */
	if (json_array_size(json_object_get(result, "not_configured")) > 0)
		print_service_list("not configured",
		    json_object_get(result, "not_configured"));
	if (json_is_number((duration = json_object_get(result, "duration_ms"))))
		printf("duration: %.0f ms\n", json_number_value(duration));
}

/* A JSON value on one line, for a setting's old and new value. */
static void
print_value(json_t *value)
{
	char	*text;

	if (value == NULL || json_is_null(value)) {
		fputs("(default)", stdout);
		return;
	}
	if ((text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT)) ==
	    NULL)
		return;
	fputs(text, stdout);
	free(text);
}

/*
 * The plan of a --dry-run or --check, one line per change: settings with
 * their old and new values, then each service's action, the keys that
 * changed (never their values) and, after a check, whether it was ready.
 */
static void
print_plan(json_t *plan)
{
	json_t		*change, *services, *service, *changed, *key;
	const char	*name, *action, *error;
	size_t		 i, j;

	json_array_foreach(json_object_get(plan, "settings"), i, change) {
		printf("setting  %s: ", print_string(change, "key", "?"));
		print_value(json_object_get(change, "from"));
		fputs(" -> ", stdout);
		print_value(json_object_get(change, "to"));
		putchar('\n');
	}
	services = json_object_get(plan, "services");
	json_object_foreach(services, name, service) {
		action = print_string(service, "action", "?");
		changed = json_object_get(service, "changed");
		printf("%-8s %s", name, action);
		if (json_array_size(changed) > 0) {
			fputs(":", stdout);
			json_array_foreach(changed, j, key)
				printf(" %s", json_string_value(key));
		}
		if (json_is_true(json_object_get(service, "ready")))
			fputs(" (ready)", stdout);
		if ((error = print_string(service, "error", NULL)) != NULL)
			printf(" (failed: %s)", error);
		if ((error = print_string(service, "note", NULL)) != NULL)
			printf(" (%s)", error);
		putchar('\n');
	}
	if ((error = print_string(plan, "settings_error", NULL)) != NULL)
		printf("settings: failed: %s\n", error);
}

/*
 * A reload's result when it was a --dry-run or a --check: the plan and the
 * verdict.  Returns false for any other result.
 */
static bool
print_plan_result(json_t *result)
{
	if (json_is_true(json_object_get(result, "dry_run"))) {
		print_plan(json_object_get(result, "plan"));
		printf("dry run: nothing was changed\n");
		return (true);
	}
	if (!json_is_true(json_object_get(result, "check")))
		return (false);
	print_plan(json_object_get(result, "plan"));
	if (json_is_true(json_object_get(result, "would_succeed")))
		printf("check: the reload would succeed; nothing was "
		    "changed\n");
	else
		printf("check: the reload would fail; nothing was changed\n");
	return (true);
}

/*
 * history: one line per command, newest first: when, what, from whom,
 * how it ended and how long it took.
 */
void
print_history(__attribute__((unused)) struct ctl *ctl, json_t *result)
{
	json_t		*entry, *origin, *error, *sha, *args;
	char		 from[64], seq[32], what[64];
	const char	*service;
	size_t		 i;

	json_array_foreach(json_object_get(result, "entries"), i, entry) {
		origin = json_object_get(entry, "origin");
		if (json_is_string(origin))
			snprintf(from, sizeof from, "%s",
			    json_string_value(origin));
		else
			snprintf(from, sizeof from, "uid %" JSON_INTEGER_FORMAT
			    " pid %" JSON_INTEGER_FORMAT,
			    print_integer_value(origin, "uid", -1),
			    print_integer_value(origin, "pid", -1));
		/* The command as it was typed: "reload --check". */
		args = json_object_get(entry, "args");
		service = print_string(args, "service", NULL);
		snprintf(what, sizeof what, "%s%s%s%s%s",
		    print_string(entry, "command", "?"),
		    json_is_true(json_object_get(args, "dry_run")) ?
		    " --dry-run" : "",
		    json_is_true(json_object_get(args, "check")) ?
		    " --check" : "", service != NULL ? " " : "",
		    service != NULL ? service : "");
		printf("%5s  %s  %-20s %-18s %-6s %6.0f ms",
		    print_integer(entry, "seq", "?", seq, sizeof seq),
		    print_string(entry, "at", "?"), what, from,
		    json_is_true(json_object_get(entry, "ok")) ? "ok" :
		    "failed",
		    json_number_value(json_object_get(entry, "duration_ms")));
		if (json_is_string((sha = json_object_get(entry,
		    "config_sha256"))))
			printf("  sha256:%.12s", json_string_value(sha));
		error = json_object_get(entry, "error");
		if (json_is_object(error))
			printf("  %s: %s", print_string(error, "code", "?"),
			    print_string(error, "message", ""));
		putchar('\n');
	}
}

/*
 * agents: one line per capability, grouped by agent, with the age of the
 * agent's latest advert; "(none)" when discovery knows nobody.
 */
void
print_agents(__attribute__((unused)) struct ctl *ctl, json_t *result)
{
	json_t		*agents, *agent, *capability;
	char		 age[32];
	size_t		 i, j;

	agents = json_object_get(result, "agents");
	if (json_array_size(agents) == 0) {
		printf("no agents known\n");
		return;
	}
	printf("%-28s %-9s %-36s %-16s %-8s %s\n", "AGENT", "ADVERT",
	    "CAPABILITY", "NAME", "VERSION", "AVAILABILITY");
	json_array_foreach(agents, i, agent) {
		snprintf(age, sizeof age, "%.0f s ago", json_number_value(
		    json_object_get(agent, "last_advert_s")));
		json_array_foreach(json_object_get(agent, "capabilities"), j,
		    capability) {
			printf("%-28s %-9s %-36s %-16s %-8s %s\n",
			    j == 0 ? print_string(agent, "ai_id", "?") : "",
			    j == 0 ? age : "",
			    print_string(capability, "capability_id", "?"),
			    print_string(capability, "name", "-"),
			    print_string(capability, "version", "-"),
			    print_string(capability, "availability_status",
			    "?"));
		}
	}
}

/* The details of a hello event: every service's generation and state. */
static void
print_event_hello(json_t *event)
{
	json_t		*service;
	const char	*name;
	char		 generation[32];

	printf("pid %" JSON_INTEGER_FORMAT "%s",
	    print_integer_value(event, "pid", 0),
	    json_is_true(json_object_get(event, "draining")) ?
	    ", draining" : "");
	json_object_foreach(json_object_get(event, "services"), name,
	    service) {
		printf(", %s %s%s%s", name, print_string(service, "state", "?"),
		    print_integer_value(service, "generation", 0) > 0 ?
		    " gen " : "", print_integer_value(service, "generation",
		    0) > 0 ? print_integer(service, "generation", "",
		    generation, sizeof generation) : "");
	}
}

/* The details of a command event. */
static void
print_event_command(json_t *event)
{
	json_t	*error = json_object_get(event, "error");

	printf("%-5s %s from %s", print_string(event, "phase", "?"),
	    print_string(event, "cmd", "?"), print_string(event, "origin", "?"));
	if (strcmp(print_string(event, "phase", ""), "end") != 0)
		return;
	printf(": %s in %.0f ms", json_is_true(json_object_get(event, "ok")) ?
	    "ok" : "failed", json_number_value(json_object_get(event,
	    "duration_ms")));
	if (json_is_object(error))
		printf(" (%s: %s)", print_string(error, "code", "?"),
		    print_string(error, "message", ""));
}

/*
 * watch: one line per event, the time first, then the type and what it
 * says; with -j the event object as it came, one per line.
 */
void
print_event(struct ctl *ctl, json_t *event)
{
	const char	*type = print_string(event, "type", "?");
	const char	*reason = print_string(event, "reason", NULL);
	char		*text;

	if (ctl->json) {
		/* One object per line, for jq. */
		json_dumpf(event, stdout, JSON_COMPACT |
		    JSON_REAL_PRECISION(15));
		putchar('\n');
		fflush(stdout);
		return;
	}
	printf("%s  %-8s ", print_string(event, "at", "?"), type);
	if (strcmp(type, "hello") == 0)
		print_event_hello(event);
	else if (strcmp(type, "command") == 0)
		print_event_command(event);
	else if (strcmp(type, "reload") == 0)
		printf("%-17s gen %-4" JSON_INTEGER_FORMAT " %s",
		    print_string(event, "service", "?"),
		    print_integer_value(event, "generation", 0),
		    print_string(event, "phase", "?"));
	else if (strcmp(type, "drain") == 0)
		printf("%s, %" JSON_INTEGER_FORMAT " in flight",
		    json_is_true(json_object_get(event, "draining")) ?
		    "draining" : "not draining",
		    print_integer_value(event, "in_flight", 0));
	else if (strcmp(type, "hsp") == 0) {
		printf("%-17s gen %-4" JSON_INTEGER_FORMAT " %s %s",
		    print_string(event, "event", "?"),
		    print_integer_value(event, "generation", 0),
		    print_string(event, "broker", "?"),
		    json_is_number(json_object_get(event, "delay_s")) ?
		    "in" : "");
		if (json_is_number(json_object_get(event, "delay_s")))
			printf(" %.1f s", json_number_value(json_object_get(
			    event, "delay_s")));
	} else if (strcmp(type, "llm") == 0)
		printf("%-17s gen %-4" JSON_INTEGER_FORMAT " back end %s",
		    print_string(event, "event", "?"),
		    print_integer_value(event, "generation", 0),
		    print_string(event, "backend", "?"));
	else if (strcmp(type, "lagged") == 0)
		printf("%" JSON_INTEGER_FORMAT " events dropped: this client "
		    "read too slowly", print_integer_value(event, "dropped",
		    0));
	else if ((text = json_dumps(event, JSON_COMPACT)) != NULL) {
		fputs(text, stdout);
		free(text);
	}
	if (reason != NULL)
		printf(" (%s)", reason);
	putchar('\n');
	fflush(stdout);
}

/* watch's final line: the daemon ended the stream. */
void
print_watch_end(__attribute__((unused)) struct ctl *ctl, json_t *result)
{
	printf("watch ended: %s\n", print_string(result, "ended", "?"));
}

/* version: the daemon's, not ours (that is -V). */
void
print_version(__attribute__((unused)) struct ctl *ctl, json_t *result)
{
	char	protocol[32];

	printf("hotreloadd %s (protocol %s)\n",
	    print_string(result, "version", "?"),
	    print_integer(result, "protocol", "?", protocol, sizeof protocol));
}

/* metrics: the Prometheus text, as it came. */
void
print_metrics(__attribute__((unused)) struct ctl *ctl, json_t *result)
{
	const char	*text;

	if ((text = print_string(result, "text", NULL)) != NULL)
		fputs(text, stdout);
}
