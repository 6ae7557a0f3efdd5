/*
 * responder.h -- the MQTT shell both bench responders share (responder.c):
 * the command line, the connection, the subscription, the loop and the
 * counters; each responder brings only what it does with a request.
 */
#ifndef HOTRELOAD_BENCH_RESPONDER_H
#define HOTRELOAD_BENCH_RESPONDER_H

#include <mosquitto.h>

struct responder_shell {
	const char		*name;		/* for messages */
	const char		*ai_id;
	const char		*host;
	int			 port;
	const char		*ready_file;
	char			*request_topic;	/* hsp/requests/<ai_id> */
	struct mosquitto	*mosq;
	unsigned long		 received;
	unsigned long		 results;
	unsigned long		 acks;
	unsigned long		 dropped;
	/* responder_run's: what to do with a request. */
	void			(*on_message)(struct responder_shell *,
				    const struct mosquitto_message *, void *);
	void			*arg;
};

/* What a responder does with one request; ARG is responder_run's. */
typedef void	responder_message_fn(struct responder_shell *,
		    const struct mosquitto_message *, void *arg);

int	responder_args(struct responder_shell *, const char *name, int argc,
	    char **argv);
int	responder_publish(struct responder_shell *, const char *topic,
	    const void *text, int length);
int	responder_run(struct responder_shell *, responder_message_fn *,
	    void *arg);

#endif /* HOTRELOAD_BENCH_RESPONDER_H */
