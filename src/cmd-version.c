/*
 * cmd-version.c -- "version": the daemon's version and protocol version.
 */
#include "hotreloadd.h"

/* Reply {"version":"X.Y.Z","protocol":1}. */
static enum cmd_retval
cmd_version_exec(struct cmdq_item *item)
{
	cmdq_item_ok(item, json_pack("{s:s, s:i}", "version",
	    HOTRELOAD_VERSION, "protocol", HR_PROTOCOL_VERSION));
	return (CMD_RETURN_NORMAL);
}

const struct cmd_entry cmd_version_entry = {
	.name = HR_CMD_VERSION,
	.check = cmd_check_no_args,
	.exec = cmd_version_exec,
};
