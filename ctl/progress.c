/*
 * progress.c -- the waiting line hotreloadctl shows on a terminal.
 *
 * While hotreloadctl waits for a final reply and stderr is a terminal, one
 * line on stderr says what it is waiting for, "draining: 3 in flight (12s)",
 * rewritten in place after a carriage return.  It appears when the daemon
 * sends a progress line or once the wait has lasted PROGRESS_DELAY seconds,
 * is redrawn every second so the clock moves, and is erased before anything
 * else is printed.  With --json, or when stderr is not a terminal, nothing is
 * shown and progress lines are dropped.
 */
#include <sys/ioctl.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hotreloadctl.h"

/* Seconds of silence before the line shows up on its own. */
#define PROGRESS_DELAY		1.0

/* Erase the current terminal line and go back to its start. */
#define PROGRESS_ERASE		"\r\033[K"

static struct {
	int		 enabled;
	int		 visible;
	const char	*label;
	char		 detail[160];
	double		 started;
	double		 next;		/* when to redraw */
} progress;

/* Start timing the wait; LABEL says what is waited for. */
void
progress_init(const char *label, int enabled)
{
	memset(&progress, 0, sizeof progress);
	progress.enabled = enabled;
	progress.label = label;
	progress.started = ctl_now();
	progress.next = progress.started + PROGRESS_DELAY;
}

/* The width of the terminal on stderr. */
static size_t
progress_columns(void)
{
	struct winsize	ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == -1 || ws.ws_col == 0)
		return (80);
	return (ws.ws_col);
}

/* Draw the line now and schedule the next redraw on a whole second. */
static void
progress_draw(void)
{
	char	line[256], elapsed[32];
	double	seconds;
	size_t	i, columns;

	seconds = ctl_now() - progress.started;
	print_duration(elapsed, sizeof elapsed, seconds);
	snprintf(line, sizeof line, "%s%s%s (%s)", progress.label,
	    progress.detail[0] != '\0' ? ": " : "", progress.detail, elapsed);

	/* Strings from the daemon must not move the cursor about. */
	for (i = 0; line[i] != '\0'; i++) {
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	}
	/* A line that wraps could not be erased with one \r. */
	columns = progress_columns();
	if (strlen(line) >= columns)
		line[columns - 1] = '\0';

	fprintf(stderr, PROGRESS_ERASE "%s", line);
	fflush(stderr);
	progress.visible = 1;
	progress.next = progress.started + (double)((long long)seconds + 1);
}

/* Describe a progress object: "3 in flight", other members as "key value". */
static void
progress_describe(json_t *object, char *buffer, size_t size)
{
	const char	*key, *separator = "";
	json_t		*value;
	size_t		 used = 0;
	int		 n;

	buffer[0] = '\0';
	json_object_foreach(object, key, value) {
		if (strcmp(key, "in_flight") == 0 && json_is_integer(value)) {
			n = snprintf(buffer + used, size - used,
			    "%s%" JSON_INTEGER_FORMAT " in flight", separator,
			    json_integer_value(value));
		} else if (json_is_string(value)) {
			n = snprintf(buffer + used, size - used, "%s%s %s",
			    separator, key, json_string_value(value));
		} else if (json_is_number(value)) {
			n = snprintf(buffer + used, size - used, "%s%s %g",
			    separator, key, json_number_value(value));
		} else if (json_is_boolean(value)) {
			n = snprintf(buffer + used, size - used, "%s%s %s",
			    separator, key, json_is_true(value) ? "yes" : "no");
		} else
			continue;
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
		separator = ", ";
	}
}

/* Show a progress line from the daemon. */
void
progress_update(json_t *object)
{
	if (!progress.enabled)
		return;
	progress_describe(object, progress.detail, sizeof progress.detail);
	progress_draw();
}

/* Seconds until the line wants redrawing; -1 when it never does. */
double
progress_next(void)
{
	double	left;

	if (!progress.enabled)
		return (-1);
	if ((left = progress.next - ctl_now()) < 0)
		return (0);
	return (left);
}

/* Redraw the line if it is time. */
void
progress_tick(void)
{
	if (progress.enabled && ctl_now() >= progress.next)
		progress_draw();
}

/* Erase the line, if it is shown. */
void
progress_clear(void)
{
	if (!progress.visible)
		return;
	fputs(PROGRESS_ERASE, stderr);
	fflush(stderr);
	progress.visible = 0;
}
