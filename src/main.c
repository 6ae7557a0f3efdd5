/*
 * main.c -- hotreloadd: command line, start-up, signals, shutdown.
 *
 * The daemon stays in the foreground, runs one libevent loop and does all
 * its work from callbacks.  Start-up errors are fatal; after that nothing is:
 * bad input is answered and logged, and the loop goes on.
 */
#include <sys/resource.h>

#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <mosquitto.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "llm.h"
#include "log.h"
#include "notify.h"

extern const struct cmd_entry cmd_shutdown_entry;

struct daemon	*hr;

static struct event	*main_signal_events[3];
static int		 main_term_signals;
/* Services whose first start has not reported yet; READY=1 waits for them. */
static unsigned int	 main_starting;
static json_t		*main_start_error;	/* {code, message} */

/*
 * Seconds without work (no task started or ended, no command finished)
 * before the heap's free memory goes back to the system.
 */
#define MAIN_TRIM_QUIET_S	2
static struct event	*main_trim_timer;
static bool		 main_trim_busy;	/* work since the timer was set */

#ifdef HAVE_SYSTEMD
#define MAIN_SYSTEMD_HELP \
"Under systemd it reports readiness, reloads and shutdown (Type=notify),\n" \
"pings the watchdog, and takes the control socket from socket activation.\n"
#else
#define MAIN_SYSTEMD_HELP \
"Built without systemd: no readiness notifications, no watchdog and\n" \
"no socket activation.\n"
#endif

/* Print the usage to F. */
static void
main_usage(FILE *f)
{
	fprintf(f,
"usage: hotreloadd [-tvVh] [-c FILE]\n"
"Supervise an AI agent's LLM and HSP services and replace them while it runs.\n"
"\n"
"  -c, --config FILE    configuration file (default: %s)\n"
"  -t, --check-config   validate the file, print problems as\n"
"                       FILE:LINE:COLUMN: message, exit 0 (valid) or 1\n"
"  -v, --verbose        more logging (debug); repeatable\n"
"  -V, --version        print the version and exit\n"
"  -h, --help           print this help and exit\n"
"\n"
"hotreloadd stays in the foreground and logs to stderr. Control it with\n"
"hotreloadctl(1) over the socket named by control.socket.\n"
"\n"
"Signals: SIGHUP reloads the configuration (as \"hotreloadctl reload\");\n"
"SIGTERM and SIGINT drain and shut down (exit 0); a second one exits at once.\n"
"\n"
MAIN_SYSTEMD_HELP
"\n"
"See hotreloadd(8) and hotreloadd.conf(5).\n", HR_DEFAULT_CONFIG);
}

/* Seconds since the daemon started. */
double
daemon_uptime_s(void)
{
	return (timespec_elapsed_s(&hr->started));
}

/* Leave the loop; main() cleans up and exits with CODE. */
void
daemon_exit(int code)
{
	/* Watchers get their final line before the loop ends. */
	watch_end_all("shutting_down");
	hr->exit_code = code;
	event_base_loopexit(hr->base, NULL);
}

/* Log the outcome of a command nobody waits for (signals). */
static void
main_signal_reply_cb(__attribute__((unused)) struct cmdq_item *item,
    __attribute__((unused)) json_t *line, __attribute__((unused)) bool final,
    __attribute__((unused)) void *arg)
{
	/* cmdq logs the outcome of every state-changing command. */
}

/* Queue the command NAME on behalf of the daemon itself (a signal). */
int
daemon_queue_command(const char *name, const char *origin)
{
	const struct cmd_entry	*cmd;
	struct cmdq_item	*item;
	bool			 force = false;

	if (strcmp(name, cmd_shutdown_entry.name) == 0) {
		cmd = &cmd_shutdown_entry;
		force = true;
	} else if ((cmd = cmd_find(name)) == NULL)
		return (-1);
	item = cmdq_item_create(cmd, NULL, NULL, getuid(), getpid(), origin);
	if (item == NULL)
		return (-1);
	cmdq_item_set_reply(item, main_signal_reply_cb, NULL);
	return (cmdq_append(hr->cmdq, item, force));
}

/* SIGHUP: queue a reload. */
static void
main_sighup_cb(__attribute__((unused)) evutil_socket_t sig,
    __attribute__((unused)) short events, __attribute__((unused)) void *arg)
{
	if (hr->registry->shutting_down) {
		log_info("SIGHUP ignored: shutting down");
		return;
	}
	log_info("SIGHUP: reloading the configuration");
	daemon_queue_command(HR_CMD_RELOAD, "SIGHUP");
}

/* SIGTERM/SIGINT: the first drains and shuts down, a second exits now. */
static void
main_sigterm_cb(evutil_socket_t sig, __attribute__((unused)) short events,
    __attribute__((unused)) void *arg)
{
	const char	*name = sig == SIGINT ? "SIGINT" : "SIGTERM";

	if (main_term_signals++ > 0) {
		log_warnx("%s again: exiting at once with %u in flight",
		    name, registry_in_flight(hr->registry));
		hr->exit_code = 1;
		event_base_loopbreak(hr->base);
		return;
	}
	log_info("%s: shutting down", name);
	hr->registry->shutting_down = true;
	notify_stopping();
	/* What waits in the queue would only delay the shutdown. */
	cmdq_cancel_pending(hr->cmdq, HR_ERR_SHUTTING_DOWN,
	    "hotreloadd is shutting down");
	daemon_queue_command(cmd_shutdown_entry.name, name);
}

/*
 * Log problems of a configuration load, or print them (PLAIN, for -t);
 * true if there was an error.  A problem may quote the file, so printed
 * ones are escaped as log lines are: a control character in the file
 * cannot reach the operator's terminal.
 */
static bool
main_print_problems(struct config_problems *problems, bool plain)
{
	const char	*text;
	char		*escaped;
	size_t		 i, size;

	for (i = 0; i < problems->count; i++) {
		text = problems->list[i].text;
		if (!plain) {
			log_warnx("%s", text);
			continue;
		}
		size = 4 * strlen(text) + 1;	/* each byte as "\xNN" */
		if ((escaped = malloc(size)) == NULL)
			fatal("malloc");
		log_escape(escaped, size, text);
		fprintf(stderr, "%s\n", escaped);
		free(escaped);
	}
	return (problems->errors > 0);
}

/*
 * The timer of main_trim_after_work(): trim once no work came for a whole
 * MAIN_TRIM_QUIET_S and nothing is in flight (the end of what is in flight
 * sets the timer again).
 *
 * Why: a burst of requests leaves glibc's heap full of free chunks, which
 * stay resident: free() gives back only the top of the heap, and blocks
 * still in use sit above them (fixed M_TRIM_THRESHOLD and M_MMAP_THRESHOLD
 * change nothing).  After 62,000 echo requests the heap held 4.1 MB free
 * and 0.2 MB in use; malloc_trim(0) hands the free pages back (madvise)
 * and the daemon's RSS went from 11.5 to 7.8 MiB (issue 19).  It walks
 * every free chunk (0.6 ms and some 30 madvise calls there), so it runs
 * once per quiet spell, never per message, and not during a burst, where
 * the pages would be taken again at once.
 */
static void
main_trim_timer_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, __attribute__((unused)) void *arg)
{
	struct timeval	tv = { MAIN_TRIM_QUIET_S, 0 };

	if (main_trim_busy) {
		main_trim_busy = false;
		evtimer_add(main_trim_timer, &tv);
		return;
	}
	if (registry_in_flight(hr->registry) > 0)
		return;
#ifdef __GLIBC__
	if (malloc_trim(0))
		log_debug("the heap's free pages went back to the system");
#endif
}

/*
 * Work started or ended, or a command finished: trim the heap once things
 * are quiet again (main_trim_timer_cb).  Called for every task, so it only
 * sets a flag, and the timer when it is not set.
 */
static void
main_trim_after_work(void)
{
	struct timeval	tv = { MAIN_TRIM_QUIET_S, 0 };

	main_trim_busy = true;
	if (main_trim_timer != NULL && !evtimer_pending(main_trim_timer, NULL))
		evtimer_add(main_trim_timer, &tv);
}

/* The registry's work_changed hook: systemd's STATUS= line, the trim. */
static void
main_work_changed(void)
{
	notify_status_changed();
	main_trim_after_work();
}

/* A state-changing command starts: watchers see it. */
static void
main_item_started(struct cmdq_item *item)
{
	watch_command(item, true);
}

/* It ends: watchers see it, the history keeps it. */
static void
main_item_finished(struct cmdq_item *item)
{
	watch_command(item, false);
	history_record(item);
	/* A reload's retired generation is freed meanwhile. */
	main_trim_after_work();
}

/*
 * The start-up is over: tell systemd, and begin the history with it (ok
 * unless a service could not start: the first such error).
 */
static void
main_started(void)
{
	notify_ready();
	history_add("startup", json_string("startup"), main_start_error == NULL,
	    main_start_error, daemon_uptime_s(), hr->config->sha256);
	main_start_error = NULL;
}

/* The first start of a configured service has ended. */
static void
main_service_started_cb(void *arg, bool ok,
    __attribute__((unused)) const char *code, const char *cause,
    __attribute__((unused)) json_t *result)
{
	struct service_slot	*slot = arg;

	if (!ok) {
		log_warnx("%s: could not start: %s", slot->name, cause);
		if (main_start_error == NULL)
			main_start_error = json_pack("{s:s, s:s++}", "code",
			    HR_ERR_RELOAD_FAILED, "message", slot->name, ": ",
			    cause);
	}
	/* Up or failed, the start-up is over once every service has said. */
	if (main_starting > 0 && --main_starting == 0)
		main_started();
}

/*
 * Make room for WANT file descriptors (clients, listeners, services) when the
 * hard limit allows; the soft default of 1024 is low for a busy supervisor.
 */
static void
main_raise_file_limit(rlim_t want)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("setrlimit RLIMIT_NOFILE");
	if (rl.rlim_cur < want)
		log_warnx("only %llu file descriptors allowed; "
		    "control.max_clients may not be reachable",
		    (unsigned long long)rl.rlim_cur);
}

/*
 * A slot has a new instance: rewire the dependants.  The router learns the
 * new agent id and dedup window with the connector that uses them; the
 * router's publisher is always the current connector.  Discovery and the
 * dialogue manager are never rebuilt: they take the limits of their
 * section's new configuration here.
 */
static void
main_swapped(__attribute__((unused)) struct registry *reg,
    struct service_slot *slot, struct service_instance *old,
    struct service_instance *new)
{
	struct router_publisher	publisher;

	/* Shutdown: nothing is current any more, nothing to publish to. */
	if (new == NULL) {
		if (slot->id == SERVICE_HSP)
			router_set_publisher(NULL);
		return;
	}
	if (slot->id == SERVICE_HSP) {
		hsp_publisher(new, &publisher);
		router_set_publisher(&publisher);
	}
	if (slot->id == SERVICE_HSP && router_configure(slot->config) == -1)
		log_warnx("hsp: out of memory applying the new configuration");
	if (slot->id == SERVICE_HSP)
		discovery_configure(slot->config->hsp);
	if (slot->id == SERVICE_LLM)
		dialogue_configure(slot->config->llm);
	/* A first LLM generation makes the dialogue tool available. */
	if (slot->id == SERVICE_LLM && old == NULL)
		router_readvertise();
}

/* Start every service that has an implementation and a configuration. */
static void
main_start_services(void)
{
	struct service_slot	*slot;
	const char		*code;
	char			*cause;
	int			 i;

	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = registry_slot(hr->registry, i);
		if (slot->ops == NULL || !slot->ops->configured(hr->config))
			continue;
		if (registry_reload(slot, hr->config, main_service_started_cb,
		    slot, &code, &cause) == NULL) {
			log_warnx("%s: %s", slot->name, cause);
			free(cause);
		} else
			main_starting++;	/* reports on a later turn */
	}
}

int
main(int argc, char **argv)
{
	static const struct option	 options[] = {
		{ "config",		required_argument,	NULL, 'c' },
		{ "check-config",	no_argument,		NULL, 't' },
		{ "verbose",		no_argument,		NULL, 'v' },
		{ "version",		no_argument,		NULL, 'V' },
		{ "help",		no_argument,		NULL, 'h' },
		{ NULL,			0,			NULL, 0 }
	};
	static const int		 signals[] = { SIGHUP, SIGTERM, SIGINT };
	struct config_problems		 problems = { 0 };
	struct daemon			 daemon;
	const char			*path = HR_DEFAULT_CONFIG;
	char				*cause;
	bool				 check_only = false;
	int				 ch, verbosity = 0, code, listen_fd;
	size_t				 i;

	while ((ch = getopt_long(argc, argv, "c:tvVh", options, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'v':
			verbosity++;
			break;
		case 'V':
			printf("hotreloadd %s\n", HOTRELOAD_VERSION);
			return (0);
		case 'h':
			main_usage(stdout);
			return (0);
		default:
			fprintf(stderr, "Try 'hotreloadd --help'.\n");
			return (2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "hotreloadd: unexpected argument \"%s\"\n"
		    "Try 'hotreloadd --help'.\n", argv[optind]);
		return (2);
	}

	log_init(verbosity);
	memset(&daemon, 0, sizeof daemon);
	hr = &daemon;
	clock_gettime(CLOCK_MONOTONIC, &hr->started);
	if ((hr->config_path = strdup(path)) == NULL ||
	    (hr->config_source = strdup("file")) == NULL)
		fatal("strdup");

	hr->config = config_load(path, &problems);
	if (check_only) {
		main_print_problems(&problems, true);
		config_problems_clear(&problems);
		free(hr->config_path);
		free(hr->config_source);
		if (hr->config == NULL)
			return (1);
		printf("%s: configuration OK\n", path);
		config_free(hr->config);
		return (0);
	}
	main_print_problems(&problems, false);
	config_problems_clear(&problems);
	/* EX_CONFIG: the unit's RestartPreventExitStatus= stops the retries. */
	if (hr->config == NULL)
		fatalx_status(EX_CONFIG, "%s: invalid configuration; not "
		    "starting", path);

	signal(SIGPIPE, SIG_IGN);
	main_raise_file_limit((rlim_t)hr->config->control.max_clients +
	    (rlim_t)hr->config->metrics.max_connections + 64);
	if ((hr->base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	mosquitto_lib_init();
	if ((hr->registry = registry_create(hr->base)) == NULL ||
	    (hr->cmdq = cmdq_create(hr->base,
	    (size_t)hr->config->control.queue_depth,
	    hr->config->control.command_timeout_s)) == NULL)
		fatalx("out of memory");
	hr->cmdq->started = main_item_started;
	hr->cmdq->finished = main_item_finished;
	hr->registry->event = watch_registry_event;
	/* The dialogue tool is the LLM side's; the dispatcher takes it. */
	if (dispatcher_register(&dialogue_tool) == -1)
		fatalx("the tool table is full");
	registry_set_ops(hr->registry, SERVICE_LLM, &llm_service_ops);
	registry_set_ops(hr->registry, SERVICE_DIALOGUE_MANAGER,
	    &dialogue_service_ops);
	registry_set_ops(hr->registry, SERVICE_HSP, &hsp_service_ops);
	registry_set_ops(hr->registry, SERVICE_TOOL_DISPATCHER,
	    &tool_dispatcher_service_ops);
	registry_set_ops(hr->registry, SERVICE_SERVICE_DISCOVERY,
	    &discovery_service_ops);
	hr->registry->swapped = main_swapped;
	hr->registry->work_changed = main_work_changed;
	if ((main_trim_timer = evtimer_new(hr->base, main_trim_timer_cb,
	    NULL)) == NULL)
		fatalx("out of memory");
	if (notify_init(hr->base, &cause) == -1) {
		log_warnx("%s", cause != NULL ? cause : "systemd watchdog");
		free(cause);
	}
	/* Socket activation: systemd's socket replaces control.socket. */
	if ((listen_fd = notify_listen_fd(&cause)) == -1 && cause != NULL)
		fatalx("%s", cause);
	if (listen_fd != -1)
		hr->control = control_create_from_fd(hr->base, hr->config,
		    listen_fd, &cause);
	else
		hr->control = control_create(hr->base, hr->config, &cause);
	if (hr->control == NULL)
		fatalx("control socket: %s", cause != NULL ? cause :
		    "cannot listen");
	if (hr->config->metrics.listen != NULL &&
	    (hr->metrics_http = metrics_http_create(hr->base, hr->config,
	    &cause)) == NULL) {
		control_free(hr->control, true);
		fatalx("%s", cause != NULL ? cause : "metrics listener");
	}
	for (i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		main_signal_events[i] = evsignal_new(hr->base, signals[i],
		    signals[i] == SIGHUP ? main_sighup_cb : main_sigterm_cb,
		    NULL);
		if (main_signal_events[i] == NULL ||
		    evsignal_add(main_signal_events[i], NULL) == -1)
			fatalx("cannot handle signal %d", signals[i]);
	}

	main_start_services();
	log_info("hotreloadd %s started (pid %ld, config %s)",
	    HOTRELOAD_VERSION, (long)getpid(), path);
	if (main_starting == 0)
		main_started();

	if (event_base_dispatch(hr->base) == -1)
		log_warnx("event loop failed");

	code = hr->exit_code;
	notify_free();
	control_free(hr->control, true);
	metrics_http_free(hr->metrics_http);
	cmdq_free(hr->cmdq);
	history_free();
	/* Frees every instance, then each module's shared state (ops exit). */
	registry_free(hr->registry);
	mosquitto_lib_cleanup();
	for (i = 0; i < sizeof signals / sizeof signals[0]; i++)
		event_free(main_signal_events[i]);
	event_free(main_trim_timer);
	config_free(hr->config);
	config_free(hr->previous_config);
	free(hr->config_source);
	free(hr->config_path);
	event_base_free(hr->base);
	log_info("exiting with status %d", code);
	return (code);
}
