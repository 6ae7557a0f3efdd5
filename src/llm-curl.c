/*
 * llm-curl.c -- libcurl's multi interface on the daemon's libevent loop.
 *
 * curl runs without threads and without blocking: the sockets it uses are
 * watched by libevent events (CURLMOPT_SOCKETFUNCTION) and its timeouts by
 * one libevent timer (CURLMOPT_TIMERFUNCTION); finished transfers are
 * collected with curl_multi_info_read() and handed to the callback the
 * LLM service gave llm_curl_init().  curl is loaded (llm-curl-load.c) and
 * set up at the first transfer.
 */
#include <stdlib.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "hotreloadd.h"
#include "llm-curl.h"

/* The socket events curl asked for. */
struct llm_socket {
	struct event	*event;
};

static struct event_base	*llm_base;	/* the daemon's loop */
static CURLM		*llm_multi;
static struct event	*llm_timer;
static llm_curl_done_cb	 llm_curl_done;

/* Collect the transfers curl has finished. */
static void
llm_check_done(void)
{
	CURLMsg	*msg;
	void	*req;
	int	 left;

	while ((msg = curl_multi_info_read(llm_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &req);
		llm_curl_done(req, msg->data.result);
	}
}

/* A socket curl watches is ready. */
static void
llm_socket_event_cb(evutil_socket_t fd, short events,
    __attribute__((unused)) void *arg)
{
	int	action = 0, running;

	if (events & EV_READ)
		action |= CURL_CSELECT_IN;
	if (events & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	/*
	 * curl's timer callback keeps llm_timer right; finished transfers
	 * may start new ones (fallback, a waiting request), which re-arm it.
	 */
	curl_multi_socket_action(llm_multi, fd, action, &running);
	llm_check_done();
}

/* curl's timeout has passed. */
static void
llm_timer_event_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, __attribute__((unused)) void *arg)
{
	int	running;

	curl_multi_socket_action(llm_multi, CURL_SOCKET_TIMEOUT, 0, &running);
	llm_check_done();
}

/* CURLMOPT_SOCKETFUNCTION: watch S for WHAT (or stop). */
static int
llm_socket_cb(__attribute__((unused)) CURL *easy, curl_socket_t s, int what,
    __attribute__((unused)) void *userp, void *socketp)
{
	struct llm_socket	*ls = socketp;
	short			 events = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ls != NULL) {
			event_free(ls->event);
			free(ls);
			curl_multi_assign(llm_multi, s, NULL);
		}
		return (0);
	}
	if (ls == NULL) {
		if ((ls = calloc(1, sizeof *ls)) == NULL)
			return (-1);
		curl_multi_assign(llm_multi, s, ls);
	} else
		event_free(ls->event);
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	ls->event = event_new(llm_base, s, events, llm_socket_event_cb, NULL);
	if (ls->event == NULL)
		return (-1);
	event_add(ls->event, NULL);
	return (0);
}

/* CURLMOPT_TIMERFUNCTION: call back in TIMEOUT_MS (-1: never). */
static int
llm_timer_cb(__attribute__((unused)) CURLM *multi, long timeout_ms,
    __attribute__((unused)) void *userp)
{
	struct timeval	tv;

	if (timeout_ms < 0) {
		evtimer_del(llm_timer);
		return (0);
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(llm_timer, &tv);
	return (0);
}

/*
 * Get ready for transfers the first time an LLM generation is built; DONE
 * is told of each finished transfer (with its CURLOPT_PRIVATE).  curl
 * itself is set up at the first transfer (llm_curl_easy).
 */
int
llm_curl_init(struct event_base *base, llm_curl_done_cb done)
{
	llm_curl_done = done;
	llm_base = base;
	if (llm_timer == NULL && (llm_timer = evtimer_new(base,
	    llm_timer_event_cb, NULL)) == NULL)
		return (-1);
	return (0);
}

/*
 * Set up curl the first time a transfer needs it, not when the service is
 * built: curl_global_init() loads libcurl and its libraries (3.7 MiB
 * resident) and initialises OpenSSL (its configuration and providers, 2
 * MiB more), which a daemon whose back ends get no request yet does not
 * need.  After a failure the next transfer tries again.
 */
static int
llm_curl_start(void)
{
	if (llm_multi != NULL)
		return (0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return (-1);
	if ((llm_multi = curl_multi_init()) == NULL) {
		curl_global_cleanup();
		return (-1);
	}
	curl_multi_setopt(llm_multi, CURLMOPT_SOCKETFUNCTION, llm_socket_cb);
	curl_multi_setopt(llm_multi, CURLMOPT_TIMERFUNCTION, llm_timer_cb);
	return (0);
}

/* A new transfer, curl set up first; NULL when it cannot be had. */
CURL *
llm_curl_easy(void)
{
	if (llm_curl_start() == -1)
		return (NULL);
	return (curl_easy_init());
}

/* Run the transfer EASY (its CURLOPT_PRIVATE comes back to DONE). */
int
llm_curl_add(CURL *easy)
{
	return (curl_multi_add_handle(llm_multi, easy) == CURLM_OK ? 0 : -1);
}

/* Stop the transfer EASY (finished or abandoned). */
void
llm_curl_remove(CURL *easy)
{
	curl_multi_remove_handle(llm_multi, easy);
}

/* Release curl (exit). */
void
llm_curl_shutdown(void)
{
	if (llm_timer != NULL) {
		event_free(llm_timer);
		llm_timer = NULL;
	}
	if (llm_multi != NULL) {
		curl_multi_cleanup(llm_multi);
		llm_multi = NULL;
		curl_global_cleanup();
	}
}

/*
 * The back end's tls section on the transfer EASY: its CA instead of the
 * system's, its client certificate and key.  libcurl reads the files at
 * each handshake; they were checked to be regular files (file_check_tls)
 * when the generation was built.
 */
void
llm_curl_tls(CURL *easy, const struct config_tls *tls)
{
	if (tls == NULL)
		return;
	if (tls->ca_file != NULL)
		curl_easy_setopt(easy, CURLOPT_CAINFO, tls->ca_file);
	if (tls->cert_file != NULL) {
		curl_easy_setopt(easy, CURLOPT_SSLCERT, tls->cert_file);
		curl_easy_setopt(easy, CURLOPT_SSLKEY, tls->key_file);
	}
}
