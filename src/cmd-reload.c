/*
 * cmd-reload.c -- "reload", "reload-llm" and "reload-hsp".
 *
 * All three re-read the configuration file and validate all of it first: a
 * file with any error fails the command with the cause and changes nothing.
 * "reload-llm" and "reload-hsp" then replace one service through
 * registry_reload() (build, start, swap, retire).  "reload" applies the
 * daemon-wide settings (control limits, socket mode, queue, drain, metrics
 * listener) and replaces, one after the other, the services whose section
 * changed.  SIGHUP and systemctl reload queue "reload" too, so there is one
 * reload path.
 *
 * The commands hold the queue (the reload lock) until the last swap is done
 * or failed.  On a command timeout the reload under way is cancelled: its
 * new instance is destroyed and the running one stays.
 *
 * systemd hears RELOADING=1 when any of them starts and READY=1 when it
 * ends, with the failure in STATUS= (notify.c); under journald each service
 * reload and each "reload" also leaves a journal entry with structured
 * fields.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "log.h"
#include "notify.h"

/* Services a reload replaces, in the order "reload" does them. */
static const enum service_id cmd_reload_order[] = {
	SERVICE_LLM, SERVICE_HSP, SERVICE_TOOL_DISPATCHER,
	SERVICE_DIALOGUE_MANAGER, SERVICE_SERVICE_DISCOVERY
};
#define CMD_RELOAD_ORDER_COUNT \
	(sizeof cmd_reload_order / sizeof cmd_reload_order[0])

/* How many problems of a bad file the error message quotes. */
#define CMD_RELOAD_QUOTED_PROBLEMS	3

/* A reload in progress. */
struct cmd_reload_state {
	struct cmdq_item	*item;
	struct config		*config;	/* the new one */
	bool			 whole;		/* "reload", not one service */
	enum service_id		 planned[CMD_RELOAD_ORDER_COUNT];
	size_t			 planned_count;
	size_t			 next;
	struct service_reload	*reload;	/* the one under way */
	json_t			*reloaded;
	struct timespec		 started;
	char			*failure;	/* the first error replied */
};

static void	cmd_reload_next(struct cmd_reload_state *);

/*
 * The reload has ended, one way or another: tell systemd, and the journal
 * for "reload".  Called from the item's destructor, the one place that every
 * ending passes: success, error, timeout.
 */
static void
cmd_reload_end(struct cmd_reload_state *s)
{
	struct cmdq_item	*item = s->item;
	const char		*failure = NULL;
	char			*message;

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

/* Free the state (item data destructor); cancels a reload still running. */
static void
cmd_reload_state_free(void *arg)
{
	struct cmd_reload_state	*s = arg;

	if (s->reload != NULL)
		registry_reload_cancel(s->reload);
	cmd_reload_end(s);
	config_free(s->config);
	json_decref(s->reloaded);
	free(s->failure);
	free(s);
}

/* Reply with an error, and keep the first one for systemd's STATUS=. */
static void __attribute__((format(printf, 3, 4)))
cmd_reload_fail(struct cmd_reload_state *s, const char *code,
    const char *fmt, ...)
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
}

/* The journal entry of one service's reload, ended with OK or CAUSE. */
static void
cmd_reload_journal(struct service_slot *slot, bool ok, const char *cause)
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
cmd_reload_load(struct cmd_reload_state *s)
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
		cmd_reload_fail(s, HR_ERR_RELOAD_FAILED, "%s; nothing was "
		    "changed", message != NULL ? message : "invalid "
		    "configuration");
	}
	free(message);
	config_problems_clear(&problems);
	return (config);
}

/* One service's reload has ended. */
static void
cmd_reload_done_cb(void *arg, bool ok, const char *code, const char *cause,
    json_t *result)
{
	struct cmd_reload_state	*s = arg;
	struct cmdq_item	*item = s->item;
	struct service_slot	*slot = registry_slot(hr->registry,
				    s->planned[s->next]);
	const char		*name = slot->name;

	s->reload = NULL;
	cmd_reload_journal(slot, ok, cause);
	if (!ok) {
		if (s->whole && json_array_size(s->reloaded) > 0)
			cmd_reload_fail(s, code, "%s: %s (services already "
			    "replaced stay replaced; %s keeps its old "
			    "instance)", name, cause, name);
		else
			cmd_reload_fail(s, code, "%s: %s; generation "
			    "unchanged", name, cause);
		cmdq_item_done(item);
		return;
	}
	if (!s->whole) {
		cmdq_item_ok(item, json_incref(result));
		cmdq_item_done(item);
		return;
	}
	json_array_append_new(s->reloaded, json_string(name));
	s->next++;
	cmd_reload_next(s);
}

/* Start the next service's reload, or reply when all are done. */
static void
cmd_reload_next(struct cmd_reload_state *s)
{
	struct cmdq_item	*item = s->item;
	struct service_slot	*slot;
	json_t			*unchanged, *not_configured;
	const char		*code;
	char			*cause;
	size_t			 i, j;

	if (s->next < s->planned_count) {
		slot = registry_slot(hr->registry, s->planned[s->next]);
		s->reload = registry_reload(slot, s->config,
		    cmd_reload_done_cb, s, &code, &cause);
		if (s->reload == NULL) {
			cmd_reload_journal(slot, false, cause != NULL ? cause :
			    "cannot reload");
			cmd_reload_fail(s, code, "%s: %s", slot->name,
			    cause != NULL ? cause : "cannot reload");
			free(cause);
			cmdq_item_done(item);
		}
		return;
	}

	unchanged = json_array();
	not_configured = json_array();
	for (i = 0; i < CMD_RELOAD_ORDER_COUNT; i++) {
		slot = registry_slot(hr->registry, cmd_reload_order[i]);
		for (j = 0; j < s->planned_count; j++) {
			if (s->planned[j] == slot->id)
				break;
		}
		if (j < s->planned_count)
			continue;
		json_array_append_new(slot->current != NULL ? unchanged :
		    not_configured, json_string(slot->name));
	}
	cmdq_item_ok(item, json_pack("{s:O, s:o, s:o, s:I}",
	    "reloaded", s->reloaded,
	    "unchanged", unchanged,
	    "not_configured", not_configured,
	    "duration_ms", (json_int_t)(timespec_elapsed_s(&s->started) *
	    1e3)));
	cmdq_item_done(item);
}

/* Does SLOT need a new instance under CONFIG? */
static bool
cmd_reload_slot_changed(struct service_slot *slot, struct config *config)
{
	if (slot->ops == NULL)
		return (false);
	/*
	 * A running service whose section is gone keeps running: taking a
	 * service away is for a restart, and must not block the others.
	 */
	if (slot->current != NULL && !slot->ops->configured(config)) {
		log_warnx("%s: its section is gone from %s; it keeps running "
		    "until hotreloadd restarts", slot->name, config->path);
		return (false);
	}
	if (slot->ops->changed == NULL)
		return (config_section_changed(slot->current != NULL ?
		    slot->config : NULL, config, slot->name));
	return (slot->ops->changed(slot->current != NULL ? slot->config :
	    NULL, config));
}

/*
 * Apply the daemon-wide settings of CONFIG, which becomes the daemon's
 * configuration.  A new metrics listener is opened before anything changes,
 * so a failure leaves everything as it was.
 */
static int
cmd_reload_apply_daemon(struct config *config, char **cause)
{
	struct metrics_http	*metrics = hr->metrics_http;
	const char		*old_listen = hr->config->metrics.listen;
	const char		*new_listen = config->metrics.listen;
	bool			 metrics_changed;

	metrics_changed = (old_listen == NULL) != (new_listen == NULL) ||
	    (old_listen != NULL && strcmp(old_listen, new_listen) != 0);
	if (metrics_changed) {
		metrics = NULL;
		if (new_listen != NULL) {
			metrics = metrics_http_create(hr->base, config,
			    cause);
			if (metrics == NULL)
				return (-1);
		}
	}
	if (control_apply_config(hr->control, config, cause) == -1) {
		if (metrics_changed)
			metrics_http_free(metrics);
		return (-1);
	}
	if (metrics_changed) {
		metrics_http_free(hr->metrics_http);
		hr->metrics_http = metrics;
	} else if (metrics != NULL)
		metrics_http_apply_config(metrics, config);
	cmdq_set_limits(hr->cmdq, (size_t)config->control.queue_depth,
	    config->control.command_timeout_s);
	config_free(hr->config);
	hr->config = config_ref(config);
	return (0);
}

/* Common start of the three commands: state, and the new configuration. */
static struct cmd_reload_state *
cmd_reload_begin(struct cmdq_item *item, bool whole)
{
	struct cmd_reload_state	*s;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		cmdq_item_error(item, HR_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	s->item = item;
	s->whole = whole;
	s->reloaded = json_array();
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	item->data = s;
	item->data_free = cmd_reload_state_free;
	/* cmd_reload_state_free() sends the end. */
	notify_reload_begin();
	if ((s->config = cmd_reload_load(s)) == NULL)
		return (NULL);
	return (s);
}

/* "reload": settings, then every service whose configuration changed. */
static enum cmd_retval
cmd_reload_exec(struct cmdq_item *item)
{
	struct cmd_reload_state	*s;
	struct service_slot	*slot;
	char			*cause = NULL;
	size_t			 i;

	if ((s = cmd_reload_begin(item, true)) == NULL) {
		hr->config_reloads_failed++;
		return (CMD_RETURN_NORMAL);
	}
	if (cmd_reload_apply_daemon(s->config, &cause) == -1) {
		hr->config_reloads_failed++;
		cmd_reload_fail(s, HR_ERR_RELOAD_FAILED, "%s; nothing was "
		    "changed", cause != NULL ? cause : "cannot apply");
		free(cause);
		return (CMD_RETURN_NORMAL);
	}
	hr->config_reloads_ok++;
	for (i = 0; i < CMD_RELOAD_ORDER_COUNT; i++) {
		slot = registry_slot(hr->registry, cmd_reload_order[i]);
		if (cmd_reload_slot_changed(slot, s->config))
			s->planned[s->planned_count++] = slot->id;
	}
	cmd_reload_next(s);
	return (CMD_RETURN_WAIT);
}

/* "reload-llm" and "reload-hsp": replace one service. */
static enum cmd_retval
cmd_reload_one(struct cmdq_item *item, enum service_id id)
{
	struct cmd_reload_state	*s;

	if ((s = cmd_reload_begin(item, false)) == NULL)
		return (CMD_RETURN_NORMAL);
	s->planned[s->planned_count++] = id;
	cmd_reload_next(s);
	return (CMD_RETURN_WAIT);
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

/* Timed out: abandon the service reload under way, keep the old one. */
static void
cmd_reload_cancel(struct cmdq_item *item)
{
	struct cmd_reload_state	*s = item->data;

	if (s != NULL && s->reload != NULL) {
		cmd_reload_journal(registry_slot(hr->registry,
		    s->planned[s->next]), false, "cancelled: the command timed "
		    "out");
		registry_reload_cancel(s->reload);
		s->reload = NULL;
	}
	if (s != NULL && s->failure == NULL)
		s->failure = str_printf("%s did not finish within %d s "
		    "(control.command_timeout_s) and was cancelled",
		    item->cmd->name, item->queue->timeout_s);
}

const struct cmd_entry cmd_reload_entry = {
	.name = HR_CMD_RELOAD,
	.flags = CMD_STATE_CHANGING,
	.check = cmd_check_no_args,
	.exec = cmd_reload_exec,
	.cancel = cmd_reload_cancel,
};

const struct cmd_entry cmd_reload_llm_entry = {
	.name = HR_CMD_RELOAD_LLM,
	.flags = CMD_STATE_CHANGING,
	.check = cmd_check_no_args,
	.exec = cmd_reload_llm_exec,
	.cancel = cmd_reload_cancel,
};

const struct cmd_entry cmd_reload_hsp_entry = {
	.name = HR_CMD_RELOAD_HSP,
	.flags = CMD_STATE_CHANGING,
	.check = cmd_check_no_args,
	.exec = cmd_reload_hsp_exec,
	.cancel = cmd_reload_cancel,
};
