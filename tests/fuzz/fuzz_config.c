/*
 * fuzz_config.c -- libFuzzer harness of the configuration loader
 * (src/config.c).
 *
 * The input is the text of a configuration file.  config_load_buffer() gets
 * a NUL-terminated copy, as config_load() gives it.  Besides crashes, it
 * checks the loader's contract: a configuration comes back exactly when
 * there is no error, every problem is "NAME:LINE:COLUMN: ..." text, and a
 * loaded configuration can be referenced, compared with another section by
 * section (as a reload does), and freed.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

#define FUZZ_CONFIG_NAME	"fuzz.conf"

/* The configuration a reload would replace: every section set. */
static const char fuzz_config_fixed_text[] =
	"# the running configuration\n"
	"{\n"
	"  \"ai_id\": \"did:hsp:agent-1\",\n"
	"  \"control\": { \"socket\": \"/run/hotreloadd/control.sock\",\n"
	"    \"mode\": \"0660\", \"admin_uids\": [0], \"max_clients\": 64 },\n"
	"  \"drain\": { \"timeout_s\": 30 },\n"
	"  \"llm\": { \"backends\": [ { \"name\": \"local\",\n"
	"    \"provider\": \"ollama\", \"base_url\": \"http://127.0.0.1:11434\",\n"
	"    \"model\": \"llama3\" } ] },\n"
	"  \"hsp\": { \"broker\": { \"host\": \"127.0.0.1\", \"port\": 1883 },\n"
	"    \"dedup_window\": 1024 },\n"
	"  \"metrics\": { \"listen\": null }\n"
	"}\n";

static const char *const fuzz_config_sections[] = {
	"ai_id", "control", "drain", "llm", "hsp", "metrics", "nonexistent"
};

static struct config	*fuzz_config_fixed;

/* Load the fixed configuration once. */
int
LLVMFuzzerInitialize(__attribute__((unused)) int *argc,
    __attribute__((unused)) char ***argv)
{
	struct config_problems	problems = { 0 };

	fuzz_config_fixed = config_load_buffer("fixed.conf",
	    fuzz_config_fixed_text, sizeof fuzz_config_fixed_text - 1,
	    &problems);
	if (fuzz_config_fixed == NULL) {
		fprintf(stderr, "fuzz_config: the fixed configuration does "
		    "not load: %s\n", problems.count > 0 ?
		    problems.list[0].text : "?");
		abort();
	}
	config_problems_clear(&problems);
	return (0);
}

/* Check the problems of one load against the loader's contract. */
static void
fuzz_config_check_problems(const struct config_problems *problems)
{
	size_t	i, errors = 0, warnings = 0;

	FUZZ_CHECK(problems->count == problems->errors + problems->warnings);
	for (i = 0; i < problems->count; i++) {
		FUZZ_CHECK(problems->list[i].text != NULL);
		FUZZ_CHECK(strncmp(problems->list[i].text, FUZZ_CONFIG_NAME ":",
		    sizeof FUZZ_CONFIG_NAME) == 0);
		if (problems->list[i].warning)
			warnings++;
		else
			errors++;
	}
	FUZZ_CHECK(errors == problems->errors);
	FUZZ_CHECK(warnings == problems->warnings);
}

/* Load one input and use the result as the daemon would. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_problems	 problems = { 0 };
	struct config		*config;
	char			*text;
	size_t			 i;
	const char		*name;

	if ((text = malloc(size + 1)) == NULL)
		return (0);
	memcpy(text, data, size);
	text[size] = '\0';
	config = config_load_buffer(FUZZ_CONFIG_NAME, text, size, &problems);
	fuzz_config_check_problems(&problems);
	FUZZ_CHECK((config != NULL) == (problems.errors == 0));
	config_problems_clear(&problems);
	FUZZ_CHECK(problems.count == 0 && problems.list == NULL);
	free(text);
	if (config == NULL)
		return (0);

	FUZZ_CHECK(config->references == 1);
	FUZZ_CHECK(config_ref(config) == config);
	FUZZ_CHECK(config->control.socket != NULL);
	FUZZ_CHECK(config->control.max_request_bytes >= 256);
	FUZZ_CHECK(config->hsp == NULL || config->hsp->dedup_window >= 1);
	FUZZ_CHECK(config->hsp == NULL || config->ai_id != NULL);
	for (i = 0; i < sizeof fuzz_config_sections /
	    sizeof fuzz_config_sections[0]; i++) {
		name = fuzz_config_sections[i];
		FUZZ_CHECK(!config_section_changed(config, config, name));
		FUZZ_CHECK(config_section_changed(fuzz_config_fixed, config,
		    name) == config_section_changed(config,
		    fuzz_config_fixed, name));
		(void)config_section_changed(NULL, config, name);
		(void)config_section_changed(config, NULL, name);
	}
	config_free(config);
	FUZZ_CHECK(config->references == 1);
	config_free(config);
	return (0);
}
