
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_discovery.h"
#include "ngx_http_foundry_identity.h"
#include "ngx_http_foundry_content.h"
#include "ngx_http_foundry_routing.h"


/* what a client's header is to the upstream */
#define NGX_HTTP_FOUNDRY_HEADER_OTHER       0
#define NGX_HTTP_FOUNDRY_HEADER_CREDENTIAL  1
#define NGX_HTTP_FOUNDRY_HEADER_TRACE       2

/* the lengths of the names ngx_http_foundry_header_kind() looks at */
#define ngx_http_foundry_header_maybe(flcf, h)                                \
    ((h)->key.len == sizeof("api-key") - 1                                    \
     || (h)->key.len == sizeof("traceparent") - 1                             \
     || (h)->key.len == sizeof("authorization") - 1                           \
     || (h)->key.len == sizeof("ocp-apim-subscription-key") - 1               \
     || (h)->key.len == (flcf)->auth_header.len)


static ngx_int_t ngx_http_foundry_parse_path(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *rest);
static ngx_int_t ngx_http_foundry_select(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
static void ngx_http_foundry_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_foundry_need_body(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
static ngx_int_t ngx_http_foundry_body_model(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
static ngx_int_t ngx_http_foundry_rewrite_model(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
static ngx_int_t ngx_http_foundry_route(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
static ngx_int_t ngx_http_foundry_client_headers(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf);
static ngx_uint_t ngx_http_foundry_dropped_arg(
    ngx_http_foundry_loc_conf_t *flcf, u_char *p, u_char *last);
static ngx_inline ngx_uint_t ngx_http_foundry_header_kind(
    ngx_http_foundry_loc_conf_t *flcf, ngx_table_elt_t *h);


/* an inference call: POST {target}/..., see ../docs/architecture.md */

ngx_int_t
ngx_http_foundry_inference(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *rest)
{
    uint32_t          bit;
    ngx_int_t         rc;
    ngx_uint_t        path, exact;
    const char       *err;
    ngx_table_elt_t  *h;

    ctx->kind = NGX_HTTP_FOUNDRY_REQ_INFERENCE;
    path = 0;

    /*
     * the operation first: one the location does not pass, or the caller
     * may not use, is refused whatever the method, before the body is read
     * (a path that names no operation is refused below); a known
     * operation's very name is valid, only others are checked byte by byte
     */

    if (ngx_http_foundry_split_path(rest, flcf->deployment_in_path,
                                    &flcf->connection_name, &ctx->name,
                                    &ctx->op, &err)
        == NGX_OK)
    {
        bit = ngx_http_foundry_operation_find(&ctx->op, &exact);

        if (exact || ngx_http_foundry_valid_op(&ctx->op) == NGX_OK) {
            path = 1;

            rc = ngx_http_foundry_operation_check(r, flcf, ctx, bit);
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    if (r->method != NGX_HTTP_POST) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");

        return ngx_http_foundry_error(r, NGX_HTTP_NOT_ALLOWED,
                                      "MethodNotAllowed",
                                      "method %V is not allowed, inference "
                                      "calls use POST", &r->method_name);
    }

    rc = ngx_http_foundry_check_api_version(r, flcf->inference_api_versions,
                                            &flcf->inference_versions_text);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_foundry_required_headers(r, flcf);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the path was split and checked above; else its error now */

    if (path) {
        ctx->body_deployment = (ctx->name.data == NULL);

    } else {
        rc = ngx_http_foundry_parse_path(r, flcf, ctx, rest);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_http_foundry_inference_resume(r, flcf, ctx);
}


/*
 * The steps of an inference call after its path was checked, resumable:
 * phases run this again after the body is read, and after discovery
 * sources were fetched.  Each step is done once.
 */

ngx_int_t
ngx_http_foundry_inference_resume(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    ngx_int_t  rc;

    /* the deployment: in the path, or in the body's "model" */

    if (ctx->deployment == NULL) {

        if (ctx->body_deployment) {
            rc = ngx_http_foundry_need_body(r, flcf, ctx);
            if (rc != NGX_OK) {
                return rc;
            }

            rc = ngx_http_foundry_body_model(r, flcf, ctx);
            if (rc != NGX_OK) {
                return rc;
            }
        }

        rc = ngx_http_foundry_select(r, flcf, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    /*
     * the body, unless classic Azure OpenAI takes it as it is and no limit
     * wants its max_tokens
     */

    if (ctx->upstream->kind != NGX_HTTP_FOUNDRY_AZURE_CLASSIC
        || flcf->limits != NULL || flcf->stream_usage)
    {
        rc = ngx_http_foundry_need_body(r, flcf, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_foundry_rewrite_model(r, flcf, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    /* the upstream's own token, fetched by the gateway (src/identity/) */

    if (ctx->upstream->credential) {
        rc = ngx_http_foundry_identity_bearer(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    /* the prompt's content check, before anything goes upstream */

    if (flcf->content) {
        rc = ngx_http_foundry_need_body(r, flcf, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_foundry_content_check(r, flcf->content, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    /* foundry_route: a host name of url= resolved, as proxy_pass would */

    if (flcf->route && ctx->upstream->resolved
        && ctx->upstream->resolved->sockaddr == NULL)
    {
        rc = ngx_http_foundry_route_resolve(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_http_foundry_route(r, flcf, ctx);
}


/*
 * NGX_OK once the body is read and parsed; else the read is started (and
 * NGX_DONE returned, the phases resume when it is in), or a 400 sent.
 */

static ngx_int_t
ngx_http_foundry_need_body(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    ngx_int_t    rc;
    const char  *msg;

    if (ctx->body_parsed) {
        return NGX_OK;
    }

    if (!ctx->body_read) {
        ctx->waiting_body = 1;
        ctx->body_sync = 1;

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_foundry_body_handler);

        ctx->body_sync = 0;

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            /* the error filter answers it as JSON */
            ctx->waiting_body = 0;
            return rc;
        }

        if (!ctx->body_read) {
            /* the handler runs the phases again when the body is in */
            ngx_http_finalize_request(r, NGX_DONE);
            return NGX_DONE;
        }

        /*
         * read already (most bodies come with the headers): the phase
         * goes on here, without running the phases again; the read's
         * reference to the request is dropped as NGX_DONE would drop it
         */

        r->main->count--;
    }

    ctx->body_parsed = 1;
    ctx->body.no_max_tokens = (flcf->limits == NULL);

    if (flcf->content) {
        /* the check's text is read by the same parse */

        ctx->body.tee = ngx_http_foundry_content_tee(r, flcf->content, ctx);
        if (ctx->body.tee == NULL) {
            return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
    }

    if (ngx_http_foundry_body_parse(r, &ctx->body) != NGX_OK) {
        msg = ngx_http_foundry_body_error(&ctx->body);

        if (msg == NULL) {
            return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return ngx_http_foundry_error(r, NGX_HTTP_BAD_REQUEST,
                                      "InvalidRequestBody", "%s", msg);
    }

    return NGX_OK;
}


/* the deployment named in the body's "model" */

static ngx_int_t
ngx_http_foundry_body_model(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    u_char                   *p;
    ngx_http_foundry_body_t  *b;

    b = &ctx->body;

    if (!b->has_model) {
        return ngx_http_foundry_error(r, NGX_HTTP_BAD_REQUEST,
                                      "MissingModel",
                                      "the request body has no \"model\": "
                                      "this gateway reads the deployment "
                                      "from it");
    }

    ctx->name = b->model;

    /* "{connection}/{deployment}", as some agents send it */

    p = ngx_strlchr(b->model.data, b->model.data + b->model.len, '/');

    if (p && flcf->connection_name.len
        && (size_t) (p - b->model.data) == flcf->connection_name.len
        && ngx_strncasecmp(b->model.data, flcf->connection_name.data,
                           flcf->connection_name.len)
           == 0)
    {
        ctx->name.data = p + 1;
        ctx->name.len = b->model.data + b->model.len - (p + 1);
    }

    return NGX_OK;
}


/*
 * For upstreams that read the model from the body: the body's top-level
 * "model" becomes the upstream's name of the deployment, unless it is
 * already.
 */

static ngx_int_t
ngx_http_foundry_rewrite_model(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    ngx_str_t                *model, quoted;
    ngx_http_foundry_body_t  *b;

    if (ctx->model_set) {
        return NGX_OK;
    }

    ctx->model_set = 1;

    b = &ctx->body;

    /* usage asked for the client that streams without it (then removed) */

    if (flcf->stream_usage && b->stream && ctx->upstream->stream_options
        && ngx_http_foundry_stream_usage_op(&ctx->op)
        && ngx_http_foundry_body_include_usage(r, b) == NGX_OK)
    {
        ctx->strip_usage = 1;
    }

    model = ngx_http_foundry_upstream_model(ctx->deployment, ctx->upstream);

    if (ctx->upstream->kind == NGX_HTTP_FOUNDRY_AZURE_CLASSIC
        || (b->has_model
            && b->model.len == model->len
            && ngx_memcmp(b->model.data, model->data, model->len) == 0))
    {
        goto apply;
    }

    if (ctx->deployment->upstream_model_json.len
        && ctx->upstream == ctx->deployment->upstream)
    {
        quoted = ctx->deployment->upstream_model_json;

    } else if (ngx_http_foundry_json_quote(r->pool, model, &quoted)
               != NGX_OK)
    {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (ngx_http_foundry_body_set_model(r, b, &quoted) != NGX_OK) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

apply:

    if (ngx_http_foundry_body_apply(r, b) != NGX_OK) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_parse_path(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *rest)
{
    ngx_str_t    name, op;
    const char  *err;

    if (ngx_http_foundry_split_path(rest, flcf->deployment_in_path,
                                    &flcf->connection_name, &name, &op, &err)
        != NGX_OK)
    {
        return ngx_http_foundry_error(r, NGX_HTTP_NOT_FOUND, "NotFound",
                                      "expected POST %V/deployments/"
                                      "{deployment}/{operation}: %s",
                                      &flcf->prefix, err);
    }

    if (ngx_http_foundry_valid_op(&op) != NGX_OK) {
        return ngx_http_foundry_error(r, NGX_HTTP_NOT_FOUND, "NotFound",
                                      "the operation path is missing or not "
                                      "valid");
    }

    ctx->name = name;
    ctx->op = op;
    ctx->body_deployment = (name.data == NULL);

    return NGX_OK;
}


/*
 * The path below the target: "/deployments/{deployment}/{operation}",
 * "{connection}/{deployment}" as some agents send it, or "/{operation}"
 * alone when the deployment is in the body (on a path target too, for
 * "responses" and "moderations": name is then null).  Returns NGX_OK, or
 * NGX_DECLINED with what is missing in "err".
 */

ngx_int_t
ngx_http_foundry_split_path(ngx_str_t *rest, ngx_flag_t in_path,
    ngx_str_t *connection, ngx_str_t *name, ngx_str_t *op, const char **err)
{
    u_char  *p, *last;

    last = rest->data + rest->len;

    if (!in_path) {
        op->data = rest->data + 1;
        op->len = rest->len ? rest->len - 1 : 0;
        ngx_str_null(name);
        return NGX_OK;
    }

    if (rest->len <= sizeof("/deployments/") - 1
        || ngx_memcmp(rest->data, "/deployments/", sizeof("/deployments/") - 1)
           != 0)
    {
        /*
         * the operations the SDKs (AzureOpenAI's too) send as
         * "{target}/{operation}" with the deployment in the body's "model"
         */

        op->data = rest->data + 1;
        op->len = rest->len ? rest->len - 1 : 0;

        if ((op->len == sizeof("responses") - 1
             && ngx_memcmp(op->data, "responses", op->len) == 0)
            || (op->len == sizeof("moderations") - 1
                && ngx_memcmp(op->data, "moderations", op->len) == 0))
        {
            ngx_str_null(name);
            return NGX_OK;
        }

        *err = "this gateway takes the deployment from the path";
        return NGX_DECLINED;
    }

    name->data = rest->data + sizeof("/deployments/") - 1;

    p = ngx_strlchr(name->data, last, '/');
    if (p == NULL) {
        *err = "the operation is missing";
        return NGX_DECLINED;
    }

    name->len = p - name->data;

    /* "{connection}/{deployment}", as some agents send it */

    if (connection->len
        && name->len == connection->len
        && ngx_strncasecmp(name->data, connection->data, name->len) == 0)
    {
        name->data = p + 1;

        p = ngx_strlchr(name->data, last, '/');
        if (p == NULL) {
            *err = "the operation is missing";
            return NGX_DECLINED;
        }

        name->len = p - name->data;
    }

    op->data = p + 1;
    op->len = last - op->data;

    return NGX_OK;
}


/* "chat/completions" and the like: no empty or dot segments, safe bytes */

ngx_int_t
ngx_http_foundry_valid_op(ngx_str_t *op)
{
    u_char  *p, *last, *seg;

    if (op->len == 0 || op->len > 512) {
        return NGX_ERROR;
    }

    last = op->data + op->len;
    seg = op->data;

    for (p = op->data; p <= last; p++) {

        if (p == last || *p == '/') {
            if (p == seg
                || (p - seg == 1 && seg[0] == '.')
                || (p - seg == 2 && seg[0] == '.' && seg[1] == '.'))
            {
                return NGX_ERROR;
            }

            seg = p + 1;
            continue;
        }

        if (!ngx_http_foundry_deployment_char(*p)) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the connection's "required" custom headers: on discovery calls too */

ngx_int_t
ngx_http_foundry_required_headers(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf)
{
    ngx_uint_t                        j;
    ngx_http_foundry_custom_header_t *ch;

    if (flcf->custom_headers == NULL) {
        return NGX_OK;
    }

    ch = flcf->custom_headers->elts;

    for (j = 0; j < flcf->custom_headers->nelts; j++) {

        if (ch[j].required
            && ngx_http_foundry_find_header(r, &ch[j].name) == NULL)
        {
            return ngx_http_foundry_error(r, NGX_HTTP_BAD_REQUEST,
                                          "MissingHeader",
                                          "the request lacks the header "
                                          "\"%V\" that the connection sends",
                                          &ch[j].name);
        }
    }

    return NGX_OK;
}


/* finds the deployment named in ctx->name and its upstream */

static ngx_int_t
ngx_http_foundry_select(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_str_t                      *where, name;
    ngx_http_foundry_deployment_t  *d;
    ngx_http_foundry_main_conf_t   *fmcf;

    static ngx_str_t  in_path = ngx_string("in the path");
    static ngx_str_t  in_body = ngx_string("in the body's \"model\"");

    where = ctx->body_deployment ? &in_body : &in_path;

    d = ngx_http_foundry_find_deployment(flcf->models, &ctx->name);

    /* not static: one discovered from the upstreams */

    if (d == NULL && flcf->sources
        && ngx_http_foundry_valid_name(&ctx->name) == NGX_OK)
    {
        rc = ngx_http_foundry_sources_wait(r, flcf, ctx);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc == NGX_ERROR) {
            return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        d = ngx_http_foundry_sources_find(r, flcf, ctx, &ctx->name);
    }

    if (d == NULL) {
        if (ngx_http_foundry_valid_name(&ctx->name) != NGX_OK) {
            return ngx_http_foundry_error(r, NGX_HTTP_NOT_FOUND,
                                          "DeploymentNotFound",
                                          "the deployment name %V is not "
                                          "valid", where);
        }

        return ngx_http_foundry_error(r, NGX_HTTP_NOT_FOUND,
                                      "DeploymentNotFound",
                                      "the deployment \"%V\" does not exist "
                                      "on this gateway (it reads the "
                                      "deployment %V)", &ctx->name, where);
    }

    ctx->deployment = d;

    if (!ngx_http_foundry_allows(r, flcf, ctx, &d->name)) {
        if (ctx->key) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "foundry: key \"%V\" may not use deployment "
                          "\"%V\"", &ctx->key->name, &d->name);

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "foundry: the token may not use deployment \"%V\"",
                          &d->name);
        }

        return ngx_http_foundry_auth_forbid(r, ctx, "deployment", &d->name);
    }

    if (d->upstream) {
        ctx->upstream = d->upstream;
        return NGX_OK;
    }

    if (d->upstream_cv == NULL) {
        return ngx_http_foundry_error(r, NGX_HTTP_BAD_GATEWAY, "NoUpstream",
                                      "the deployment \"%V\" has no model "
                                      "upstream on this gateway", &d->name);
    }

    if (ngx_http_complex_value(r, d->upstream_cv, &name) != NGX_OK) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);

    ctx->upstream = ngx_http_foundry_find_upstream(fmcf, &name);

    if (ctx->upstream == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: deployment \"%V\" names the unknown "
                      "upstream \"%V\"", &d->name, &name);

        return ngx_http_foundry_error(r, NGX_HTTP_BAD_GATEWAY, "NoUpstream",
                                      "the deployment \"%V\" has no model "
                                      "upstream on this gateway", &d->name);
    }

    return NGX_OK;
}


static void
ngx_http_foundry_body_handler(ngx_http_request_t *r)
{
    ngx_http_foundry_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    ctx->waiting_body = 0;
    ctx->body_read = 1;

    r->preserve_body = 1;
    r->write_event_handler = ngx_http_core_run_phases;

    if (ctx->body_sync) {
        /* called from ngx_http_foundry_need_body(), which goes on */
        return;
    }

    ngx_http_core_run_phases(r);
}


/*
 * Computes the upstream URL and strips the client's credentials; then the
 * location's proxy_pass takes over.  Returns NGX_DECLINED to go on.
 */

static ngx_int_t
ngx_http_foundry_route(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    u_char                       *p, *a, *end, *last, *next, *eq;
    size_t                        len;
    ngx_int_t                     rc;
    ngx_str_t                     prefix;
    ngx_http_foundry_upstream_t  *u;

    rc = ngx_http_foundry_limit_request(r, flcf, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    u = ctx->upstream;

    if (ctx->deployment->upstream_prefix.len
        && u == ctx->deployment->upstream)
    {
        prefix = ctx->deployment->upstream_prefix;

    } else if (ngx_http_foundry_upstream_prefix(r->pool, u,
                   ngx_http_foundry_upstream_model(ctx->deployment, u),
                   &prefix)
               != NGX_OK)
    {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    /* the prefix begins with the upstream's scheme and host (u->url) */

    len = prefix.len + ctx->op.len + 1 + r->args.len
          + sizeof("&api-version=") - 1 + u->api_version.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    ctx->upstream_url.data = p;
    ctx->upstream_uri.data = p + u->url.len;

    p = ngx_cpymem(p, prefix.data, prefix.len);
    p = ngx_cpymem(p, ctx->op.data, ctx->op.len);

    /*
     * the client's arguments, less api-version, subscription-key and the
     * key arguments, their names percent-decoded
     */

    *p++ = '?';
    last = p;

    a = r->args.data;
    end = r->args.data + r->args.len;

    while (a < end) {
        next = ngx_http_foundry_arg_next(a, end, &eq);
        if (eq == NULL) {
            eq = next;
        }

        if (next != a && !ngx_http_foundry_dropped_arg(flcf, a, eq)) {
            if (p != last) {
                *p++ = '&';
            }

            p = ngx_cpymem(p, a, next - a);
        }

        a = next + 1;
    }

    if (u->api_version.len) {
        if (p != last) {
            *p++ = '&';
        }

        p = ngx_cpymem(p, "api-version=", sizeof("api-version=") - 1);
        p = ngx_cpymem(p, u->api_version.data, u->api_version.len);
    }

    if (p == last) {
        p--;
    }

    ctx->upstream_url.len = p - ctx->upstream_url.data;
    ctx->upstream_uri.len = p - ctx->upstream_uri.data;

    if (ngx_http_foundry_client_headers(r, flcf) != NGX_OK) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    ctx->routed = 1;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: deployment \"%V\" routed to upstream \"%V\" "
                   "as \"%V\"", &ctx->deployment->name, &u->name,
                   &ctx->upstream_uri);

    return NGX_DECLINED;
}


/* the client's arguments the upstream does not get, by decoded name */

static ngx_uint_t
ngx_http_foundry_dropped_arg(ngx_http_foundry_loc_conf_t *flcf, u_char *p,
    u_char *last)
{
    ngx_uint_t                  i;
    ngx_http_foundry_key_source_t *src;

    static ngx_str_t  api_version = ngx_string("api-version");
    static ngx_str_t  subscription_key = ngx_string("subscription-key");

    if (ngx_http_foundry_arg_is(p, last, &api_version)
        || ngx_http_foundry_arg_is(p, last, &subscription_key))
    {
        return 1;
    }

    src = flcf->access->key_sources->elts;

    for (i = 0; i < flcf->access->key_sources->nelts; i++) {
        if (src[i].type == NGX_HTTP_FOUNDRY_SRC_ARG
            && ngx_http_foundry_arg_is(p, last, &src[i].name))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The client's headers as the proxy module copies them to the upstream.
 * The client's credentials never reach a model upstream: the headers the
 * key may arrive in are dropped.  The W3C "traceparent" goes up once, as
 * $foundry_traceparent says: the caller's first when it is valid, else
 * one made with "foundry_traceparent on" (added), else none (so
 * foundry_proxy_params has no proxy_set_header for it).  The list is
 * rebuilt, so pointers into the old one stay valid: one part of the
 * headers kept, with room for a few more.
 */

static ngx_int_t
ngx_http_foundry_client_headers(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf)
{
    ngx_int_t         rc;
    ngx_str_t         tp;
    ngx_uint_t        i, n, kind, total;
    ngx_list_t        headers;
    ngx_table_elt_t  *h, *nh, *first;
    ngx_list_part_t  *part;

    n = 0;
    total = 0;
    first = NULL;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;
        total += part->nelts;

        for (i = 0; i < part->nelts; i++) {
            if (!ngx_http_foundry_header_maybe(flcf, &h[i])) {
                continue;
            }

            kind = ngx_http_foundry_header_kind(flcf, &h[i]);

            if (kind == NGX_HTTP_FOUNDRY_HEADER_CREDENTIAL) {
                n++;

            } else if (kind == NGX_HTTP_FOUNDRY_HEADER_TRACE) {
                n++;

                if (first == NULL) {
                    first = &h[i];
                }
            }
        }
    }

    rc = NGX_DECLINED;
    ngx_str_null(&tp);

    if (first || flcf->traceparent) {
        rc = ngx_http_foundry_traceparent(r, &tp);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK && first && first->value.data == tp.data) {
            /* the caller's, kept; any other one dropped */
            n--;
            rc = NGX_DONE;
        }
    }

    if (n == 0 && rc != NGX_OK) {
        return NGX_OK;
    }

    if (ngx_list_init(&headers, r->pool, total - n + 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    nh = headers.part.elts;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            kind = ngx_http_foundry_header_maybe(flcf, &h[i])
                   ? ngx_http_foundry_header_kind(flcf, &h[i])
                   : NGX_HTTP_FOUNDRY_HEADER_OTHER;

            if (kind == NGX_HTTP_FOUNDRY_HEADER_OTHER
                || (rc == NGX_DONE && &h[i] == first))
            {
                *nh++ = h[i];
            }
        }
    }

    headers.part.nelts = total - n;

    if (rc == NGX_OK) {
        /* a traceparent made for the request */

        ngx_memzero(nh, sizeof(ngx_table_elt_t));

        ngx_str_set(&nh->key, "traceparent");
        nh->lowcase_key = (u_char *) "traceparent";
        nh->hash = ngx_hash_key(nh->lowcase_key, nh->key.len);
        nh->value = tp;

        headers.part.nelts++;
    }

    r->headers_in.headers = headers;
    r->headers_in.headers.last = &r->headers_in.headers.part;
    r->headers_in.authorization = NULL;

    return NGX_OK;
}


/*
 * "api-key", "authorization", "ocp-apim-subscription-key" and the
 * location's key header, in any case: a parsed header's name is in
 * lower case in lowcase_key already (one a module added by hand may have
 * none)
 */

#define ngx_http_foundry_header_is(h, lc)                                     \
    ((h)->lowcase_key                                                         \
     ? ngx_memcmp((h)->lowcase_key, lc, sizeof(lc) - 1) == 0                  \
     : ngx_http_foundry_lc_equal((h)->key.data, (u_char *) lc,                \
                                 sizeof(lc) - 1))


static ngx_inline ngx_uint_t
ngx_http_foundry_header_kind(ngx_http_foundry_loc_conf_t *flcf,
    ngx_table_elt_t *h)
{
    /* a known length's memcmp() is a few instructions, not a call */

    switch (h->key.len) {

    case sizeof("api-key") - 1:
        if (ngx_http_foundry_header_is(h, "api-key")) {
            return NGX_HTTP_FOUNDRY_HEADER_CREDENTIAL;
        }

        break;

    case sizeof("authorization") - 1:
        if (ngx_http_foundry_header_is(h, "authorization")) {
            return NGX_HTTP_FOUNDRY_HEADER_CREDENTIAL;
        }

        break;

    case sizeof("ocp-apim-subscription-key") - 1:
        if (ngx_http_foundry_header_is(h, "ocp-apim-subscription-key")) {
            return NGX_HTTP_FOUNDRY_HEADER_CREDENTIAL;
        }

        break;
    }

    if (h->key.len == flcf->auth_header.len
        && ngx_strncasecmp(h->key.data, flcf->auth_header.data, h->key.len)
           == 0)
    {
        return NGX_HTTP_FOUNDRY_HEADER_CREDENTIAL;
    }

    if (h->key.len == sizeof("traceparent") - 1
        && ngx_http_foundry_header_is(h, "traceparent"))
    {
        return NGX_HTTP_FOUNDRY_HEADER_TRACE;
    }

    return NGX_HTTP_FOUNDRY_HEADER_OTHER;
}


/*
 * Whether the operation of an inference call ("bit": its bit, 0 for an
 * unknown one) may go on: the location passes it (else 404
 * OperationNotSupported), and the caller's key or token may use it (else
 * 403, as for a deployment).  Runs before the body is read and before
 * anything reaches an upstream.
 */

ngx_int_t
ngx_http_foundry_operation_check(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    uint32_t bit)
{
    if ((bit & flcf->operations) == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: operation \"%V\" is not passed by this "
                      "location", &ctx->op);

        return ngx_http_foundry_error(r, NGX_HTTP_NOT_FOUND,
                                      "OperationNotSupported",
                                      "the operation \"%V\" is not "
                                      "supported by this gateway",
                                      &ctx->op);
    }

    if (ctx->key && (ctx->key->operations & bit) == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: key \"%V\" may not use operation \"%V\"",
                      &ctx->key->name, &ctx->op);
        goto forbidden;
    }

    if (ctx->token && !ngx_http_foundry_token_allows_op(r, flcf, ctx, bit)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: the token may not use operation \"%V\"",
                      &ctx->op);
        goto forbidden;
    }

    return NGX_OK;

forbidden:

    return ngx_http_foundry_auth_forbid(r, ctx, "operation", &ctx->op);
}
