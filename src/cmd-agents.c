/*
 * cmd-agents.c -- "agents": what service discovery knows of the other
 * agents (DESIGN.md 7.4): per agent its ai_id, the age of its latest
 * advert and its capabilities (id, name, version, availability).  With
 * "capability", only the agents that offer one of that name or id.
 */
#include <string.h>

#include "hotreloadd.h"
#include "hsp.h"

/* "capability": a non-empty string. */
static int
cmd_agents_check(json_t *args, char **cause)
{
	static const char *const allowed[] = { "capability", NULL };
	json_t			*capability;

	if (cmd_check_arg_names(args, allowed, cause) == -1)
		return (-1);
	capability = json_object_get(args, "capability");
	if (capability != NULL && (!json_is_string(capability) ||
	    json_string_length(capability) == 0)) {
		*cause = strdup("capability must be a non-empty string");
		return (-1);
	}
	return (0);
}

static enum cmd_retval
cmd_agents_exec(struct cmdq_item *item)
{
	cmdq_item_ok(item, discovery_agents(json_string_value(
	    json_object_get(item->args, "capability"))));
	return (CMD_RETURN_NORMAL);
}

const struct cmd_entry cmd_agents_entry = {
	.name = HR_CMD_AGENTS,
	.check = cmd_agents_check,
	.exec = cmd_agents_exec,
};
