/*
 * llm-curl-load.c -- libcurl, loaded when the first LLM transfer needs it.
 *
 * Debian's libcurl brings 25 libraries of its own (GnuTLS, Kerberos,
 * LDAP, SASL, libssh2, librtmp, nghttp2, libidn2, libpsl, brotli, zstd
 * ...): mapping and relocating them and running their constructors cost
 * 3.7 MiB of resident memory, 40% of an idle daemon's, though the daemon
 * may never send an LLM request (issue 19).  So hotreloadd is not linked
 * with libcurl.  The functions of curl's API that the LLM service uses are
 * defined here, under curl's own names, and call libcurl's, which the first
 * of them to need it (curl_global_init() in llm-curl.c, at the first
 * transfer) loads with dlopen().  Calls elsewhere stay plain curl calls.
 *
 * The daemon does not export these names (it is not linked with
 * -rdynamic), so libcurl's own calls never come back here.  The unit tests
 * that use curl link libcurl itself, not this file.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>

/* The definitions below have curl's names: no type-checking macros. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "log.h"

/* libcurl's file, named as the build found it (the Makefile's CURL_SONAME). */
#ifndef HR_CURL_SONAME
#define HR_CURL_SONAME	"libcurl.so.4"
#endif

/*
 * Set while libcurl and its libraries are loaded, unless the operator set
 * it: GnuTLS then skips the initialisation its constructor would do (0.7
 * MiB resident).  curl itself uses OpenSSL here; GnuTLS is only there for
 * librtmp and libldap, which call gnutls_global_init() before they use it,
 * and the LLM service's transfers are http and https only
 * (CURLOPT_PROTOCOLS_STR).
 */
#define LLM_CURL_GNUTLS_ENV	"GNUTLS_NO_IMPLICIT_INIT"

/* A pointer to function of any type, for the setopt arguments. */
typedef void	(*llm_curl_function)(void);

/* libcurl's functions, once loaded. */
static struct {
	CURLcode		 (*global_init)(long);
	void			 (*global_cleanup)(void);
	CURL			*(*easy_init)(void);
	CURLcode		 (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode		 (*easy_getinfo)(CURL *, CURLINFO, ...);
	void			 (*easy_cleanup)(CURL *);
	const char		*(*easy_strerror)(CURLcode);
	CURLM			*(*multi_init)(void);
	CURLMcode		 (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode		 (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode		 (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode		 (*multi_assign)(CURLM *, curl_socket_t, void *);
	CURLMcode		 (*multi_socket_action)(CURLM *, curl_socket_t,
				    int, int *);
	CURLMsg			*(*multi_info_read)(CURLM *, int *);
	CURLMcode		 (*multi_cleanup)(CURLM *);
	struct curl_slist	*(*slist_append)(struct curl_slist *,
				    const char *);
	void			 (*slist_free_all)(struct curl_slist *);
} llm_curl_api;

/* Where dlsym() puts each (the idiom of dlsym(3)). */
#define LLM_CURL_SYMBOL(name) \
	{ "curl_" #name, (void **)&llm_curl_api.name }
static const struct {
	const char	*name;
	void		**slot;
} llm_curl_symbols[] = {
	LLM_CURL_SYMBOL(global_init),
	LLM_CURL_SYMBOL(global_cleanup),
	LLM_CURL_SYMBOL(easy_init),
	LLM_CURL_SYMBOL(easy_setopt),
	LLM_CURL_SYMBOL(easy_getinfo),
	LLM_CURL_SYMBOL(easy_cleanup),
	LLM_CURL_SYMBOL(easy_strerror),
	LLM_CURL_SYMBOL(multi_init),
	LLM_CURL_SYMBOL(multi_setopt),
	LLM_CURL_SYMBOL(multi_add_handle),
	LLM_CURL_SYMBOL(multi_remove_handle),
	LLM_CURL_SYMBOL(multi_assign),
	LLM_CURL_SYMBOL(multi_socket_action),
	LLM_CURL_SYMBOL(multi_info_read),
	LLM_CURL_SYMBOL(multi_cleanup),
	LLM_CURL_SYMBOL(slist_append),
	LLM_CURL_SYMBOL(slist_free_all),
};

static void	*llm_curl_library;	/* dlopen()'s handle; NULL: not yet */

/*
 * Load libcurl (and so its libraries) unless it is loaded: 0, or -1 when
 * it cannot be, logged the first time.  A later call tries again (a
 * package installed meanwhile).  libcurl stays loaded until the daemon
 * exits: curl_global_cleanup() does not undo what its libraries did.
 */
static int
llm_curl_load(void)
{
	static bool	 warned;
	void		*library;
	bool		 set_env;
	size_t		 i;

	if (llm_curl_library != NULL)
		return (0);
	set_env = getenv(LLM_CURL_GNUTLS_ENV) == NULL;
	if (set_env)
		setenv(LLM_CURL_GNUTLS_ENV, "1", 0);
	library = dlopen(HR_CURL_SONAME, RTLD_LAZY | RTLD_LOCAL);
	if (set_env)
		unsetenv(LLM_CURL_GNUTLS_ENV);
	if (library == NULL) {
		if (!warned)
			log_warnx("llm: cannot load libcurl: %s", dlerror());
		warned = true;
		return (-1);
	}
	for (i = 0; i < sizeof llm_curl_symbols / sizeof llm_curl_symbols[0];
	    i++) {
		*llm_curl_symbols[i].slot = dlsym(library,
		    llm_curl_symbols[i].name);
		if (*llm_curl_symbols[i].slot == NULL) {
			if (!warned)
				log_warnx("llm: %s has no %s", HR_CURL_SONAME,
				    llm_curl_symbols[i].name);
			warned = true;
			dlclose(library);
			return (-1);
		}
	}
	llm_curl_library = library;
	warned = false;
	log_debug("llm: loaded %s", HR_CURL_SONAME);
	return (0);
}

/* curl_global_init(3): load libcurl first. */
CURLcode
curl_global_init(long flags)
{
	if (llm_curl_load() == -1)
		return (CURLE_FAILED_INIT);
	return (llm_curl_api.global_init(flags));
}

/* curl_global_cleanup(3); nothing when libcurl was never loaded. */
void
curl_global_cleanup(void)
{
	if (llm_curl_library != NULL)
		llm_curl_api.global_cleanup();
}

/* curl_easy_init(3). */
CURL *
curl_easy_init(void)
{
	if (llm_curl_load() == -1)
		return (NULL);
	return (llm_curl_api.easy_init());
}

/*
 * Call SETOPT (libcurl's curl_easy_setopt or curl_multi_setopt) on HANDLE
 * with OPTION and the one argument in AP, passed on as the type the
 * option's number says (curl.h's CURLOPTTYPE_* ranges), as libcurl reads
 * it; the same ranges number the multi options.
 */
#define LLM_CURL_SETOPT(setopt, handle, option, ap)			\
	((option) < CURLOPTTYPE_OBJECTPOINT ?				\
	    (setopt)((handle), (option), va_arg((ap), long)) :		\
	    (option) < CURLOPTTYPE_FUNCTIONPOINT ||			\
	    (option) >= CURLOPTTYPE_BLOB ?				\
	    (setopt)((handle), (option), va_arg((ap), void *)) :	\
	    (option) < CURLOPTTYPE_OFF_T ?				\
	    (setopt)((handle), (option), va_arg((ap), llm_curl_function)) : \
	    (setopt)((handle), (option), va_arg((ap), curl_off_t)))

/* curl_easy_setopt(3). */
CURLcode
curl_easy_setopt(CURL *easy, CURLoption option, ...)
{
	va_list		ap;
	CURLcode	rc;

	va_start(ap, option);
	rc = LLM_CURL_SETOPT(llm_curl_api.easy_setopt, easy, option, ap);
	va_end(ap);
	return (rc);
}

/* curl_easy_getinfo(3): the argument is always a pointer. */
CURLcode
curl_easy_getinfo(CURL *easy, CURLINFO info, ...)
{
	va_list		ap;
	CURLcode	rc;

	va_start(ap, info);
	rc = llm_curl_api.easy_getinfo(easy, info, va_arg(ap, void *));
	va_end(ap);
	return (rc);
}

/* curl_easy_cleanup(3); there is no handle before libcurl is loaded. */
void
curl_easy_cleanup(CURL *easy)
{
	if (llm_curl_library != NULL)
		llm_curl_api.easy_cleanup(easy);
}

/* curl_easy_strerror(3). */
const char *
curl_easy_strerror(CURLcode code)
{
	if (llm_curl_library == NULL)
		return ("libcurl is not loaded");
	return (llm_curl_api.easy_strerror(code));
}

/* curl_multi_init(3). */
CURLM *
curl_multi_init(void)
{
	if (llm_curl_load() == -1)
		return (NULL);
	return (llm_curl_api.multi_init());
}

/* curl_multi_setopt(3). */
CURLMcode
curl_multi_setopt(CURLM *multi, CURLMoption option, ...)
{
	va_list		ap;
	CURLMcode	rc;

	va_start(ap, option);
	rc = LLM_CURL_SETOPT(llm_curl_api.multi_setopt, multi, option, ap);
	va_end(ap);
	return (rc);
}

/* curl_multi_add_handle(3). */
CURLMcode
curl_multi_add_handle(CURLM *multi, CURL *easy)
{
	return (llm_curl_api.multi_add_handle(multi, easy));
}

/* curl_multi_remove_handle(3). */
CURLMcode
curl_multi_remove_handle(CURLM *multi, CURL *easy)
{
	return (llm_curl_api.multi_remove_handle(multi, easy));
}

/* curl_multi_assign(3). */
CURLMcode
curl_multi_assign(CURLM *multi, curl_socket_t s, void *socketp)
{
	return (llm_curl_api.multi_assign(multi, s, socketp));
}

/* curl_multi_socket_action(3). */
CURLMcode
curl_multi_socket_action(CURLM *multi, curl_socket_t s, int events,
    int *running)
{
	return (llm_curl_api.multi_socket_action(multi, s, events, running));
}

/* curl_multi_info_read(3). */
CURLMsg *
curl_multi_info_read(CURLM *multi, int *left)
{
	return (llm_curl_api.multi_info_read(multi, left));
}

/* curl_multi_cleanup(3). */
CURLMcode
curl_multi_cleanup(CURLM *multi)
{
	return (llm_curl_api.multi_cleanup(multi));
}

/* curl_slist_append(3). */
struct curl_slist *
curl_slist_append(struct curl_slist *list, const char *line)
{
	if (llm_curl_load() == -1)
		return (NULL);
	return (llm_curl_api.slist_append(list, line));
}

/* curl_slist_free_all(3); there is no list before libcurl is loaded. */
void
curl_slist_free_all(struct curl_slist *list)
{
	if (llm_curl_library != NULL)
		llm_curl_api.slist_free_all(list);
}
