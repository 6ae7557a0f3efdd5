/*
 * conn.c -- hotreloadctl's conversation with hotreloadd on the control socket.
 *
 * One connection carries one request line and its replies: zero or more
 * progress lines, then exactly one final line, the first with an "ok" member
 * (DESIGN.md section 5).  Replies may be of any length and arrive split or
 * several to a read.  Every wait is bounded by the deadline in struct ctl: a
 * daemon that is stuck or silent cannot hang the client.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hotreloadctl.h"

/* Bytes asked of each read(). */
#define CONN_READ_SIZE		65536

/* A reply line longer than this is not from a sane daemon. */
#define CONN_MAX_LINE		(64UL * 1024 * 1024)

/* Report why connect() failed; returns the exit status for it. */
static int
conn_connect_failed(struct ctl *ctl)
{
	switch (errno) {
	case EAGAIN:
		/* The listen queue stayed full until the deadline. */
		return (ctl_timed_out(ctl));
	case EACCES:
	case EPERM:
		ctl_warn("cannot reach hotreloadd at %s", ctl->socket_path);
		return (HR_EXIT_NOPERM);
	default:
		ctl_warn("cannot reach hotreloadd at %s", ctl->socket_path);
		return (HR_EXIT_UNAVAILABLE);
	}
}

/* Connect to the control socket before the deadline. */
int
conn_open(struct ctl *ctl)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv;
	double			 left;
	int			 fd, flags;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	/* ctl_parse() checked that the path fits. */
	memcpy(sun.sun_path, ctl->socket_path, strlen(ctl->socket_path) + 1);

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		ctl_warn("socket");
		return (HR_EXIT_UNAVAILABLE);
	}
	ctl->fd = fd;

	if ((left = ctl->deadline - ctl_now()) <= 0)
		return (ctl_timed_out(ctl));

	/*
	 * A blocking connect() to a Unix socket whose listen queue is full
	 * sleeps until there is room, and poll() cannot wait for that;
	 * SO_SNDTIMEO bounds the sleep (a zero timeval would mean forever).
	 */
	if (left > INT_MAX)
		left = INT_MAX;
	tv.tv_sec = (time_t)left;
	tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		tv.tv_usec = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1) {
		ctl_warn("setsockopt");
		return (HR_EXIT_UNAVAILABLE);
	}

	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		return (conn_connect_failed(ctl));

	/* From here on every wait is a poll() with the deadline. */
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		ctl_warn("fcntl");
		return (HR_EXIT_UNAVAILABLE);
	}
	return (HR_EXIT_OK);
}

/* Close the connection, if any. */
void
conn_close(struct ctl *ctl)
{
	if (ctl->fd != -1) {
		close(ctl->fd);
		ctl->fd = -1;
	}
}

/* Report that the daemon went away; returns the exit status for it. */
static int
conn_closed(void)
{
	ctl_warnx("hotreloadd closed the connection");
	return (HR_EXIT_UNAVAILABLE);
}

/*
 * Wait until the socket is ready for EVENTS or the deadline passes,
 * redrawing the progress line on a terminal meanwhile.
 */
static int
conn_wait(struct ctl *ctl, short events)
{
	struct pollfd	pfd;
	double		left, next;
	int		n;

	for (;;) {
		if ((left = ctl->deadline - ctl_now()) <= 0)
			return (ctl_timed_out(ctl));
		if ((next = progress_next()) >= 0 && next < left)
			left = next;

		/* Round up, so as not to spin just before the moment. */
		if (left * 1000 + 1 > INT_MAX)
			n = INT_MAX;
		else
			n = (int)(left * 1000) + 1;

		memset(&pfd, 0, sizeof pfd);
		pfd.fd = ctl->fd;
		pfd.events = events;
		switch (poll(&pfd, 1, n)) {
		case -1:
			if (errno == EINTR)
				continue;
			ctl_warn("poll");
			return (HR_EXIT_UNAVAILABLE);
		case 0:
			progress_tick();
			continue;
		default:
			/* Errors and hang-ups show in the next read or send. */
			return (HR_EXIT_OK);
		}
	}
}

/* Write LENGTH bytes of DATA to the daemon. */
static int
conn_write(struct ctl *ctl, const char *data, size_t length)
{
	size_t	done = 0;
	ssize_t	n;
	int	status;

	while (done < length) {
		/* MSG_NOSIGNAL: a daemon that went away is not a SIGPIPE. */
		n = send(ctl->fd, data + done, length - done, MSG_NOSIGNAL);
		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		switch (errno) {
		case EINTR:
			break;
		case EAGAIN:
			if ((status = conn_wait(ctl, POLLOUT)) != HR_EXIT_OK)
				return (status);
			break;
		case EPIPE:
		case ECONNRESET:
			/*
			 * The daemon may have refused us with an error line
			 * (too_many_clients) and closed before our request
			 * went out: the reply is still there to read, and
			 * conn_receive() reports a close if it is not.
			 */
			return (HR_EXIT_OK);
		default:
			ctl_warn("write to hotreloadd");
			return (HR_EXIT_UNAVAILABLE);
		}
	}
	return (HR_EXIT_OK);
}

/* Send REQUEST as one line. */
int
conn_send(struct ctl *ctl, json_t *request)
{
	char	*text, *line;
	size_t	 length;
	int	 status;

	if ((text = json_dumps(request, JSON_COMPACT)) == NULL) {
		ctl_warnx("cannot encode the request");
		return (HR_EXIT_ERROR);
	}
	length = strlen(text);
	if ((line = realloc(text, length + 2)) == NULL) {
		ctl_warn("realloc");
		free(text);
		return (HR_EXIT_ERROR);
	}
	line[length++] = '\n';
	line[length] = '\0';

	status = conn_write(ctl, line, length);
	free(line);
	return (status);
}

/* Is the line only white space? */
static int
conn_line_is_blank(const char *line, size_t length)
{
	size_t	i;

	for (i = 0; i < length; i++) {
		if (strchr(" \t\r", line[i]) == NULL)
			return (0);
	}
	return (1);
}

/*
 * Decode one reply line.  A progress line is shown and dropped; the final
 * line is handed back in *FINAL.  Lines with neither are ignored, so that a
 * newer daemon may send more kinds.
 */
static int
conn_handle_line(struct ctl *ctl, const char *line, size_t length,
    json_t **final)
{
	json_t		*reply, *ok, *progress;
	json_error_t	 error;

	if (conn_line_is_blank(line, length))
		return (HR_EXIT_OK);

	if ((reply = json_loadb(line, length, 0, &error)) == NULL) {
		ctl_warnx("invalid reply from hotreloadd: %s (column %d)",
		    error.text, error.column);
		return (HR_EXIT_ERROR);
	}
	if (!json_is_object(reply)) {
		ctl_warnx("invalid reply from hotreloadd: not a JSON object");
		json_decref(reply);
		return (HR_EXIT_ERROR);
	}

	if ((ok = json_object_get(reply, HR_FIELD_OK)) != NULL) {
		if (!json_is_boolean(ok)) {
			ctl_warnx("invalid reply from hotreloadd: \"%s\" is "
			    "neither true nor false", HR_FIELD_OK);
			json_decref(reply);
			return (HR_EXIT_ERROR);
		}
		*final = reply;
		return (HR_EXIT_OK);
	}

	/* A stream's event (watch): printed as it comes. */
	if (json_is_object(json_object_get(reply, HR_FIELD_EVENT))) {
		print_event(ctl, json_object_get(reply, HR_FIELD_EVENT));
		json_decref(reply);
		return (HR_EXIT_OK);
	}

	progress = json_object_get(reply, HR_FIELD_PROGRESS);
	if (json_is_object(progress)) {
		progress_update(progress);
		/*
		 * The daemon sends progress at least every second while it
		 * waits: as long as it does, it is alive, so -t bounds the
		 * silence rather than the whole wait.
		 */
		if (ctl->drain_wait && ctl_now() + ctl->timeout > ctl->deadline)
			ctl->deadline = ctl_now() + ctl->timeout;
	}
	json_decref(reply);
	return (HR_EXIT_OK);
}

/* Make room for at least CONN_READ_SIZE more bytes in *BUFFER. */
static int
conn_grow(char **buffer, size_t *size, size_t used)
{
	size_t	 new_size;
	char	*new_buffer;

	if (*size - used >= CONN_READ_SIZE)
		return (0);
	new_size = *size * 2;
	if (new_size < used + CONN_READ_SIZE)
		new_size = used + CONN_READ_SIZE;
	if ((new_buffer = realloc(*buffer, new_size)) == NULL)
		return (-1);
	*buffer = new_buffer;
	*size = new_size;
	return (0);
}

/* Read reply lines until the final one, which goes to *FINAL. */
int
conn_receive(struct ctl *ctl, json_t **final)
{
	char	*buffer = NULL, *newline;
	size_t	 size = 0, used = 0, start = 0, scanned = 0;
	ssize_t	 n;
	int	 status = HR_EXIT_OK;

	*final = NULL;
	while (status == HR_EXIT_OK && *final == NULL) {
		/* A complete line waiting in the buffer? */
		newline = NULL;
		if (scanned < used)
			newline = memchr(buffer + scanned, '\n', used - scanned);
		if (newline != NULL) {
			status = conn_handle_line(ctl, buffer + start,
			    (size_t)(newline - buffer) - start, final);
			start = scanned = (size_t)(newline - buffer) + 1;
			continue;
		}
		scanned = used;

		if (used - start > CONN_MAX_LINE) {
			ctl_warnx("invalid reply from hotreloadd: line longer "
			    "than %lu bytes", CONN_MAX_LINE);
			status = HR_EXIT_ERROR;
			break;
		}

		/* Keep only the partial line, then read more. */
		if (start > 0) {
			memmove(buffer, buffer + start, used - start);
			used -= start;
			scanned -= start;
			start = 0;
		}
		if (conn_grow(&buffer, &size, used) != 0) {
			ctl_warn("realloc");
			status = HR_EXIT_ERROR;
			break;
		}
		if ((status = conn_wait(ctl, POLLIN)) != HR_EXIT_OK)
			break;
		n = read(ctl->fd, buffer + used, size - used);
		if (n > 0)
			used += (size_t)n;
		else if (n == 0)
			status = conn_closed();
		else if (errno == ECONNRESET)
			status = conn_closed();
		else if (errno != EAGAIN && errno != EINTR) {
			ctl_warn("read from hotreloadd");
			status = HR_EXIT_UNAVAILABLE;
		}
	}
	free(buffer);

	if (status != HR_EXIT_OK) {
		json_decref(*final);
		*final = NULL;
	}
	return (status);
}
