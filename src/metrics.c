/*
 * metrics.c -- Prometheus text exposition of the daemon's counters.
 *
 * The same text is returned by the "metrics" control command and, when
 * metrics.listen is set, served at /metrics over HTTP by libevent's evhttp.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "llm.h"
#include "log.h"

struct metrics_http {
	struct evhttp	*http;
	char		*listen;
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

	hsp_metrics(f);
	llm_metrics(f);

	if (fclose(f) != 0) {
		free(text);
		return (NULL);
	}
	return (text);
}

/* GET or HEAD /metrics (evhttp refuses other methods itself). */
static void
metrics_http_cb(struct evhttp_request *req, __attribute__((unused)) void *arg)
{
	struct evbuffer	*body;
	char		*text;

	if ((text = metrics_render()) == NULL ||
	    (body = evbuffer_new()) == NULL) {
		free(text);
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	evbuffer_add(body, text, strlen(text));
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

/* Anything but /metrics. */
static void
metrics_http_other_cb(struct evhttp_request *req,
    __attribute__((unused)) void *arg)
{
	evhttp_send_error(req, 404, "Not Found (try /metrics)");
}

/* Serve /metrics on LISTEN ("HOST:PORT", "[V6]:PORT"). */
struct metrics_http *
metrics_http_create(struct event_base *base, const char *listen, char **cause)
{
	struct metrics_http	*m;
	char			*host, *colon;
	long			 port;

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
	if ((m->http = evhttp_new(base)) == NULL) {
		*cause = strdup("out of memory");
		goto fail;
	}
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_max_headers_size(m->http, 16384);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_cb(m->http, "/metrics", metrics_http_cb, m);
	evhttp_set_gencb(m->http, metrics_http_other_cb, m);
	if (evhttp_bind_socket(m->http, host, (unsigned short)port) != 0) {
		*cause = str_printf("metrics.listen %s: cannot listen: %s", listen,
		    strerror(errno));
		goto fail;
	}
	log_info("serving metrics on http://%s/metrics", listen);
	free(host);
	return (m);

fail:
	free(host);
	metrics_http_free(m);
	return (NULL);
}

/* Stop serving metrics (NULL is fine). */
void
metrics_http_free(struct metrics_http *m)
{
	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);
	free(m->listen);
	free(m);
}
