
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_discovery.h"
#include "ngx_http_foundry_routing.h"


static ngx_int_t ngx_http_foundry_resume(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);


/*
 * The gateway's entry point, in the precontent phase: by then access
 * checks have run, and what the location proxies to has not started.
 */

ngx_int_t
ngx_http_foundry_precontent_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_str_t                     rest;
    ngx_http_foundry_ctx_t       *ctx;
    ngx_http_foundry_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);

    if (!flcf->enable || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_foundry_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->routed) {
        return NGX_DECLINED;
    }

    /* the phases ran again while the body or a discovery source is due */

    if (ctx->waiting_body || (ctx->sources && ctx->sources->pending)) {
        return NGX_AGAIN;
    }

    if (ctx->started) {
        return ngx_http_foundry_resume(r, flcf, ctx);
    }

    ctx->started = 1;

    if (r->uri.len < flcf->prefix.len
        || ngx_memcmp(r->uri.data, flcf->prefix.data, flcf->prefix.len) != 0
        || (r->uri.len > flcf->prefix.len
            && r->uri.data[flcf->prefix.len] != '/'))
    {
        return ngx_http_foundry_error(r, NGX_HTTP_NOT_FOUND, "NotFound",
                                      "the path is outside the gateway "
                                      "target \"%V\"", &flcf->prefix);
    }

    rest.data = r->uri.data + flcf->prefix.len;
    rest.len = r->uri.len - flcf->prefix.len;

    if (ngx_http_foundry_classify(r, flcf, ctx, &rest) == NGX_OK) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "foundry: discovery %ui \"%V\"", ctx->kind, &rest);

        rc = ngx_http_foundry_required_headers(r, flcf);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_foundry_resume(r, flcf, ctx);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: inference \"%V\"", &rest);

    return ngx_http_foundry_inference(r, flcf, ctx, &rest);
}


static ngx_int_t
ngx_http_foundry_resume(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    if (ctx->kind == NGX_HTTP_FOUNDRY_REQ_INFERENCE) {
        return ngx_http_foundry_inference_resume(r, flcf, ctx);
    }

    return ngx_http_foundry_discovery_handler(r, flcf, ctx);
}


/* what does the path below the target ask for */

ngx_int_t
ngx_http_foundry_classify(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *rest)
{
    u_char                        *p, *last;
    ngx_uint_t                     i;
    ngx_http_foundry_discovery_t  *d;

    if (flcf->discovery == NULL) {
        return NGX_DECLINED;
    }

    d = flcf->discovery->elts;

    for (i = 0; i < flcf->discovery->nelts; i++) {
        if (rest->len == d[i].list.len
            && ngx_memcmp(rest->data, d[i].list.data, rest->len) == 0)
        {
            ctx->kind = NGX_HTTP_FOUNDRY_REQ_LIST;
            ctx->discovery = &d[i];
            return NGX_OK;
        }
    }

    for (i = 0; i < flcf->discovery->nelts; i++) {
        if (rest->len <= d[i].get_prefix.len + d[i].get_suffix.len
            || ngx_memcmp(rest->data, d[i].get_prefix.data,
                          d[i].get_prefix.len) != 0
            || (d[i].get_suffix.len
                && ngx_memcmp(rest->data + rest->len - d[i].get_suffix.len,
                              d[i].get_suffix.data, d[i].get_suffix.len)
                   != 0))
        {
            continue;
        }

        p = rest->data + d[i].get_prefix.len;
        last = rest->data + rest->len - d[i].get_suffix.len;

        if (ngx_strlchr(p, last, '/') != NULL) {
            continue;
        }

        ctx->kind = NGX_HTTP_FOUNDRY_REQ_GET;
        ctx->discovery = &d[i];
        ctx->name.data = p;
        ctx->name.len = last - p;
        return NGX_OK;
    }

    return NGX_DECLINED;
}

