/*
 * ctlbench.c -- timing client of the hotreloadd control socket, for bench/.
 *
 * hotreloadctl sends one request and exits; a benchmark needs many requests
 * on one connection, each timed with a precise clock, and the daemon's own
 * figure of each reply (duration_us, else duration_ms).  Modes:
 *
 *   pipeline  N requests of one command, up to WINDOW unanswered at a time:
 *             requests per second on one connection.
 *   latency   N requests cycling through the commands given, one at a time
 *             (or WINDOW at a time): client round trip and daemon-side
 *             duration per command.
 *   every     one command every INTERVAL ms, cycling through those given,
 *             until SIGTERM/SIGINT or --for SEC: the reload storm.  A
 *             command whose predecessor has not answered yet waits (the
 *             daemon's queue would otherwise fill).
 *   spawn     run programs (fork, exec, wait), each its own number of
 *             times, interleaved: whole-process wall time, for
 *             "hotreloadctl status" against "supervisorctl status".
 *
 * Each mode prints one line of JSON on standard output.  This is a
 * benchmark tool: it blocks, and a protocol error ends it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../tests/support/tool.h"

const char	*tool_name = "ctlbench";

#define CTLBENCH_MAX_COMMANDS	8
#define CTLBENCH_READ_CHUNK	65536

/* Timings of one command name. */
struct command_stats {
	const char	*name;
	size_t		 sent;
	size_t		 ok;
	size_t		 errors;
	double		*round_trip_ms;		/* one per reply */
	double		*daemon_ms;		/* one per ok reply with a duration */
	size_t		 daemon_count;
	json_t		*error_codes;		/* code -> count */
};

/* One connection to the daemon with its read buffer. */
struct connection {
	int	 fd;
	char	*buffer;
	size_t	 length;
	size_t	 size;
};

static volatile sig_atomic_t	stop_requested;

static int
compare_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile P (0..100) of the N sorted values. */
static double
percentile(const double *sorted, size_t n, double p)
{
	size_t	rank;

	if (n == 0)
		return 0;
	rank = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* {"n", "p50", "p99", "max", "mean"} of N values (sorted in place). */
static json_t *
summary_json(double *values, size_t n)
{
	double	sum = 0;
	size_t	i;

	qsort(values, n, sizeof *values, compare_double);
	for (i = 0; i < n; i++)
		sum += values[i];
	return json_pack("{s:I, s:f, s:f, s:f, s:f}", "n", (json_int_t)n,
	    "p50", percentile(values, n, 50), "p99", percentile(values, n, 99),
	    "max", n > 0 ? values[n - 1] : 0.0,
	    "mean", n > 0 ? sum / (double)n : 0.0);
}

static void
connection_open(struct connection *c, const char *path)
{
	struct sockaddr_un	sun;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		tool_fatal(1, "socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		tool_fatal(1, "socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		tool_fatal(1, "connect %s: %s", path, strerror(errno));
	c->size = CTLBENCH_READ_CHUNK * 4;
	c->buffer = xcalloc(1, c->size);
	c->length = 0;
}

/* Write all of TEXT. */
static void
connection_send(struct connection *c, const char *text, size_t length)
{
	ssize_t	n;

	while (length > 0) {
		n = write(c->fd, text, length);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			tool_fatal(1, "write to the daemon: %s", strerror(errno));
		text += n;
		length -= (size_t)n;
	}
}

/* Read once more (blocking); false on a signal. */
static bool
connection_fill(struct connection *c)
{
	ssize_t	n;

	if (c->size - c->length < CTLBENCH_READ_CHUNK) {
		c->size *= 2;
		if ((c->buffer = realloc(c->buffer, c->size)) == NULL)
			tool_fatal(1, "out of memory");
	}
	n = read(c->fd, c->buffer + c->length, c->size - c->length);
	if (n == -1 && errno == EINTR)
		return false;
	if (n == -1)
		tool_fatal(1, "read from the daemon: %s", strerror(errno));
	if (n == 0)
		tool_fatal(1, "the daemon closed the connection");
	c->length += (size_t)n;
	return true;
}

/*
 * The next complete line (without its newline, NUL-terminated in place), or
 * NULL if none is buffered; *consumed says how far to discard afterwards.
 */
static char *
connection_line(struct connection *c, size_t offset, size_t *next)
{
	char	*nl;

	nl = memchr(c->buffer + offset, '\n', c->length - offset);
	if (nl == NULL)
		return NULL;
	*nl = '\0';
	*next = (size_t)(nl - c->buffer) + 1;
	return c->buffer + offset;
}

/* Drop the first N bytes of the buffer. */
static void
connection_discard(struct connection *c, size_t n)
{
	memmove(c->buffer, c->buffer + n, c->length - n);
	c->length -= n;
}

/* The request line of command CMD with id ID. */
static int
request_format(char *out, size_t size, unsigned long id, const char *cmd)
{
	return snprintf(out, size, "{\"v\":1,\"id\":%lu,\"cmd\":\"%s\"}\n",
	    id, cmd);
}

/*
 * pipeline: COUNT requests of CMD with at most WINDOW unanswered.  Replies
 * are only split into lines and checked for "ok":true (parsing every status
 * reply would measure this client).
 */
static int
mode_pipeline(const char *path, size_t count, size_t window, const char *cmd)
{
	struct connection	 c;
	size_t			 sent = 0, answered = 0, errors = 0, offset,
				 next, batch_length;
	char			*batch, *line;
	double			 start, elapsed;
	int			 n;

	connection_open(&c, path);
	batch = xcalloc(window, 128);
	start = clock_monotonic();
	while (answered < count) {
		batch_length = 0;
		while (sent < count && sent - answered < window) {
			n = request_format(batch + batch_length, 128,
			    (unsigned long)sent + 1, cmd);
			batch_length += (size_t)n;
			sent++;
		}
		if (batch_length > 0)
			connection_send(&c, batch, batch_length);
		connection_fill(&c);
		offset = 0;
		while ((line = connection_line(&c, offset, &next)) != NULL) {
			offset = next;
			if (strstr(line, "\"progress\":") != NULL &&
			    strstr(line, "\"ok\":") == NULL)
				continue;
			if (strstr(line, "\"ok\":true") == NULL)
				errors++;
			answered++;
		}
		connection_discard(&c, offset);
	}
	elapsed = clock_monotonic() - start;
	printf("{\"command\":\"%s\",\"requests\":%zu,\"window\":%zu,"
	    "\"errors\":%zu,\"elapsed_s\":%.6f,\"requests_per_s\":%.1f}\n",
	    cmd, count, window, errors, elapsed, (double)count / elapsed);
	free(batch);
	close(c.fd);
	return errors == 0 ? 0 : 1;
}

/* Record reply LINE of a request of STATS sent at SENT_AT. */
static void
stats_record(struct command_stats *stats, const char *line, double sent_at,
    double now)
{
	json_t		*reply, *result, *value;
	const char	*code;
	json_int_t	 seen;

	stats->round_trip_ms[stats->ok + stats->errors] =
	    (now - sent_at) * 1e3;
	reply = json_loads(line, 0, NULL);
	if (reply == NULL)
		tool_fatal(1, "a reply is not JSON: %.200s", line);
	if (json_is_true(json_object_get(reply, "ok"))) {
		stats->ok++;
		result = json_object_get(reply, "result");
		if ((value = json_object_get(result, "duration_us")) != NULL &&
		    json_is_number(value))
			stats->daemon_ms[stats->daemon_count++] =
			    json_number_value(value) / 1e3;
		else if ((value = json_object_get(result, "duration_ms")) !=
		    NULL && json_is_number(value))
			stats->daemon_ms[stats->daemon_count++] =
			    json_number_value(value);
	} else {
		stats->errors++;
		code = json_string_value(json_object_get(json_object_get(reply,
		    "error"), "code"));
		if (code == NULL)
			code = "?";
		seen = json_integer_value(json_object_get(stats->error_codes,
		    code));
		json_object_set_new(stats->error_codes, code,
		    json_integer(seen + 1));
	}
	json_decref(reply);
}

/* Print the per-command figures of NCOMMANDS STATS and the totals. */
static void
stats_print(const char *mode, struct command_stats *stats, size_t ncommands,
    double elapsed, double interval_ms)
{
	json_t	*out, *commands, *one;
	size_t	 i;

	commands = json_object();
	for (i = 0; i < ncommands; i++) {
		one = json_pack("{s:I, s:I, s:I, s:o, s:o, s:O}",
		    "sent", (json_int_t)stats[i].sent,
		    "ok", (json_int_t)stats[i].ok,
		    "errors", (json_int_t)stats[i].errors,
		    "round_trip_ms", summary_json(stats[i].round_trip_ms,
		    stats[i].ok + stats[i].errors),
		    "daemon_ms", summary_json(stats[i].daemon_ms,
		    stats[i].daemon_count),
		    "error_codes", stats[i].error_codes);
		json_object_set_new(commands, stats[i].name, one);
	}
	out = json_pack("{s:s, s:f, s:o}", "mode", mode, "elapsed_s", elapsed,
	    "commands", commands);
	if (interval_ms > 0)
		json_object_set_new(out, "interval_ms", json_real(interval_ms));
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
}

static void
stop_cb(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/*
 * Send request number *SENT + 1 (the next of COMMANDS in turn) and note
 * when it went and which command it was.
 */
static void
cycle_send(struct connection *c, char **commands, size_t ncommands,
    struct command_stats *stats, double *sent_at, size_t *which, size_t *sent)
{
	char	request[128];
	size_t	k = *sent % ncommands;
	int	n;

	n = request_format(request, sizeof request, (unsigned long)*sent + 1,
	    commands[k]);
	sent_at[*sent] = clock_monotonic();
	which[*sent] = k;
	stats[k].sent++;
	(*sent)++;
	connection_send(c, request, (size_t)n);
}

/*
 * latency and every: requests cycling through COMMANDS.  latency sends
 * COUNT of them, WINDOW at a time; every sends one every INTERVAL_MS (the
 * next waits for the previous reply) until a signal or FOR_S seconds.
 */
static int
mode_cycle(const char *mode, const char *path, char **commands,
    size_t ncommands, size_t count, size_t window, double interval_ms,
    double for_s)
{
	struct command_stats	 stats[CTLBENCH_MAX_COMMANDS];
	struct connection	 c;
	struct sigaction	 sa;
	double			*sent_at, start, next_due, now, wait_ms;
	size_t			*which, sent = 0, answered = 0, capacity,
				 offset, next, i, k;
	char			*line;
	json_t			*reply;
	json_int_t		 id;
	bool			 periodic = interval_ms > 0;
	int			 errors = 0;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = stop_cb;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* every: at most FOR_S / INTERVAL, or one per ms for an hour. */
	capacity = periodic ? (for_s > 0 ? (size_t)(for_s * 1e3 /
	    interval_ms) + 16 : 3600 * 1000) : count;
	memset(stats, 0, sizeof stats);
	for (i = 0; i < ncommands; i++) {
		stats[i].name = commands[i];
		stats[i].round_trip_ms = xcalloc(capacity, sizeof(double));
		stats[i].daemon_ms = xcalloc(capacity, sizeof(double));
		stats[i].error_codes = json_object();
	}
	sent_at = xcalloc(capacity + 1, sizeof *sent_at);
	which = xcalloc(capacity + 1, sizeof *which);

	connection_open(&c, path);
	start = clock_monotonic();
	next_due = start;
	for (;;) {
		now = clock_monotonic();
		if (periodic) {
			if (stop_requested || (for_s > 0 && now - start >= for_s))
				break;
			if (sent == answered && sent < capacity &&
			    now >= next_due) {
				cycle_send(&c, commands, ncommands, stats,
				    sent_at, which, &sent);
				/* The schedule, not the last send, sets the
				 * next time: a slow reply is not added on. */
				while (next_due <= now)
					next_due += interval_ms / 1e3;
			}
		} else {
			if (answered == count)
				break;
			while (sent < count && sent - answered < window) {
				cycle_send(&c, commands, ncommands, stats,
				    sent_at, which, &sent);
			}
		}

		if (periodic) {
			struct pollfd	pfd = { .fd = c.fd, .events = POLLIN };

			wait_ms = sent > answered ? 1000 :
			    (next_due - clock_monotonic()) * 1e3;
			if (wait_ms < 0)
				wait_ms = 0;
			if (poll(&pfd, 1, (int)(wait_ms + 0.999)) <= 0)
				continue;
		}
		if (!connection_fill(&c))
			continue;
		now = clock_monotonic();
		offset = 0;
		while ((line = connection_line(&c, offset, &next)) != NULL) {
			offset = next;
			if (strstr(line, "\"progress\":") != NULL &&
			    strstr(line, "\"ok\":") == NULL)
				continue;
			reply = json_loads(line, 0, NULL);
			id = json_integer_value(json_object_get(reply, "id"));
			json_decref(reply);
			if (id < 1 || (size_t)id > sent)
				tool_fatal(1, "a reply with an unexpected id: %.200s",
				    line);
			k = which[id - 1];
			stats_record(&stats[k], line, sent_at[id - 1], now);
			answered++;
		}
		connection_discard(&c, offset);
	}
	/* every: wait for the last reply, so nothing is left running. */
	while (answered < sent) {
		if (!connection_fill(&c))
			continue;
		now = clock_monotonic();
		offset = 0;
		while ((line = connection_line(&c, offset, &next)) != NULL) {
			offset = next;
			if (strstr(line, "\"ok\":") == NULL)
				continue;
			k = which[answered];
			stats_record(&stats[k], line, sent_at[answered], now);
			answered++;
		}
		connection_discard(&c, offset);
	}
	stats_print(mode, stats, ncommands, clock_monotonic() - start, interval_ms);
	for (i = 0; i < ncommands; i++) {
		errors += stats[i].errors > 0;
		free(stats[i].round_trip_ms);
		free(stats[i].daemon_ms);
		json_decref(stats[i].error_codes);
	}
	free(sent_at);
	free(which);
	close(c.fd);
	return errors == 0 ? 0 : 1;
}

/* One program of the spawn mode and its timings. */
struct spawn_program {
	char	**argv;		/* NULL-terminated, inside main's argv */
	size_t	  count;	/* timed runs */
	size_t	  done;
	size_t	  failures;
	double	 *times;
	double	  total_s;
};

/* Run ARGV once with standard output on DEVNULL; its wall time in ms. */
static double
spawn_once(char **argv, int devnull, bool *failed)
{
	double	start = clock_monotonic();
	pid_t	pid;
	int	status;

	if ((pid = fork()) == -1)
		tool_fatal(1, "fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(devnull, STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			tool_fatal(1, "waitpid: %s", strerror(errno));
	}
	*failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	return (clock_monotonic() - start) * 1e3;
}

/*
 * spawn: run each of the NPROGRAMS programs its COUNT times, interleaved
 * (in rounds, each program taking its share of every round) so that a
 * change of load on the machine hits all of them alike; WARMUP untimed runs
 * of each first.  Prints a JSON array, one object per program.
 */
static int
mode_spawn(struct spawn_program *programs, size_t nprograms, size_t warmup)
{
	size_t	 rounds, i, k, share, failures = 0;
	double	 elapsed;
	bool	 failed;
	int	 devnull;
	json_t	*out;

	if ((devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		tool_fatal(1, "/dev/null: %s", strerror(errno));
	rounds = programs[0].count;
	for (i = 0; i < nprograms; i++) {
		programs[i].times = xcalloc(programs[i].count, sizeof(double));
		if (programs[i].count < rounds)
			rounds = programs[i].count;
		for (k = 0; k < warmup; k++)
			spawn_once(programs[i].argv, devnull, &failed);
	}
	for (k = 0; k < rounds; k++) {
		for (i = 0; i < nprograms; i++) {
			struct spawn_program	*p = &programs[i];

			/* This round's share: what is left over the rounds
			 * left, so the counts come out exact. */
			share = (p->count - p->done) / (rounds - k);
			while (share-- > 0) {
				elapsed = spawn_once(p->argv, devnull, &failed);
				p->times[p->done++] = elapsed;
				p->total_s += elapsed / 1e3;
				if (failed && p->failures++ == 0)
					fprintf(stderr, "ctlbench: %s failed\n",
					    p->argv[0]);
			}
		}
	}
	out = json_array();
	for (i = 0; i < nprograms; i++) {
		json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:o, s:f}",
		    "program", programs[i].argv[0],
		    "runs", (json_int_t)programs[i].count,
		    "failures", (json_int_t)programs[i].failures,
		    "wall_ms", summary_json(programs[i].times,
		    programs[i].count),
		    "runs_per_s", (double)programs[i].count /
		    programs[i].total_s));
		failures += programs[i].failures;
		free(programs[i].times);
	}
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
	close(devnull);
	return failures == 0 ? 0 : 1;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
"usage: ctlbench -s SOCKET pipeline [-n COUNT] [-w WINDOW] COMMAND\n"
"       ctlbench -s SOCKET latency [-n COUNT] [-w WINDOW] COMMAND...\n"
"       ctlbench -s SOCKET every -i MS [--for SEC] COMMAND...\n"
"       ctlbench spawn [--warmup K] -- COUNT PROGRAM [ARG...]\n"
"                      [-- COUNT PROGRAM [ARG...]]...\n"
"Prints one line of JSON.  latency and every cycle through the commands;\n"
"every stops on SIGTERM, SIGINT or after --for SEC.  spawn runs the\n"
"programs interleaved, each COUNT times.\n");
	exit(2);
}

/* Parse a positive size. */
static size_t
parse_size(const char *text)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		usage();
	return (size_t)v;
}

int
main(int argc, char **argv)
{
	const char	*socket_path = NULL, *mode;
	size_t		 count = 1000, window = 1, warmup = 3;
	double		 interval_ms = 0, for_s = 0;
	int		 i = 1;

	signal(SIGPIPE, SIG_IGN);
	if (i + 1 < argc && strcmp(argv[i], "-s") == 0) {
		socket_path = argv[i + 1];
		i += 2;
	}
	if (i >= argc)
		usage();
	mode = argv[i++];
	for (; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			count = parse_size(argv[++i]);
		else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc)
			window = parse_size(argv[++i]);
		else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
			warmup = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc)
			interval_ms = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--for") == 0 && i + 1 < argc)
			for_s = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (argv[i][0] == '-')
			usage();
		else
			break;
	}
	if (strcmp(mode, "spawn") == 0) {
		struct spawn_program	*programs;
		size_t			 nprograms = 0;

		programs = xcalloc((size_t)argc, sizeof *programs);
		while (i + 1 < argc) {
			programs[nprograms].count = parse_size(argv[i]);
			programs[nprograms].argv = argv + i + 1;
			for (i++; i < argc && strcmp(argv[i], "--") != 0; i++)
				;
			if (i < argc)
				argv[i++] = NULL;	/* ends this argv */
			nprograms++;
		}
		if (nprograms == 0 || i != argc)
			usage();
		return mode_spawn(programs, nprograms, warmup);
	}
	if (socket_path == NULL || i >= argc)
		usage();
	if (strcmp(mode, "pipeline") == 0) {
		if (argc - i != 1)
			usage();
		return mode_pipeline(socket_path, count, window, argv[i]);
	}
	if (argc - i > CTLBENCH_MAX_COMMANDS)
		tool_fatal(1, "at most %d commands", CTLBENCH_MAX_COMMANDS);
	if (strcmp(mode, "latency") == 0)
		return mode_cycle(mode, socket_path, argv + i,
		    (size_t)(argc - i), count, window, 0, 0);
	if (strcmp(mode, "every") == 0) {
		if (interval_ms <= 0)
			usage();
		return mode_cycle(mode, socket_path, argv + i,
		    (size_t)(argc - i), 0, 1, interval_ms, for_s);
	}
	usage();
}
