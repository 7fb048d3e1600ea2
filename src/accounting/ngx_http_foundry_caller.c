
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"


/*
 * Who calls, as Foundry's agent service says it: the headers
 * x-ms-foundry-agent-id, x-ms-foundry-project-id, openai-project and
 * x-ms-foundry-model-id, and the W3C trace context (traceparent).
 *
 * These are the caller's words, not checked credentials.  A value is
 * given only when it looks like an identifier (at most 256 bytes of
 * letters, digits and "-._:/@=+~"), so that it is safe as a limit key, a
 * metric label or a JSON log field; anything else is empty.  A
 * traceparent is given only when it is valid (version 00 form, trace-id
 * and parent-id not all zeros); with "foundry_traceparent on", a request
 * without a valid one gets a new one, the same for the whole request.
 */


#define NGX_HTTP_FOUNDRY_CALLER_MAX  256
#define NGX_HTTP_FOUNDRY_TRACEPARENT_LEN  55


static ngx_int_t ngx_http_foundry_caller_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_foundry_traceparent_valid(ngx_str_t *tp);
static ngx_int_t ngx_http_foundry_traceparent_make(ngx_http_request_t *r,
    ngx_str_t *value);


/* the headers, by NGX_HTTP_FOUNDRY_CALLER_* */

static ngx_str_t  ngx_http_foundry_caller_headers[] = {
    ngx_string("x-ms-foundry-agent-id"),
    ngx_string("x-ms-foundry-project-id"),
    ngx_string("openai-project"),
    ngx_string("x-ms-foundry-model-id"),
    ngx_string("traceparent")
};


/* the value of a request header (the first), or NGX_DECLINED */

static ngx_int_t
ngx_http_foundry_caller_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_http_foundry_find_header(r, name);

    if (h == NULL) {
        return NGX_DECLINED;
    }

    *value = h->value;

    return NGX_OK;
}


/* a caller's identifier, or NGX_DECLINED (absent or not an identifier) */

ngx_int_t
ngx_http_foundry_caller_id(ngx_http_request_t *r, ngx_uint_t which,
    ngx_str_t *value)
{
    u_char  *p, c;

    if (ngx_http_foundry_caller_header(r,
                                       &ngx_http_foundry_caller_headers[which],
                                       value)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (value->len == 0 || value->len > NGX_HTTP_FOUNDRY_CALLER_MAX) {
        return NGX_DECLINED;
    }

    for (p = value->data; p < value->data + value->len; p++) {
        c = *p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9'))
        {
            continue;
        }

        switch (c) {
        case '-': case '.': case '_': case ':': case '/': case '@':
        case '=': case '+': case '~':
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the project: x-ms-foundry-project-id, else openai-project */

ngx_int_t
ngx_http_foundry_caller_project(ngx_http_request_t *r, ngx_str_t *value)
{
    if (ngx_http_foundry_caller_id(r, NGX_HTTP_FOUNDRY_CALLER_PROJECT, value)
        == NGX_OK)
    {
        return NGX_OK;
    }

    return ngx_http_foundry_caller_id(r, NGX_HTTP_FOUNDRY_CALLER_OPENAI,
                                      value);
}


/*
 * version "-" trace-id "-" parent-id "-" flags, lowercase hex; version
 * 00 is exactly 55 bytes, a later version at least that (W3C Trace
 * Context, section 3.2); "ff" is no version
 */

static ngx_int_t
ngx_http_foundry_traceparent_valid(ngx_str_t *tp)
{
    u_char      *p;
    ngx_uint_t   i, zero;

    static ngx_uint_t  dash[] = { 2, 35, 52 };

    if (tp->len < NGX_HTTP_FOUNDRY_TRACEPARENT_LEN) {
        return NGX_DECLINED;
    }

    p = tp->data;

    for (i = 0; i < NGX_HTTP_FOUNDRY_TRACEPARENT_LEN; i++) {
        if (i == dash[0] || i == dash[1] || i == dash[2]) {
            if (p[i] != '-') {
                return NGX_DECLINED;
            }

            continue;
        }

        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return NGX_DECLINED;
        }
    }

    if (p[0] == 'f' && p[1] == 'f') {
        return NGX_DECLINED;
    }

    if (p[0] == '0' && p[1] == '0') {
        if (tp->len != NGX_HTTP_FOUNDRY_TRACEPARENT_LEN) {
            return NGX_DECLINED;
        }

    } else if (tp->len > NGX_HTTP_FOUNDRY_TRACEPARENT_LEN
               && p[NGX_HTTP_FOUNDRY_TRACEPARENT_LEN] != '-')
    {
        return NGX_DECLINED;
    }

    /* neither the trace-id nor the parent-id may be all zeros */

    zero = 1;

    for (i = 3; i < 35; i++) {
        zero &= (p[i] == '0');
    }

    if (zero) {
        return NGX_DECLINED;
    }

    zero = 1;

    for (i = 36; i < 52; i++) {
        zero &= (p[i] == '0');
    }

    return zero ? NGX_DECLINED : NGX_OK;
}


/*
 * $foundry_traceparent: the request's, when valid; else, with
 * foundry_traceparent on, a new one (sampled, so that the services after
 * nginx record their part); else empty (NGX_DECLINED).  One value for the
 * request: the variable is cacheable, and the routing, which hands it to
 * the upstream, reads the same (kept in the request's context).
 */

ngx_int_t
ngx_http_foundry_traceparent(ngx_http_request_t *r, ngx_str_t *value)
{
    ngx_int_t                     rc;
    ngx_http_foundry_ctx_t       *ctx;
    ngx_http_foundry_loc_conf_t  *flcf;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    if (ctx == NULL && r == r->main) {
        /* a gateway's request asked before its routing began */

        flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);

        if (flcf->enable) {
            ctx = ngx_http_foundry_ctx(r);
            if (ctx == NULL) {
                return NGX_ERROR;
            }
        }
    }

    if (ctx && ctx->traceparent_done) {
        *value = ctx->traceparent;
        return value->data ? NGX_OK : NGX_DECLINED;
    }

    rc = ngx_http_foundry_traceparent_make(r, value);

    if (ctx && rc != NGX_ERROR) {
        ctx->traceparent_done = 1;

        if (rc == NGX_OK) {
            ctx->traceparent = *value;
        }
    }

    return rc;
}


static ngx_int_t
ngx_http_foundry_traceparent_make(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char                       *p, rnd[24];
    ngx_uint_t                    i;
    ngx_http_foundry_loc_conf_t  *flcf;

    static u_char  hex[] = "0123456789abcdef";

    if (ngx_http_foundry_caller_header(r,
            &ngx_http_foundry_caller_headers[NGX_HTTP_FOUNDRY_CALLER_TRACE],
            value)
        == NGX_OK
        && ngx_http_foundry_traceparent_valid(value) == NGX_OK)
    {
        return NGX_OK;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);

    if (!flcf->traceparent) {
        return NGX_DECLINED;
    }

    /* 16 bytes of trace-id and 8 of parent-id, never all zeros */

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_ERROR;
    }

    rnd[15] |= 1;
    rnd[23] |= 1;

    p = ngx_pnalloc(r->pool, NGX_HTTP_FOUNDRY_TRACEPARENT_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value->data = p;
    value->len = NGX_HTTP_FOUNDRY_TRACEPARENT_LEN;

    *p++ = '0';
    *p++ = '0';
    *p++ = '-';

    for (i = 0; i < sizeof(rnd); i++) {
        if (i == 16) {
            *p++ = '-';
        }

        *p++ = hex[rnd[i] >> 4];
        *p++ = hex[rnd[i] & 0xf];
    }

    *p++ = '-';
    *p++ = '0';
    *p = '1';

    return NGX_OK;
}
