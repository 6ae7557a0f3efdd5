/*
 * control.c -- the control socket's clients: accepting, framing, replies,
 * limits, credentials.  The socket's path (claiming, binding, its mode, a
 * socket from systemd) is control-socket.c.
 *
 * A stream Unix socket; each client sends newline-delimited JSON requests
 * (protocol version 1, see proto.c) and gets replies in order.  A client has
 * at most one request outstanding: further input stays buffered until the
 * final reply of the current one is written, which is what keeps replies in
 * order and gives back-pressure to a client that floods us.
 *
 * Replies are bounded too: once a quarter of control.max_reply_bytes_queued
 * waits for a client, its further requests are not read until it catches
 * up, and a client whose queue would grow past the limit (progress lines of
 * a command it stopped reading) is disconnected; its command goes on.
 *
 * Limits come from the configuration: control.max_clients (excess
 * connections get one error line and are closed), of which the last
 * control.reserved_admin_clients slots are kept for admin peers and one
 * non-admin uid gets at most control.max_clients_per_uid;
 * control.max_request_bytes (an over-long line is answered with bad_request
 * and skipped; the connection stays usable) and control.idle_timeout_s (a
 * client that runs no command and sends no complete request for that long
 * is closed, whatever sits in its buffers).
 *
 * The peer's uid and groups come from SO_PEERCRED and SO_PEERGROUPS: anyone
 * who can connect may run read-only commands, state-changing ones need root,
 * a uid in control.admin_uids or a group in control.admin_groups.
 *
 * Under socket activation the listening socket comes from systemd
 * (control_create_from_fd, in control-socket.c): its path and mode are the
 * unit's, and the daemon neither changes nor removes it.
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

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "control-int.h"
#include "log.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS	59
#endif

#define CONTROL_MAX_GROUPS	256

/* Their names in status and in the log: the configuration keys. */
static const char *const control_refusal_keys[CONTROL_REFUSED_COUNT] = {
	"max_clients", "reserved_admin_clients", "max_clients_per_uid"
};

struct control_client {
	struct control		*control;
	struct bufferevent	*bev;
	struct event		*process_event;	/* look at buffered input */
	struct event		*close_watch;	/* peer gone, while not reading */
	struct event		*idle_event;	/* control.idle_timeout_s */
	uid_t			 uid;
	gid_t			 gid;
	pid_t			 pid;
	gid_t			*groups;	/* primary and supplementary */
	size_t			 groups_count;
	char			 origin[64];	/* "uid 0 pid 123" */
	struct cmdq_item	*item;		/* the request being served */
	bool			 discarding;	/* skipping an over-long line */
	bool			 eof;		/* peer shut its side */
	bool			 closing;	/* close once output is out */
	bool			 paused;	/* replies pile up */
	uint64_t		 stream_dropped; /* events over the bound */
	bool			 dropped;	/* freed on the next turn */
	TAILQ_ENTRY(control_client) entry;
};

/* Seconds between two log lines about refused connections. */
#define CONTROL_REFUSED_LOG_INTERVAL	10
/* How long to stop accepting when out of file descriptors. */
#define CONTROL_ACCEPT_PAUSE_MS		200

static void	control_client_free(struct control_client *);
static bool	control_peer_closed(evutil_socket_t);
static void	control_client_process(struct control_client *);
static void	control_client_watch_close(struct control_client *, bool);

/* Is a peer with UID and GROUPS allowed to change state under CONFIG? */
bool
control_peer_is_admin(const struct config *config, uid_t uid,
    const gid_t *groups, size_t groups_count)
{
	size_t	i, j;

	if (uid == 0)
		return (true);
	for (i = 0; i < config->control.admin_uids_count; i++) {
		if (config->control.admin_uids[i] == uid)
			return (true);
	}
	for (i = 0; i < config->control.admin_gids_count; i++) {
		for (j = 0; j < groups_count; j++) {
			if (config->control.admin_gids[i] == groups[j])
				return (true);
		}
	}
	return (false);
}

/* Read the peer's credentials and groups from the kernel. */
static int
control_client_credentials(struct control_client *c, int fd)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof cred;
	gid_t		 groups[CONTROL_MAX_GROUPS];
	socklen_t	 groups_len = sizeof groups;
	size_t		 n = 0, i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return (-1);
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	/* Supplementary groups, where the kernel can tell (Linux 4.13+). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups,
	    &groups_len) == 0)
		n = groups_len / sizeof groups[0];
	c->groups = calloc(n + 1, sizeof *c->groups);
	if (c->groups == NULL)
		return (-1);
	c->groups[0] = cred.gid;
	for (i = 0; i < n; i++)
		c->groups[i + 1] = groups[i];
	c->groups_count = n + 1;
	snprintf(c->origin, sizeof c->origin, "uid %lu pid %ld",
	    (unsigned long)c->uid, (long)c->pid);
	return (0);
}

/* The bytes of replies waiting for the client in our buffer. */
static size_t
control_client_queued(struct control_client *c)
{
	return (evbuffer_get_length(bufferevent_get_output(c->bev)));
}

/*
 * Disconnect a client whose replies pile up, on a later loop turn (we may
 * be inside its reply callback or its request loop).  A command it started
 * goes on without it.
 */
static void
control_client_drop(struct control_client *c, size_t wanted)
{
	struct control	*ctl = c->control;

	ctl->dropped_unread++;
	log_warnx("client %s does not read its replies: %zu bytes would be "
	    "queued (control.max_reply_bytes_queued is %zu); disconnecting",
	    c->origin, wanted, ctl->config->control.max_reply_bytes_queued);
	if (c->item != NULL) {
		log_info("client %s disconnected; %s goes on", c->origin,
		    c->item->cmd->name);
		cmdq_item_set_reply(c->item, NULL, NULL);
		c->item = NULL;
	}
	c->dropped = true;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	control_client_watch_close(c, false);
	evtimer_del(c->idle_event);
	event_active(c->process_event, 0, 0);
}

/*
 * Queue LINE for the client; takes nothing.  A line that would take the
 * queue past control.max_reply_bytes_queued disconnects the client; one
 * line into an empty queue always goes (a reply is as large as the daemon's
 * own state, not something the client controls).
 */
static void
control_client_write(struct control_client *c, json_t *line)
{
	char	*text;
	size_t	 length, queued, max;

	if (c->dropped)
		return;
	if ((text = proto_encode_line(line, &length)) == NULL)
		return;
	queued = control_client_queued(c);
	max = c->control->config->control.max_reply_bytes_queued;
	if (queued > 0 && queued + length > max)
		control_client_drop(c, queued + length);
	else
		bufferevent_write(c->bev, text, length);
	free(text);
}

/* Send an error reply for request ID (may be NULL). */
static void
control_client_error(struct control_client *c, json_t *id, const char *code,
    const char *message)
{
	json_t	*line = proto_reply_error(id, code, message);

	control_client_write(c, line);
	json_decref(line);
}

/*
 * (Re)start the idle timer (ON) or stop it.  It runs whenever the client has
 * no command outstanding and restarts only at a complete request, not at
 * every byte: a client trickling half a line, or one whose replies sit
 * unread, still loses its slot at control.idle_timeout_s.
 */
static void
control_client_idle_timer(struct control_client *c, bool on)
{
	struct timeval	 tv;

	if (on) {
		tv.tv_sec = c->control->config->control.idle_timeout_s;
		tv.tv_usec = 0;
		evtimer_add(c->idle_event, &tv);
	} else
		evtimer_del(c->idle_event);
}

/* Close the client once everything queued for it has been written. */
static void
control_client_close_after_write(struct control_client *c)
{
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	if (control_client_queued(c) == 0) {
		control_client_free(c);
		return;
	}
	/* One that never reads its last lines goes at the next timeout. */
	control_client_idle_timer(c, true);
}

/*
 * An event line of a stream (watch).  A watcher that stops reading costs
 * at most control.watch_buffer_bytes: beyond it events are dropped and
 * counted, and once its queue is down to half a "lagged" event says how
 * many (control_client_write_cb).  It is never disconnected for it.
 */
static void
control_client_stream(struct control_client *c, json_t *line)
{
	size_t	 length, queued, max;
	char	*text;

	if (c->dropped || (text = proto_encode_line(line, &length)) == NULL)
		return;
	queued = control_client_queued(c);
	max = c->control->config->control.watch_buffer_bytes;
	if (c->stream_dropped > 0 || (queued > 0 && queued + length > max)) {
		if (c->stream_dropped++ == 0)
			bufferevent_setwatermark(c->bev, EV_WRITE, max / 2, 0);
	} else
		bufferevent_write(c->bev, text, length);
	free(text);
}

/* The stream's queue is down to half: say what was dropped. */
static void
control_client_stream_lagged(struct control_client *c)
{
	json_t		*line;
	char		*text;
	size_t		 length;
	uint64_t	 dropped = c->stream_dropped;

	c->stream_dropped = 0;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (c->item == NULL || c->item->cmd->lagged == NULL)
		return;
	/* Into a queue at half the bound: never over it. */
	line = proto_reply_event(c->item->id, c->item->cmd->lagged(c->item,
	    dropped));
	if ((text = proto_encode_line(line, &length)) != NULL)
		bufferevent_write(c->bev, text, length);
	free(text);
	json_decref(line);
}

/* Replies of the client's outstanding item. */
static void
control_client_reply_cb(struct cmdq_item *item, json_t *line, bool final,
    void *arg)
{
	struct control_client	*c = arg;

	if (!final && (item->cmd->flags & CMD_STREAM)) {
		control_client_stream(c, line);
		return;
	}
	control_client_write(c, line);
	if (!final || c->dropped)
		return;
	c->item = NULL;
	control_client_watch_close(c, false);
	if (!c->closing)
		control_client_idle_timer(c, true);
	/* Look at input that arrived meanwhile, on a later turn. */
	event_active(c->process_event, 0, 0);
}

/* Handle one complete request line. */
static void
control_client_handle(struct control_client *c, const char *line,
    size_t length)
{
	struct control		*ctl = c->control;
	struct proto_request	 req;
	const struct cmd_entry	*cmd;
	struct cmdq_item	*item;
	const char		*code;
	char			*message = NULL;
	json_t			*id = NULL;

	if (strspn(line, " \t") == length)
		return;		/* blank lines are harmless */
	/* A request: the client is not idle. */
	control_client_idle_timer(c, true);
	if (proto_parse_request(line, length, &req, &id, &code,
	    &message) == -1) {
		log_debug("client %s: %s: %s", c->origin, code, message);
		control_client_error(c, id, code, message);
		json_decref(id);
		free(message);
		return;
	}

	if ((cmd = cmd_find(req.cmd)) == NULL) {
		message = str_printf("unknown command \"%s\"", req.cmd);
		control_client_error(c, req.id, HR_ERR_UNKNOWN_COMMAND,
		    message);
		goto out;
	}
	if (cmd->check != NULL && cmd->check(req.args, &message) == -1) {
		control_client_error(c, req.id, HR_ERR_BAD_REQUEST, message);
		goto out;
	}
	if (cmd->flags & CMD_STATE_CHANGING) {
		if (!control_peer_is_admin(ctl->config, c->uid, c->groups,
		    c->groups_count)) {
			log_warnx("refused %s from %s: not an admin",
			    cmd->name, c->origin);
			message = str_printf("%s changes state and needs admin "
			    "rights: uid %lu is not root, not in "
			    "control.admin_uids, and none of its groups is in "
			    "control.admin_groups", cmd->name,
			    (unsigned long)c->uid);
			control_client_error(c, req.id, HR_ERR_FORBIDDEN,
			    message);
			goto out;
		}
		if (hr->registry->shutting_down) {
			control_client_error(c, req.id, HR_ERR_SHUTTING_DOWN,
			    "hotreloadd is shutting down");
			goto out;
		}
	}

	item = cmdq_item_create(cmd, req.id, req.args, c->uid, c->pid,
	    c->origin);
	if (item == NULL) {
		control_client_error(c, req.id, HR_ERR_INTERNAL,
		    "out of memory");
		goto out;
	}
	cmdq_item_set_reply(item, control_client_reply_cb, c);
	c->item = item;
	/* A command runs: no idle timeout until it is answered. */
	control_client_idle_timer(c, false);
	if (cmd->flags & CMD_STATE_CHANGING) {
		/* A full queue answers queue_full itself. */
		cmdq_append(hr->cmdq, item, false);
	} else
		cmdq_run_now(hr->cmdq, item);
	/* Still outstanding (not answered at once): notice if the peer goes. */
	if (c->item != NULL)
		control_client_watch_close(c, true);

out:
	free(message);
	proto_request_clear(&req);
}

/*
 * Are the client's replies piling up?  Then stop serving its requests; the
 * write callback resumes once the queue is down to a quarter of the limit.
 */
static bool
control_client_backlogged(struct control_client *c)
{
	size_t	quarter;

	quarter = c->control->config->control.max_reply_bytes_queued / 4;
	if (control_client_queued(c) <= quarter)
		return (false);
	c->paused = true;
	bufferevent_setwatermark(c->bev, EV_WRITE, quarter, 0);
	return (true);
}

/* Serve buffered complete lines until a request stays outstanding. */
static void
control_client_process(struct control_client *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	char		*line, *message;
	size_t		 length, max = c->control->config->control.max_request_bytes;

	while (c->item == NULL && !c->closing && !c->dropped &&
	    !control_client_backlogged(c)) {
		switch (proto_next_line(in, max, &c->discarding, &line,
		    &length)) {
		case PROTO_FRAME_NONE:
			if (c->eof) {
				control_client_close_after_write(c);
				return;
			}
			bufferevent_enable(c->bev, EV_READ);
			return;
		case PROTO_FRAME_TOO_LONG:
			log_warnx("client %s: request over %zu bytes",
			    c->origin, max);
			message = str_printf("request longer than %zu bytes "
			    "(control.max_request_bytes)", max);
			control_client_error(c, NULL, HR_ERR_BAD_REQUEST,
			    message);
			free(message);
			break;
		case PROTO_FRAME_SKIPPED:
			break;
		case PROTO_FRAME_LINE:
			control_client_handle(c, line, length);
			free(line);
			break;
		}
	}
	/* Outstanding request or replies piling up: stop reading. */
	if (!c->closing && !c->dropped)
		bufferevent_disable(c->bev, EV_READ);
}

/* Deferred look at the input after a reply went out; or the end. */
static void
control_client_process_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct control_client	*c = arg;

	if (c->dropped) {
		control_client_free(c);
		return;
	}
	control_client_process(c);
}

/* Input arrived. */
static void
control_client_read_cb(__attribute__((unused)) struct bufferevent *bev,
    void *arg)
{
	struct control_client	*c = arg;

	if (!c->dropped)
		control_client_process(c);
}

/* Output drained (to the write low watermark): close, or read again. */
static void
control_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_client	*c = arg;

	if (c->dropped)
		return;
	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			control_client_free(c);
		return;
	}
	if (c->stream_dropped > 0) {
		control_client_stream_lagged(c);
		return;
	}
	if (c->paused) {
		c->paused = false;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		event_active(c->process_event, 0, 0);
	}
}

/*
 * The idle timer: the client ran no command and sent no request for
 * control.idle_timeout_s.  One that reads is told and closed; one that
 * leaves its replies unread (or never read the last line we sent before
 * closing) is closed at once: telling it would only queue more.
 */
static void
control_client_idle_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct control_client	*c = arg;
	char			*message;
	int			 idle = c->control->config->control.idle_timeout_s;

	if (c->dropped)
		return;
	if (c->closing || control_client_queued(c) > 0) {
		c->control->dropped_unread++;
		log_info("client %s: idle for %d s with %zu bytes of replies "
		    "unread, closing", c->origin, idle,
		    control_client_queued(c));
		control_client_free(c);
		return;
	}
	log_debug("client %s: idle for %d s, closing", c->origin, idle);
	message = str_printf("idle for %d s (control.idle_timeout_s); closing",
	    idle);
	control_client_error(c, NULL, HR_ERR_TIMEOUT, message);
	free(message);
	control_client_close_after_write(c);
}

/* End of file and errors. */
static void
control_client_event_cb(__attribute__((unused)) struct bufferevent *bev,
    short events, void *arg)
{
	struct control_client	*c = arg;

	if (c->dropped)
		return;
	if (events & BEV_EVENT_EOF) {
		/*
		 * A peer that closed for good cannot read a reply: drop it
		 * now (its command goes on, and the log says so).  One that
		 * shut only its writing side still gets its replies.
		 */
		if (control_peer_closed(bufferevent_getfd(c->bev))) {
			if (control_client_queued(c) > 0)
				log_info("client %s went away before reading "
				    "its reply", c->origin);
			control_client_free(c);
			return;
		}
		c->eof = true;
		bufferevent_disable(c->bev, EV_READ);
		if (c->item == NULL && !c->paused)
			control_client_process(c);
		return;
	}
	if (events & BEV_EVENT_ERROR) {
		/* A reply it never read: say so, an operator may wonder. */
		if (control_client_queued(c) > 0)
			log_info("client %s went away before reading its "
			    "reply", c->origin);
		else
			log_debug("client %s: %s", c->origin,
			    evutil_socket_error_to_string(
			    EVUTIL_SOCKET_ERROR()));
		control_client_free(c);
	}
}

/*
 * Has the peer closed both directions?  A zero-length send on a Unix stream
 * socket fails with EPIPE only then; after a shutdown(SHUT_WR) it succeeds.
 */
static bool
control_peer_closed(evutil_socket_t fd)
{
	return (send(fd, "", 0, MSG_NOSIGNAL | MSG_DONTWAIT) == -1 &&
	    (errno == EPIPE || errno == ECONNRESET));
}

/*
 * The peer hung up while its request was outstanding (we do not read then,
 * so the bufferevent cannot see it).  One that closed for good is dropped
 * now, so it does not hold a client slot until its command ends; one that
 * only shut its writing side keeps waiting for its reply.
 */
static void
control_client_closed_cb(evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct control_client	*c = arg;

	if (!c->dropped && control_peer_closed(fd))
		control_client_free(c);
}

/* Watch for the peer hanging up (ON) or stop watching. */
static void
control_client_watch_close(struct control_client *c, bool on)
{
	if (c->close_watch == NULL)
		return;
	if (on)
		event_add(c->close_watch, NULL);
	else
		event_del(c->close_watch);
}

/* Drop a client; a command it sent goes on without it. */
static void
control_client_free(struct control_client *c)
{
	struct control	*ctl = c->control;

	if (c->item != NULL) {
		log_info("client %s went away; %s goes on", c->origin,
		    c->item->cmd->name);
		cmdq_item_set_reply(c->item, NULL, NULL);
	}
	TAILQ_REMOVE(&ctl->clients, c, entry);
	ctl->clients_count--;
	/* Off the socket before the bufferevent closes it. */
	if (c->close_watch != NULL)
		event_free(c->close_watch);
	bufferevent_free(c->bev);
	event_free(c->process_event);
	event_free(c->idle_event);
	free(c->groups);
	free(c);
}

/* Is the client an admin under the configuration in force? */
static bool
control_client_is_admin(struct control *ctl, struct control_client *c)
{
	return (control_peer_is_admin(ctl->config, c->uid, c->groups,
	    c->groups_count));
}

/* How many non-admin connections UID holds. */
static int
control_uid_clients(struct control *ctl, uid_t uid)
{
	struct control_client	*c;
	int			 n = 0;

	TAILQ_FOREACH(c, &ctl->clients, entry) {
		if (c->uid == uid && !control_client_is_admin(ctl, c))
			n++;
	}
	return (n);
}

/*
 * Refuse a connection over a limit (WHY) with one error line naming it, and
 * log refusals at most once every CONTROL_REFUSED_LOG_INTERVAL seconds.
 */
static void
control_refuse(struct control *ctl, evutil_socket_t fd,
    enum control_refusal why, uid_t uid)
{
	const struct config	*config = ctl->config;
	json_t			*line;
	char			*text, *message;
	size_t			 length;

	ctl->refused++;
	ctl->refused_by[why]++;
	switch (why) {
	case CONTROL_REFUSED_RESERVED:
		message = str_printf("too many clients: the last %d of "
		    "control.max_clients (%d) are reserved for admins "
		    "(control.reserved_admin_clients)",
		    config->control.reserved_admin_clients,
		    config->control.max_clients);
		break;
	case CONTROL_REFUSED_PER_UID:
		message = str_printf("too many clients from uid %lu "
		    "(control.max_clients_per_uid is %d)", (unsigned long)uid,
		    config->control.max_clients_per_uid);
		break;
	default:
		message = str_printf("too many clients (control.max_clients "
		    "is %d)", config->control.max_clients);
		break;
	}
	line = proto_reply_error(NULL, HR_ERR_TOO_MANY_CLIENTS, message);
	if ((text = proto_encode_line(line, &length)) != NULL) {
		/* Best effort: a fresh socket buffer takes one short line. */
		if (send(fd, text, length, MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
			log_debug("refusing client: %s", strerror(errno));
		free(text);
	}
	json_decref(line);
	free(message);
	evutil_closesocket(fd);

	/* A flood of connections must not flood the log too. */
	if (time(NULL) - ctl->refused_log_time >=
	    CONTROL_REFUSED_LOG_INTERVAL) {
		log_warnx("refused %llu connection(s): %u clients connected "
		    "(the last over control.%s)",
		    (unsigned long long)(ctl->refused - ctl->refused_logged),
		    ctl->clients_count, control_refusal_keys[why]);
		ctl->refused_logged = ctl->refused;
		ctl->refused_log_time = time(NULL);
	}
}

/*
 * A new connection.  Over control.max_clients it is refused before anything
 * else; otherwise its credentials decide: the last
 * control.reserved_admin_clients slots and any number of connections go to
 * admin peers only, a non-admin uid gets control.max_clients_per_uid.
 */
static void
control_accept_cb(__attribute__((unused)) struct evconnlistener *listener,
    evutil_socket_t fd, __attribute__((unused)) struct sockaddr *sa,
    __attribute__((unused)) int socklen, void *arg)
{
	struct control		*ctl = arg;
	const struct config	*config = ctl->config;
	struct control_client	*c;
	unsigned int		 open_slots;

	if (ctl->clients_count >= (unsigned int)config->control.max_clients) {
		control_refuse(ctl, fd, CONTROL_REFUSED_MAX_CLIENTS, 0);
		return;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->control = ctl;
	if (control_client_credentials(c, fd) == -1) {
		log_warn("client credentials");
		free(c->groups);
		free(c);
		evutil_closesocket(fd);
		return;
	}
	if (!control_client_is_admin(ctl, c)) {
		open_slots = (unsigned int)(config->control.max_clients -
		    config->control.reserved_admin_clients);
		if (ctl->clients_count >= open_slots) {
			control_refuse(ctl, fd, CONTROL_REFUSED_RESERVED,
			    c->uid);
			free(c->groups);
			free(c);
			return;
		}
		if (control_uid_clients(ctl, c->uid) >=
		    config->control.max_clients_per_uid) {
			control_refuse(ctl, fd, CONTROL_REFUSED_PER_UID,
			    c->uid);
			free(c->groups);
			free(c);
			return;
		}
	}
	c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->process_event = event_new(ctl->base, -1, 0,
	    control_client_process_cb, c);
	c->idle_event = evtimer_new(ctl->base, control_client_idle_cb, c);
	if (c->bev == NULL || c->process_event == NULL ||
	    c->idle_event == NULL) {
		log_warnx("out of memory accepting a client");
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->process_event != NULL)
			event_free(c->process_event);
		if (c->idle_event != NULL)
			event_free(c->idle_event);
		free(c->groups);
		free(c);
		return;
	}
	/* Without EV_CLOSED (not epoll), a gone peer is seen at its reply. */
	if (event_base_get_features(ctl->base) & EV_FEATURE_EARLY_CLOSE)
		c->close_watch = event_new(ctl->base, fd, EV_CLOSED,
		    control_client_closed_cb, c);
	bufferevent_setcb(c->bev, control_client_read_cb,
	    control_client_write_cb, control_client_event_cb, c);
	control_client_idle_timer(c, true);
	bufferevent_enable(c->bev, EV_READ);
	TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
	ctl->clients_count++;
	ctl->accepted++;
	log_debug("client %s connected (%u)", c->origin, ctl->clients_count);
}

/* Accept connections again after a pause. */
static void
control_accept_resume_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct control	*ctl = arg;

	if (ctl->listener != NULL)
		evconnlistener_enable(ctl->listener);
}

/*
 * Errors on the listening socket.  Out of file descriptors, the pending
 * connection stays pending and accept() would fail again at once: pause
 * accepting for a moment instead of spinning.
 */
static void
control_accept_error_cb(struct evconnlistener *listener, void *arg)
{
	struct control	*ctl = arg;
	int		 error = EVUTIL_SOCKET_ERROR();
	struct timeval	 tv = { 0, CONTROL_ACCEPT_PAUSE_MS * 1000 };

	log_warnx("accept on the control socket: %s",
	    evutil_socket_error_to_string(error));
	if (error == EMFILE || error == ENFILE || error == ENOBUFS ||
	    error == ENOMEM) {
		evconnlistener_disable(listener);
		evtimer_add(ctl->resume_event, &tv);
	}
}

/*
 * Accept connections on FD, a listening socket: the last step of both
 * control_create() and control_create_from_fd().  Frees CTL on failure.
 */
struct control *
control_start(struct control *ctl, int fd, char **cause)
{
	ctl->listener = evconnlistener_new(ctl->base, control_accept_cb, ctl,
	    LEV_OPT_CLOSE_ON_FREE, -1, fd);
	ctl->resume_event = evtimer_new(ctl->base, control_accept_resume_cb,
	    ctl);
	if (ctl->listener == NULL || ctl->resume_event == NULL) {
		if (ctl->listener != NULL)
			evconnlistener_free(ctl->listener);
		else
			close(fd);
		if (ctl->resume_event != NULL)
			event_free(ctl->resume_event);
		*cause = str_printf("%s: cannot listen", ctl->path);
		if (!ctl->activated)
			unlink(ctl->path);
		free(ctl->path);
		free(ctl);
		return (NULL);
	}
	evconnlistener_set_error_cb(ctl->listener, control_accept_error_cb);
	return (ctl);
}

/* Stop accepting connections (the clients stay). */
void
control_stop_listening(struct control *ctl)
{
	if (ctl->listener != NULL) {
		evconnlistener_free(ctl->listener);
		ctl->listener = NULL;
	}
}

/* Connected clients. */
unsigned int
control_client_count(struct control *ctl)
{
	return (ctl->clients_count);
}

/* Connections refused over the limit since start. */
uint64_t
control_refused_count(struct control *ctl)
{
	return (ctl->refused);
}

/*
 * The clients part of status: connected, refused (in all and by the limit
 * that refused them) and disconnected for leaving replies unread.
 */
json_t *
control_clients_status(struct control *ctl)
{
	json_t	*by;
	int	 i;

	by = json_object();
	for (i = 0; i < CONTROL_REFUSED_COUNT; i++)
		json_object_set_new(by, control_refusal_keys[i],
		    json_integer((json_int_t)ctl->refused_by[i]));
	return (json_pack("{s:I, s:I, s:o, s:I}",
	    "connected", (json_int_t)ctl->clients_count,
	    "refused", (json_int_t)ctl->refused,
	    "refused_by", by,
	    "disconnected_unread", (json_int_t)ctl->dropped_unread));
}

/*
 * At exit: hand the replies still queued for a client to the kernel.  The
 * loop ends on the turn that decided to exit, so a reply written on that
 * turn (a command done just before SIGTERM's shutdown, the shutting_down
 * answers of the commands it cancelled) would otherwise never go out.  The
 * socket is non-blocking: this never waits for a client that does not read.
 */
static void
control_client_flush(struct control_client *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	evutil_socket_t	 fd = bufferevent_getfd(c->bev);
	size_t		 length = evbuffer_get_length(out), sent = 0;
	unsigned char	*data;
	ssize_t		 n;

	/* (The bufferevent owns the front of OUT: read it, do not drain.) */
	if (length == 0 || (data = evbuffer_pullup(out, -1)) == NULL)
		return;
	while (sent < length) {
		n = send(fd, data + sent, length - sent,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	if (sent < length)
		log_warnx("client %s: %zu bytes of replies not sent at exit",
		    c->origin, length - sent);
}

/*
 * Close everything.  With UNLINK_SOCKET, remove the socket file if it is
 * still the one we bound (a newer daemon may have replaced it); a socket
 * from systemd is never removed.
 */
void
control_free(struct control *ctl, bool unlink_socket)
{
	struct control_client	*c;
	struct stat		 sb;

	if (ctl == NULL)
		return;
	while ((c = TAILQ_FIRST(&ctl->clients)) != NULL) {
		if (!c->dropped)
			control_client_flush(c);
		control_client_free(c);
	}
	control_stop_listening(ctl);
	event_free(ctl->resume_event);
	if (unlink_socket && !ctl->activated && lstat(ctl->path, &sb) == 0 &&
	    S_ISSOCK(sb.st_mode) && sb.st_dev == ctl->dev &&
	    sb.st_ino == ctl->inode)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
