/*
 * hotreloadctl.h -- declarations shared by the files of hotreloadctl.
 *
 * hotreloadctl.c  command line, command table, request, final reply
 * conn.c          the control socket: connect, send, read reply lines
 * progress.c      the updating "what are we waiting for" line on a terminal
 * print.c         human-readable and JSON output of results
 */
#ifndef HOTRELOADCTL_H
#define HOTRELOADCTL_H

#include <getopt.h>

#include <jansson.h>

#include "hotreload/protocol.h"

#define CTL_NAME			"hotreloadctl"

/* How long to wait for the daemon unless -t says otherwise, in seconds. */
#define CTL_DEFAULT_TIMEOUT		60.0

/*
 * drain --wait --timeout SEC waits at least SEC plus this margin; without
 * --timeout, -t bounds the silence between the daemon's progress lines.
 */
#define CTL_DRAIN_MARGIN		10.0

/* The id of our single request on a connection. */
#define CTL_REQUEST_ID			1

struct ctl;

/* A command: its names, its options and what to do with its result. */
struct ctl_command {
	const char		*name;		/* also the "cmd" on the wire */
	const char		*alias;		/* or NULL */
	const char		*synopsis;	/* options after the name, for help */
	const char		*help;
	const char		*waiting;	/* progress label, "draining" */

	/* Options after the command name; NULL: none. */
	const struct option	*options;
	void			(*option)(struct ctl *, int, const char *);
	/* Each operand after the options; NULL or -1: not taken. */
	int			(*operand)(struct ctl *, const char *);

	/* The request's "args"; NULL: an empty object. */
	json_t			*(*args)(struct ctl *);
	/* Print a successful result for a human. */
	void			(*print)(struct ctl *, json_t *);
	/* Exit status for a successful result; NULL: always 0. */
	int			(*exit_status)(struct ctl *, json_t *);
	/* Events until the client stops (watch): no deadline once sent. */
	int			 stream;
};

/* Everything one run of hotreloadctl knows. */
struct ctl {
	const struct ctl_command	*command;
	const char			*socket_path;
	int				 json;		/* -j */
	double				 timeout;	/* -t, seconds */

	int				 drain_wait;	/* drain --wait */
	double				 drain_timeout;	/* drain --timeout; 0: unset */

	int				 reload_dry_run; /* --dry-run */
	int				 reload_check;	/* --check */
	const char			*rollback_service; /* or NULL */
	long				 history_limit;	/* 0: unset */
	const char			*agents_capability; /* or NULL */
	json_t				*watch_services; /* watch --service */

	double				 wait;		/* seconds we allow */
	double				 deadline;	/* on ctl_now()'s clock */
	int				 fd;		/* -1: not connected */
};

/* hotreloadctl.c */
double	ctl_now(void);
int	ctl_timed_out(struct ctl *);
void	ctl_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	ctl_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));

/* conn.c */
int	conn_open(struct ctl *);
int	conn_send(struct ctl *, json_t *);
int	conn_receive(struct ctl *, json_t **);
void	conn_close(struct ctl *);

/* progress.c */
void	progress_init(const char *, int);
void	progress_update(json_t *);
double	progress_next(void);
void	progress_tick(void);
void	progress_clear(void);

/* print.c */
void	print_duration(char *, size_t, double);
void	print_json(json_t *);
void	print_status(struct ctl *, json_t *);
void	print_drain(struct ctl *, json_t *);
void	print_resume(struct ctl *, json_t *);
void	print_reload_service(struct ctl *, json_t *);
void	print_reload(struct ctl *, json_t *);
void	print_version(struct ctl *, json_t *);
void	print_history(struct ctl *, json_t *);
void	print_agents(struct ctl *, json_t *);
void	print_event(struct ctl *, json_t *);
void	print_watch_end(struct ctl *, json_t *);
void	print_metrics(struct ctl *, json_t *);

#endif /* HOTRELOADCTL_H */
