/*
 * cmd-reload.h -- shared by the reload commands (cmd-reload.c, rollback)
 * and their plan (cmd-reload-plan.c).
 */
#ifndef HOTRELOAD_CMD_RELOAD_H
#define HOTRELOAD_CMD_RELOAD_H

#include "hotreloadd.h"

/* Every service, in the order a reload swaps them. */
#define RELOAD_ORDER_COUNT	SERVICE_COUNT
extern const enum service_id reload_order[RELOAD_ORDER_COUNT];

/* What a reload command does (its arguments dry_run and check). */
enum reload_mode {
	RELOAD_APPLY,
	RELOAD_CHECK,		/* build and connect, then discard */
	RELOAD_DRY_RUN,		/* the plan only */
};

struct reload_state;

struct reload_state *reload_begin(struct cmdq_item *, bool whole,
		    const char *source);
enum cmd_retval	 reload_run(struct reload_state *, struct config *,
		    const enum service_id *ids, size_t count);
void		 reload_cancel(struct cmdq_item *);
enum reload_mode reload_mode_of(json_t *args);
int		 reload_check_args(json_t *args, char **cause);

json_t		*reload_plan(struct config *, const enum service_id *ids,
		    size_t count, bool whole, enum service_id *parts,
		    size_t *parts_count);
bool		 reload_slot_changed(struct service_slot *, struct config *);

#endif /* HOTRELOAD_CMD_RELOAD_H */
