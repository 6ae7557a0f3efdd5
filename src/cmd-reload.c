/*
 * cmd-reload.c -- "reload", "reload-llm" and "reload-hsp": a reload is a
 * transaction (DESIGN.md 7.1).
 *
 * All three re-read the configuration file and validate all of it first: a
 * file with any error fails the command with the cause and changes nothing.
 * Then the plan (cmd-reload-plan.c) says what changes.  With --dry-run the
 * reply is the plan and nothing else happens.  Otherwise every service to
 * replace is built and started at once, held when ready
 * (registry_prepare), and a new metrics listener is opened; "reload-llm"
 * and "reload-hsp" do this for their service, "reload" for every service
 * whose section (or a file it names) changed.
 *
 * When every part is ready the daemon-wide settings are applied and every
 * swap happens, in one loop turn; the old instances then retire.  If any
 * part fails, or the command times out, every new instance is discarded and
 * the staged listener closed: the daemon runs exactly as before, and the
 * reply is reload_failed naming the part.  With --check the parts are built
 * and connected the same way and then discarded; the reply is the plan with
 * each part's readiness.
 *
 * The commands hold the queue (the reload lock) until they end.  SIGHUP and
 * systemctl reload queue "reload" too, so there is one reload path; rollback
 * (cmd-rollback.c) goes through it with a configuration it kept.
 *
 * systemd hears RELOADING=1 when an applying reload starts and READY=1 when
 * it ends, with the failure in STATUS= (notify.c); under journald each
 * service reload and each "reload" also leaves a journal entry.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "cmd-reload.h"
#include "log.h"
#include "notify.h"

/* Services a reload replaces, in the order their swaps happen. */
const enum service_id reload_order[RELOAD_ORDER_COUNT] = {
	SERVICE_LLM, SERVICE_HSP, SERVICE_TOOL_DISPATCHER,
	SERVICE_DIALOGUE_MANAGER, SERVICE_SERVICE_DISCOVERY
};

/* How many problems of a bad file the error message quotes. */
#define CMD_RELOAD_QUOTED_PROBLEMS	3

/* One service of the transaction. */
struct reload_part {
	struct reload_state	*s;
	enum service_id		 id;
	struct service_reload	*reload;	/* NULL once ended */
	bool			 ready;
	char			*error;
};

/* A reload in progress. */
struct reload_state {
	struct cmdq_item	*item;
	struct config		*config;	/* the new one */
	bool			 whole;		/* daemon settings too */
	enum reload_mode	 mode;
	const char		*source;	/* "file", "rollback" */
	json_t			*plan;
	struct reload_part	 parts[SERVICE_COUNT];
	size_t			 parts_count;
	size_t			 waiting;	/* parts not ended yet */
	bool			 failed;	/* a part failed */
	bool			 metrics_changed;
	struct metrics_http	*metrics;	/* staged listener */
	struct timespec		 started;
	char			*failure;	/* the first error replied */
};

static void	reload_finish(struct reload_state *);

/* Is this a reload that changes something (not a check, not a plan)? */
static bool
reload_applies(struct reload_state *s)
{
	return (s->mode == RELOAD_APPLY);
}

/*
 * The reload has ended, one way or another: tell systemd, and the journal
 * for "reload".  Called from the item's destructor, the one place that every
 * ending passes: success, error, timeout.
 */
static void
reload_end(struct reload_state *s)
{
	struct cmdq_item	*item = s->item;
	const char		*failure = NULL;
	char			*message;

	if (!reload_applies(s))
		return;
	if (item->failed)
		failure = s->failure != NULL ? s->failure : "the reload failed";
	if (s->whole) {
		message = failure != NULL ?
		    str_printf("configuration reload from %s failed: %s",
		    item->origin, failure) :
		    str_printf("configuration reloaded (from %s)",
		    item->origin);
		if (message != NULL)
			notify_journal_reload("config",
			    hr->config_reloads_ok + 1, failure == NULL, message);
		free(message);
	}
	notify_reload_end(failure);
}

/* Discard every part still held or starting; WHY goes to their slots. */
static void
reload_abandon_all(struct reload_state *s, const char *why)
{
	struct reload_part	*p;
	size_t			 i;

	for (i = 0; i < s->parts_count; i++) {
		p = &s->parts[i];
		if (p->reload == NULL)
			continue;
		registry_reload_abandon(p->reload, why);
		p->reload = NULL;
	}
	if (s->metrics_changed && s->metrics != NULL) {
		metrics_http_free(s->metrics);
		s->metrics = NULL;
	}
}

/* Free the state (item data destructor); abandons what is still held. */
static void
reload_state_free(void *arg)
{
	struct reload_state	*s = arg;
	size_t			 i;

	reload_abandon_all(s, "cancelled");
	reload_end(s);
	config_free(s->config);
	json_decref(s->plan);
	for (i = 0; i < s->parts_count; i++)
		free(s->parts[i].error);
	free(s->failure);
	free(s);
}

/* Reply with an error, and keep the first one for systemd's STATUS=. */
static void __attribute__((format(printf, 3, 4)))
reload_fail(struct reload_state *s, const char *code, const char *fmt, ...)
{
	va_list	 ap;
	char	*message;

	va_start(ap, fmt);
	message = str_vprintf(fmt, ap);
	va_end(ap);
	cmdq_item_error(s->item, code, "%s", message != NULL ? message :
	    "out of memory");
	if (s->failure == NULL)
		s->failure = message;
	else
		free(message);
	if (s->whole && reload_applies(s))
		hr->config_reloads_failed++;
}

/* The journal entry of one service's reload, ended with OK or CAUSE. */
static void
reload_journal(struct service_slot *slot, bool ok, const char *cause)
{
	uint64_t	 generation;
	char		*message;

	generation = slot->current != NULL ? slot->current->generation : 0;
	message = ok ? str_printf("%s reloaded: generation %" PRIu64,
	    slot->name, generation) : str_printf("%s reload failed: %s; "
	    "generation %" PRIu64 " stays", slot->name, cause, generation);
	if (message != NULL)
		notify_journal_reload(slot->name, generation, ok, message);
	free(message);
}

/*
 * Load and validate the configuration file again.  Warnings are logged; on
 * errors reply reload_failed quoting the first few and return NULL.
 */
static struct config *
reload_load_file(struct reload_state *s)
{
	struct config_problems	 problems = { 0 };
	struct config		*config;
	char			*message = NULL, *next;
	size_t			 i, quoted = 0;

	config = config_load(hr->config_path, &problems);
	for (i = 0; i < problems.count; i++) {
		if (problems.list[i].warning) {
			log_warnx("%s", problems.list[i].text);
			continue;
		}
		if (quoted == CMD_RELOAD_QUOTED_PROBLEMS)
			continue;
		next = str_printf("%s%s%s", message != NULL ? message : "",
		    message != NULL ? "; " : "", problems.list[i].text);
		free(message);
		message = next;
		quoted++;
	}
	if (config == NULL) {
		if (problems.errors > quoted) {
			next = str_printf("%s (and %zu more)", message,
			    problems.errors - quoted);
			free(message);
			message = next;
		}
		reload_fail(s, HR_ERR_RELOAD_FAILED, "%s; nothing was "
		    "changed", message != NULL ? message : "invalid "
		    "configuration");
	}
	free(message);
	config_problems_clear(&problems);
	return (config);
}

/* Does SLOT need a new instance under CONFIG ("reload")? */
bool
reload_slot_changed(struct service_slot *slot, struct config *config)
{
	if (slot->ops == NULL)
		return (false);
	/*
	 * A running service whose section is gone keeps running: taking a
	 * service away is for a restart, and must not block the others.
	 */
	if (slot->current != NULL && !slot->ops->configured(config))
		return (false);
	if (slot->ops->changed == NULL)
		return (config_section_changed(slot->current != NULL ?
		    slot->config : NULL, config, slot->name));
	return (slot->ops->changed(slot->current != NULL ? slot->config :
	    NULL, config));
}

/* Say which running services lost their section (they keep running). */
static void
reload_log_gone(struct reload_state *s)
{
	struct service_slot	*slot;
	size_t			 i;

	for (i = 0; i < RELOAD_ORDER_COUNT; i++) {
		slot = registry_slot(hr->registry, reload_order[i]);
		if (slot->current != NULL && slot->ops != NULL &&
		    !slot->ops->configured(s->config))
			log_warnx("%s: its section is gone from %s; it keeps "
			    "running until hotreloadd restarts", slot->name,
			    s->config->path);
	}
}

/*
 * Open a new metrics listener if metrics.listen changes; nothing is
 * swapped yet.  Returns -1 with *CAUSE when it cannot be opened.
 */
static int
reload_stage_metrics(struct reload_state *s, char **cause)
{
	const char	*old_listen = hr->config->metrics.listen;
	const char	*new_listen = s->config->metrics.listen;

	s->metrics_changed = (old_listen == NULL) != (new_listen == NULL) ||
	    (old_listen != NULL && strcmp(old_listen, new_listen) != 0);
	if (!s->metrics_changed || new_listen == NULL)
		return (0);
	s->metrics = metrics_http_create(hr->base, s->config, cause);
	return (s->metrics == NULL ? -1 : 0);
}

/*
 * Apply the daemon-wide settings of the new configuration, which becomes
 * the daemon's.  Only the control socket's mode can fail here, before
 * anything changed.
 */
static int
reload_apply_settings(struct reload_state *s, char **cause)
{
	struct config	*config = s->config;

	if (control_apply_config(hr->control, config, cause) == -1)
		return (-1);
	if (strcmp(config->control.socket, hr->config->control.socket) != 0)
		log_warnx("control.socket changed to %s: it takes effect when "
		    "hotreloadd restarts", config->control.socket);
	if (s->metrics_changed) {
		metrics_http_free(hr->metrics_http);
		hr->metrics_http = s->metrics;
		s->metrics = NULL;
	} else if (hr->metrics_http != NULL)
		metrics_http_apply_config(hr->metrics_http, config);
	cmdq_set_limits(hr->cmdq, (size_t)config->control.queue_depth,
	    config->control.command_timeout_s);
	return (0);
}

/* The services of the plan that take no part: "keep" and the like. */
static void
reload_sort_names(struct reload_state *s, json_t *reloaded,
    json_t *unchanged, json_t *not_configured)
{
	struct service_slot	*slot;
	const char		*action;
	size_t			 i;

	for (i = 0; i < RELOAD_ORDER_COUNT; i++) {
		slot = registry_slot(hr->registry, reload_order[i]);
		action = json_string_value(json_object_get(json_object_get(
		    json_object_get(s->plan, "services"), slot->name),
		    "action"));
		if (action == NULL)
			continue;
		if (strcmp(action, "replace") == 0 ||
		    strcmp(action, "start") == 0)
			json_array_append_new(reloaded, json_string(slot->name));
		else if (strcmp(action, "keep") == 0)
			json_array_append_new(unchanged,
			    json_string(slot->name));
		else
			json_array_append_new(not_configured,
			    json_string(slot->name));
	}
}

/* Every part is ready: swap them all, in this loop turn. */
static void
reload_commit(struct reload_state *s)
{
	struct cmdq_item	*item = s->item;
	struct service_slot	*slot;
	struct reload_part	*p;
	struct config		*previous;
	json_t			*result = NULL, *reloaded, *unchanged;
	json_t			*not_configured, *settings, *change;
	char			*cause = NULL;
	size_t			 i;
	bool			 changed, rollback;

	if (s->whole && reload_apply_settings(s, &cause) == -1) {
		reload_abandon_all(s, NULL);
		reload_fail(s, HR_ERR_RELOAD_FAILED, "control: %s; nothing was "
		    "changed", cause != NULL ? cause : "cannot apply");
		free(cause);
		return;
	}
	rollback = strcmp(s->source, "rollback") == 0;
	for (i = 0; i < s->parts_count; i++) {
		p = &s->parts[i];
		slot = registry_slot(hr->registry, p->id);
		json_decref(result);
		result = registry_commit(p->reload);
		p->reload = NULL;
		slot->rolled_back = rollback;
		reload_journal(slot, true, NULL);
	}
	/*
	 * What runs now came from S's source (a rollback: from memory).  A
	 * whole reload from the file brings every service back to it; a
	 * rollback without a service then goes back to the configuration
	 * the daemon had before this change, which a reload of one service
	 * did not change: its last whole configuration.
	 */
	if (s->whole) {
		free(hr->config_source);
		hr->config_source = strdup(s->source);
		for (i = 0; i < SERVICE_COUNT; i++)
			registry_slot(hr->registry, i)->rolled_back = false;
	} else if (s->parts_count > 0) {
		config_free(hr->previous_config);
		hr->previous_config = config_ref(hr->config);
	}
	if (s->whole) {
		changed = s->parts_count > 0 || json_array_size(
		    json_object_get(s->plan, "settings")) > 0;
		previous = hr->config;
		hr->config = config_ref(s->config);
		if (changed) {
			config_free(hr->previous_config);
			hr->previous_config = previous;
		} else
			config_free(previous);
		hr->config_reloads_ok++;
		reloaded = json_array();
		unchanged = json_array();
		not_configured = json_array();
		reload_sort_names(s, reloaded, unchanged, not_configured);
		/* The settings that changed, by key (their values are in
		 * the plan of a --dry-run). */
		settings = json_array();
		json_array_foreach(json_object_get(s->plan, "settings"), i,
		    change)
			json_array_append(settings, json_object_get(change,
			    "key"));
		json_decref(result);
		result = json_pack("{s:o, s:o, s:o, s:o, s:I}",
		    "reloaded", reloaded,
		    "unchanged", unchanged,
		    "not_configured", not_configured,
		    "settings", settings,
		    "duration_ms", (json_int_t)(timespec_elapsed_s(
		    &s->started) * 1e3));
	}
	cmdq_item_ok(item, result);
}

/* Reply to a check: the plan, with each part's readiness. */
static void
reload_check_reply(struct reload_state *s)
{
	struct service_slot	*slot;
	struct reload_part	*p;
	json_t			*service;
	size_t			 i;

	for (i = 0; i < s->parts_count; i++) {
		p = &s->parts[i];
		slot = registry_slot(hr->registry, p->id);
		service = json_object_get(json_object_get(s->plan, "services"),
		    slot->name);
		if (p->ready)
			json_object_set_new(service, "ready", json_true());
		else
			json_object_set_new(service, "error",
			    json_string(p->error != NULL ? p->error :
			    "not ready"));
	}
	reload_abandon_all(s, NULL);
	cmdq_item_ok(s->item, json_pack("{s:b, s:b, s:O, s:I}",
	    "check", 1,
	    "would_succeed", !s->failed,
	    "plan", s->plan,
	    "duration_ms", (json_int_t)(timespec_elapsed_s(&s->started) *
	    1e3)));
}

/* Every part has ended: reply, and end the command. */
static void
reload_finish(struct reload_state *s)
{
	if (s->mode == RELOAD_CHECK)
		reload_check_reply(s);
	else if (!s->failed)
		reload_commit(s);
	cmdq_item_done(s->item);
}

/*
 * The first failure of an applying reload: discard the rest, reply, end
 * the item (S is freed).  A check's failures go into its reply instead.
 */
static void
reload_part_failed(struct reload_state *s, struct reload_part *p)
{
	struct service_slot	*slot = registry_slot(hr->registry, p->id);
	const char		*name = slot->name;

	reload_journal(slot, false, p->error);
	reload_abandon_all(s, NULL);
	if (s->whole) {
		log_warnx("reload: %s failed (%s); the other new instances "
		    "are discarded", name, p->error);
		reload_fail(s, HR_ERR_RELOAD_FAILED, "%s: %s; nothing was "
		    "changed", name, p->error);
	} else
		reload_fail(s, HR_ERR_RELOAD_FAILED, "%s: %s; generation "
		    "unchanged", name, p->error);
	cmdq_item_done(s->item);
}

/* One part has ended (ready or failed). */
static void
reload_part_cb(void *arg, bool ok, __attribute__((unused)) const char *code,
    const char *cause, __attribute__((unused)) json_t *result)
{
	struct reload_part	*p = arg;
	struct reload_state	*s = p->s;

	s->waiting--;
	if (ok)
		p->ready = true;
	else {
		p->reload = NULL;	/* destroyed by the registry */
		p->error = strdup(cause != NULL ? cause : "start failed");
		/* A check waits for every part, to report each. */
		if (!s->failed && s->mode != RELOAD_CHECK) {
			s->failed = true;
			reload_part_failed(s, p);	/* ends the item */
			return;
		}
		s->failed = true;
	}
	if (s->waiting == 0)
		reload_finish(s);
}

/* Start every part; returns false when one could not even begin. */
static bool
reload_start_parts(struct reload_state *s)
{
	struct reload_part	*p;
	const char		*code;
	char			*cause;
	size_t			 i;

	s->waiting = s->parts_count;
	for (i = 0; i < s->parts_count; i++) {
		p = &s->parts[i];
		p->reload = registry_prepare(registry_slot(hr->registry, p->id),
		    s->config, s->mode == RELOAD_CHECK, reload_part_cb, p,
		    &code, &cause);
		if (p->reload != NULL)
			continue;
		s->waiting--;
		p->error = cause != NULL ? cause : strdup("cannot reload");
		s->failed = true;
		if (s->mode != RELOAD_CHECK) {
			/* The slots still waiting are not started. */
			s->parts_count = i + 1;
			reload_part_failed(s, p);
			return (false);
		}
	}
	return (true);
}

/*
 * Begin a reload for ITEM (WHOLE: of the daemon-wide settings too) in the
 * mode its arguments ask for; SOURCE says where its configuration comes
 * from ("file", "rollback").  NULL (with a reply) when out of memory.
 */
struct reload_state *
reload_begin(struct cmdq_item *item, bool whole, const char *source)
{
	struct reload_state	*s;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		cmdq_item_error(item, HR_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	s->item = item;
	s->whole = whole;
	s->mode = reload_mode_of(item->args);
	s->source = source;
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	item->data = s;
	item->data_free = reload_state_free;
	if (reload_applies(s))
		notify_reload_begin();	/* reload_state_free() ends it */
	return (s);
}

/*
 * Run the reload S of the services in IDS (COUNT) to CONFIG, which it
 * takes.  Replies and ends the item (CMD_RETURN_NORMAL: ended now).
 */
enum cmd_retval
reload_run(struct reload_state *s, struct config *config,
    const enum service_id *ids, size_t count)
{
	struct cmdq_item	*item = s->item;
	enum service_id		 parts[SERVICE_COUNT];
	enum reload_mode	 mode = s->mode;
	bool			 whole = s->whole;
	char			*cause = NULL;
	size_t			 i;

	s->config = config;
	snprintf(item->config_sha256, sizeof item->config_sha256, "%s",
	    config->sha256);
	s->plan = reload_plan(config, ids, count, whole, parts,
	    &s->parts_count);
	if (!whole && s->parts_count == 0) {
		reload_fail(s, HR_ERR_NOT_CONFIGURED, "%s: not configured in "
		    "%s", registry_slot(hr->registry, ids[0])->name,
		    config->path);
		return (CMD_RETURN_NORMAL);
	}
	if (mode == RELOAD_DRY_RUN) {
		cmdq_item_ok(item, json_pack("{s:b, s:O}", "dry_run", 1,
		    "plan", s->plan));
		return (CMD_RETURN_NORMAL);
	}
	for (i = 0; i < s->parts_count; i++) {
		s->parts[i].s = s;
		s->parts[i].id = parts[i];
	}
	if (mode == RELOAD_APPLY)
		reload_log_gone(s);
	if (whole && reload_stage_metrics(s, &cause) == -1) {
		if (mode == RELOAD_CHECK)
			json_object_set_new(s->plan, "settings_error",
			    json_string(cause != NULL ? cause : "metrics"));
		else {
			reload_fail(s, HR_ERR_RELOAD_FAILED, "metrics: %s; "
			    "nothing was changed", cause != NULL ? cause :
			    "cannot listen");
			free(cause);
			return (CMD_RETURN_NORMAL);
		}
		s->failed = true;
		free(cause);
	}
	/* From here the item ends through cmdq_item_done(), now or later. */
	if (reload_start_parts(s) && s->waiting == 0)
		reload_finish(s);
	return (CMD_RETURN_WAIT);
}

/* Timed out: abandon every part, keep the old instances. */
void
reload_cancel(struct cmdq_item *item)
{
	struct reload_state	*s = item->data;
	struct reload_part	*p;
	size_t			 i;

	if (s == NULL)
		return;
	for (i = 0; i < s->parts_count; i++) {
		p = &s->parts[i];
		if (p->reload != NULL && reload_applies(s))
			reload_journal(registry_slot(hr->registry, p->id),
			    false, "cancelled: the command timed out");
	}
	reload_abandon_all(s, reload_applies(s) ? "cancelled" : NULL);
	if (s->whole && reload_applies(s))
		hr->config_reloads_failed++;
	if (s->failure == NULL && reload_applies(s))
		s->failure = str_printf("%s did not finish within %d s "
		    "(control.command_timeout_s) and was cancelled",
		    item->cmd->name, item->queue->timeout_s);
}

/* The mode an item's arguments ask for. */
enum reload_mode
reload_mode_of(json_t *args)
{
	if (json_is_true(json_object_get(args, "dry_run")))
		return (RELOAD_DRY_RUN);
	if (json_is_true(json_object_get(args, "check")))
		return (RELOAD_CHECK);
	return (RELOAD_APPLY);
}

/* The arguments of the reload commands: dry_run or check, booleans. */
int
reload_check_args(json_t *args, char **cause)
{
	static const char *const allowed[] = { "dry_run", "check", NULL };
	json_t			*dry_run, *check;

	if (cmd_check_arg_names(args, allowed, cause) == -1)
		return (-1);
	dry_run = json_object_get(args, "dry_run");
	check = json_object_get(args, "check");
	if ((dry_run != NULL && !json_is_boolean(dry_run)) ||
	    (check != NULL && !json_is_boolean(check))) {
		*cause = strdup("dry_run and check are booleans");
		return (-1);
	}
	if (json_is_true(dry_run) && json_is_true(check)) {
		*cause = strdup("dry_run and check cannot go together");
		return (-1);
	}
	return (0);
}

/* Re-read the file and reload IDS (COUNT; WHOLE: "reload") from it. */
static enum cmd_retval
cmd_reload_file(struct cmdq_item *item, const enum service_id *ids,
    size_t count, bool whole)
{
	struct reload_state	*s;
	struct config		*config;

	if ((s = reload_begin(item, whole, "file")) == NULL ||
	    (config = reload_load_file(s)) == NULL)
		return (CMD_RETURN_NORMAL);
	return (reload_run(s, config, ids, count));
}

/* "reload": the settings and every service whose configuration changed. */
static enum cmd_retval
cmd_reload_exec(struct cmdq_item *item)
{
	return (cmd_reload_file(item, reload_order, RELOAD_ORDER_COUNT, true));
}

/* "reload-llm" and "reload-hsp": replace one service. */
static enum cmd_retval
cmd_reload_one(struct cmdq_item *item, enum service_id id)
{
	return (cmd_reload_file(item, &id, 1, false));
}

/* "reload-llm". */
static enum cmd_retval
cmd_reload_llm_exec(struct cmdq_item *item)
{
	return (cmd_reload_one(item, SERVICE_LLM));
}

/* "reload-hsp". */
static enum cmd_retval
cmd_reload_hsp_exec(struct cmdq_item *item)
{
	return (cmd_reload_one(item, SERVICE_HSP));
}

const struct cmd_entry cmd_reload_entry = {
	.name = HR_CMD_RELOAD,
	.flags = CMD_STATE_CHANGING,
	.check = reload_check_args,
	.exec = cmd_reload_exec,
	.cancel = reload_cancel,
};

const struct cmd_entry cmd_reload_llm_entry = {
	.name = HR_CMD_RELOAD_LLM,
	.flags = CMD_STATE_CHANGING,
	.check = reload_check_args,
	.exec = cmd_reload_llm_exec,
	.cancel = reload_cancel,
};

const struct cmd_entry cmd_reload_hsp_entry = {
	.name = HR_CMD_RELOAD_HSP,
	.flags = CMD_STATE_CHANGING,
	.check = reload_check_args,
	.exec = cmd_reload_hsp_exec,
	.cancel = reload_cancel,
};
