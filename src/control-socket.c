/*
 * control-socket.c -- the control socket's path: claiming it (refusing
 * when another daemon answers there, removing a stale socket), binding it
 * with its mode, setting a new mode on a reload without following a path a
 * user could replace, and taking a socket from systemd instead.  What
 * happens on it (clients, framing, limits) is control.c.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/util.h>

#include "control-int.h"
#include "log.h"

/*
 * Make sure PATH is free to bind: refuse when another daemon answers there
 * or when it is not a socket; remove a stale socket nobody listens on.
 */
static int
control_claim_path(const char *path, char **cause)
{
	struct sockaddr_un	 sun;
	struct stat		 sb;
	int			 fd, error;

	if (lstat(path, &sb) == -1) {
		if (errno == ENOENT)
			return (0);
		return (*cause = str_printf("%s: %s", path, strerror(errno)),
		    -1);
	}
	if (!S_ISSOCK(sb.st_mode))
		return (*cause = str_printf("%s exists and is not a socket; not "
		    "removing it", path), -1);

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (*cause = str_printf("socket: %s", strerror(errno)), -1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
		close(fd);
		return (*cause = str_printf("another hotreloadd is already "
		    "listening on %s", path), -1);
	}
	error = errno;
	close(fd);
	if (error != ECONNREFUSED)
		return (*cause = str_printf("%s: cannot check for another daemon: "
		    "%s", path, strerror(error)), -1);
	if (unlink(path) == -1 && errno != ENOENT)
		return (*cause = str_printf("%s: cannot remove stale socket: %s",
		    path, strerror(errno)), -1);
	log_info("removed stale socket %s", path);
	return (0);
}

/*
 * Give the socket file at PATH the mode MODE, or fail with CAUSE and change
 * nothing when PATH no longer names the socket with device DEV and inode
 * INODE, the one we bound.
 *
 * chmod() by path would follow a symbolic link a user with write access to
 * the directory planted there, and fchmod() on the listening socket changes
 * the socket object, not the file's mode.  So: open the path itself with
 * O_PATH | O_NOFOLLOW (a link is opened as a link, never followed), check
 * with fstat() that it is a socket with our device and inode, and change the
 * mode of that very inode through /proc/self/fd, which names the open file
 * and not a path that could change meanwhile.
 */
static int
control_chmod_socket(const char *path, dev_t dev, ino_t inode, mode_t mode,
    char **cause)
{
	struct stat	 sb;
	char		 proc[64];
	int		 fd;

	fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		*cause = str_printf("%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &sb) == -1) {
		*cause = str_printf("%s: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	if (!S_ISSOCK(sb.st_mode) || sb.st_dev != dev || sb.st_ino != inode) {
		*cause = str_printf("%s is no longer the daemon's socket (it "
		    "was replaced); not changing its mode", path);
		close(fd);
		return (-1);
	}
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (chmod(proc, mode) == -1) {
		*cause = str_printf("chmod %s (through %s): %s", path, proc,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

/*
 * Bind and listen on PATH with MODE; returns the socket or -1 and CAUSE, and
 * the device and inode of the socket file in DEV and INODE.
 *
 * The umask in force during bind() creates the file with exactly MODE (at
 * most 0777).  Only where something else decided (a default ACL on the
 * directory) is the mode set afterwards, and then never by following the
 * path: a user who can write to the directory could have swapped it.
 */
static int
control_bind(const char *path, mode_t mode, dev_t *dev, ino_t *inode,
    char **cause)
{
	struct sockaddr_un	 sun;
	struct stat		 sb;
	mode_t			 old_umask;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return (*cause = str_printf("%s: socket path too long", path), -1);
	if (control_claim_path(path, cause) == -1)
		return (-1);
	memcpy(sun.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return (*cause = str_printf("socket: %s", strerror(errno)), -1);
	/* The socket is born with MODE, never wider. */
	old_umask = umask(~mode & 0777);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		umask(old_umask);
		*cause = str_printf("bind %s: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	umask(old_umask);
	if (lstat(path, &sb) == -1 || listen(fd, 128) == -1) {
		*cause = str_printf("%s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return (-1);
	}
	if (!S_ISSOCK(sb.st_mode)) {
		/* Replaced right after bind(): not ours to remove. */
		*cause = str_printf("%s was replaced by something that is not "
		    "a socket while binding", path);
		close(fd);
		return (-1);
	}
	if ((sb.st_mode & 07777) != mode &&
	    control_chmod_socket(path, sb.st_dev, sb.st_ino, mode,
	    cause) == -1) {
		close(fd);
		return (-1);
	}
	*dev = sb.st_dev;
	*inode = sb.st_ino;
	return (fd);
}

/* Listen on the socket CONFIG names. */
struct control *
control_create(struct event_base *base, const struct config *config,
    char **cause)
{
	struct control	*ctl;
	int		 fd;

	*cause = NULL;
	if ((ctl = calloc(1, sizeof *ctl)) == NULL)
		return (NULL);
	ctl->base = base;
	ctl->config = config;
	TAILQ_INIT(&ctl->clients);
	if ((ctl->path = strdup(config->control.socket)) == NULL) {
		free(ctl);
		return (NULL);
	}
	fd = control_bind(ctl->path, config->control.mode, &ctl->dev,
	    &ctl->inode, cause);
	if (fd == -1) {
		free(ctl->path);
		free(ctl);
		return (NULL);
	}
	if ((ctl = control_start(ctl, fd, cause)) == NULL)
		return (NULL);
	log_info("listening on %s (mode %04o)", ctl->path,
	    (unsigned int)config->control.mode);
	return (ctl);
}

/*
 * Serve on FD, a listening Unix socket passed by systemd (socket
 * activation).  The unit owns the socket file: its path, mode and group
 * come from hotreloadd.socket, and the daemon never changes or removes it.
 */
struct control *
control_create_from_fd(struct event_base *base, const struct config *config,
    int fd, char **cause)
{
	struct control		*ctl;
	struct sockaddr_un	 sun;
	socklen_t		 len = sizeof sun;

	*cause = NULL;
	memset(&sun, 0, sizeof sun);
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == -1) {
		*cause = str_printf("socket from systemd: %s", strerror(errno));
		return (NULL);
	}
	/* libevent wants it non-blocking; nothing we start may inherit it. */
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1) {
		*cause = str_printf("socket from systemd: %s", strerror(errno));
		return (NULL);
	}
	if ((ctl = calloc(1, sizeof *ctl)) == NULL)
		return (NULL);
	ctl->base = base;
	ctl->config = config;
	ctl->activated = true;
	TAILQ_INIT(&ctl->clients);
	if (len > offsetof(struct sockaddr_un, sun_path) &&
	    sun.sun_path[0] != '\0')
		ctl->path = strndup(sun.sun_path, sizeof sun.sun_path);
	else
		ctl->path = strdup("(unnamed socket)");
	if (ctl->path == NULL) {
		free(ctl);
		return (NULL);
	}
	if ((ctl = control_start(ctl, fd, cause)) == NULL)
		return (NULL);
	log_info("listening on %s (socket from systemd)", ctl->path);
	if (strcmp(ctl->path, config->control.socket) != 0)
		log_warnx("control.socket is %s but systemd passed %s: "
		    "serving on %s; clients must use that path",
		    config->control.socket, ctl->path, ctl->path);
	return (ctl);
}

/*
 * Use a new configuration: limits apply to new requests at once, a new
 * mode is applied to the socket; a new socket path needs a restart.
 */
int
control_apply_config(struct control *ctl, const struct config *config,
    char **cause)
{
	*cause = NULL;
	/* A socket from systemd is the unit's: its path and mode stay. */
	if (ctl->activated) {
		ctl->config = config;
		return (0);
	}
	if (strcmp(config->control.socket, ctl->path) != 0)
		log_warnx("control.socket changed to %s: it takes effect when "
		    "hotreloadd restarts; still listening on %s",
		    config->control.socket, ctl->path);
	if (config->control.mode != ctl->config->control.mode &&
	    control_chmod_socket(ctl->path, ctl->dev, ctl->inode,
	    config->control.mode, cause) == -1)
		return (-1);
	ctl->config = config;
	return (0);
}
