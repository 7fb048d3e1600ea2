
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_discovery.h"


static ngx_http_foundry_deployment_t *ngx_http_foundry_discovery_find(
    ngx_http_request_t *r, ngx_http_foundry_loc_conf_t *flcf,
    ngx_http_foundry_ctx_t *ctx);
static ngx_int_t ngx_http_foundry_discovery_send(ngx_http_request_t *r,
    ngx_buf_t *b);
static ngx_int_t ngx_http_foundry_discovery_build(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);


ngx_int_t
ngx_http_foundry_discovery_handler(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_str_t                      *body;
    ngx_table_elt_t                *h;
    ngx_http_foundry_deployment_t  *d;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");

        return ngx_http_foundry_error(r, NGX_HTTP_NOT_ALLOWED,
                                      "MethodNotAllowed",
                                      "method %V is not allowed on a "
                                      "discovery endpoint, use GET",
                                      &r->method_name);
    }

    rc = ngx_http_foundry_check_api_version(r, flcf->deployment_api_versions,
                                            &flcf->deployment_versions_text);
    if (rc != NGX_OK) {
        return rc;
    }

    /* deployments discovered from the upstreams: their lists first */

    rc = ngx_http_foundry_sources_wait(r, flcf, ctx);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (ctx->kind == NGX_HTTP_FOUNDRY_REQ_LIST) {

        if (flcf->sources || (ctx->key && ctx->key->deployments)
            || (ctx->token && flcf->access->token_allow))
        {
            return ngx_http_foundry_discovery_build(r, flcf, ctx);
        }

        body = NULL;

        if (flcf->models) {
            body = (ctx->discovery->format == NGX_HTTP_FOUNDRY_FORMAT_AZURE)
                   ? &flcf->models->azure_list : &flcf->models->openai_list;
        }

    } else {
        d = ngx_http_foundry_discovery_find(r, flcf, ctx);

        if (d == NULL) {
            if (ngx_http_foundry_valid_name(&ctx->name) != NGX_OK) {
                return ngx_http_foundry_error(r, NGX_HTTP_NOT_FOUND,
                                              "DeploymentNotFound",
                                              "the deployment name is not "
                                              "valid");
            }

            return ngx_http_foundry_error(r, NGX_HTTP_NOT_FOUND,
                                          "DeploymentNotFound",
                                          "the deployment \"%V\" does not "
                                          "exist on this gateway",
                                          &ctx->name);
        }

        body = (ctx->discovery->format == NGX_HTTP_FOUNDRY_FORMAT_AZURE)
               ? &d->azure_json : &d->openai_json;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (body) {
        b->pos = body->data;
        b->last = body->data + body->len;

    } else if (ctx->discovery->format == NGX_HTTP_FOUNDRY_FORMAT_AZURE) {
        b->pos = (u_char *) "{\"value\":[]}";
        b->last = b->pos + sizeof("{\"value\":[]}") - 1;

    } else {
        b->pos = (u_char *) "{\"object\":\"list\",\"data\":[]}";
        b->last = b->pos + sizeof("{\"object\":\"list\",\"data\":[]}") - 1;
    }

    b->memory = 1;

    return ngx_http_foundry_discovery_send(r, b);
}


/*
 * The deployment of a get: configured, else discovered from the sources;
 * one the caller may not use does not exist for it
 */

static ngx_http_foundry_deployment_t *
ngx_http_foundry_discovery_find(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    ngx_http_foundry_deployment_t  *d;

    d = ngx_http_foundry_find_deployment(flcf->models, &ctx->name);

    if (d && !ngx_http_foundry_allows(r, flcf, ctx, &d->name)) {
        d = NULL;

    } else if (d == NULL && flcf->sources
               && ngx_http_foundry_valid_name(&ctx->name) == NGX_OK)
    {
        d = ngx_http_foundry_sources_find(r, flcf, ctx, &ctx->name);

        if (d && !ngx_http_foundry_allows(r, flcf, ctx, &d->name)) {
            d = NULL;
        }
    }

    return d;
}


/*
 * A list built for this request: the static deployments the key may use,
 * then those discovered from the upstreams.
 */

static ngx_int_t
ngx_http_foundry_discovery_build(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    u_char                         *p;
    size_t                          len;
    ngx_str_t                      *obj, head;
    ngx_buf_t                      *b;
    ngx_uint_t                      i, azure;
    ngx_array_t                     objects;
    ngx_http_foundry_deployment_t  *d;

    azure = (ctx->discovery->format == NGX_HTTP_FOUNDRY_FORMAT_AZURE);

    if (azure) {
        ngx_str_set(&head, "{\"value\":[");

    } else {
        ngx_str_set(&head, "{\"object\":\"list\",\"data\":[");
    }

    if (ngx_array_init(&objects, r->pool, 16, sizeof(ngx_str_t)) != NGX_OK) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (flcf->models) {
        d = flcf->models->deployments.elts;

        for (i = 0; i < flcf->models->deployments.nelts; i++) {
            if (!ngx_http_foundry_allows(r, flcf, ctx, &d[i].name)) {
                continue;
            }

            obj = ngx_array_push(&objects);
            if (obj == NULL) {
                return ngx_http_foundry_finish(r,
                                             NGX_HTTP_INTERNAL_SERVER_ERROR);
            }

            *obj = azure ? d[i].azure_json : d[i].openai_json;
        }
    }

    if (ngx_http_foundry_sources_list(r, flcf, ctx, ctx->discovery->format,
                                      &objects)
        != NGX_OK)
    {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    obj = objects.elts;
    len = head.len + 2 + objects.nelts;

    for (i = 0; i < objects.nelts; i++) {
        len += obj[i].len;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    p = ngx_cpymem(b->last, head.data, head.len);

    for (i = 0; i < objects.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, obj[i].data, obj[i].len);
    }

    *p++ = ']';
    *p++ = '}';

    b->last = p;

    return ngx_http_foundry_discovery_send(r, b);
}


/* the answer, whole in one buffer */

static ngx_int_t
ngx_http_foundry_discovery_send(ngx_http_request_t *r, ngx_buf_t *b)
{
    ngx_chain_t  out;

    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_foundry_finish(r,
               ngx_http_foundry_send_json(r, NGX_HTTP_OK, &out,
                                          b->last - b->pos));
}
