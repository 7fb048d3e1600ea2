
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>

#include <yajl/yajl_version.h>
#include <openssl/crypto.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"


/*
 * The module's version (VERSION, as config defines it) and the versions of
 * what it runs with: nginx (the headers it was built against: a dynamic
 * module loads only into that version), yajl and OpenSSL (the libraries
 * loaded).  The texts are made once per process.
 */


static u_char  ngx_http_foundry_yajl_text[NGX_INT_T_LEN * 3 + 3];


void
ngx_http_foundry_versions(ngx_http_foundry_versions_t *v)
{
    int      n;
    u_char  *p;

    if (ngx_http_foundry_yajl_text[0] == '\0') {
        n = yajl_version();

        p = ngx_sprintf(ngx_http_foundry_yajl_text, "%d.%d.%d",
                        n / 10000, n / 100 % 100, n % 100);
        *p = '\0';
    }

    ngx_str_set(&v->module, NGX_HTTP_FOUNDRY_VERSION);
    ngx_str_set(&v->nginx, NGINX_VERSION);

    v->yajl.data = ngx_http_foundry_yajl_text;
    v->yajl.len = ngx_strlen(ngx_http_foundry_yajl_text);

    v->openssl.data = (u_char *) OpenSSL_version(OPENSSL_VERSION_STRING);
    v->openssl.len = ngx_strlen(v->openssl.data);
}


/* at each start and reload, in the master, as nginx tells its own */

void
ngx_http_foundry_version_notice(ngx_log_t *log)
{
    ngx_http_foundry_versions_t  v;

    ngx_http_foundry_versions(&v);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "ngx_http_foundry_module/%V (yajl %V, OpenSSL %V)",
                  &v.module, &v.yajl, &v.openssl);
}
