/*
 * metrics.c -- Prometheus text exposition of the daemon's counters.
 *
 * The same text is returned by the "metrics" control command and, when
 * metrics.listen is set, served at /metrics over HTTP.
 *
 * The HTTP side is a deliberately small server of its own rather than
 * evhttp, which accepts every connection it is offered and has no hook to
 * count them: anyone who can reach metrics.listen could then take every
 * file descriptor of the daemon.  Here at most metrics.max_connections are
 * open at once; at the limit the listener stops accepting, so further
 * connections wait in the kernel's backlog, and it accepts again when one
 * closes.  Each connection has metrics.timeout_s from accept to send its
 * request and read the reply (a deadline, not an idle timer: trickling
 * bytes does not extend it), gets one reply, and is closed.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "llm.h"
#include "log.h"

/* The longest request head (request line and headers) we read. */
#define METRICS_MAX_REQUEST_BYTES	16384
/* The kernel's queue of connections not yet accepted. */
#define METRICS_BACKLOG			128
/* How long to stop accepting when out of file descriptors. */
#define METRICS_ACCEPT_PAUSE_MS		200
/* Seconds between two log lines about accept errors or the limit. */
#define METRICS_LOG_INTERVAL		10

struct metrics_conn {
	struct metrics_http		*m;
	struct bufferevent		*bev;
	struct event			*deadline;	/* metrics.timeout_s */
	bool				 replied;
	TAILQ_ENTRY(metrics_conn)	 entry;
};

struct metrics_http {
	struct event_base		*base;
	struct evconnlistener		*listener;
	char				*listen;
	int				 max_connections;
	int				 timeout_s;
	TAILQ_HEAD(, metrics_conn)	 conns;
	unsigned int			 conns_count;
	bool				 at_limit;	/* not accepting */
	bool				 out_of_fds;	/* not accepting */
	struct event			*resume_event;	/* after EMFILE */
	uint64_t			 accept_errors;
	uint64_t			 accept_errors_logged;
	time_t				 accept_error_log_time;
	time_t				 limit_log_time;
};

/* Append a HELP and TYPE header for metric NAME. */
static void
metrics_header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Render every metric; the caller frees the text. */
char *
metrics_render(void)
{
	struct service_slot	*slot;
	char			*text = NULL;
	size_t			 size = 0;
	FILE			*f;
	int			 i;

	if ((f = open_memstream(&text, &size)) == NULL)
		return (NULL);

	metrics_header(f, "hotreload_build_info", "gauge",
	    "Version of hotreloadd.");
	fprintf(f, "hotreload_build_info{version=\"%s\"} 1\n",
	    HOTRELOAD_VERSION);
	metrics_header(f, "hotreload_uptime_seconds", "gauge",
	    "Seconds since the daemon started.");
	fprintf(f, "hotreload_uptime_seconds %.3f\n", daemon_uptime_s());
	metrics_header(f, "hotreload_draining", "gauge",
	    "1 while new work is refused.");
	fprintf(f, "hotreload_draining %d\n", hr->registry->draining ? 1 : 0);
	metrics_header(f, "hotreload_draining_since_seconds", "gauge",
	    "Unix time the drain began; 0 when not draining.");
	fprintf(f, "hotreload_draining_since_seconds %lld\n",
	    hr->registry->draining ? (long long)hr->draining_since : 0LL);
	metrics_header(f, "hotreload_drain_timeout_seconds", "gauge",
	    "drain.timeout_s: how long a drain waits for work in flight.");
	fprintf(f, "hotreload_drain_timeout_seconds %d\n",
	    hr->config->drain.timeout_s);
	metrics_header(f, "hotreload_in_flight", "gauge",
	    "Units of work in flight, all services and generations.");
	fprintf(f, "hotreload_in_flight %u\n",
	    registry_in_flight(hr->registry));

	metrics_header(f, "hotreload_queue_depth", "gauge",
	    "State-changing commands waiting in the queue.");
	fprintf(f, "hotreload_queue_depth %zu\n", hr->cmdq->pending_count);
	metrics_header(f, "hotreload_queue_running", "gauge",
	    "1 while a state-changing command holds the queue.");
	fprintf(f, "hotreload_queue_running %d\n",
	    hr->cmdq->running != NULL ? 1 : 0);
	metrics_header(f, "hotreload_queue_limit", "gauge",
	    "Most commands the queue holds (control.queue_depth).");
	fprintf(f, "hotreload_queue_limit %zu\n", hr->cmdq->depth);
	metrics_header(f, "hotreload_queue_rejected_total", "counter",
	    "Commands refused because the queue was full.");
	fprintf(f, "hotreload_queue_rejected_total %llu\n",
	    (unsigned long long)hr->cmdq->rejected_full);
	metrics_header(f, "hotreload_commands_total", "counter",
	    "Commands completed.");
	fprintf(f, "hotreload_commands_total %llu\n",
	    (unsigned long long)hr->cmdq->completed);

	metrics_header(f, "hotreload_control_clients", "gauge",
	    "Clients connected to the control socket.");
	fprintf(f, "hotreload_control_clients %u\n",
	    control_client_count(hr->control));
	metrics_header(f, "hotreload_control_refused_total", "counter",
	    "Connections refused over control.max_clients.");
	fprintf(f, "hotreload_control_refused_total %llu\n",
	    (unsigned long long)control_refused_count(hr->control));

	metrics_header(f, "hotreload_reloads_total", "counter",
	    "Reloads by service (config: the whole file) and result.");
	fprintf(f, "hotreload_reloads_total{service=\"config\",result=\"ok\"} "
	    "%llu\n", (unsigned long long)hr->config_reloads_ok);
	fprintf(f, "hotreload_reloads_total{service=\"config\","
	    "result=\"failed\"} %llu\n",
	    (unsigned long long)hr->config_reloads_failed);
	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = registry_slot(hr->registry, i);
		fprintf(f, "hotreload_reloads_total{service=\"%s\","
		    "result=\"ok\"} %llu\n", slot->name,
		    (unsigned long long)slot->reloads_ok);
		fprintf(f, "hotreload_reloads_total{service=\"%s\","
		    "result=\"failed\"} %llu\n", slot->name,
		    (unsigned long long)slot->reloads_failed);
	}

	metrics_header(f, "hotreload_service_up", "gauge",
	    "1 when the service has a running instance.");
	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = registry_slot(hr->registry, i);
		fprintf(f, "hotreload_service_up{service=\"%s\"} %d\n",
		    slot->name, slot->current != NULL ? 1 : 0);
	}
	metrics_header(f, "hotreload_service_generation", "gauge",
	    "Generation of the service's current instance (0: none yet).");
	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = registry_slot(hr->registry, i);
		fprintf(f, "hotreload_service_generation{service=\"%s\"} "
		    "%llu\n", slot->name,
		    (unsigned long long)slot->generation);
	}
	metrics_header(f, "hotreload_service_in_flight", "gauge",
	    "Work in flight on the service, all generations.");
	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = registry_slot(hr->registry, i);
		fprintf(f, "hotreload_service_in_flight{service=\"%s\"} %u\n",
		    slot->name, registry_slot_in_flight(slot));
	}
	metrics_header(f, "hotreload_service_retiring", "gauge",
	    "Old generations of the service still finishing their work.");
	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = registry_slot(hr->registry, i);
		fprintf(f, "hotreload_service_retiring{service=\"%s\"} %u\n",
		    slot->name, registry_slot_retiring(slot));
	}

	/* Each module's own lines, in the order of the slots. */
	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = registry_slot(hr->registry, i);
		if (slot->ops != NULL && slot->ops->metrics != NULL)
			slot->ops->metrics(slot, f);
	}

	if (fclose(f) != 0) {
		free(text);
		return (NULL);
	}
	return (text);
}

/* Accept again if neither the limit nor a lack of descriptors forbids. */
static void
metrics_http_update_listener(struct metrics_http *m)
{
	bool	was = m->at_limit;

	m->at_limit = m->conns_count >= (unsigned int)m->max_connections;
	if (m->at_limit && !was) {
		evconnlistener_disable(m->listener);
		/* A flood must not flood the log: once per interval. */
		if (time(NULL) - m->limit_log_time >= METRICS_LOG_INTERVAL) {
			log_info("metrics.listen %s: %u connections open "
			    "(metrics.max_connections); new ones wait",
			    m->listen, m->conns_count);
			m->limit_log_time = time(NULL);
		}
	} else if (!m->at_limit && !m->out_of_fds)
		evconnlistener_enable(m->listener);
}

/* Close a connection and make room for the next one. */
static void
metrics_conn_free(struct metrics_conn *conn)
{
	struct metrics_http	*m = conn->m;

	TAILQ_REMOVE(&m->conns, conn, entry);
	m->conns_count--;
	bufferevent_free(conn->bev);
	event_free(conn->deadline);
	free(conn);
	metrics_http_update_listener(m);
}

/* Queue the reply: status line, headers, and BODY unless HEAD. */
static void
metrics_conn_reply(struct metrics_conn *conn, int code, const char *reason,
    const char *type, const char *body, bool head)
{
	struct evbuffer	*out = bufferevent_get_output(conn->bev);
	size_t		 length = strlen(body);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s"
	    "Connection: close\r\n"
	    "\r\n", code, reason, type, length,
	    code == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head)
		evbuffer_add(out, body, length);
	conn->replied = true;
	bufferevent_disable(conn->bev, EV_READ);
	bufferevent_enable(conn->bev, EV_WRITE);
}

/* Answer a plain-text error. */
static void
metrics_conn_error(struct metrics_conn *conn, int code, const char *reason,
    const char *body)
{
	metrics_conn_reply(conn, code, reason, "text/plain; charset=utf-8",
	    body, false);
}

/*
 * Answer the request line LINE ("METHOD TARGET HTTP/1.x"): GET or HEAD of
 * /metrics (any query string ignored) gets the text; the headers are not
 * needed for that and are ignored.
 */
static void
metrics_conn_handle(struct metrics_conn *conn, char *line)
{
	char	*method, *target, *version, *text, *query;
	bool	 head;

	method = strtok(line, " ");
	target = strtok(NULL, " ");
	version = strtok(NULL, " ");
	if (method == NULL || target == NULL || version == NULL ||
	    strtok(NULL, " ") != NULL || strncmp(version, "HTTP/1.", 7) != 0) {
		metrics_conn_error(conn, 400, "Bad Request", "Bad Request\n");
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		metrics_conn_error(conn, 405, "Method Not Allowed",
		    "Method Not Allowed (GET or HEAD)\n");
		return;
	}
	if ((query = strchr(target, '?')) != NULL)
		*query = '\0';
	if (strcmp(target, "/metrics") != 0) {
		metrics_conn_error(conn, 404, "Not Found",
		    "Not Found (try /metrics)\n");
		return;
	}
	if ((text = metrics_render()) == NULL) {
		metrics_conn_error(conn, 500, "Internal Server Error",
		    "Internal Server Error\n");
		return;
	}
	metrics_conn_reply(conn, 200, "OK",
	    "text/plain; version=0.0.4; charset=utf-8", text, head);
	free(text);
}

/* Request bytes arrived: answer once the whole head is in. */
static void
metrics_conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct metrics_conn	*conn = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 end;
	char			*line;

	if (conn->replied)
		return;
	end = evbuffer_search(in, "\n\r\n", 3, NULL);
	if (end.pos == -1)
		end = evbuffer_search(in, "\n\n", 2, NULL);
	if (end.pos == -1) {
		if (evbuffer_get_length(in) > METRICS_MAX_REQUEST_BYTES)
			metrics_conn_error(conn, 431,
			    "Request Header Fields Too Large",
			    "Request Header Fields Too Large\n");
		return;
	}
	if ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) == NULL) {
		metrics_conn_error(conn, 400, "Bad Request", "Bad Request\n");
		return;
	}
	metrics_conn_handle(conn, line);
	free(line);
}

/* The reply is out: close. */
static void
metrics_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct metrics_conn	*conn = arg;

	if (conn->replied &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		metrics_conn_free(conn);
}

/* The client went away, or an error. */
static void
metrics_conn_event_cb(__attribute__((unused)) struct bufferevent *bev,
    short events, void *arg)
{
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		metrics_conn_free(arg);
}

/* metrics.timeout_s since accept: whatever it is doing, close it. */
static void
metrics_conn_deadline_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	/* Not logged: a flood of slow connections must not flood the log. */
	metrics_conn_free(arg);
}

/* A new connection (the listener is enabled only below the limit). */
static void
metrics_http_accept_cb(__attribute__((unused)) struct evconnlistener *l,
    evutil_socket_t fd, __attribute__((unused)) struct sockaddr *sa,
    __attribute__((unused)) int socklen, void *arg)
{
	struct metrics_http	*m = arg;
	struct metrics_conn	*conn;
	struct timeval		 tv = { m->timeout_s, 0 };

	if ((conn = calloc(1, sizeof *conn)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	conn->m = m;
	conn->bev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
	conn->deadline = evtimer_new(m->base, metrics_conn_deadline_cb, conn);
	if (conn->bev == NULL || conn->deadline == NULL) {
		if (conn->bev != NULL)
			bufferevent_free(conn->bev);
		else
			evutil_closesocket(fd);
		if (conn->deadline != NULL)
			event_free(conn->deadline);
		free(conn);
		return;
	}
	bufferevent_setcb(conn->bev, metrics_conn_read_cb,
	    metrics_conn_write_cb, metrics_conn_event_cb, conn);
	bufferevent_enable(conn->bev, EV_READ);
	evtimer_add(conn->deadline, &tv);
	TAILQ_INSERT_TAIL(&m->conns, conn, entry);
	m->conns_count++;
	metrics_http_update_listener(m);
}

/* Accept again after a lack of descriptors. */
static void
metrics_http_resume_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct metrics_http	*m = arg;

	m->out_of_fds = false;
	metrics_http_update_listener(m);
}

/*
 * An error from accept().  Out of descriptors the pending connection stays
 * pending and accept() would fail again at once: pause instead of spinning.
 * Logged at most once per METRICS_LOG_INTERVAL, with the count.
 */
static void
metrics_http_accept_error_cb(struct evconnlistener *listener, void *arg)
{
	struct metrics_http	*m = arg;
	int			 error = EVUTIL_SOCKET_ERROR();
	struct timeval		 tv = { 0, METRICS_ACCEPT_PAUSE_MS * 1000 };

	m->accept_errors++;
	if (time(NULL) - m->accept_error_log_time >= METRICS_LOG_INTERVAL) {
		log_warnx("metrics.listen %s: accept: %s (%llu error(s))",
		    m->listen, evutil_socket_error_to_string(error),
		    (unsigned long long)(m->accept_errors -
		    m->accept_errors_logged));
		m->accept_errors_logged = m->accept_errors;
		m->accept_error_log_time = time(NULL);
	}
	if (error == EMFILE || error == ENFILE || error == ENOBUFS ||
	    error == ENOMEM) {
		m->out_of_fds = true;
		evconnlistener_disable(listener);
		evtimer_add(m->resume_event, &tv);
	}
}

/*
 * Serve /metrics on CONFIG's metrics.listen ("HOST:PORT", "[V6]:PORT"),
 * with its limits.
 */
struct metrics_http *
metrics_http_create(struct event_base *base, const struct config *config,
    char **cause)
{
	const char		*listen = config->metrics.listen;
	struct metrics_http	*m;
	struct evutil_addrinfo	 hints, *ai = NULL;
	char			*host, *colon;
	long			 port;
	int			 error;

	*cause = NULL;
	if ((m = calloc(1, sizeof *m)) == NULL ||
	    (m->listen = strdup(listen)) == NULL ||
	    (host = strdup(listen)) == NULL) {
		if (m != NULL)
			free(m->listen);
		free(m);
		*cause = strdup("out of memory");
		return (NULL);
	}
	m->base = base;
	TAILQ_INIT(&m->conns);
	m->max_connections = config->metrics.max_connections;
	m->timeout_s = config->metrics.timeout_s;
	colon = strrchr(host, ':');
	port = colon != NULL ? strtol(colon + 1, NULL, 10) : 0;
	if (colon == NULL || port < 1 || port > 65535) {
		*cause = str_printf("metrics.listen \"%s\": expected HOST:PORT",
		    listen);
		goto fail;
	}
	*colon = '\0';
	if (host[0] == '[' && colon > host + 1 && colon[-1] == ']') {
		colon[-1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE;
	error = evutil_getaddrinfo(host, colon + 1, &hints, &ai);
	if (error != 0) {
		*cause = str_printf("metrics.listen %s: %s", listen,
		    evutil_gai_strerror(error));
		goto fail;
	}
	if ((m->resume_event = evtimer_new(base, metrics_http_resume_cb,
	    m)) == NULL) {
		*cause = strdup("out of memory");
		goto fail;
	}
	m->listener = evconnlistener_new_bind(base, metrics_http_accept_cb, m,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    METRICS_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
	if (m->listener == NULL) {
		*cause = str_printf("metrics.listen %s: cannot listen: %s",
		    listen, strerror(errno));
		goto fail;
	}
	evconnlistener_set_error_cb(m->listener, metrics_http_accept_error_cb);
	log_info("serving metrics on http://%s/metrics (at most %d "
	    "connections, %d s each)", listen, m->max_connections,
	    m->timeout_s);
	evutil_freeaddrinfo(ai);
	free(host);
	return (m);

fail:
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	free(host);
	metrics_http_free(m);
	return (NULL);
}

/*
 * Take CONFIG's metrics.max_connections and metrics.timeout_s (the address
 * is unchanged): a new limit applies at once, a new timeout to connections
 * accepted from now on.
 */
void
metrics_http_apply_config(struct metrics_http *m, const struct config *config)
{
	m->max_connections = config->metrics.max_connections;
	m->timeout_s = config->metrics.timeout_s;
	metrics_http_update_listener(m);
}

/* Stop serving metrics and close every connection (NULL is fine). */
void
metrics_http_free(struct metrics_http *m)
{
	struct metrics_conn	*conn;

	if (m == NULL)
		return;
	if (m->listener != NULL)
		evconnlistener_free(m->listener);
	m->listener = NULL;
	while ((conn = TAILQ_FIRST(&m->conns)) != NULL) {
		TAILQ_REMOVE(&m->conns, conn, entry);
		bufferevent_free(conn->bev);
		event_free(conn->deadline);
		free(conn);
	}
	if (m->resume_event != NULL)
		event_free(m->resume_event);
	free(m->listen);
	free(m);
}
