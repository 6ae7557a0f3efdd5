/*
 * fuzz_cmd.c -- libFuzzer harness of the command table (src/cmd.c) and of
 * the argument check of every command (src/cmd-*.c).
 *
 * The input is one request line, as a client writes it.  It goes through
 * proto_parse_request() and then, as control_client_handle() does, through
 * cmd_find() on its "cmd" and the found command's check on its "args"; an
 * unknown name is answered unknown_command.  So that every check sees every
 * argument object whatever name the input spells, the args then go through
 * the check of each command of the table as well.  An input that is not a
 * valid request but is a JSON object is taken as args alone, for every
 * command, so that mutations of bare args reach the checks too.
 *
 * Besides crashes and leaks, it checks the contract of a check: it returns 0
 * or -1; on 0 it leaves the message alone; on -1 it hands back a message
 * that is not empty, is UTF-8, is a short sentence whatever the size of the
 * request, and reaches the client unchanged in one error reply line; the
 * same args get the same answer; the args are not changed.  And a check
 * accepts exactly what its command's exec can use: fuzz_cmd_expected[]
 * below is written from each exec and the documented arguments, not from
 * the check, so a check that let a drain timeout of -1 through fails here
 * although nothing crashes.
 *
 * A check runs before its command is queued and must not touch the daemon:
 * hr stays NULL, and the functions only an exec calls are stubs that abort.
 * cmd-shutdown.c is not linked: its entry is not in the table and has no
 * check.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "log.h"
#include "notify.h"
#include "fuzz.h"

/*
 * The longest cause a check may give.  It is a sentence for an operator; it
 * may quote a short excerpt of the request (80 bytes, as dispatcher.c
 * quotes names) but must not grow with it: a request may be as long as
 * control.max_request_bytes, up to 16 MiB.
 */
#define FUZZ_CMD_MAX_MESSAGE	256

struct daemon	*hr;		/* NULL: a check must not need the daemon */

/* What a command's exec can use; decides without calling the check. */
struct fuzz_cmd_expect {
	const char	*name;
	bool		(*usable)(json_t *args);
};

/* Commands whose exec reads no argument take none. */
static bool
fuzz_cmd_usable_none(json_t *args)
{
	return (json_object_size(args) == 0);
}

/*
 * drain: "wait" is true or false (cmd_drain_continue() tests json_is_true);
 * "timeout_s" is a number of seconds that cmd_drain_poll_cb() compares with
 * the elapsed time and json_pack("f") sends in progress lines, so finite,
 * not negative, and at most a day as drain(1) documents.
 */
static bool
fuzz_cmd_usable_drain(json_t *args)
{
	const char	*key;
	json_t		*value;
	double		 seconds;

	json_object_foreach(args, key, value) {
		if (strcmp(key, "wait") == 0) {
			if (!json_is_boolean(value))
				return (false);
		} else if (strcmp(key, "timeout_s") == 0) {
			if (!json_is_number(value))
				return (false);
			seconds = json_number_value(value);
			if (!isfinite(seconds) || seconds < 0 ||
			    seconds > 86400)
				return (false);
		} else
			return (false);
	}
	return (true);
}

/*
 * The reloads: "dry_run" and "check" are booleans (reload_mode_of() tests
 * json_is_true), not both true; rollback also takes "service", llm or hsp
 * (registry_find_slot() must find it).
 */
static bool
fuzz_cmd_usable_reload_args(json_t *args, bool rollback)
{
	const char	*key;
	json_t		*value;

	json_object_foreach(args, key, value) {
		if (strcmp(key, "dry_run") == 0 || strcmp(key, "check") == 0) {
			if (!json_is_boolean(value))
				return (false);
		} else if (rollback && strcmp(key, "service") == 0) {
			if (!json_is_string(value) ||
			    (strcmp(json_string_value(value), "llm") != 0 &&
			    strcmp(json_string_value(value), "hsp") != 0))
				return (false);
		} else
			return (false);
	}
	return (!(json_is_true(json_object_get(args, "dry_run")) &&
	    json_is_true(json_object_get(args, "check"))));
}

static bool
fuzz_cmd_usable_reload(json_t *args)
{
	return (fuzz_cmd_usable_reload_args(args, false));
}

static bool
fuzz_cmd_usable_rollback(json_t *args)
{
	return (fuzz_cmd_usable_reload_args(args, true));
}

/* history: "limit" an integer of 1 or more (a count of entries). */
static bool
fuzz_cmd_usable_history(json_t *args)
{
	json_t	*limit = json_object_get(args, "limit");

	if (json_object_size(args) != (limit != NULL ? 1 : 0))
		return (false);
	return (limit == NULL || (json_is_integer(limit) &&
	    json_integer_value(limit) >= 1));
}

/* agents: "capability" a non-empty string (discovery compares it). */
static bool
fuzz_cmd_usable_agents(json_t *args)
{
	json_t	*capability = json_object_get(args, "capability");

	if (json_object_size(args) != (capability != NULL ? 1 : 0))
		return (false);
	return (capability == NULL || (json_is_string(capability) &&
	    json_string_length(capability) > 0));
}

/* watch: "services" an array of service names (watch_service_bit). */
static bool
fuzz_cmd_usable_watch(json_t *args)
{
	static const char *const names[] = { "llm", "hsp", "tool_dispatcher",
	    "dialogue_manager", "service_discovery", NULL };
	json_t	*services = json_object_get(args, "services"), *name;
	size_t	 i, j;

	if (json_object_size(args) != (services != NULL ? 1 : 0))
		return (false);
	if (services == NULL)
		return (true);
	if (!json_is_array(services))
		return (false);
	json_array_foreach(services, i, name) {
		for (j = 0; names[j] != NULL; j++) {
			if (json_is_string(name) && strcmp(
			    json_string_value(name), names[j]) == 0)
				break;
		}
		if (names[j] == NULL)
			return (false);
	}
	return (true);
}

/* Every command of the table; a new one must be added here. */
static const struct fuzz_cmd_expect fuzz_cmd_expected[] = {
	{ HR_CMD_STATUS, fuzz_cmd_usable_none },
	{ HR_CMD_DRAIN, fuzz_cmd_usable_drain },
	{ HR_CMD_RESUME, fuzz_cmd_usable_none },
	{ HR_CMD_RELOAD, fuzz_cmd_usable_reload },
	{ HR_CMD_RELOAD_LLM, fuzz_cmd_usable_reload },
	{ HR_CMD_RELOAD_HSP, fuzz_cmd_usable_reload },
	{ HR_CMD_VERSION, fuzz_cmd_usable_none },
	{ HR_CMD_METRICS, fuzz_cmd_usable_none },
	{ HR_CMD_HISTORY, fuzz_cmd_usable_history },
	{ HR_CMD_ROLLBACK, fuzz_cmd_usable_rollback },
	{ HR_CMD_AGENTS, fuzz_cmd_usable_agents },
	{ HR_CMD_WATCH, fuzz_cmd_usable_watch },
};
#define FUZZ_CMD_EXPECTED_COUNT \
	(sizeof fuzz_cmd_expected / sizeof fuzz_cmd_expected[0])

/* The expectation of the table entry named NAME; NULL if there is none. */
static const struct fuzz_cmd_expect *
fuzz_cmd_expect_find(const char *name)
{
	size_t	i;

	for (i = 0; i < FUZZ_CMD_EXPECTED_COUNT; i++) {
		if (strcmp(fuzz_cmd_expected[i].name, name) == 0)
			return (&fuzz_cmd_expected[i]);
	}
	return (NULL);
}

/*
 * An error reply carrying MESSAGE for request ID (NULL: none), built and
 * encoded as control_client_error() does: one line, that gives the client
 * MESSAGE back byte for byte (proto_reply_error() would put '?' for bytes
 * that are not UTF-8).
 */
static void
fuzz_cmd_reply(json_t *id, const char *code, const char *message)
{
	json_error_t	 error;
	json_t		*line, *back;
	const char	*text_back;
	char		*text;
	size_t		 length;

	line = proto_reply_error(id, code, message);
	FUZZ_CHECK(line != NULL);
	text = proto_encode_line(line, &length);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(length > 0 && text[length - 1] == '\n');
	FUZZ_CHECK(memchr(text, '\n', length - 1) == NULL);
	back = json_loadb(text, length - 1, 0, &error);
	FUZZ_CHECK(back != NULL);
	text_back = json_string_value(json_object_get(json_object_get(back,
	    HR_FIELD_ERROR), "message"));
	FUZZ_CHECK(text_back != NULL && strcmp(text_back, message) == 0);
	json_decref(back);
	free(text);
	json_decref(line);
}

/* The cause a check gave: short, UTF-8, one reply line. */
static void
fuzz_cmd_cause(json_t *id, const char *message)
{
	size_t	length;

	length = strlen(message);
	FUZZ_CHECK(length > 0);
	FUZZ_CHECK(length <= FUZZ_CMD_MAX_MESSAGE);
	FUZZ_CHECK(str_utf8_valid(message));
	fuzz_cmd_reply(id, HR_ERR_BAD_REQUEST, message);
}

/* Run the check of ENTRY on ARGS (of request ID) twice; check its answer. */
static void
fuzz_cmd_check(const struct cmd_entry *entry, json_t *args, json_t *id)
{
	static char			 untouched;
	const struct fuzz_cmd_expect	*expect;
	char				*message = &untouched;
	char				*again = &untouched;
	json_t				*before;
	int				 rc;

	expect = fuzz_cmd_expect_find(entry->name);
	FUZZ_CHECK(expect != NULL);
	if (entry->check == NULL) {
		/* No check: the exec must cope with anything. */
		FUZZ_CHECK(expect->usable(args));
		return;
	}
	before = json_deep_copy(args);
	FUZZ_CHECK(before != NULL);
	rc = entry->check(args, &message);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(json_equal(args, before));
	FUZZ_CHECK(entry->check(args, &again) == rc);
	FUZZ_CHECK(json_equal(args, before));
	json_decref(before);

	if (rc == 0) {
		FUZZ_CHECK(message == &untouched && again == &untouched);
		FUZZ_CHECK(expect->usable(args));
		return;
	}
	FUZZ_CHECK(message != &untouched && message != NULL);
	FUZZ_CHECK(again != &untouched && again != NULL);
	FUZZ_CHECK(strcmp(message, again) == 0);
	FUZZ_CHECK(!expect->usable(args));
	fuzz_cmd_cause(id, message);
	free(message);
	free(again);
}

/* ARGS through the check of every command of the table. */
static void
fuzz_cmd_check_all(json_t *args, json_t *id)
{
	const struct cmd_entry *const	*entry;

	FUZZ_CHECK(json_is_object(args));
	for (entry = cmd_table; *entry != NULL; entry++)
		fuzz_cmd_check(*entry, args, id);
}

/* What control_client_handle() does with a parsed request, up to queueing. */
static void
fuzz_cmd_request(struct proto_request *req)
{
	const struct cmd_entry *const	*entry;
	const struct cmd_entry		*cmd;
	char				*message;

	cmd = cmd_find(req->cmd);
	if (cmd == NULL) {
		/* Neither a name nor an alias of the table. */
		for (entry = cmd_table; *entry != NULL; entry++) {
			FUZZ_CHECK(strcmp((*entry)->name, req->cmd) != 0);
			FUZZ_CHECK((*entry)->alias == NULL ||
			    strcmp((*entry)->alias, req->cmd) != 0);
		}
		/* control.c's answer, quoting the name whole. */
		message = str_printf("unknown command \"%s\"", req->cmd);
		FUZZ_CHECK(message != NULL);
		fuzz_cmd_reply(req->id, HR_ERR_UNKNOWN_COMMAND, message);
		free(message);
		return;
	}
	FUZZ_CHECK(strcmp(cmd->name, req->cmd) == 0 ||
	    (cmd->alias != NULL && strcmp(cmd->alias, req->cmd) == 0));
	fuzz_cmd_check(cmd, req->args, req->id);
}

/*
 * Before any input: every command of the table has an expectation, and
 * cmd_find() finds it by its name and by its alias.
 */
int
LLVMFuzzerInitialize(__attribute__((unused)) int *argc,
    __attribute__((unused)) char ***argv)
{
	const struct cmd_entry *const	*entry;
	size_t				 count = 0;

	for (entry = cmd_table; *entry != NULL; entry++) {
		if (fuzz_cmd_expect_find((*entry)->name) == NULL) {
			fprintf(stderr, "fuzz_cmd: command \"%s\" is not in "
			    "fuzz_cmd_expected[]\n", (*entry)->name);
			abort();
		}
		FUZZ_CHECK(cmd_find((*entry)->name) == *entry);
		FUZZ_CHECK((*entry)->alias == NULL ||
		    cmd_find((*entry)->alias) == *entry);
		count++;
	}
	FUZZ_CHECK(count == FUZZ_CMD_EXPECTED_COUNT);
	return (0);
}

/* One request line, or bare args; see the top of the file. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_request	 req;
	json_error_t		 error;
	const char		*code = NULL;
	char			*line, *message = NULL;
	json_t			*id = NULL, *args;

	/* A line as proto_next_line() hands it over: NUL-terminated. */
	if ((line = malloc(size + 1)) == NULL)
		return (0);
	memcpy(line, data, size);
	line[size] = '\0';

	if (proto_parse_request(line, size, &req, &id, &code,
	    &message) == 0) {
		fuzz_cmd_request(&req);
		fuzz_cmd_check_all(req.args, req.id);
		proto_request_clear(&req);
	} else {
		FUZZ_CHECK(code != NULL && message != NULL);
		json_decref(id);
		free(message);
		args = json_loadb(line, size, JSON_REJECT_DUPLICATES, &error);
		if (json_is_object(args))
			fuzz_cmd_check_all(args, NULL);
		json_decref(args);
	}
	free(line);
	return (0);
}

/*
 * The daemon that the exec functions of src/cmd-*.c call, and that no check
 * may: each stub fails the input.
 */
static __attribute__((noreturn)) void
fuzz_cmd_unreachable(const char *function)
{
	fprintf(stderr, "fuzz_cmd: %s() called: a check ran the daemon\n",
	    function);
	abort();
}

void
cmdq_item_done(__attribute__((unused)) struct cmdq_item *item)
{
	fuzz_cmd_unreachable(__func__);
}

void
cmdq_item_error(__attribute__((unused)) struct cmdq_item *item,
    __attribute__((unused)) const char *code,
    __attribute__((unused)) const char *fmt, ...)
{
	fuzz_cmd_unreachable(__func__);
}

void
cmdq_item_ok(__attribute__((unused)) struct cmdq_item *item,
    __attribute__((unused)) json_t *result)
{
	fuzz_cmd_unreachable(__func__);
}

void
cmdq_item_progress(__attribute__((unused)) struct cmdq_item *item,
    __attribute__((unused)) json_t *progress)
{
	fuzz_cmd_unreachable(__func__);
}

void
cmdq_item_event(__attribute__((unused)) struct cmdq_item *item,
    __attribute__((unused)) json_t *event)
{
	fuzz_cmd_unreachable(__func__);
}

double
cmdq_item_running_s(__attribute__((unused)) struct cmdq_item *item)
{
	fuzz_cmd_unreachable(__func__);
}

void
cmdq_item_unlock(__attribute__((unused)) struct cmdq_item *item)
{
	fuzz_cmd_unreachable(__func__);
}

void
cmdq_set_limits(__attribute__((unused)) struct cmdq *q,
    __attribute__((unused)) size_t depth,
    __attribute__((unused)) int timeout_s)
{
	fuzz_cmd_unreachable(__func__);
}

struct config *
config_load(__attribute__((unused)) const char *path,
    __attribute__((unused)) struct config_problems *problems)
{
	fuzz_cmd_unreachable(__func__);
}

struct config *
config_ref(__attribute__((unused)) struct config *config)
{
	fuzz_cmd_unreachable(__func__);
}

void
config_free(__attribute__((unused)) struct config *config)
{
	fuzz_cmd_unreachable(__func__);
}

void
config_problems_clear(__attribute__((unused)) struct config_problems *problems)
{
	fuzz_cmd_unreachable(__func__);
}

bool
config_section_changed(__attribute__((unused)) const struct config *old,
    __attribute__((unused)) const struct config *new,
    __attribute__((unused)) const char *section)
{
	fuzz_cmd_unreachable(__func__);
}

int
control_apply_config(__attribute__((unused)) struct control *control,
    __attribute__((unused)) const struct config *config,
    __attribute__((unused)) char **cause)
{
	fuzz_cmd_unreachable(__func__);
}

unsigned int
control_client_count(__attribute__((unused)) struct control *control)
{
	fuzz_cmd_unreachable(__func__);
}

uint64_t
control_refused_count(__attribute__((unused)) struct control *control)
{
	fuzz_cmd_unreachable(__func__);
}

json_t *
control_clients_status(__attribute__((unused)) struct control *control)
{
	fuzz_cmd_unreachable(__func__);
}

double
daemon_uptime_s(void)
{
	fuzz_cmd_unreachable(__func__);
}

int
registry_drain(__attribute__((unused)) struct registry *registry,
    __attribute__((unused)) bool draining,
    __attribute__((unused)) service_drained_cb done,
    __attribute__((unused)) void *arg)
{
	fuzz_cmd_unreachable(__func__);
}

void
registry_drain_cancel(__attribute__((unused)) struct registry *registry)
{
	fuzz_cmd_unreachable(__func__);
}

void
log_info(__attribute__((unused)) const char *fmt, ...)
{
	fuzz_cmd_unreachable(__func__);
}

void
log_warnx(__attribute__((unused)) const char *fmt, ...)
{
	fuzz_cmd_unreachable(__func__);
}

void
log_debug(__attribute__((unused)) const char *fmt, ...)
{
	fuzz_cmd_unreachable(__func__);
}

struct metrics_http *
metrics_http_create(__attribute__((unused)) struct event_base *base,
    __attribute__((unused)) const struct config *config,
    __attribute__((unused)) char **cause)
{
	fuzz_cmd_unreachable(__func__);
}

void
metrics_http_apply_config(__attribute__((unused)) struct metrics_http *m,
    __attribute__((unused)) const struct config *config)
{
	fuzz_cmd_unreachable(__func__);
}

void
metrics_http_free(__attribute__((unused)) struct metrics_http *metrics)
{
	fuzz_cmd_unreachable(__func__);
}

char *
metrics_render(void)
{
	fuzz_cmd_unreachable(__func__);
}

void
notify_journal_reload(__attribute__((unused)) const char *service,
    __attribute__((unused)) uint64_t generation,
    __attribute__((unused)) bool ok,
    __attribute__((unused)) const char *message)
{
	fuzz_cmd_unreachable(__func__);
}

void
notify_reload_begin(void)
{
	fuzz_cmd_unreachable(__func__);
}

void
notify_reload_end(__attribute__((unused)) const char *failure)
{
	fuzz_cmd_unreachable(__func__);
}

void
notify_status(void)
{
	fuzz_cmd_unreachable(__func__);
}

unsigned int
registry_in_flight(__attribute__((unused)) struct registry *registry)
{
	fuzz_cmd_unreachable(__func__);
}

struct service_reload *
registry_prepare(__attribute__((unused)) struct service_slot *slot,
    __attribute__((unused)) struct config *config,
    __attribute__((unused)) bool check,
    __attribute__((unused)) registry_reload_cb cb,
    __attribute__((unused)) void *arg,
    __attribute__((unused)) const char **code,
    __attribute__((unused)) char **cause)
{
	fuzz_cmd_unreachable(__func__);
}

json_t *
registry_commit(__attribute__((unused)) struct service_reload *reload)
{
	fuzz_cmd_unreachable(__func__);
}

void
registry_reload_abandon(__attribute__((unused)) struct service_reload *r,
    __attribute__((unused)) const char *why)
{
	fuzz_cmd_unreachable(__func__);
}

struct service_slot *
registry_find_slot(__attribute__((unused)) struct registry *registry,
    __attribute__((unused)) const char *name)
{
	fuzz_cmd_unreachable(__func__);
}

int
digest_path(__attribute__((unused)) const char *path,
    __attribute__((unused)) char hex[DIGEST_HEX_SIZE],
    __attribute__((unused)) char **cause)
{
	fuzz_cmd_unreachable(__func__);
}

struct service_slot *
registry_slot(__attribute__((unused)) struct registry *registry,
    __attribute__((unused)) enum service_id id)
{
	fuzz_cmd_unreachable(__func__);
}

json_t *
registry_slot_status(__attribute__((unused)) struct service_slot *slot)
{
	fuzz_cmd_unreachable(__func__);
}

json_t *
discovery_agents(__attribute__((unused)) const char *capability)
{
	fuzz_cmd_unreachable(__func__);
}

bool
router_pooled(void)
{
	fuzz_cmd_unreachable(__func__);
}

void
router_readvertise(void)
{
	fuzz_cmd_unreachable(__func__);
}
