/*
 * cmd-rollback.c -- "rollback [llm|hsp]": go back to the configuration in
 * force before the last change (DESIGN.md 7.1).
 *
 * Without a service: the daemon's configuration before the last "reload"
 * that changed anything, through the same transaction as "reload" (the
 * settings and every service that differs).  With one: that service's
 * configuration before its last change.  The running state then comes
 * from memory, not from the file: status shows config.source "rollback"
 * and the digests of both; the next "reload" reads the file again.  A
 * second rollback goes forward again.  With dry_run or check it plans or
 * tries, as the reload commands do.
 */
#include <string.h>

#include "hotreloadd.h"
#include "cmd-reload.h"

/* The arguments: "service" (llm or hsp), and those of the reloads. */
static int
cmd_rollback_check(json_t *args, char **cause)
{
	json_t		*copy, *service;
	const char	*name;
	int		 rc;

	service = json_object_get(args, "service");
	if (service != NULL) {
		name = json_string_value(service);
		if (name == NULL || (strcmp(name, "llm") != 0 &&
		    strcmp(name, "hsp") != 0)) {
			*cause = strdup("service must be \"llm\" or \"hsp\"");
			return (-1);
		}
	}
	if ((copy = json_copy(args)) == NULL) {
		*cause = strdup("out of memory");
		return (-1);
	}
	json_object_del(copy, "service");
	rc = reload_check_args(copy, cause);
	json_decref(copy);
	return (rc);
}

static enum cmd_retval
cmd_rollback_exec(struct cmdq_item *item)
{
	struct reload_state	*s;
	struct service_slot	*slot = NULL;
	struct config		*previous;
	const char		*name;
	enum service_id		 id;

	name = json_string_value(json_object_get(item->args, "service"));
	if (name != NULL) {
		slot = registry_find_slot(hr->registry, name);
		id = slot->id;
		previous = slot->previous_config;
	} else
		previous = hr->previous_config;
	if (previous == NULL) {
		cmdq_item_error(item, HR_ERR_NOTHING_TO_ROLLBACK, "%s%s has not "
		    "changed since hotreloadd started; nothing to go back to",
		    name != NULL ? name : "the configuration",
		    name != NULL ? "'s configuration" : "");
		return (CMD_RETURN_NORMAL);
	}
	if ((s = reload_begin(item, slot == NULL, "rollback")) == NULL)
		return (CMD_RETURN_NORMAL);
	if (slot == NULL)
		return (reload_run(s, config_ref(previous), reload_order,
		    RELOAD_ORDER_COUNT));
	return (reload_run(s, config_ref(previous), &id, 1));
}

const struct cmd_entry cmd_rollback_entry = {
	.name = HR_CMD_ROLLBACK,
	.flags = CMD_STATE_CHANGING,
	.check = cmd_rollback_check,
	.exec = cmd_rollback_exec,
	.cancel = reload_cancel,
};
