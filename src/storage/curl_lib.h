/*
 * curl_lib: libcurl, loaded when a remote repository is first opened (dlopen) instead of at
 * program start. Linked in, libcurl brings some twenty libraries (GnuTLS, p11-kit, Kerberos,
 * LDAP, ...) whose loading and constructors cost every drkit command ~3 MiB of memory and
 * some startup time, though most commands never talk to a remote repository.
 *
 * Include after <curl/curl.h> (remote.h does): the curl functions drkit calls become calls
 * through the loaded table, so the backends keep calling curl_easy_setopt() and friends.
 * curl_lib_load() must have succeeded first (remote_global_init does it).
 */
#ifndef DRK_STORAGE_CURL_LIB_H
#define DRK_STORAGE_CURL_LIB_H

#include <curl/curl.h>

struct curl_lib {
    __typeof__(&curl_global_init) global_init;
    __typeof__(&curl_easy_init) easy_init;
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    __typeof__(&curl_easy_perform) easy_perform;
    __typeof__(&curl_easy_cleanup) easy_cleanup;
    __typeof__(&curl_easy_reset) easy_reset;
    __typeof__(&curl_easy_strerror) easy_strerror;
    __typeof__(&curl_slist_append) slist_append;
    __typeof__(&curl_slist_free_all) slist_free_all;
    __typeof__(&curl_free) free;
    __typeof__(&curl_url) url;
    __typeof__(&curl_url_get) url_get;
    __typeof__(&curl_url_set) url_set;
    __typeof__(&curl_url_cleanup) url_cleanup;
    __typeof__(&curl_multi_init) multi_init;
    __typeof__(&curl_multi_add_handle) multi_add_handle;
    __typeof__(&curl_multi_remove_handle) multi_remove_handle;
    __typeof__(&curl_multi_perform) multi_perform;
    __typeof__(&curl_multi_poll) multi_poll;
    __typeof__(&curl_multi_info_read) multi_info_read;
    __typeof__(&curl_multi_cleanup) multi_cleanup;
    __typeof__(&curl_multi_strerror) multi_strerror;
};

/* The table, once curl_lib_load has succeeded. */
extern struct curl_lib drk_curl;

/* Load libcurl and curl_global_init it, once per process; 0, or DRK_EIO saying what is
 * missing (the error stays the same on later calls). */
int curl_lib_load(void);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init(...)         (drk_curl.global_init(__VA_ARGS__))
#define curl_easy_init(...)           (drk_curl.easy_init(__VA_ARGS__))
#define curl_easy_setopt(...)         (drk_curl.easy_setopt(__VA_ARGS__))
#define curl_easy_getinfo(...)        (drk_curl.easy_getinfo(__VA_ARGS__))
#define curl_easy_perform(...)        (drk_curl.easy_perform(__VA_ARGS__))
#define curl_easy_cleanup(...)        (drk_curl.easy_cleanup(__VA_ARGS__))
#define curl_easy_reset(...)          (drk_curl.easy_reset(__VA_ARGS__))
#define curl_easy_strerror(...)       (drk_curl.easy_strerror(__VA_ARGS__))
#define curl_slist_append(...)        (drk_curl.slist_append(__VA_ARGS__))
#define curl_slist_free_all(...)      (drk_curl.slist_free_all(__VA_ARGS__))
#define curl_free(...)                (drk_curl.free(__VA_ARGS__))
#define curl_url(...)                 (drk_curl.url(__VA_ARGS__))
#define curl_url_get(...)             (drk_curl.url_get(__VA_ARGS__))
#define curl_url_set(...)             (drk_curl.url_set(__VA_ARGS__))
#define curl_url_cleanup(...)         (drk_curl.url_cleanup(__VA_ARGS__))
#define curl_multi_init(...)          (drk_curl.multi_init(__VA_ARGS__))
#define curl_multi_add_handle(...)    (drk_curl.multi_add_handle(__VA_ARGS__))
#define curl_multi_remove_handle(...) (drk_curl.multi_remove_handle(__VA_ARGS__))
#define curl_multi_perform(...)       (drk_curl.multi_perform(__VA_ARGS__))
#define curl_multi_poll(...)          (drk_curl.multi_poll(__VA_ARGS__))
#define curl_multi_info_read(...)     (drk_curl.multi_info_read(__VA_ARGS__))
#define curl_multi_cleanup(...)       (drk_curl.multi_cleanup(__VA_ARGS__))
#define curl_multi_strerror(...)      (drk_curl.multi_strerror(__VA_ARGS__))

#endif
