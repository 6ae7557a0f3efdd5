/*
 * dispatcher.c -- the ToolDispatcher: which tool answers a TaskRequest.
 *
 * A request names a tool by capability id ("<ai_id>:echo_v1") in
 * capability_id_filter or by name ("echo") in capability_name_filter; with
 * neither, the default tool answers (dialogue when the LLM service is there,
 * otherwise echo).  Nothing matching is a failure with error code
 * no_capability.  Each available tool is advertised to the network.
 */
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "llm.h"
#include "log.h"

static char		*dispatcher_ai_id;
static uint64_t		 dispatcher_completed;
static uint64_t		 dispatcher_failed;
static uint64_t		 dispatcher_rejected;
static unsigned int	 dispatcher_running;

/*
 * echo: the request's parameters come back as the result payload, as the
 * requester wrote them (checked JSON text; no tree is built).
 */
static void
tool_echo_exec(struct hsp_task *task)
{
	task_finish_text(task, "success", task->parameters_text,
	    task->parameters_length);
}

static const struct tool echo_tool = {
	.suffix = "echo_v1",
	.name = "echo",
	.description = "Returns the request's parameters as the result "
	    "payload.",
	.version = "1.0",
	.exec = tool_echo_exec,
};

/*
 * The tool table: the tools other modules registered (the dialogue tool,
 * by main.c), in that order, then echo, which is always there.  A request
 * without a filter goes to the first available one: dialogue when the LLM
 * service is there, otherwise echo.
 */
#define DISPATCHER_TOOLS_MAX	8
static const struct tool *dispatcher_tools[DISPATCHER_TOOLS_MAX] = {
	&echo_tool
};
static size_t		 dispatcher_tools_count = 1;
#define DISPATCHER_TOOLS_COUNT	dispatcher_tools_count

/*
 * Offer TOOL to requests, before the built-in echo (the modules that own
 * tools register them at start; the dispatcher knows none of them).
 * Registering a tool twice changes nothing.  0, or -1 when the table is
 * full.
 */
int
dispatcher_register(const struct tool *tool)
{
	size_t	i;

	for (i = 0; i < dispatcher_tools_count; i++) {
		if (dispatcher_tools[i] == tool)
			return (0);
	}
	if (dispatcher_tools_count == DISPATCHER_TOOLS_MAX)
		return (-1);
	/* Echo stays last: the fallback when nothing else is available. */
	dispatcher_tools[dispatcher_tools_count] =
	    dispatcher_tools[dispatcher_tools_count - 1];
	dispatcher_tools[dispatcher_tools_count - 1] = tool;
	dispatcher_tools_count++;
	return (0);
}

/* Remember our agent id (capability ids are built from it). */
int
dispatcher_init(const char *ai_id)
{
	char	*copy = strdup(ai_id);

	if (copy == NULL)
		return (-1);
	free(dispatcher_ai_id);
	dispatcher_ai_id = copy;
	return (0);
}

/* Forget everything (exit). */
void
dispatcher_free(void)
{
	free(dispatcher_ai_id);
	dispatcher_ai_id = NULL;
}

/* Is TOOL usable now (with the services in REG)? */
static bool
dispatcher_available(struct registry *reg, const struct tool *tool)
{
	return (tool->available == NULL || tool->available(reg));
}

/* The capability id of TOOL for agent AI_ID. */
static char *
dispatcher_capability_id(const struct tool *tool, const char *ai_id)
{
	return (str_printf("%s:%s", ai_id, tool->suffix));
}

/*
 * Find the tool for a TaskRequest by its capability_id_filter BY_ID and
 * capability_name_filter BY_NAME (NULL: not given).  NULL with CODE and WHY
 * (to free) when nothing matches.
 */
const struct tool *
dispatcher_find(struct registry *reg, const char *by_id, const char *by_name,
    const char **code, char **why)
{
	const struct tool	*tool;
	char			*id;
	size_t			 i;
	bool			 match;

	for (i = 0; i < DISPATCHER_TOOLS_COUNT; i++) {
		tool = dispatcher_tools[i];
		if (!dispatcher_available(reg, tool))
			continue;
		if (by_id == NULL && by_name == NULL)
			return (tool);
		match = true;
		if (by_id != NULL) {
			id = dispatcher_capability_id(tool, dispatcher_ai_id);
			match = id != NULL && strcmp(id, by_id) == 0;
			free(id);
		}
		if (match && by_name != NULL)
			match = strcmp(tool->name, by_name) == 0;
		if (match)
			return (tool);
	}
	*code = "no_capability";
	if (by_id != NULL && by_name != NULL)
		*why = str_printf("no capability with id \"%.80s\" and name "
		    "\"%.80s\"", by_id, by_name);
	else if (by_id != NULL)
		*why = str_printf("no capability with id \"%.80s\"", by_id);
	else if (by_name != NULL)
		*why = str_printf("no capability named \"%.80s\"", by_name);
	else
		*why = strdup("no capability available");
	return (NULL);
}

/* Run TASK's tool. */
void
dispatcher_run(struct hsp_task *task)
{
	dispatcher_running++;
	task->tool->exec(task);
}

/*
 * A task has an outcome: count it and hand it to the task's owner (the
 * router, which sends the result).  Takes PAYLOAD.
 */
void
task_finish(struct hsp_task *task, const char *status, json_t *payload,
    const char *error_code, const char *error_message)
{
	if (task->tool != NULL && dispatcher_running > 0)
		dispatcher_running--;
	if (strcmp(status, "success") == 0)
		dispatcher_completed++;
	else if (strcmp(status, "rejected") == 0)
		dispatcher_rejected++;
	else
		dispatcher_failed++;
	task->done(task, status, payload, error_code, error_message);
}

/*
 * A task has an outcome whose payload is the JSON text PAYLOAD of LENGTH
 * bytes (borrowed until the task is done): what echo answers, without a
 * tree.
 */
void
task_finish_text(struct hsp_task *task, const char *status,
    const char *payload, size_t length)
{
	task->result_text = payload;
	task->result_length = length;
	task_finish(task, status, NULL, NULL, NULL);
}

/*
 * TASK's parameters as a jansson object, read from their text the first
 * time a tool asks (echo never does); NULL when memory runs out.
 */
json_t *
task_parameters(struct hsp_task *task)
{
	if (task->parameters == NULL)
		task->parameters = json_loadb(task->parameters_text,
		    task->parameters_length, 0, NULL);
	return (task->parameters);
}

/*
 * The CapabilityAdvertisement payloads of the tools for agent AI_ID (a new
 * connector advertises under its own id before the swap) with availability
 * STATUS ("online", "maintenance", "offline"): those available now, or
 * with ALL every tool (to say that all are offline).
 */
json_t *
dispatcher_adverts(struct registry *reg, const char *ai_id,
    const char *status, bool all)
{
	const struct tool	*tool;
	json_t			*adverts = json_array();
	char			*id;
	size_t			 i;

	for (i = 0; i < DISPATCHER_TOOLS_COUNT; i++) {
		tool = dispatcher_tools[i];
		if ((!all && !dispatcher_available(reg, tool)) ||
		    (id = dispatcher_capability_id(tool, ai_id)) == NULL)
			continue;
		json_array_append_new(adverts, json_pack("{s:s, s:s, s:s, "
		    "s:s, s:s, s:s, s:[s]}",
		    "capability_id", id,
		    "ai_id", ai_id,
		    "name", tool->name,
		    "description", tool->description,
		    "version", tool->version,
		    "availability_status", status,
		    "tags", "hotreloadd"));
		free(id);
	}
	return (adverts);
}

/* Status details of the tool_dispatcher slot. */
json_t *
dispatcher_status(struct registry *reg)
{
	json_t	*tools = json_array();
	size_t	 i;

	for (i = 0; i < DISPATCHER_TOOLS_COUNT; i++) {
		if (dispatcher_available(reg, dispatcher_tools[i]))
			json_array_append_new(tools,
			    json_string(dispatcher_tools[i]->name));
	}
	return (json_pack("{s:o, s:I, s:I, s:I, s:I}",
	    "tools", tools,
	    "in_flight", (json_int_t)dispatcher_running,
	    "completed", (json_int_t)dispatcher_completed,
	    "failed", (json_int_t)dispatcher_failed,
	    "rejected", (json_int_t)dispatcher_rejected));
}

/* The ToolDispatcher slot ------------------------------------------------ */

/*
 * It has no connection of its own: it exists when hsp is configured and is
 * rewired, not rebuilt, on a swap.
 */
static struct service_instance *
tool_dispatcher_create(__attribute__((unused)) struct registry *reg,
    const struct config *config, char **cause)
{
	return (service_passive_create(&tool_dispatcher_service_ops,
	    config->hsp != NULL, cause));
}

/* Its status: the tools and their counters. */
static json_t *
tool_dispatcher_status(struct service_instance *inst)
{
	return (dispatcher_status(inst->slot->registry));
}

/* Started once with hsp; never rebuilt by a reload. */
static bool
tool_dispatcher_changed(const struct config *old, const struct config *new)
{
	return (old == NULL && new->hsp != NULL);
}

/* It exists with the HSP connector. */
static bool
tool_dispatcher_configured(const struct config *config)
{
	return (config->hsp != NULL);
}

const struct service_ops tool_dispatcher_service_ops = {
	.name = "tool_dispatcher",
	.create = tool_dispatcher_create,
	.start = service_passive_start,
	.retire = service_passive_retire,
	.destroy = service_passive_destroy,
	.status = tool_dispatcher_status,
	.configured = tool_dispatcher_configured,
	.changed = tool_dispatcher_changed,
};
