/*
 * hsp-conn.h -- what the files of the HSPConnector share (not for the rest
 * of the daemon, which uses hsp.h).
 *
 *   hsp.c          the service (create, start, retire, status) and the
 *                  receiving connection's state machine
 *   hsp-connect.c  client ids, topics, credentials, one connection attempt
 *   hsp-loop.c     libmosquitto on the daemon's libevent loop
 *   hsp-intake.c   reading: batches, back-pressure, held messages
 *   hsp-tls.c      TLS to the broker: our own SSL_CTX, what was refused
 *   hsp-pub.c      the publishing connection, unacknowledged publishes,
 *                  the router's publisher
 *
 * The top of hsp.c says how the connector works.
 */
#ifndef HOTRELOAD_HSP_CONN_H
#define HOTRELOAD_HSP_CONN_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/dns.h>
#include <mosquitto.h>

#include "hotreloadd.h"
#include "hsp.h"

#define HSP_BACKOFF_FIRST_MS	500
#define HSP_BACKOFF_MAX_MS	30000
#define HSP_PASSWORD_MAX	1024
/* Buckets of the table of unacknowledged publishes (by mid). */
#define HSP_PENDING_BUCKETS	256
/* Paused: how often to look again. */
#define HSP_PAUSED_CHECK_MS	100
/*
 * Retiring: how long no message may have come on the receiving connection
 * before it disconnects (hsp_conn_flush_check).
 */
#define HSP_FLUSH_QUIET_MS	100
/* Packets read at most per turn of the loop while not paused. */
#define HSP_READ_BATCH		64
/* Paused: packets read at most per look (for the keep-alive). */
#define HSP_READ_BURST		100000
/* Room in the announced maximum packet size for the topic and header. */
#define HSP_PACKET_OVERHEAD	(65536 + 64)
/* At most one log line per this many seconds about refused publishes. */
#define HSP_REFUSED_LOG_S	10

/* One QoS 1 publish the broker has not acknowledged yet. */
struct hsp_pending {
	int			 mid;
	char			*topic;
	char			*payload;
	size_t			 length;
	bool			 retain;	/* an advert: not handed over */
	TAILQ_ENTRY(hsp_pending) bucket;	/* by mid */
	TAILQ_ENTRY(hsp_pending) order;		/* oldest first */
};
TAILQ_HEAD(hsp_pending_list, hsp_pending);

/* One message received while the connector is paused. */
struct hsp_held {
	char			*topic;
	void			*payload;
	size_t			 length;
	bool			 retained;
	TAILQ_ENTRY(hsp_held)	 entry;
};
TAILQ_HEAD(hsp_held_list, hsp_held);

enum hsp_state {
	HSP_STATE_IDLE,
	HSP_STATE_RESOLVING,
	HSP_STATE_CONNECTING,		/* TCP and CONNACK */
	HSP_STATE_SUBSCRIBING,
	HSP_STATE_UP,
	HSP_STATE_BACKOFF,		/* waiting to reconnect */
	HSP_STATE_UNSUBSCRIBING,	/* retiring */
	HSP_STATE_FLUSHING,		/* retiring: waiting for PUBACKs */
	HSP_STATE_DISCONNECTING,
	HSP_STATE_CLOSED,
};

/*
 * TLS of one MQTT connection (hsp-tls.c): its own OpenSSL context, and what
 * the current handshake found.
 */
struct hsp_tls {
	struct ssl_ctx_st	*ctx;		/* NULL: plain TCP */
	const char		*host;		/* the configured name */
	int			 min_version;	/* 12 or 13 */
	bool			 sni;		/* host is a name */
	bool			 client_certificate; /* cert_file is set */
	bool			 handshake_done;
	bool			 accepted;	/* CONNACK: TLS is fine */
	char			*failure;	/* what it refused, or NULL */
	char			 cause[300];	/* hsp_tls_explain() */
};

/* The publishing connection of a connector (see the top of the file). */
struct hsp_pub {
	struct mosquitto	*mosq;
	char			*client_id;
	int			 fd;
	struct event		*read_event;
	struct event		*write_event;
	struct event		*timer;		/* back-off */
	bool			 connected;
	bool			 connecting;
	bool			 dropping;	/* our own disconnect */
	unsigned int		 backoff_ms;
	uint64_t		 reconnects;
	char			*last_error;
	struct hsp_tls		 tls;
};

struct hsp_conn {
	struct service_instance	*inst;
	struct registry		*registry;	/* base, draining, siblings */
	struct config		*config;	/* a reference */
	const struct config_hsp	*cfg;
	enum hsp_state		 state;

	struct mosquitto	*mosq;
	char			*client_id;
	char			 letter;	/* persistent: 'a' or 'b' */
	bool			 probing;	/* looking for our session */
	bool			 switch_id;	/* probe over: use the other id */
	bool			 dropping;	/* our own disconnect, not a loss */
	char			*address;	/* resolved broker address */
	char			*password;
	struct hsp_tls		 tls;

	/* Reload: fail the start rather than retry. */
	bool			 strict;
	service_started_cb	 started_cb;
	bool			 start_reported;

	int			 fd;
	struct event		*read_event;
	struct event		*write_event;
	struct event		*misc_event;
	struct event		*timer;		/* connect, back-off, retire */
	struct evdns_getaddrinfo_request *dns;

	char			**topics;
	int			 topics_count;
	int			 subscribe_mid;
	int			 subscribe_offset;	/* 1: without topics[0] */
	int			 unsubscribe_mid;

	/* Share group (hsp.share_group): topics[0] is the shared one. */
	bool			 in_group;
	int			 group_mid;
	bool			 group_joining;
	service_drained_cb	 group_cb;
	void			*group_arg;

	unsigned int		 backoff_ms;
	unsigned int		 attempts;
	char			*last_error;
	bool			 connected;
	time_t			 connected_at;
	bool			 retiring;

	uint64_t		 received;
	uint64_t		 published;
	uint64_t		 pubacks;
	unsigned int		 pending_pubacks;	/* entries of pending */
	unsigned int		 pending_at_deadline; /* when retiring */
	uint64_t		 reconnects;
	uint64_t		 refused;	/* PUBACK with a failure reason */
	time_t			 refused_logged;
	uint64_t		 handed_over;	/* to the next generation */

	/* Unacknowledged publishes, by mid and in order. */
	struct hsp_pending_list	 pending[HSP_PENDING_BUCKETS];
	struct hsp_pending_list	 pending_order;

	struct hsp_pub		 pub;

	/* Back-pressure. */
	bool			 paused;
	bool			 reading;	/* read event added */
	struct event		*intake_timer;
	struct timespec		 last_read;
	struct event		*flush_timer;	/* retiring: quiet yet? */
	struct timespec		 last_message;	/* or the UNSUBACK */
	struct hsp_held_list	 held;
	size_t			 held_count;
	size_t			 held_bytes;
	uint64_t		 pauses;
};

/* The resolver every connector shares (hsp.c). */
extern struct evdns_base	*hsp_dns;

/* hsp.c: the service and the receiving connection's state machine */
void	 hsp_conn_error(struct hsp_conn *c, const char *fmt,
		    ...)
    __attribute__((format(printf, 2, 3)));
unsigned int	 hsp_backoff_next(unsigned int *step_ms);
void	 hsp_conn_state(struct hsp_conn *c, enum hsp_state state,
		    const char *why);
void	 hsp_conn_report(struct hsp_conn *c, bool ok, const char *cause);
void	 hsp_conn_timer_start(struct hsp_conn *c, double seconds);
void	 hsp_conn_timer_stop(struct hsp_conn *c);
void	 hsp_conn_lost(struct hsp_conn *c, const char *why);
void	 hsp_conn_flush_check(struct hsp_conn *c);
void	 hsp_on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
		    const mosquitto_property *p);
void	 hsp_on_subscribe(struct mosquitto *mosq, void *obj, int mid,
		    int count, const int *granted,
		    const mosquitto_property *p);
void	 hsp_on_unsubscribe(struct mosquitto *mosq, void *obj, int mid,
		    const mosquitto_property *p);
void	 hsp_on_disconnect(struct mosquitto *mosq, void *obj, int rc,
		    const mosquitto_property *p);

/* hsp-connect.c: client ids, topics, credentials, connecting */
char	*hsp_client_id(const struct config *config, char letter);
int	 hsp_conn_topics(struct hsp_conn *c);
int	 hsp_read_password(struct hsp_conn *c, char **cause);
int	 hsp_conn_new_mosq(struct hsp_conn *c, char **cause);
void	 hsp_conn_connect(struct hsp_conn *c);

/* hsp-tls.c: TLS to the broker */
int	 hsp_tls_init(struct hsp_tls *, const struct config_hsp *, char **);
int	 hsp_tls_attach(struct hsp_tls *, struct mosquitto *, char **);
void	 hsp_tls_reset(struct hsp_tls *);
void	 hsp_tls_accepted(struct hsp_tls *);
const char	*hsp_tls_explain(struct hsp_tls *, const char *why);
void	 hsp_tls_free(struct hsp_tls *);
bool	 hsp_tls_handshaking(struct mosquitto *);
char	*hsp_connack_cause(const struct hsp_conn *, int rc);

/* hsp-loop.c: libmosquitto on the daemon's libevent loop */
const char	*hsp_strerror(int rc);
void	 hsp_log_callback(struct mosquitto *);
void	 hsp_events_free(struct event **read_event,
		    struct event **write_event, int *fd);
bool	 hsp_events_follow(struct event_base *, struct mosquitto *mosq,
		    struct event **read_event, struct event **write_event, int *fd,
		    event_callback_fn read_cb, event_callback_fn write_cb,
		    void *arg);
void	 hsp_conn_unwatch(struct hsp_conn *c);
void	 hsp_conn_io(struct hsp_conn *c, int (*loop)(struct mosquitto *,
		    int));
void	 hsp_conn_misc_cb(evutil_socket_t fd, short events, void *arg);
void	 hsp_conn_update(struct hsp_conn *c);

/* hsp-intake.c: the receiving side: batches, back-pressure, held messages */
void	 hsp_conn_read_cb(evutil_socket_t fd, short events, void *arg);
bool	 hsp_conn_over(struct hsp_conn *c);
void	 hsp_conn_intake(struct hsp_conn *c);
void	 hsp_conn_intake_cb(evutil_socket_t fd, short events, void *arg);
void	 hsp_held_flush(struct hsp_conn *c, bool all);
void	 hsp_held_free(struct hsp_held *h);
void	 hsp_on_message(struct mosquitto *mosq, void *obj,
		    const struct mosquitto_message *m,
		    const mosquitto_property *p);

/* hsp-pub.c: the publishing connection and unacknowledged publishes */
void	 hsp_pending_free(struct hsp_conn *c, struct hsp_pending *p);
void	 hsp_pending_hand_over(struct hsp_conn *c);
void	 hsp_on_publish(struct mosquitto *mosq, void *obj, int mid,
		    int reason, const mosquitto_property *p);
int	 hsp_pub_new_mosq(struct hsp_conn *c, char **cause);
void	 hsp_pub_connect(struct hsp_conn *c);
void	 hsp_pub_drop(struct hsp_conn *c);
void	 hsp_pub_unwatch(struct hsp_conn *c);
void	 hsp_pub_update(struct hsp_conn *c);
void	 hsp_pub_timer_cb(evutil_socket_t fd, short events, void *arg);
void	 hsp_set_will(struct hsp_conn *, struct mosquitto *, size_t index);
int	 hsp_publish_text(struct hsp_conn *c, const char *topic, char *text,
		    size_t length, const struct hsp_publish_options *);

#endif /* HOTRELOAD_HSP_CONN_H */
