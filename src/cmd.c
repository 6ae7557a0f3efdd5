/*
 * cmd.c -- the command table: every control command, found by name or alias.
 *
 * Each command lives in its own cmd-*.c file and exports one struct
 * cmd_entry.  Read-only commands (no CMD_STATE_CHANGING flag) are answered at
 * once; the others go through the command queue (cmdq.c).
 */
#include <stdio.h>
#include <string.h>

#include "hotreloadd.h"

/*
 * How much of an unknown argument's name a cause quotes: enough to spot the
 * typo, while the cause stays a short line however long the name (a
 * request may be as long as control.max_request_bytes, up to 16 MiB).
 */
#define CMD_QUOTED_NAME_BYTES	80

extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_drain_entry;
extern const struct cmd_entry cmd_resume_entry;
extern const struct cmd_entry cmd_reload_entry;
extern const struct cmd_entry cmd_reload_llm_entry;
extern const struct cmd_entry cmd_reload_hsp_entry;
extern const struct cmd_entry cmd_version_entry;
extern const struct cmd_entry cmd_metrics_entry;
extern const struct cmd_entry cmd_history_entry;
extern const struct cmd_entry cmd_rollback_entry;
extern const struct cmd_entry cmd_agents_entry;
extern const struct cmd_entry cmd_watch_entry;

/* The commands a client may send. */
const struct cmd_entry *const cmd_table[] = {
	&cmd_status_entry,
	&cmd_drain_entry,
	&cmd_resume_entry,
	&cmd_reload_entry,
	&cmd_reload_llm_entry,
	&cmd_reload_hsp_entry,
	&cmd_version_entry,
	&cmd_metrics_entry,
	&cmd_history_entry,
	&cmd_rollback_entry,
	&cmd_agents_entry,
	&cmd_watch_entry,
	NULL
};

/* Find a client command by NAME or alias; NULL if there is none. */
const struct cmd_entry *
cmd_find(const char *name)
{
	const struct cmd_entry *const	*entry;

	for (entry = cmd_table; *entry != NULL; entry++) {
		if (strcmp((*entry)->name, name) == 0)
			return (*entry);
		if ((*entry)->alias != NULL &&
		    strcmp((*entry)->alias, name) == 0)
			return (*entry);
	}
	return (NULL);
}

/*
 * How many bytes of NAME (UTF-8, as jansson keeps every key) to quote: all
 * of it up to CMD_QUOTED_NAME_BYTES, else that many cut back to the start
 * of a character, so that the cause stays UTF-8 and jansson takes it into
 * the error reply.
 */
static int
cmd_quoted_length(const char *name)
{
	size_t	length = strnlen(name, CMD_QUOTED_NAME_BYTES + 1);

	if (length <= CMD_QUOTED_NAME_BYTES)
		return ((int)length);
	length = CMD_QUOTED_NAME_BYTES;
	while (length > 0 && ((unsigned char)name[length] & 0xc0) == 0x80)
		length--;
	return ((int)length);
}

/*
 * Check that ARGS has no member outside ALLOWED (NULL-terminated); a typo in
 * an argument must not be ignored silently.  The cause quotes the name, cut
 * if it is long.
 */
int
cmd_check_arg_names(json_t *args, const char *const *allowed, char **cause)
{
	const char		*key;
	const char *const	*name;
	json_t			*value;
	int			 quoted;

	json_object_foreach(args, key, value) {
		for (name = allowed; *name != NULL; name++) {
			if (strcmp(*name, key) == 0)
				break;
		}
		if (*name == NULL) {
			quoted = cmd_quoted_length(key);
			*cause = str_printf("unknown argument \"%.*s%s\"",
			    quoted, key, key[quoted] != '\0' ? "..." : "");
			return (-1);
		}
	}
	return (0);
}

/* For commands that take no arguments. */
int
cmd_check_no_args(json_t *args, char **cause)
{
	static const char *const none[] = { NULL };

	return (cmd_check_arg_names(args, none, cause));
}
