/*
 * hotreloadd.h -- types shared by the subsystems of the daemon.
 *
 * The daemon is one thread around one libevent event_base.  Its parts:
 *
 *   control   the Unix control socket: clients, framing, peer credentials
 *   proto     request parsing and reply lines of protocol version 1
 *   cmd       the command table; one cmd-*.c file per command
 *   cmdq      the command queue, which is the reload lock
 *   registry  the service slots, their instances and generations, drain
 *   metrics   Prometheus text, on the socket and optionally over HTTP
 */
#ifndef HOTRELOADD_H
#define HOTRELOADD_H

#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "hotreload/protocol.h"
#include "config.h"

struct cmdq;
struct cmdq_item;
struct control;
struct metrics_http;
struct registry;
struct service_instance;
struct service_slot;

/* proto.c ------------------------------------------------------------- */

/* A request that passed validation; ROOT owns the other fields. */
struct proto_request {
	json_t		*root;
	json_t		*id;		/* number or string */
	const char	*cmd;
	json_t		*args;		/* object; empty when absent */
};

/* What proto_next_line() found in the input buffer. */
enum proto_frame {
	PROTO_FRAME_NONE,	/* no complete line yet */
	PROTO_FRAME_LINE,	/* *LINE holds one line, without the newline */
	PROTO_FRAME_TOO_LONG,	/* a line over the limit was started */
	PROTO_FRAME_SKIPPED,	/* the rest of an over-long line was dropped */
};

enum proto_frame proto_next_line(struct evbuffer *, size_t max_bytes,
		    bool *discarding, char **line, size_t *length);
int		 proto_parse_request(const char *line, size_t length,
		    struct proto_request *, json_t **id, const char **code,
		    char **message);
void		 proto_request_clear(struct proto_request *);
json_t		*proto_reply_ok(json_t *id, json_t *result);
json_t		*proto_reply_error(json_t *id, const char *code,
		    const char *message);
json_t		*proto_reply_progress(json_t *id, json_t *progress);
json_t		*proto_reply_event(json_t *id, json_t *event);
char		*proto_encode_line(json_t *line, size_t *length);

/* cmdq.c / cmd.c ------------------------------------------------------ */

/* What a command's exec function tells the queue. */
enum cmd_retval {
	CMD_RETURN_NORMAL,	/* finished; a final reply was sent */
	CMD_RETURN_WAIT,	/* goes on; calls cmdq_item_done() later */
};

/* Command flags. */
#define CMD_STATE_CHANGING	0x1	/* admin only, runs in the queue */
#define CMD_STREAM		0x2	/* streams events until the client goes */

struct cmd_entry {
	const char	*name;
	const char	*alias;
	int		 flags;

	/* Check the arguments before the command is accepted; NULL: none. */
	int		(*check)(json_t *args, char **cause);
	enum cmd_retval	(*exec)(struct cmdq_item *);
	/* The command timed out: abandon it, leaving state as it was. */
	void		(*cancel)(struct cmdq_item *);
	/* CMD_STREAM: the client went away (end the item). */
	void		(*gone)(struct cmdq_item *);
	/* CMD_STREAM: the event that says DROPPED events were dropped. */
	json_t		*(*lagged)(struct cmdq_item *, uint64_t dropped);
};

/* Where the replies to an item go; LINE is borrowed. */
typedef void	(*cmdq_reply_cb)(struct cmdq_item *, json_t *line, bool final,
		    void *arg);

enum cmdq_item_state {
	CMDQ_ITEM_NEW,
	CMDQ_ITEM_PENDING,	/* waiting in the queue */
	CMDQ_ITEM_RUNNING,	/* holds the lock */
	CMDQ_ITEM_UNLOCKED,	/* released the lock, still going */
	CMDQ_ITEM_DONE,
};

struct cmdq_item {
	struct cmdq			*queue;
	const struct cmd_entry		*cmd;
	json_t				*id;
	json_t				*args;
	uid_t				 uid;
	pid_t				 pid;
	char				*origin;	/* for logs */
	enum cmdq_item_state		 state;
	bool				 replied;
	bool				 failed;

	cmdq_reply_cb			 reply_cb;	/* NULL: nobody listens */
	void				*reply_arg;

	struct timespec			 queued_at;
	struct timespec			 started_at;
	struct timespec			 started_wall;	/* CLOCK_REALTIME */
	json_t				*error;		/* {code, message} */
	struct event			*timeout_event;

	void				*data;		/* the command's own */
	void				(*data_free)(void *);
	/* SHA-256 of the configuration file it read, if any (history). */
	char				 config_sha256[DIGEST_HEX_SIZE];

	TAILQ_ENTRY(cmdq_item)		 entry;
};
TAILQ_HEAD(cmdq_items, cmdq_item);

struct cmdq {
	struct event_base	*base;
	struct cmdq_items	 pending;
	size_t			 pending_count;
	struct cmdq_item	*running;
	struct cmdq_items	 unlocked;	/* released the lock, not done */
	size_t			 depth;
	int			 timeout_s;
	struct event		*next_event;	/* runs the next item */
	uint64_t		 completed;
	uint64_t		 rejected_full;
	/* Told of each state-changing item as it starts and as it ends. */
	void			(*started)(struct cmdq_item *);
	void			(*finished)(struct cmdq_item *);
};

struct cmdq	*cmdq_create(struct event_base *, size_t depth, int timeout_s);
void		 cmdq_free(struct cmdq *);
void		 cmdq_set_limits(struct cmdq *, size_t depth, int timeout_s);
struct cmdq_item *cmdq_item_create(const struct cmd_entry *, json_t *id,
		    json_t *args, uid_t, pid_t, const char *origin);
int		 cmdq_append(struct cmdq *, struct cmdq_item *, bool force);
void		 cmdq_run_now(struct cmdq *, struct cmdq_item *);
void		 cmdq_cancel_pending(struct cmdq *, const char *code,
		    const char *message);
bool		 cmdq_idle(struct cmdq *);
void		 cmdq_item_set_reply(struct cmdq_item *, cmdq_reply_cb,
		    void *arg);
void		 cmdq_item_progress(struct cmdq_item *, json_t *progress);
void		 cmdq_item_event(struct cmdq_item *, json_t *event);
void		 cmdq_item_ok(struct cmdq_item *, json_t *result);
void		 cmdq_item_error(struct cmdq_item *, const char *code,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void		 cmdq_item_done(struct cmdq_item *);
void		 cmdq_item_unlock(struct cmdq_item *);
double		 cmdq_item_running_s(struct cmdq_item *);

/* cmd-watch.c: the live stream of events. */
bool		 watch_active(void);
void		 watch_event(json_t *event);
void		 watch_registry_event(struct registry *, const char *type,
		    json_t *fields);
void		 watch_command(struct cmdq_item *, bool start);
void		 watch_end_all(const char *why);

/* cmd-history.c: the last control.history_size state-changing commands. */
void		 history_record(struct cmdq_item *);
void		 history_add(const char *command, json_t *origin, bool ok,
		    json_t *error, double duration_s, const char *sha256);
void		 history_free(void);

const struct cmd_entry *cmd_find(const char *name);
int		 cmd_check_arg_names(json_t *args, const char *const *allowed,
		    char **cause);
int		 cmd_check_no_args(json_t *args, char **cause);
extern const struct cmd_entry *const cmd_table[];

/* registry.c ---------------------------------------------------------- */

enum service_id {
	SERVICE_LLM,
	SERVICE_HSP,
	SERVICE_TOOL_DISPATCHER,
	SERVICE_DIALOGUE_MANAGER,
	SERVICE_SERVICE_DISCOVERY,
	SERVICE_COUNT
};

/* Called by a service when its asynchronous start has ended. */
typedef void	(*service_started_cb)(struct service_instance *, bool ok,
		    const char *cause);
/* A service's part of a drain or resume is done (OK false: WHY). */
typedef void	(*service_drained_cb)(void *arg, bool ok, const char *why);
struct registry_drain;

/*
 * A replaceable service: an ops struct plus reference-counted instances.
 * create() builds an instance from a configuration without side effects on
 * the running one; start() brings it up asynchronously and reports through
 * the callback exactly once (unless destroy() comes first); retire() tells it
 * to stop taking work, finish or fail what it holds, and call
 * service_instance_retired() when it is done; destroy() frees its data and is
 * called on a later loop turn after the last reference went.
 */
struct service_ops {
	const char	*name;
	struct service_instance *(*create)(struct registry *,
			     const struct config *, char **cause);
	void		 (*start)(struct service_instance *,
			     service_started_cb);
	void		 (*retire)(struct service_instance *);
	void		 (*destroy)(struct service_instance *);
	json_t		*(*status)(struct service_instance *);
	/* Does CONFIG configure this service (has its section)? */
	bool		 (*configured)(const struct config *);
	/* Does a new configuration change this service? */
	bool		 (*changed)(const struct config *old,
			     const struct config *new);
	/*
	 * Optional: take part in drain (DRAINING true) or resume, as a pool
	 * member leaves or joins its share group.  Returns 1 when there is
	 * nothing to wait for, 0 when DONE will be called, -1 on failure.
	 */
	int		 (*drain)(struct service_instance *, bool draining,
			     service_drained_cb done, void *arg);
	/* Optional: forget a DONE still pending (its command ended). */
	void		 (*drain_cancel)(struct service_instance *);
	/* Optional: the slot's Prometheus lines (metrics.c asks each). */
	void		 (*metrics)(struct service_slot *, FILE *);
	/* Optional: free what the module holds for the whole process. */
	void		 (*exit)(void);
};

struct service_instance {
	const struct service_ops	*ops;
	struct service_slot		*slot;
	uint64_t			 generation;
	unsigned int			 references;
	unsigned int			 in_flight;
	bool				 dead;		/* destroyed or retired */
	bool				 retiring;
	struct event			*free_event;
	struct service_reload		*reload;	/* while starting */
	void				*data;
	TAILQ_ENTRY(service_instance)	 entry;
};
TAILQ_HEAD(service_instances, service_instance);

/* The last reload of a slot, for status. */
struct service_last_reload {
	bool		 set;
	time_t		 at;
	bool		 ok;
	long		 duration_ms;
	char		*error;
};

struct service_slot {
	enum service_id			 id;
	const char			*name;
	const struct service_ops	*ops;	/* NULL: not available */
	struct registry			*registry;
	struct service_instance		*current;
	uint64_t			 generation;
	struct service_instances	 retiring;
	struct service_reload		*reload;	/* in progress */
	struct config			*config;	/* current's config */
	/* The one before the last change (rollback goes back to it). */
	struct config			*previous_config;
	bool				 rolled_back;	/* config: a rollback's */
	struct service_last_reload	 last_reload;
	uint64_t			 reloads_ok;
	uint64_t			 reloads_failed;
};

/* Called when a reload has ended; RESULT is borrowed (NULL on failure). */
typedef void	(*registry_reload_cb)(void *arg, bool ok, const char *code,
		    const char *cause, json_t *result);

struct registry {
	struct event_base	*base;
	struct service_slot	 slots[SERVICE_COUNT];
	bool			 draining;
	/* The daemon is shutting down: retire for good, fail what waits. */
	bool			 shutting_down;
	/* Work the dependants hold outside any instance. */
	unsigned int		 in_flight_other;
	/*
	 * Rewire the dependants after a swap, or let them go of OLD (NEW is
	 * NULL) when a shutdown retires it; NULL: nothing to rewire.
	 */
	void			(*swapped)(struct registry *,
				    struct service_slot *,
				    struct service_instance *old,
				    struct service_instance *new);
	/* Work started or ended on an instance; NULL: nobody to tell. */
	void			(*work_changed)(void);
	struct registry_drain	*drain;		/* a drain or resume waiting */
	/* Something a watcher may want to see (FIELDS taken); NULL: none. */
	void			(*event)(struct registry *, const char *type,
				    json_t *fields);
};

struct registry	*registry_create(struct event_base *);
void		 registry_free(struct registry *);
void		 registry_set_ops(struct registry *, enum service_id,
		    const struct service_ops *);
struct service_slot *registry_slot(struct registry *, enum service_id);
struct service_slot *registry_find_slot(struct registry *, const char *);
unsigned int	 registry_in_flight(struct registry *);
unsigned int	 registry_slot_in_flight(struct service_slot *);
unsigned int	 registry_slot_retiring(struct service_slot *);
struct service_reload *registry_reload(struct service_slot *,
		    struct config *, registry_reload_cb, void *arg,
		    const char **code, char **cause);
void		 registry_reload_cancel(struct service_reload *);
struct service_reload *registry_prepare(struct service_slot *,
		    struct config *, bool check, registry_reload_cb,
		    void *arg, const char **code, char **cause);
bool		 registry_reload_ready(struct service_reload *);
json_t		*registry_commit(struct service_reload *);
void		 registry_reload_abandon(struct service_reload *,
		    const char *why);
void		 registry_retire_all(struct registry *);
struct service_instance *service_passive_create(const struct service_ops *,
		    bool configured, char **cause);
void		 service_passive_start(struct service_instance *,
		    service_started_cb);
void		 service_passive_retire(struct service_instance *);
void		 service_passive_destroy(struct service_instance *);
int		 registry_drain(struct registry *, bool draining,
		    service_drained_cb, void *arg);
void		 registry_drain_cancel(struct registry *);
bool		 registry_quiet(struct registry *);
json_t		*registry_slot_status(struct service_slot *);
void		 registry_event(struct registry *, const char *type,
		    json_t *fields);

struct service_instance *service_instance_create(const struct service_ops *,
		    void *data);
void		 service_instance_ref(struct service_instance *);
void		 service_instance_unref(struct service_instance *);
void		 service_instance_work_begin(struct service_instance *);
void		 service_instance_work_end(struct service_instance *);
void		 service_instance_retired(struct service_instance *);

/* control.c ----------------------------------------------------------- */

struct control	*control_create(struct event_base *, const struct config *,
		    char **cause);
struct control	*control_create_from_fd(struct event_base *,
		    const struct config *, int fd, char **cause);
void		 control_free(struct control *, bool unlink_socket);
int		 control_apply_config(struct control *, const struct config *,
		    char **cause);
void		 control_stop_listening(struct control *);
unsigned int	 control_client_count(struct control *);
uint64_t	 control_refused_count(struct control *);
json_t		*control_clients_status(struct control *);
bool		 control_peer_is_admin(const struct config *, uid_t,
		    const gid_t *, size_t);

/* metrics.c ----------------------------------------------------------- */

char		*metrics_render(void);
struct metrics_http *metrics_http_create(struct event_base *,
		    const struct config *, char **cause);
void		 metrics_http_apply_config(struct metrics_http *,
		    const struct config *);
void		 metrics_http_free(struct metrics_http *);

/* main.c -------------------------------------------------------------- */

/* The daemon's state; one per process. */
struct daemon {
	struct event_base	*base;
	char			*config_path;
	struct config		*config;
	/* Where config came from: "file" or "rollback". */
	char			*config_source;
	/* The configuration before the last reload that changed something. */
	struct config		*previous_config;
	struct registry		*registry;
	struct cmdq		*cmdq;
	struct control		*control;
	struct metrics_http	*metrics_http;
	struct timespec		 started;	/* CLOCK_MONOTONIC */
	time_t			 draining_since;	/* 0: not draining */
	uint64_t		 config_reloads_ok;
	uint64_t		 config_reloads_failed;
	int			 exit_code;
};

extern struct daemon	*hr;

double		 daemon_uptime_s(void);
int		 daemon_queue_command(const char *name, const char *origin);
void		 daemon_exit(int code);

/* util.c -------------------------------------------------------------- */

char		*str_printf(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
char		*str_vprintf(const char *, va_list)
		    __attribute__((format(printf, 1, 0)));
size_t		 str_utf8_sequence(const unsigned char *);
size_t		 str_utf8_repair(char *);
bool		 str_utf8_valid(const char *);

double		 timespec_elapsed_s(const struct timespec *since);
/* "2026-12-02T11:35:07.123Z": TS (CLOCK_REALTIME), UTC, milliseconds. */
#define TIME_TEXT_SIZE	32
const char	*time_text_ms(const struct timespec *ts,
		    char text[TIME_TEXT_SIZE]);

int		 file_check_regular(const char *, char **);
struct config_tls;
int		 file_check_tls(const struct config_tls *, const char *,
		    char **);
int		 file_read(const char *, size_t, char **, size_t *, mode_t *,
		    char **);
int		 file_read_secret(const char *, size_t, char **, char **,
		    char **);

/* digest.c ------------------------------------------------------------ */

int		 digest_sha256(const void *, size_t, char[DIGEST_HEX_SIZE]);
int		 digest_path(const char *, char[DIGEST_HEX_SIZE], char **);

#endif /* HOTRELOADD_H */
