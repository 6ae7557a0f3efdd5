/*
 * cmd-metrics.c -- "metrics": the Prometheus text exposition.
 */
#include <stdlib.h>

#include "hotreloadd.h"

/* Reply {"text":"..."} with the same text /metrics serves. */
static enum cmd_retval
cmd_metrics_exec(struct cmdq_item *item)
{
	char	*text = metrics_render();

	if (text == NULL) {
		cmdq_item_error(item, HR_ERR_INTERNAL, "out of memory");
		return (CMD_RETURN_NORMAL);
	}
	cmdq_item_ok(item, json_pack("{s:s}", "text", text));
	free(text);
	return (CMD_RETURN_NORMAL);
}

const struct cmd_entry cmd_metrics_entry = {
	.name = HR_CMD_METRICS,
	.check = cmd_check_no_args,
	.exec = cmd_metrics_exec,
};
