/*
 * hsp.h -- the HSP side of the daemon: envelopes, the router, the tool
 * dispatcher, service discovery and the MQTT connector.
 *
 *   hsp-envelope.c  parse and validate HSP envelopes (with jscan.c, no
 *                   tree); write new ones as text in one pass
 *   router.c        one router for every connector generation: dedup by
 *                   message_id, ACKs, dispatch, results
 *   dispatcher.c    the ToolDispatcher: the tool table (echo, ...)
 *   discovery.c     ServiceDiscovery: capabilities other agents advertise
 *   hsp.c           the HSPConnector service: libmosquitto on our loop
 */
#ifndef HOTRELOAD_HSP_H
#define HOTRELOAD_HSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

struct service_instance;
struct service_slot;
struct registry;
struct config;

/* hsp-envelope.c ------------------------------------------------------ */

enum hsp_type {
	HSP_FACT,
	HSP_CAPABILITY_ADVERTISEMENT,
	HSP_TASK_REQUEST,
	HSP_TASK_RESULT,
	HSP_ACKNOWLEDGEMENT,
	HSP_TYPE_COUNT
};

/* Why a message was not accepted; counted per kind. */
enum hsp_malformed {
	HSP_MALFORMED_NOT_JSON,
	HSP_MALFORMED_NOT_OBJECT,
	HSP_MALFORMED_ENVELOPE,		/* a required envelope field */
	HSP_MALFORMED_TYPE,		/* unknown message_type */
	HSP_MALFORMED_PAYLOAD,		/* a required payload field */
	HSP_MALFORMED_TOO_LARGE,	/* over hsp.max_message_bytes */
	HSP_MALFORMED_COUNT
};

/*
 * A validated message.  Its strings are decoded copies in STRINGS; a
 * TaskRequest's parameters are their JSON text in the message it was
 * parsed from (valid until that is freed); the payload of any other kind
 * is a jansson tree.
 */
struct hsp_message {
	enum hsp_type	 type;
	const char	*message_id;
	const char	*correlation_id;	/* NULL when null or "" */
	const char	*sender;
	const char	*recipient;	/* NULL when absent or not a string */
	const char	*message_type;
	bool		 requires_ack;
	/* A TaskRequest (NULL: absent or not a string). */
	const char	*request_id;
	const char	*requester;
	const char	*callback;
	const char	*capability_id;
	const char	*capability_name;
	const char	*parameters;	/* an object's JSON text */
	size_t		 parameters_length;
	/* Every other kind. */
	json_t		*payload;
	char		*strings;
};

/* The head of an envelope we send (everything but its ids and times). */
struct envelope_head {
	const char	*sender;
	const char	*recipient;
	const char	*correlation_id;	/* NULL: null */
	const char	*pattern;
	const char	*priority;
	bool		 requires_ack;
};

/* An envelope being written (envelope_begin ... envelope_end). */
struct envelope_text {
	char	*data;
	size_t	 length;
	size_t	 size;
	bool	 failed;	/* out of memory: envelope_end says NULL */
};

extern const char *const hsp_type_names[HSP_TYPE_COUNT];
extern const char *const hsp_malformed_names[HSP_MALFORMED_COUNT];

int		 envelope_parse(const void *data, size_t length,
		    struct hsp_message *, enum hsp_malformed *kind,
		    char **why);
void		 envelope_clear(struct hsp_message *);
void		 envelope_begin(struct envelope_text *, enum hsp_type,
		    const struct envelope_head *);
char		*envelope_end(struct envelope_text *, size_t *length);
char		*envelope_json(enum hsp_type, const struct envelope_head *,
		    const json_t *payload, size_t *length);
void		 envelope_text_key(struct envelope_text *, const char *key);
void		 envelope_text_raw(struct envelope_text *, const char *text,
		    size_t length);
void		 envelope_text_string(struct envelope_text *, const char *);
/* Append the JSON text of the string literal S. */
#define ENVELOPE_TEXT_LITERAL(t, s)	\
	envelope_text_raw((t), (s), sizeof(s) - 1)
void		 envelope_text_number(struct envelope_text *,
		    unsigned long long);
void		 envelope_text_json(struct envelope_text *, const json_t *);
void		 envelope_uuid4(char out[37]);
void		 envelope_timestamp(char out[40]);

/* dispatcher.c -------------------------------------------------------- */

struct hsp_task;

/* A tool a TaskRequest can be dispatched to. */
struct tool {
	const char	*suffix;	/* capability id is "<ai_id>:<suffix>" */
	const char	*name;
	const char	*description;
	const char	*version;
	bool		(*available)(struct registry *);
	/* Do the work; calls task_finish() exactly once, now or later. */
	void		(*exec)(struct hsp_task *);
};

/* What becomes of a task's outcome; PAYLOAD is taken. */
typedef void	(*hsp_task_done_fn)(struct hsp_task *, const char *status,
		    json_t *payload, const char *error_code,
		    const char *error_message);

/* One TaskRequest being worked on. */
struct hsp_task {
	/* Set by whoever made the task (the router): sends the result. */
	hsp_task_done_fn	 done;
	struct service_instance	*connector;	/* where it came from */
	struct registry		*registry;	/* the services it may use */
	const struct tool	*tool;
	/* In one block with the task (router_task_new). */
	const char		*parameters_text;	/* an object's JSON */
	size_t			 parameters_length;
	const char		*request_id;
	const char		*requester;
	const char		*correlation_id;
	const char		*reply_topic;
	json_t			*parameters;	/* see task_parameters() */
	/* A result payload given as JSON text (task_finish_text). */
	const char		*result_text;
	size_t			 result_length;
	struct timespec		 started;
};

int		 dispatcher_init(const char *ai_id);
int		 dispatcher_register(const struct tool *);
void		 dispatcher_free(void);
const struct tool *dispatcher_find(struct registry *,
		    const char *capability_id, const char *capability_name,
		    const char **code, char **why);
void		 dispatcher_run(struct hsp_task *);
json_t		*dispatcher_adverts(struct registry *, const char *ai_id,
		    const char *status, bool all);
json_t		*dispatcher_status(struct registry *);
void		 task_finish(struct hsp_task *, const char *status,
		    json_t *payload, const char *error_code,
		    const char *error_message);
void		 task_finish_text(struct hsp_task *, const char *status,
		    const char *payload, size_t length);
json_t		*task_parameters(struct hsp_task *);

/* discovery.c --------------------------------------------------------- */

#define DISCOVERY_MAX_AGE_S	600
#define DISCOVERY_MAX_ENTRIES	4096
/* hsp.discovery_max_bytes when nothing configured it. */
#define DISCOVERY_DEFAULT_MAX_BYTES	(16 * 1024 * 1024)

struct config_hsp;

int		 discovery_init(void);
void		 discovery_configure(const struct config_hsp *);
void		 discovery_free(void);
void		 discovery_advert(const char *sender, json_t *payload);
json_t		*discovery_status(void);
json_t		*discovery_agents(const char *capability);

/* router.c ------------------------------------------------------------ */

int		 router_init(struct registry *, const struct config *);
int		 router_ensure(struct registry *, const struct config *);
void		 router_free(void);
int		 router_configure(const struct config *);
bool		 router_pooled(void);
void		 router_handle(struct service_instance *from, const char *topic,
		    const void *data, size_t length, bool retained);
bool		 router_callback_valid(const char *topic, const char **why);
unsigned int	 router_tasks_in_flight(void);
/*
 * Where the router publishes: a connector, handed to it at each swap
 * (router_set_publisher), so that the router never looks the connector up.
 */
/* How a message is published; NULL: QoS 1, not retained, no expiry. */
struct hsp_publish_options {
	bool		retain;
	unsigned int	expiry_s;	/* MQTT 5 message expiry; 0: none */
};

struct router_publisher {
	/* Publish TEXT (taken) of LENGTH bytes on TOPIC: 0, or -1 when
	 * refused. */
	int		(*publish)(void *arg, const char *topic, char *text,
			    size_t length, const struct hsp_publish_options *);
	/* Is it connected (worth advertising through now)? */
	bool		(*ready)(void *arg);
	void		*arg;
};

void		 router_set_publisher(const struct router_publisher *);
int		 router_publish(const char *topic, char *text, size_t length);
void		 router_advertise(const struct router_publisher *via,
		    const char *ai_id);
void		 router_readvertise(void);
void		 router_advertise_offline(void);
int		 router_will(const char *ai_id, size_t index, char **topic,
		    char **text);
json_t		*router_status(void);
void		 router_metrics(FILE *);

/* hsp.c --------------------------------------------------------------- */

extern const struct service_ops hsp_service_ops;
extern const struct service_ops tool_dispatcher_service_ops;
extern const struct service_ops discovery_service_ops;

void		 hsp_publisher(struct service_instance *,
		    struct router_publisher *);
bool		 hsp_is_connected(struct service_instance *);
void		 hsp_metrics(struct service_slot *, FILE *);
void		 hsp_shutdown(void);

#endif /* HOTRELOAD_HSP_H */
