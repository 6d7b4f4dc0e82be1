/* curl_lib: libcurl loaded on first use (see curl_lib.h). */
#include <curl/curl.h>

#include <pthread.h>
#include <stdio.h>

#include "storage/curl_lib.h"
#include "util/dynlib.h"
#include "util/err.h"
#include "util/banned.h"

/* The SONAME of libcurl 7.16 and later (Debian: libcurl4, the runtime of libcurl4-*-dev). */
#define CURL_SONAME "libcurl.so.4"

struct curl_lib drk_curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[256]; /* empty: loaded */

static void
load(void)
{
    const struct dynlib_sym syms[] = {
        { "curl_global_init", &drk_curl.global_init },
        { "curl_easy_init", &drk_curl.easy_init },
        { "curl_easy_setopt", &drk_curl.easy_setopt },
        { "curl_easy_getinfo", &drk_curl.easy_getinfo },
        { "curl_easy_perform", &drk_curl.easy_perform },
        { "curl_easy_cleanup", &drk_curl.easy_cleanup },
        { "curl_easy_reset", &drk_curl.easy_reset },
        { "curl_easy_strerror", &drk_curl.easy_strerror },
        { "curl_slist_append", &drk_curl.slist_append },
        { "curl_slist_free_all", &drk_curl.slist_free_all },
        { "curl_free", &drk_curl.free },
        { "curl_url", &drk_curl.url },
        { "curl_url_get", &drk_curl.url_get },
        { "curl_url_set", &drk_curl.url_set },
        { "curl_url_cleanup", &drk_curl.url_cleanup },
        { "curl_multi_init", &drk_curl.multi_init },
        { "curl_multi_add_handle", &drk_curl.multi_add_handle },
        { "curl_multi_remove_handle", &drk_curl.multi_remove_handle },
        { "curl_multi_perform", &drk_curl.multi_perform },
        { "curl_multi_poll", &drk_curl.multi_poll },
        { "curl_multi_info_read", &drk_curl.multi_info_read },
        { "curl_multi_cleanup", &drk_curl.multi_cleanup },
        { "curl_multi_strerror", &drk_curl.multi_strerror },
    };
    if (dynlib_load(CURL_SONAME, syms, sizeof(syms) / sizeof(syms[0]), load_error,
                    sizeof(load_error)) != 0)
        return;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        snprintf(load_error, sizeof(load_error), "curl_global_init failed");
}

int
curl_lib_load(void)
{
    pthread_once(&load_once, load);
    if (load_error[0]) {
        drk_err_set(DRK_EIO, "remote repositories need libcurl: %s", load_error);
        drk_err_hint("install it: apt-get install libcurl4");
        return DRK_EIO;
    }
    return 0;
}
