/*
 * control-int.h -- what control.c (the clients) and control-socket.c (the
 * listening socket) share; the rest of the daemon uses hotreloadd.h.
 */
#ifndef HOTRELOAD_CONTROL_INT_H
#define HOTRELOAD_CONTROL_INT_H

#include <sys/types.h>
#include <sys/queue.h>

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/listener.h>

#include "hotreloadd.h"

struct control_client;

/* Why a connection was refused: the limit it ran into. */
enum control_refusal {
	CONTROL_REFUSED_MAX_CLIENTS,
	CONTROL_REFUSED_RESERVED,
	CONTROL_REFUSED_PER_UID,
	CONTROL_REFUSED_COUNT
};

struct control {
	struct event_base		*base;
	const struct config		*config;
	char				*path;
	dev_t				 dev;	/* of the socket we bound */
	ino_t				 inode;
	bool				 activated;	/* from systemd */
	struct evconnlistener		*listener;
	TAILQ_HEAD(, control_client)	 clients;
	unsigned int			 clients_count;
	uint64_t			 accepted;
	uint64_t			 refused;
	uint64_t			 refused_by[CONTROL_REFUSED_COUNT];
	uint64_t			 refused_logged;	/* in the log */
	uint64_t			 dropped_unread;	/* unread */
	time_t				 refused_log_time;
	struct event			*resume_event;	/* after EMFILE */
};

/* control.c: accept on FD, a listening socket (frees CTL on failure). */
struct control	*control_start(struct control *, int fd, char **cause);

#endif /* HOTRELOAD_CONTROL_INT_H */
