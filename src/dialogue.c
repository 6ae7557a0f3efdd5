/*
 * dialogue.c -- the DialogueManager and the "dialogue" tool.
 *
 * A TaskRequest for the dialogue tool carries "text" (required),
 * "conversation_id" and "system" (optional), and may choose its back end
 * ("backend") and ask for its own "temperature" and "max_tokens", which
 * the LLM service keeps within the back end's bounds.  The manager keeps a
 * history per conversation and sends it with each turn.  The history lives
 * here, not in an LLM generation, so a conversation goes on across
 * reload-llm.
 *
 * A conversation_id is scoped to its requester (DESIGN 7.7): the key of a
 * conversation is the requester_ai_id and the id together, so another
 * requester who knows (or guesses) an id starts a conversation of its own
 * and never reads or extends the first one.
 *
 * The history is bounded: at most DIALOGUE_MAX_TURNS turns a conversation,
 * DIALOGUE_MAX_CONVERSATIONS conversations, and llm.dialogue_history_bytes
 * bytes of text for all of them together.  Beyond the bytes the least
 * recently used conversations go first, then the oldest turns of the one
 * in use; a turn larger than the whole bound is not kept.  Conversations
 * are found by key in a balanced tree (tsearch) and kept on a list in
 * least-recently-used order, so eviction takes from the head.
 */
#include <sys/queue.h>

#include <limits.h>
#include <math.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "config.h"
#include "hsp.h"
#include "llm.h"
#include "log.h"

/* A question and its answer. */
struct dialogue_exchange {
	char				*question;
	char				*answer;
	size_t				 bytes;	/* of both texts */
	TAILQ_ENTRY(dialogue_exchange)	 entry;
};
TAILQ_HEAD(dialogue_exchanges, dialogue_exchange);

/* One conversation of one requester. */
struct dialogue_conversation {
	char					*key;	/* see dialogue_key */
	struct dialogue_exchanges		 exchanges; /* oldest first */
	size_t					 count;
	size_t					 bytes;
	TAILQ_ENTRY(dialogue_conversation)	 entry;	/* LRU order */
};
TAILQ_HEAD(dialogue_conversations, dialogue_conversation);

static struct {
	bool				 initialized;
	void				*tree;	/* of conversations, by key */
	struct dialogue_conversations	 lru;	/* least recently used first */
	size_t				 count;
	size_t				 bytes;
	size_t				 max_bytes;
	uint64_t			 turns;
	uint64_t			 failed;
	uint64_t			 evicted;	/* conversations */
	uint64_t			 turns_dropped;	/* oldest, for room */
	uint64_t			 too_large;	/* turns not kept */
} dialogue = { .max_bytes = DIALOGUE_DEFAULT_HISTORY_BYTES };

/* One turn waiting for the LLM. */
struct dialogue_turn {
	struct hsp_task	*task;
	char		*conversation_id;
	char		*key;		/* NULL without a conversation */
	char		*text;
};

/* Set up the empty store. */
static void
dialogue_init(void)
{
	if (!dialogue.initialized) {
		TAILQ_INIT(&dialogue.lru);
		dialogue.initialized = true;
	}
}

/* Order of the tree: by key. */
static int
dialogue_compare(const void *a, const void *b)
{
	const struct dialogue_conversation	*x = a, *y = b;

	return (strcmp(x->key, y->key));
}

/*
 * The key of conversation ID of REQUESTER: the requester's length, then
 * the requester, then the id.  The length keeps it unambiguous whatever
 * bytes the two hold ("a" + "b:c" differs from "a:b" + "c").
 */
static char *
dialogue_key(const char *requester, const char *id)
{
	if (requester == NULL)
		requester = "";
	return (str_printf("%zu:%s%s", strlen(requester), requester, id));
}

/* The conversation of KEY, or NULL. */
static struct dialogue_conversation *
dialogue_get(const char *key)
{
	struct dialogue_conversation	  find, **found;

	if (!dialogue.initialized || key == NULL)
		return (NULL);
	find.key = (char *)key;
	found = tfind(&find, &dialogue.tree, dialogue_compare);
	return (found != NULL ? *found : NULL);
}

/* Forget the oldest exchange of conversation C. */
static void
dialogue_drop_oldest(struct dialogue_conversation *c)
{
	struct dialogue_exchange	*x = TAILQ_FIRST(&c->exchanges);

	TAILQ_REMOVE(&c->exchanges, x, entry);
	c->count--;
	c->bytes -= x->bytes;
	dialogue.bytes -= x->bytes;
	free(x->question);
	free(x->answer);
	free(x);
}

/* Forget conversation C altogether. */
static void
dialogue_forget(struct dialogue_conversation *c)
{
	while (!TAILQ_EMPTY(&c->exchanges))
		dialogue_drop_oldest(c);
	tdelete(c, &dialogue.tree, dialogue_compare);
	TAILQ_REMOVE(&dialogue.lru, c, entry);
	dialogue.count--;
	free(c->key);
	free(c);
}

/*
 * Bring the history within max_bytes: the least recently used
 * conversations go first, then the oldest exchanges of KEEP (the one in
 * use, the most recently used, NULL for none).
 */
static void
dialogue_trim(struct dialogue_conversation *keep)
{
	struct dialogue_conversation	*c;

	while (dialogue.bytes > dialogue.max_bytes &&
	    (c = TAILQ_FIRST(&dialogue.lru)) != NULL) {
		if (c != keep) {
			dialogue_forget(c);
			dialogue.evicted++;
		} else if (c->count > 1) {
			dialogue_drop_oldest(c);
			dialogue.turns_dropped++;
		} else
			break;	/* cannot happen: its last turn fits */
	}
}

/* A new conversation of KEY, the most recently used; NULL: no memory. */
static struct dialogue_conversation *
dialogue_create_conversation(const char *key)
{
	struct dialogue_conversation	*c;

	if (dialogue.count >= DIALOGUE_MAX_CONVERSATIONS &&
	    (c = TAILQ_FIRST(&dialogue.lru)) != NULL) {
		dialogue_forget(c);
		dialogue.evicted++;
	}
	if ((c = calloc(1, sizeof *c)) == NULL)
		return (NULL);
	TAILQ_INIT(&c->exchanges);
	if ((c->key = strdup(key)) == NULL ||
	    tsearch(c, &dialogue.tree, dialogue_compare) == NULL) {
		free(c->key);
		free(c);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&dialogue.lru, c, entry);
	dialogue.count++;
	return (c);
}

/* Add a user turn and its answer to the conversation of KEY. */
static void
dialogue_remember(const char *key, const char *question, const char *answer)
{
	struct dialogue_conversation	*c;
	struct dialogue_exchange	*x;
	size_t				 bytes = strlen(question) +
					    strlen(answer);

	dialogue_init();
	c = dialogue_get(key);
	if (bytes > dialogue.max_bytes) {
		/* It would push out everything else and still not fit. */
		dialogue.too_large++;
		return;
	}
	if (c == NULL && (c = dialogue_create_conversation(key)) == NULL)
		return;
	if ((x = calloc(1, sizeof *x)) == NULL ||
	    (x->question = strdup(question)) == NULL ||
	    (x->answer = strdup(answer)) == NULL) {
		if (x != NULL)
			free(x->question);
		free(x);
		return;
	}
	x->bytes = bytes;
	TAILQ_INSERT_TAIL(&c->exchanges, x, entry);
	c->count++;
	c->bytes += bytes;
	dialogue.bytes += bytes;
	/* Oldest turns go first: a turn is a question and its answer. */
	while (c->count > DIALOGUE_MAX_TURNS)
		dialogue_drop_oldest(c);
	TAILQ_REMOVE(&dialogue.lru, c, entry);
	TAILQ_INSERT_TAIL(&dialogue.lru, c, entry);
	dialogue_trim(c);
}

/* The history of the conversation of KEY as chat messages (may be empty). */
static json_t *
dialogue_history(const char *key)
{
	struct dialogue_conversation	*c = dialogue_get(key);
	struct dialogue_exchange	*x;
	json_t				*messages = json_array();

	if (c == NULL || messages == NULL)
		return (messages);
	TAILQ_FOREACH(x, &c->exchanges, entry) {
		json_array_append_new(messages, json_pack("{s:s, s:s}",
		    "role", "user", "content", x->question));
		json_array_append_new(messages, json_pack("{s:s, s:s}",
		    "role", "assistant", "content", x->answer));
	}
	return (messages);
}

/*
 * Apply the limits of the llm section CFG (NULL: the defaults); a smaller
 * bound trims the history at once.
 */
void
dialogue_configure(const struct config_llm *cfg)
{
	dialogue_init();
	dialogue.max_bytes = cfg != NULL ? cfg->dialogue_history_bytes :
	    DIALOGUE_DEFAULT_HISTORY_BYTES;
	dialogue_trim(NULL);
}

/* Free a turn. */
static void
dialogue_turn_free(struct dialogue_turn *turn)
{
	free(turn->conversation_id);
	free(turn->key);
	free(turn->text);
	free(turn);
}

/* The LLM answered (or failed): finish the task. */
static void
dialogue_done_cb(const struct llm_result *result, void *arg)
{
	struct dialogue_turn	*turn = arg;
	json_t			*payload;

	if (!result->ok) {
		dialogue.failed++;
		task_finish(turn->task, "failure", NULL, result->error_code,
		    result->error_message);
		goto out;
	}
	dialogue.turns++;
	if (turn->key != NULL)
		dialogue_remember(turn->key, turn->text, result->answer->text);
	payload = json_pack("{s:s, s:s, s:s, s:I}",
	    "text", result->answer->text,
	    "backend", result->backend,
	    "model", result->model,
	    "llm_generation", (json_int_t)result->generation);
	if (result->answer->usage != NULL)
		json_object_set(payload, "usage", result->answer->usage);
	if (turn->conversation_id != NULL)
		json_object_set_new(payload, "conversation_id",
		    json_string(turn->conversation_id));
	task_finish(turn->task, "success", payload, NULL, NULL);
out:
	dialogue_turn_free(turn);
}

/*
 * The optional parameters of a turn that choose how the LLM is asked:
 * "backend" (a back end's name), "temperature" (a number) and
 * "max_tokens" (an integer); absent or null: the back end's own.  Out of
 * range values are clamped by the LLM service, not refused.  Returns NULL,
 * or why PARAMS are wrong.
 */
static const char *
dialogue_options(json_t *params, struct llm_options *options)
{
	json_t	*value;

	options->backend = NULL;
	options->temperature = NAN;
	options->max_tokens = CONFIG_UNSET;
	value = json_object_get(params, "backend");
	if (value != NULL && !json_is_null(value)) {
		if (!json_is_string(value) || json_string_length(value) == 0)
			return ("parameter \"backend\" must be the name of a "
			    "back end");
		options->backend = json_string_value(value);
	}
	value = json_object_get(params, "temperature");
	if (value != NULL && !json_is_null(value)) {
		if (!json_is_number(value))
			return ("parameter \"temperature\" must be a number");
		options->temperature = json_number_value(value);
	}
	value = json_object_get(params, "max_tokens");
	if (value != NULL && !json_is_null(value)) {
		if (!json_is_integer(value))
			return ("parameter \"max_tokens\" must be an integer");
		/* Clamped to 1 and to the back end's params.max_tokens. */
		options->max_tokens = json_integer_value(value) < 1 ? 1 :
		    json_integer_value(value) > INT_MAX ? INT_MAX :
		    (int)json_integer_value(value);
	}
	return (NULL);
}

/* The dialogue tool: one turn of a conversation. */
static void
dialogue_exec(struct hsp_task *task)
{
	struct dialogue_turn	*turn;
	struct llm_options	 options;
	json_t			*params = task_parameters(task), *value;
	json_t			*messages;
	const char		*text, *id = NULL, *system = NULL, *why;

	text = json_string_value(json_object_get(params, "text"));
	if (text == NULL || *text == '\0') {
		task_finish(task, "failure", NULL, LLM_ERR_BAD_REQUEST,
		    "parameter \"text\" (a non-empty string) is required");
		return;
	}
	value = json_object_get(params, "conversation_id");
	if (value != NULL && !json_is_null(value)) {
		if (!json_is_string(value) || json_string_length(value) == 0) {
			task_finish(task, "failure", NULL, LLM_ERR_BAD_REQUEST,
			    "parameter \"conversation_id\" must be a "
			    "non-empty string");
			return;
		}
		id = json_string_value(value);
	}
	value = json_object_get(params, "system");
	if (value != NULL && !json_is_null(value)) {
		if (!json_is_string(value)) {
			task_finish(task, "failure", NULL, LLM_ERR_BAD_REQUEST,
			    "parameter \"system\" must be a string");
			return;
		}
		system = json_string_value(value);
	}
	if ((why = dialogue_options(params, &options)) != NULL) {
		task_finish(task, "failure", NULL, LLM_ERR_BAD_REQUEST, why);
		return;
	}

	if ((turn = calloc(1, sizeof *turn)) == NULL) {
		task_finish(task, "failure", NULL, LLM_ERR_UNAVAILABLE,
		    "out of memory");
		return;
	}
	turn->task = task;
	turn->text = strdup(text);
	if (id != NULL) {
		turn->conversation_id = strdup(id);
		turn->key = dialogue_key(task->requester, id);
	}
	if (turn->text == NULL || (id != NULL && (turn->conversation_id ==
	    NULL || turn->key == NULL))) {
		dialogue_turn_free(turn);
		task_finish(task, "failure", NULL, LLM_ERR_UNAVAILABLE,
		    "out of memory");
		return;
	}

	/* The history so far (of this requester's conversation), then this
	 * question. */
	messages = dialogue_history(turn->key);
	json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user",
	    "content", text));
	if (llm_submit(task->registry, messages, system, &options,
	    dialogue_done_cb, turn) == -1) {
		dialogue.failed++;
		dialogue_turn_free(turn);
		task_finish(task, "failure", NULL, LLM_ERR_UNAVAILABLE,
		    "no LLM service is configured");
	}
	json_decref(messages);
}

const struct tool dialogue_tool = {
	.suffix = "dialogue_v1",
	.name = "dialogue",
	.description = "Multi-turn chat with the agent's LLM; parameters: "
	    "text, conversation_id, system, backend, temperature, max_tokens "
	    "(all but text optional).",
	.version = "1.0",
	.available = llm_available,
	.exec = dialogue_exec,
};

/* Status details of the dialogue_manager slot. */
json_t *
dialogue_status(void)
{
	return (json_pack("{s:I, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "conversations", (json_int_t)dialogue.count,
	    "max_conversations", DIALOGUE_MAX_CONVERSATIONS,
	    "max_turns", DIALOGUE_MAX_TURNS,
	    "turns", (json_int_t)dialogue.turns,
	    "failed", (json_int_t)dialogue.failed,
	    "evicted", (json_int_t)dialogue.evicted,
	    "bytes", (json_int_t)dialogue.bytes,
	    "max_bytes", (json_int_t)dialogue.max_bytes,
	    "turns_dropped", (json_int_t)dialogue.turns_dropped,
	    "too_large", (json_int_t)dialogue.too_large));
}

/* Forget every conversation (exit). */
void
dialogue_free(void)
{
	struct dialogue_conversation	*c;

	if (!dialogue.initialized)
		return;
	while ((c = TAILQ_FIRST(&dialogue.lru)) != NULL)
		dialogue_forget(c);
	dialogue.initialized = false;
}

/* The DialogueManager slot: it exists while an LLM service does. */
static struct service_instance *
dialogue_create(__attribute__((unused)) struct registry *reg,
    const struct config *config, char **cause)
{
	struct service_instance	*inst;

	*cause = NULL;
	if (config->llm == NULL)
		return (NULL);
	/* Later configurations come with each LLM swap (main_swapped). */
	dialogue_configure(config->llm);
	if ((inst = service_instance_create(&dialogue_service_ops, NULL)) ==
	    NULL)
		*cause = strdup("out of memory");
	return (inst);
}

/* Ready at once. */
static void
dialogue_start(struct service_instance *inst, service_started_cb cb)
{
	cb(inst, true, NULL);
}

/* Nothing of its own to finish: its turns hold LLM generations. */
static void
dialogue_retire(struct service_instance *inst)
{
	service_instance_retired(inst);
}

/* Nothing to free: the conversations outlive the slot's instances. */
static void
dialogue_destroy(__attribute__((unused)) struct service_instance *inst)
{
}

/* Status of the slot. */
static json_t *
dialogue_slot_status(__attribute__((unused)) struct service_instance *inst)
{
	return (dialogue_status());
}

/* Started once with the LLM service; rewired, never rebuilt. */
static bool
dialogue_changed(const struct config *old, const struct config *new)
{
	return (old == NULL && new->llm != NULL);
}

/* It exists with the LLM service. */
static bool
dialogue_configured(const struct config *config)
{
	return (config->llm != NULL);
}

const struct service_ops dialogue_service_ops = {
	.name = "dialogue_manager",
	.create = dialogue_create,
	.start = dialogue_start,
	.retire = dialogue_retire,
	.destroy = dialogue_destroy,
	.status = dialogue_slot_status,
	.configured = dialogue_configured,
	.changed = dialogue_changed,
	.exit = dialogue_free,
};
