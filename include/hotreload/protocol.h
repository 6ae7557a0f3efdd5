/*
 * protocol.h -- wire constants shared by hotreloadd and hotreloadctl.
 *
 * The control protocol (DESIGN.md section 5) is newline-delimited JSON on a
 * stream Unix socket.  Everything both sides must agree on lives here: the
 * protocol version, the default socket, command names, error codes and the
 * exit codes of hotreloadctl.
 */
#ifndef HOTRELOAD_PROTOCOL_H
#define HOTRELOAD_PROTOCOL_H

#ifndef HOTRELOAD_VERSION
#define HOTRELOAD_VERSION		"0.1.0"
#endif

/* Version of the control protocol spoken on the socket. */
#define HR_PROTOCOL_VERSION		1

/* Where the control socket lives unless told otherwise. */
#ifndef HR_DEFAULT_SOCKET
#define HR_DEFAULT_SOCKET		"/run/hotreloadd/control.sock"
#endif
#define HR_SOCKET_ENV			"HOTRELOAD_SOCKET"

/* Default configuration file of the daemon. */
#ifndef HR_DEFAULT_CONFIG
#define HR_DEFAULT_CONFIG		"/etc/hotreloadd/hotreloadd.conf"
#endif

/* Fields of a request and of a reply line. */
#define HR_FIELD_VERSION		"v"
#define HR_FIELD_ID			"id"
#define HR_FIELD_CMD			"cmd"
#define HR_FIELD_ARGS			"args"
#define HR_FIELD_OK			"ok"
#define HR_FIELD_RESULT			"result"
#define HR_FIELD_ERROR			"error"
#define HR_FIELD_PROGRESS		"progress"
#define HR_FIELD_EVENT			"event"

/* Command names. */
#define HR_CMD_STATUS			"status"
#define HR_CMD_DRAIN			"drain"
#define HR_CMD_RESUME			"resume"
#define HR_CMD_UNDRAIN			"undrain"
#define HR_CMD_RELOAD			"reload"
#define HR_CMD_RELOAD_LLM		"reload-llm"
#define HR_CMD_RELOAD_HSP		"reload-hsp"
#define HR_CMD_VERSION			"version"
#define HR_CMD_METRICS			"metrics"
#define HR_CMD_HISTORY			"history"
#define HR_CMD_ROLLBACK			"rollback"
#define HR_CMD_AGENTS			"agents"
#define HR_CMD_WATCH			"watch"

/* Error codes of a failed request. */
#define HR_ERR_BAD_REQUEST		"bad_request"
#define HR_ERR_UNSUPPORTED_VERSION	"unsupported_version"
#define HR_ERR_UNKNOWN_COMMAND		"unknown_command"
#define HR_ERR_FORBIDDEN		"forbidden"
#define HR_ERR_QUEUE_FULL		"queue_full"
#define HR_ERR_TIMEOUT			"timeout"
#define HR_ERR_RELOAD_FAILED		"reload_failed"
#define HR_ERR_NOT_CONFIGURED		"not_configured"
#define HR_ERR_SHUTTING_DOWN		"shutting_down"
#define HR_ERR_TOO_MANY_CLIENTS		"too_many_clients"
#define HR_ERR_INTERNAL			"internal"
#define HR_ERR_NOTHING_TO_ROLLBACK	"nothing_to_rollback"

/* Exit status of hotreloadctl (sysexits.h values where one fits). */
#define HR_EXIT_OK			0
#define HR_EXIT_ERROR			1	/* the daemon answered an error */
#define HR_EXIT_USAGE			2
#define HR_EXIT_UNAVAILABLE		69	/* cannot reach the daemon */
#define HR_EXIT_TIMEOUT			75	/* gave up waiting */
#define HR_EXIT_NOPERM			77	/* permission denied */

#endif /* HOTRELOAD_PROTOCOL_H */
