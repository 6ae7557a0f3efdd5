/*
 * cmd-resume.c -- "resume" (alias "undrain"): take new work again.
 */
#include "hotreloadd.h"
#include "hsp.h"
#include "log.h"
#include "notify.h"

/* Clear the drain flag; new work is accepted from now on. */
static enum cmd_retval
cmd_resume_exec(struct cmdq_item *item)
{
	if (hr->registry->draining) {
		log_info("resumed: taking new work");
		hr->registry->draining = false;
		router_readvertise();
		notify_status();
	}
	cmdq_item_ok(item, json_pack("{s:b}", "draining", 0));
	return (CMD_RETURN_NORMAL);
}

const struct cmd_entry cmd_resume_entry = {
	.name = HR_CMD_RESUME,
	.alias = HR_CMD_UNDRAIN,
	.flags = CMD_STATE_CHANGING,
	.check = cmd_check_no_args,
	.exec = cmd_resume_exec,
};
