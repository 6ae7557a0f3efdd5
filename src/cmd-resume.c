/*
 * cmd-resume.c -- "resume" (alias "undrain"): take new work again.
 */
#include "hotreloadd.h"
#include "hsp.h"
#include "log.h"
#include "notify.h"

/* The share group is joined again (SUBACK). */
static void
cmd_resume_joined_cb(void *arg, bool ok, const char *why)
{
	struct cmdq_item	*item = arg;

	if (ok)
		cmdq_item_ok(item, json_pack("{s:b}", "draining", 0));
	else
		cmdq_item_error(item, HR_ERR_INTERNAL, "resumed, but could not "
		    "join the share group again: %s", why);
	cmdq_item_done(item);
}

/*
 * Clear the drain flag; new work is accepted from now on.  A pool member
 * joins its share group again and answers once the broker confirmed it.
 */
static enum cmd_retval
cmd_resume_exec(struct cmdq_item *item)
{
	if (hr->registry->draining) {
		log_info("resumed: taking new work");
		hr->registry->draining = false;
		hr->draining_since = 0;
		watch_event(json_pack("{s:s, s:b, s:I}", "type", "drain",
		    "draining", 0, "in_flight",
		    (json_int_t)registry_in_flight(hr->registry)));
		router_readvertise();
		notify_status();
	}
	if (registry_drain(hr->registry, false, cmd_resume_joined_cb,
	    item) == 0)
		return (CMD_RETURN_WAIT);
	cmdq_item_ok(item, json_pack("{s:b}", "draining", 0));
	return (CMD_RETURN_NORMAL);
}

/* Timed out waiting for the SUBACK: forget the callback. */
static void
cmd_resume_cancel(__attribute__((unused)) struct cmdq_item *item)
{
	registry_drain_cancel(hr->registry);
}

const struct cmd_entry cmd_resume_entry = {
	.name = HR_CMD_RESUME,
	.alias = HR_CMD_UNDRAIN,
	.flags = CMD_STATE_CHANGING,
	.check = cmd_check_no_args,
	.exec = cmd_resume_exec,
	.cancel = cmd_resume_cancel,
};
