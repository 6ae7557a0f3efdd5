/*
 * hotreloadctl.c -- command-line client of hotreloadd.
 *
 * hotreloadctl [-s SOCKET] [-j] [-t SECONDS] COMMAND [OPTIONS]
 *
 * Parses the command line (DESIGN.md section 3), sends one request on the
 * control socket (section 5), waits for the final reply until a deadline and
 * prints the result, for a human or with -j as the daemon's JSON.  The exit
 * status says how it went (HR_EXIT_* in protocol.h): scripts rely on it.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hotreloadctl.h"

static void	drain_option(struct ctl *, int, const char *);
static json_t	*drain_args(struct ctl *);
static int	drain_exit_status(struct ctl *, json_t *);
static void	reload_option(struct ctl *, int, const char *);
static json_t	*reload_args(struct ctl *);
static int	reload_exit_status(struct ctl *, json_t *);
static int	rollback_operand(struct ctl *, const char *);
static json_t	*rollback_args(struct ctl *);
static void	history_option(struct ctl *, int, const char *);
static json_t	*history_args(struct ctl *);
static void	agents_option(struct ctl *, int, const char *);
static json_t	*agents_args(struct ctl *);
static void	watch_option(struct ctl *, int, const char *);
static json_t	*watch_args(struct ctl *);

static const struct option ctl_options[] = {
	{ "socket",	required_argument,	NULL,	's' },
	{ "json",	no_argument,		NULL,	'j' },
	{ "timeout",	required_argument,	NULL,	't' },
	{ "version",	no_argument,		NULL,	'V' },
	{ "help",	no_argument,		NULL,	'h' },
	{ NULL,		0,			NULL,	0 }
};

static const struct option ctl_no_options[] = {
	{ NULL,		0,			NULL,	0 }
};

static const struct option drain_options[] = {
	{ "wait",	no_argument,		NULL,	'w' },
	{ "timeout",	required_argument,	NULL,	't' },
	{ NULL,		0,			NULL,	0 }
};

static const struct option reload_options[] = {
	{ "dry-run",	no_argument,		NULL,	'n' },
	{ "check",	no_argument,		NULL,	'c' },
	{ NULL,		0,			NULL,	0 }
};

static const struct option agents_options[] = {
	{ "capability",	required_argument,	NULL,	'c' },
	{ NULL,		0,			NULL,	0 }
};

static const struct option watch_options[] = {
	{ "service",	required_argument,	NULL,	's' },
	{ NULL,		0,			NULL,	0 }
};

static const struct option history_options[] = {
	{ "limit",	required_argument,	NULL,	'l' },
	{ NULL,		0,			NULL,	0 }
};

static const struct ctl_command ctl_commands[] = {
	{
		.name = HR_CMD_STATUS,
		.help = "services, generations, drain state and queue",
		.waiting = "waiting for hotreloadd",
		.print = print_status,
	},
	{
		.name = HR_CMD_DRAIN,
		.synopsis = "[--wait] [--timeout SEC]",
		.help = "stop taking new work (see drain options)",
		.waiting = "draining",
		.options = drain_options,
		.option = drain_option,
		.args = drain_args,
		.print = print_drain,
		.exit_status = drain_exit_status,
	},
	{
		.name = HR_CMD_RESUME,
		.alias = HR_CMD_UNDRAIN,
		.help = "leave drain mode",
		.waiting = "resuming",
		.print = print_resume,
	},
	{
		.name = HR_CMD_RELOAD_LLM,
		.synopsis = "[--dry-run | --check]",
		.help = "re-read the config, replace the LLM service",
		.waiting = "reloading llm",
		.options = reload_options,
		.option = reload_option,
		.args = reload_args,
		.print = print_reload_service,
		.exit_status = reload_exit_status,
	},
	{
		.name = HR_CMD_RELOAD_HSP,
		.synopsis = "[--dry-run | --check]",
		.help = "re-read the config, replace the HSP connector",
		.waiting = "reloading hsp",
		.options = reload_options,
		.option = reload_option,
		.args = reload_args,
		.print = print_reload_service,
		.exit_status = reload_exit_status,
	},
	{
		.name = HR_CMD_RELOAD,
		.synopsis = "[--dry-run | --check]",
		.help = "re-read the config, apply all changes or none",
		.waiting = "reloading",
		.options = reload_options,
		.option = reload_option,
		.args = reload_args,
		.print = print_reload,
		.exit_status = reload_exit_status,
	},
	{
		.name = HR_CMD_ROLLBACK,
		.synopsis = "[--dry-run | --check] [llm|hsp]",
		.help = "go back to the config before the last change",
		.waiting = "rolling back",
		.options = reload_options,
		.option = reload_option,
		.operand = rollback_operand,
		.args = rollback_args,
		.print = print_reload,
		.exit_status = reload_exit_status,
	},
	{
		.name = HR_CMD_AGENTS,
		.synopsis = "[--capability NAME]",
		.help = "the other agents discovery knows, their capabilities",
		.waiting = "waiting for hotreloadd",
		.options = agents_options,
		.option = agents_option,
		.args = agents_args,
		.print = print_agents,
	},
	{
		.name = HR_CMD_WATCH,
		.synopsis = "[--service NAME]...",
		.help = "stream what the daemon does until Ctrl-C",
		.waiting = "waiting for hotreloadd",
		.options = watch_options,
		.option = watch_option,
		.args = watch_args,
		.print = print_watch_end,
		.stream = 1,
	},
	{
		.name = HR_CMD_HISTORY,
		.synopsis = "[--limit N]",
		.help = "recent state-changing commands, newest first",
		.waiting = "waiting for hotreloadd",
		.options = history_options,
		.option = history_option,
		.args = history_args,
		.print = print_history,
	},
	{
		.name = HR_CMD_VERSION,
		.help = "the daemon's version and protocol",
		.waiting = "waiting for hotreloadd",
		.print = print_version,
	},
	{
		.name = HR_CMD_METRICS,
		.help = "Prometheus text exposition",
		.waiting = "waiting for hotreloadd",
		.print = print_metrics,
	},
};

/* getopt_long prefixes its complaints with argv[0]; see ctl_parse(). */
static char	ctl_name[] = CTL_NAME;
static char	ctl_command_prefix[64];

/* Seconds on a clock that only goes forward. */
double
ctl_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/* Print "hotreloadctl: MESSAGE: strerror(errno)" on stderr. */
void
ctl_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	progress_clear();
	fprintf(stderr, "%s: ", CTL_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(saved));
	errno = saved;
}

/* Print "hotreloadctl: MESSAGE" on stderr. */
void
ctl_warnx(const char *fmt, ...)
{
	va_list	ap;

	progress_clear();
	fprintf(stderr, "%s: ", CTL_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Report that the deadline passed; returns the exit status for it. */
int
ctl_timed_out(struct ctl *ctl)
{
	ctl_warnx("timed out after %.15g s waiting for hotreloadd", ctl->wait);
	return (HR_EXIT_TIMEOUT);
}

/* Flush stdout; a result that could not be written is a failure. */
static int
ctl_flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		ctl_warn("cannot write to standard output");
		return (-1);
	}
	return (0);
}

/* Point at --help after a usage error and exit. */
static void __attribute__((noreturn))
ctl_usage_hint(void)
{
	fprintf(stderr, "Try '%s --help'.\n", CTL_NAME);
	exit(HR_EXIT_USAGE);
}

/* Report a usage error and exit. */
static void __attribute__((format(printf, 1, 2), noreturn))
ctl_usage_error(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "%s: ", CTL_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ctl_usage_hint();
}

/* Print the full help on stdout. */
static void
ctl_help(void)
{
	const struct ctl_command	*cmd;
	char				 synopsis[64];
	size_t				 i;

	printf("usage: %s [-s SOCKET] [-j] [-t SECONDS] COMMAND [OPTIONS]\n"
	    "\n"
	    "Control hotreloadd, the hot-reload supervisor, through its "
	    "control socket.\n"
	    "\n", CTL_NAME);

	printf("options (before COMMAND):\n"
	    "  -s, --socket PATH    control socket (default: $%s,\n"
	    "                       else %s)\n"
	    "  -j, --json           print the daemon's JSON result instead of "
	    "the\n"
	    "                       human-readable form\n"
	    "  -t, --timeout SEC    give up waiting for the daemon after SEC "
	    "seconds\n"
	    "                       (default %.15g); with drain --wait, for "
	    "silence:\n"
	    "                       the daemon reports progress every second\n"
	    "  -V, --version        print the client's version and exit\n"
	    "  -h, --help           print this help and exit\n"
	    "\n", HR_SOCKET_ENV, HR_DEFAULT_SOCKET, CTL_DEFAULT_TIMEOUT);

	printf("commands:\n");
	for (i = 0; i < sizeof ctl_commands / sizeof ctl_commands[0]; i++) {
		cmd = &ctl_commands[i];
		snprintf(synopsis, sizeof synopsis, "%s%s%s", cmd->name,
		    cmd->synopsis != NULL ? " " : "",
		    cmd->synopsis != NULL ? cmd->synopsis : "");
		if (strlen(synopsis) > 30)
			printf("  %s\n  %-30s  %s", synopsis, "", cmd->help);
		else
			printf("  %-30s  %s", synopsis, cmd->help);
		if (cmd->alias != NULL)
			printf(" (alias: %s)", cmd->alias);
		putchar('\n');
	}
	printf("\n"
	    "drain options:\n"
	    "  --wait               wait until no work is in flight; exit %d "
	    "if some\n"
	    "                       is still running when the drain times out\n"
	    "  --timeout SEC        how long the daemon waits for work in "
	    "flight\n"
	    "                       (default: its drain.timeout_s)\n"
	    "\n", HR_EXIT_TIMEOUT);

	printf("reload, reload-llm, reload-hsp and rollback options:\n"
	    "  --dry-run            show what would change (settings with "
	    "their values,\n"
	    "                       services by key only); apply nothing, "
	    "contact nothing\n"
	    "  --check              build and connect the new services, then "
	    "discard\n"
	    "                       them; exit %d if the reload would fail\n"
	    "\n"
	    "agents options:\n"
	    "  --capability NAME    only the agents offering a capability of "
	    "that name\n"
	    "                       (or id)\n"
	    "\n"
	    "watch options:\n"
	    "  --service NAME       only the events of that service (and "
	    "those of none);\n"
	    "                       repeatable\n"
	    "\n"
	    "history options:\n"
	    "  --limit N            at most N entries (default: all the daemon "
	    "keeps,\n"
	    "                       its control.history_size)\n"
	    "\n", HR_EXIT_ERROR);

	printf("exit status:\n"
	    "  %-3d success\n"
	    "  %-3d the daemon answered with an error (a failed reload "
	    "changed nothing),\n"
	    "      or --check found that the reload would fail\n"
	    "  %-3d usage error\n"
	    "  %-3d cannot reach the daemon, or it closed the connection\n"
	    "  %-3d timed out (the daemon's \"%s\" error, drain --wait not "
	    "drained)\n"
	    "  %-3d permission denied (socket access or the daemon's \"%s\")\n"
	    "\n", HR_EXIT_OK, HR_EXIT_ERROR, HR_EXIT_USAGE,
	    HR_EXIT_UNAVAILABLE, HR_EXIT_TIMEOUT, HR_ERR_TIMEOUT,
	    HR_EXIT_NOPERM, HR_ERR_FORBIDDEN);

	printf("environment:\n"
	    "  %-20s control socket when -s is not given\n", HR_SOCKET_ENV);
}

/* Parse a positive, finite number of seconds; -1 if ARG is not one. */
static double
ctl_parse_seconds(const char *arg)
{
	char	*end;
	double	 seconds;

	errno = 0;
	seconds = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno != 0 || !isfinite(seconds) ||
	    seconds <= 0)
		return (-1);
	return (seconds);
}

/* Find a command by name or alias. */
static const struct ctl_command *
ctl_find_command(const char *name)
{
	const struct ctl_command	*cmd;
	size_t				 i;

	for (i = 0; i < sizeof ctl_commands / sizeof ctl_commands[0]; i++) {
		cmd = &ctl_commands[i];
		if (strcmp(cmd->name, name) == 0 ||
		    (cmd->alias != NULL && strcmp(cmd->alias, name) == 0))
			return (cmd);
	}
	return (NULL);
}

/* Parse what follows the command name (ARGV[0]); exits on a usage error. */
static void
ctl_parse_command(struct ctl *ctl, int argc, char **argv)
{
	const struct ctl_command	*cmd = ctl->command;
	const struct option		*options;
	char				*name = argv[0];
	int				 ch;

	options = cmd->options != NULL ? cmd->options : ctl_no_options;
	snprintf(ctl_command_prefix, sizeof ctl_command_prefix, "%s: %s",
	    CTL_NAME, name);
	argv[0] = ctl_command_prefix;

	/* glibc: 0 starts a fresh scan, "+" stops at the first argument. */
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		if (ch == '?' || cmd->option == NULL)
			ctl_usage_hint();
		cmd->option(ctl, ch, optarg);
	}
	for (; optind < argc; optind++) {
		if (cmd->operand == NULL || cmd->operand(ctl,
		    argv[optind]) == -1)
			ctl_usage_error("%s: unexpected argument \"%s\"", name,
			    argv[optind]);
	}
	if (ctl->reload_dry_run && ctl->reload_check)
		ctl_usage_error("%s: --dry-run and --check cannot go together",
		    name);
	argv[0] = name;
}

/* Parse the whole command line into CTL; exits on a usage error, -h, -V. */
static void
ctl_parse(struct ctl *ctl, int argc, char **argv)
{
	struct sockaddr_un	 sun;
	const char		*name;
	size_t			 length;
	int			 ch;

	memset(ctl, 0, sizeof *ctl);
	ctl->fd = -1;
	ctl->timeout = CTL_DEFAULT_TIMEOUT;
	ctl->socket_path = getenv(HR_SOCKET_ENV);
	if (ctl->socket_path == NULL || *ctl->socket_path == '\0')
		ctl->socket_path = HR_DEFAULT_SOCKET;

	/*
	 * getopt_long prints its own messages, prefixed with argv[0]; make
	 * that our name whatever path we were started by, so that every
	 * message starts the same way.
	 */
	argv[0] = ctl_name;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "+s:jt:Vh", ctl_options,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			ctl->socket_path = optarg;
			break;
		case 'j':
			ctl->json = 1;
			break;
		case 't':
			ctl->timeout = ctl_parse_seconds(optarg);
			if (ctl->timeout < 0) {
				ctl_usage_error("invalid timeout \"%s\": "
				    "expected a positive number of seconds",
				    optarg);
			}
			break;
		case 'V':
			printf("%s %s\n", CTL_NAME, HOTRELOAD_VERSION);
			exit(ctl_flush_stdout() == 0 ? HR_EXIT_OK :
			    HR_EXIT_ERROR);
		case 'h':
			ctl_help();
			exit(ctl_flush_stdout() == 0 ? HR_EXIT_OK :
			    HR_EXIT_ERROR);
		default:
			ctl_usage_hint();
		}
	}

	length = strlen(ctl->socket_path);
	if (length == 0)
		ctl_usage_error("socket path is empty");
	if (length >= sizeof sun.sun_path) {
		ctl_usage_error("socket path is too long (%zu bytes, at most "
		    "%zu): %s", length, sizeof sun.sun_path - 1,
		    ctl->socket_path);
	}

	if (optind >= argc)
		ctl_usage_error("no command given");
	name = argv[optind];
	if ((ctl->command = ctl_find_command(name)) == NULL)
		ctl_usage_error("unknown command \"%s\"", name);
	ctl_parse_command(ctl, argc - optind, argv + optind);
}

/* Options of drain. */
static void
drain_option(struct ctl *ctl, int ch, const char *arg)
{
	switch (ch) {
	case 'w':
		ctl->drain_wait = 1;
		break;
	case 't':
		ctl->drain_timeout = ctl_parse_seconds(arg);
		if (ctl->drain_timeout < 0) {
			ctl_usage_error("drain: invalid timeout \"%s\": "
			    "expected a positive number of seconds", arg);
		}
		break;
	}
}

/* A number of seconds as JSON: an integer when it is a whole number. */
static json_t *
ctl_json_seconds(double seconds)
{
	/* Below 2^53 every whole double converts to an integer exactly. */
	if (seconds < 9007199254740992.0 &&
	    seconds == (double)(json_int_t)seconds)
		return (json_integer((json_int_t)seconds));
	return (json_real(seconds));
}

/* Arguments of drain: always "wait", "timeout_s" only when given. */
static json_t *
drain_args(struct ctl *ctl)
{
	json_t	*args;

	if ((args = json_pack("{s:b}", "wait", ctl->drain_wait)) == NULL)
		return (NULL);
	if (ctl->drain_timeout > 0 && json_object_set_new(args, "timeout_s",
	    ctl_json_seconds(ctl->drain_timeout)) == -1) {
		json_decref(args);
		return (NULL);
	}
	return (args);
}

/* drain --wait that did not drain in time exits as a timeout. */
static int
drain_exit_status(struct ctl *ctl, json_t *result)
{
	if (ctl->drain_wait && !json_is_true(json_object_get(result,
	    "drained")))
		return (HR_EXIT_TIMEOUT);
	return (HR_EXIT_OK);
}

/* Options of the reload commands and rollback. */
static void
reload_option(struct ctl *ctl, int ch, __attribute__((unused)) const char *arg)
{
	if (ch == 'n')
		ctl->reload_dry_run = 1;
	else if (ch == 'c')
		ctl->reload_check = 1;
}

/* Their arguments: "dry_run" or "check" when given. */
static json_t *
reload_args(struct ctl *ctl)
{
	json_t	*args = json_object();

	if (args != NULL && ctl->reload_dry_run)
		json_object_set_new(args, "dry_run", json_true());
	if (args != NULL && ctl->reload_check)
		json_object_set_new(args, "check", json_true());
	return (args);
}

/* A check that found a part not ready exits 1, as the reload would. */
static int
reload_exit_status(__attribute__((unused)) struct ctl *ctl, json_t *result)
{
	if (json_is_false(json_object_get(result, "would_succeed")))
		return (HR_EXIT_ERROR);
	return (HR_EXIT_OK);
}

/* rollback's operand: the service, llm or hsp. */
static int
rollback_operand(struct ctl *ctl, const char *arg)
{
	if (ctl->rollback_service != NULL)
		return (-1);
	if (strcmp(arg, "llm") != 0 && strcmp(arg, "hsp") != 0)
		ctl_usage_error("rollback: unknown service \"%s\": expected "
		    "llm or hsp", arg);
	ctl->rollback_service = arg;
	return (0);
}

/* rollback's arguments: those of a reload, and "service" if given. */
static json_t *
rollback_args(struct ctl *ctl)
{
	json_t	*args = reload_args(ctl);

	if (args != NULL && ctl->rollback_service != NULL)
		json_object_set_new(args, "service",
		    json_string(ctl->rollback_service));
	return (args);
}

/* history --limit N. */
static void
history_option(struct ctl *ctl, int ch, const char *arg)
{
	char	*end;
	long	 n;

	if (ch != 'l')
		return;
	errno = 0;
	n = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || errno != 0 || n < 1 ||
	    n > 1000000)
		ctl_usage_error("history: invalid limit \"%s\": expected a "
		    "positive integer", arg);
	ctl->history_limit = n;
}

/* history's arguments: "limit" when given. */
static json_t *
history_args(struct ctl *ctl)
{
	if (ctl->history_limit > 0)
		return (json_pack("{s:I}", "limit",
		    (json_int_t)ctl->history_limit));
	return (json_object());
}

/* agents --capability NAME. */
static void
agents_option(struct ctl *ctl, int ch, const char *arg)
{
	if (ch != 'c')
		return;
	if (*arg == '\0')
		ctl_usage_error("agents: --capability needs a name");
	ctl->agents_capability = arg;
}

/* agents' arguments: "capability" when given. */
static json_t *
agents_args(struct ctl *ctl)
{
	if (ctl->agents_capability != NULL)
		return (json_pack("{s:s}", "capability",
		    ctl->agents_capability));
	return (json_object());
}

/* watch --service NAME, repeatable. */
static void
watch_option(struct ctl *ctl, int ch, const char *arg)
{
	static const char *const names[] = { "llm", "hsp", "tool_dispatcher",
	    "dialogue_manager", "service_discovery", NULL };
	size_t			 i;

	if (ch != 's')
		return;
	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(arg, names[i]) == 0)
			break;
	}
	if (names[i] == NULL)
		ctl_usage_error("watch: unknown service \"%s\": expected llm, "
		    "hsp, tool_dispatcher, dialogue_manager or "
		    "service_discovery", arg);
	if (ctl->watch_services == NULL)
		ctl->watch_services = json_array();
	json_array_append_new(ctl->watch_services, json_string(arg));
}

/* watch's arguments: "services" when --service was given. */
static json_t *
watch_args(struct ctl *ctl)
{
	if (ctl->watch_services != NULL)
		return (json_pack("{s:O}", "services", ctl->watch_services));
	return (json_object());
}

/* Ctrl-C or SIGTERM ends a watch: what was printed is flushed already. */
static void
ctl_stream_signal(__attribute__((unused)) int sig)
{
	_exit(HR_EXIT_OK);
}

/* How long to wait for the final reply, in seconds. */
static double
ctl_wait_seconds(const struct ctl *ctl)
{
	double	drain;

	if (!ctl->drain_wait || ctl->drain_timeout <= 0)
		return (ctl->timeout);
	drain = ctl->drain_timeout;
	if (drain + CTL_DRAIN_MARGIN > ctl->timeout)
		return (drain + CTL_DRAIN_MARGIN);
	return (ctl->timeout);
}

/* Build the request line's object. */
static json_t *
ctl_request(struct ctl *ctl)
{
	json_t	*args;

	if (ctl->command->args != NULL)
		args = ctl->command->args(ctl);
	else
		args = json_object();
	if (args == NULL)
		return (NULL);

	/* "o" hands our reference to args over, also on failure. */
	return (json_pack("{s:i, s:i, s:s, s:o}",
	    HR_FIELD_VERSION, HR_PROTOCOL_VERSION,
	    HR_FIELD_ID, CTL_REQUEST_ID,
	    HR_FIELD_CMD, ctl->command->name,
	    HR_FIELD_ARGS, args));
}

/* The exit status for a daemon error CODE. */
static int
ctl_error_exit_status(const char *code)
{
	if (strcmp(code, HR_ERR_FORBIDDEN) == 0)
		return (HR_EXIT_NOPERM);
	if (strcmp(code, HR_ERR_TIMEOUT) == 0)
		return (HR_EXIT_TIMEOUT);
	return (HR_EXIT_ERROR);
}

/* Print the final reply and return the exit status it calls for. */
static int
ctl_finish(struct ctl *ctl, json_t *reply)
{
	const struct ctl_command	*cmd = ctl->command;
	json_t				*result, *error;
	const char			*code, *message;

	if (json_is_true(json_object_get(reply, HR_FIELD_OK))) {
		result = json_object_get(reply, HR_FIELD_RESULT);
		if (!json_is_object(result)) {
			ctl_warnx("invalid reply from hotreloadd: no \"%s\" "
			    "object", HR_FIELD_RESULT);
			return (HR_EXIT_ERROR);
		}
		if (ctl->json)
			print_json(result);
		else
			cmd->print(ctl, result);
		if (cmd->exit_status != NULL)
			return (cmd->exit_status(ctl, result));
		return (HR_EXIT_OK);
	}

	error = json_object_get(reply, HR_FIELD_ERROR);
	code = json_string_value(json_object_get(error, "code"));
	message = json_string_value(json_object_get(error, "message"));
	if (code == NULL) {
		ctl_warnx("invalid reply from hotreloadd: no error code");
		return (HR_EXIT_ERROR);
	}
	if (ctl->json)
		print_json(error);
	else if (message != NULL && *message != '\0')
		ctl_warnx("%s: %s", code, message);
	else
		ctl_warnx("%s", code);
	return (ctl_error_exit_status(code));
}

int
main(int argc, char **argv)
{
	struct ctl	 ctl;
	json_t		*request = NULL, *reply = NULL;
	int		 status;

	ctl_parse(&ctl, argc, argv);

	ctl.wait = ctl_wait_seconds(&ctl);
	ctl.deadline = ctl_now() + ctl.wait;
	progress_init(ctl.command->waiting,
	    !ctl.json && isatty(STDERR_FILENO));

	if ((request = ctl_request(&ctl)) == NULL) {
		ctl_warnx("cannot build the request");
		status = HR_EXIT_ERROR;
		goto out;
	}
	if ((status = conn_open(&ctl)) != HR_EXIT_OK)
		goto out;
	if ((status = conn_send(&ctl, request)) != HR_EXIT_OK)
		goto out;
	if (ctl.command->stream) {
		/* Events until the daemon ends or we are told to stop. */
		ctl.deadline = ctl_now() + 1e9;
		signal(SIGINT, ctl_stream_signal);
		signal(SIGTERM, ctl_stream_signal);
		signal(SIGPIPE, ctl_stream_signal);
	}
	if ((status = conn_receive(&ctl, &reply)) != HR_EXIT_OK)
		goto out;

	/* The waiting line and the result may share a terminal. */
	progress_clear();
	status = ctl_finish(&ctl, reply);

out:
	progress_clear();
	conn_close(&ctl);
	json_decref(reply);
	json_decref(request);
	json_decref(ctl.watch_services);
	if (ctl_flush_stdout() != 0 && status == HR_EXIT_OK)
		status = HR_EXIT_ERROR;
	return (status);
}
