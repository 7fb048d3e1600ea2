
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_module.h"
#include "ngx_http_foundry_jwt.h"


static ngx_int_t ngx_http_foundry_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_upstream_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_credential_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_credential_state_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_request_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_version_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_usage_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_jwt_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_jwks_uri_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_key_name_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_key_meta_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_set(ngx_http_variable_value_t *v,
    ngx_str_t *s);
static ngx_int_t ngx_http_foundry_caller_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_foundry_traceparent_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* $foundry_project: x-ms-foundry-project-id, else openai-project */
#define NGX_HTTP_FOUNDRY_VAR_PROJECT         100

/* $foundry_traceparent's index, for $foundry_trace_id */
static ngx_int_t  ngx_http_foundry_traceparent_index = NGX_ERROR;


#define NGX_HTTP_FOUNDRY_VAR_DEPLOYMENT      0
#define NGX_HTTP_FOUNDRY_VAR_MODEL           1
#define NGX_HTTP_FOUNDRY_VAR_OPERATION       2
#define NGX_HTTP_FOUNDRY_VAR_URL             3
#define NGX_HTTP_FOUNDRY_VAR_URI             4
#define NGX_HTTP_FOUNDRY_VAR_STREAM          5

#define NGX_HTTP_FOUNDRY_VAR_UPSTREAM        0
#define NGX_HTTP_FOUNDRY_VAR_HOST            1
#define NGX_HTTP_FOUNDRY_VAR_UPSTREAM_MODEL  2

#define NGX_HTTP_FOUNDRY_VAR_API_KEY         0
#define NGX_HTTP_FOUNDRY_VAR_AUTHORIZATION   1


static ngx_http_variable_t  ngx_http_foundry_vars[] = {

    { ngx_string("foundry_deployment"), NULL, ngx_http_foundry_ctx_variable,
      NGX_HTTP_FOUNDRY_VAR_DEPLOYMENT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_model"), NULL, ngx_http_foundry_ctx_variable,
      NGX_HTTP_FOUNDRY_VAR_MODEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_operation"), NULL, ngx_http_foundry_ctx_variable,
      NGX_HTTP_FOUNDRY_VAR_OPERATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_upstream_url"), NULL,
      ngx_http_foundry_ctx_variable,
      NGX_HTTP_FOUNDRY_VAR_URL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_upstream_uri"), NULL,
      ngx_http_foundry_ctx_variable,
      NGX_HTTP_FOUNDRY_VAR_URI, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_stream"), NULL, ngx_http_foundry_ctx_variable,
      NGX_HTTP_FOUNDRY_VAR_STREAM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_upstream"), NULL,
      ngx_http_foundry_upstream_variable,
      NGX_HTTP_FOUNDRY_VAR_UPSTREAM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_upstream_host"), NULL,
      ngx_http_foundry_upstream_variable,
      NGX_HTTP_FOUNDRY_VAR_HOST, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_upstream_model"), NULL,
      ngx_http_foundry_upstream_variable,
      NGX_HTTP_FOUNDRY_VAR_UPSTREAM_MODEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_upstream_api_key"), NULL,
      ngx_http_foundry_credential_variable,
      NGX_HTTP_FOUNDRY_VAR_API_KEY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_upstream_authorization"), NULL,
      ngx_http_foundry_credential_variable,
      NGX_HTTP_FOUNDRY_VAR_AUTHORIZATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_upstream_credential"), NULL,
      ngx_http_foundry_credential_state_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_request"), NULL,
      ngx_http_foundry_request_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_prompt_tokens"), NULL,
      ngx_http_foundry_usage_variable,
      offsetof(ngx_http_foundry_usage_t, tokens.prompt),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_completion_tokens"), NULL,
      ngx_http_foundry_usage_variable,
      offsetof(ngx_http_foundry_usage_t, tokens.completion),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_total_tokens"), NULL,
      ngx_http_foundry_usage_variable,
      offsetof(ngx_http_foundry_usage_t, tokens.total),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_cached_tokens"), NULL,
      ngx_http_foundry_usage_variable,
      offsetof(ngx_http_foundry_usage_t, tokens.cached),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_reasoning_tokens"), NULL,
      ngx_http_foundry_usage_variable,
      offsetof(ngx_http_foundry_usage_t, tokens.reasoning),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_jwt_sub"), NULL,
      ngx_http_foundry_jwt_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_jwt_iss"), NULL,
      ngx_http_foundry_jwt_variable, 1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_jwt_claim_"), NULL,
      ngx_http_foundry_jwt_claim_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("foundry_jwks_uri"), NULL,
      ngx_http_foundry_jwks_uri_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_key_name"), NULL,
      ngx_http_foundry_key_name_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_key_meta_"), NULL,
      ngx_http_foundry_key_meta_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("foundry_version"), NULL,
      ngx_http_foundry_version_variable, 0, 0, 0 },

    { ngx_string("foundry_agent_id"), NULL,
      ngx_http_foundry_caller_variable, NGX_HTTP_FOUNDRY_CALLER_AGENT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_project_id"), NULL,
      ngx_http_foundry_caller_variable, NGX_HTTP_FOUNDRY_CALLER_PROJECT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_openai_project"), NULL,
      ngx_http_foundry_caller_variable, NGX_HTTP_FOUNDRY_CALLER_OPENAI,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_model_id"), NULL,
      ngx_http_foundry_caller_variable, NGX_HTTP_FOUNDRY_CALLER_MODEL,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_project"), NULL,
      ngx_http_foundry_caller_variable, NGX_HTTP_FOUNDRY_VAR_PROJECT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    /* cacheable: a generated traceparent is the same all the request */

    { ngx_string("foundry_traceparent"), NULL,
      ngx_http_foundry_traceparent_variable, 0, 0, 0 },

    { ngx_string("foundry_trace_id"), NULL,
      ngx_http_foundry_traceparent_variable, 1, 0, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_foundry_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    static ngx_str_t  traceparent = ngx_string("foundry_traceparent");

    for (v = ngx_http_foundry_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    ngx_http_foundry_traceparent_index = ngx_http_get_variable_index(cf,
                                                                 &traceparent);
    if (ngx_http_foundry_traceparent_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* $foundry_agent_id, $foundry_project_id, ...: see caller.c */

static ngx_int_t
ngx_http_foundry_caller_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_int_t  rc;
    ngx_str_t  s;

    rc = (data == NGX_HTTP_FOUNDRY_VAR_PROJECT)
         ? ngx_http_foundry_caller_project(r, &s)
         : ngx_http_foundry_caller_id(r, data, &s);

    return ngx_http_foundry_set(v, rc == NGX_OK ? &s : NULL);
}


/* $foundry_traceparent, and $foundry_trace_id: its trace-id */

static ngx_int_t
ngx_http_foundry_traceparent_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_int_t                   rc;
    ngx_str_t                   s;
    ngx_http_variable_value_t  *tp;

    if (data == 0) {
        rc = ngx_http_foundry_traceparent(r, &s);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        return ngx_http_foundry_set(v, rc == NGX_OK ? &s : NULL);
    }

    tp = ngx_http_get_indexed_variable(r, ngx_http_foundry_traceparent_index);

    if (tp == NULL || tp->not_found || tp->len < 35) {
        v->not_found = 1;
        return NGX_OK;
    }

    s.data = tp->data + 3;
    s.len = 32;

    return ngx_http_foundry_set(v, &s);
}


static ngx_int_t
ngx_http_foundry_set(ngx_http_variable_value_t *v, ngx_str_t *s)
{
    if (s == NULL || s->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t               *s;
    ngx_http_foundry_ctx_t  *ctx;

    static ngx_str_t  yes = ngx_string("1");
    static ngx_str_t  no = ngx_string("0");

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = NULL;

    switch (data) {

    case NGX_HTTP_FOUNDRY_VAR_DEPLOYMENT:
        s = ctx->deployment ? &ctx->deployment->name : NULL;
        break;

    case NGX_HTTP_FOUNDRY_VAR_MODEL:
        s = ctx->deployment ? &ctx->deployment->model : NULL;
        break;

    case NGX_HTTP_FOUNDRY_VAR_OPERATION:
        s = ctx->op.len ? &ctx->op : NULL;
        break;

    case NGX_HTTP_FOUNDRY_VAR_URL:
        s = ctx->routed ? &ctx->upstream_url : NULL;
        break;

    case NGX_HTTP_FOUNDRY_VAR_URI:
        s = ctx->routed ? &ctx->upstream_uri : NULL;
        break;

    case NGX_HTTP_FOUNDRY_VAR_STREAM:
        /* the body was read (scanned, or parsed by yajl) */

        if (ctx->body.pool) {
            s = ctx->body.stream ? &yes : &no;
        }

        break;
    }

    return ngx_http_foundry_set(v, s);
}


static ngx_int_t
ngx_http_foundry_upstream_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                    *s;
    ngx_http_foundry_ctx_t       *ctx;
    ngx_http_foundry_upstream_t  *u;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    if (ctx == NULL || ctx->upstream == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    u = ctx->upstream;

    switch (data) {

    case NGX_HTTP_FOUNDRY_VAR_UPSTREAM:
        s = &u->name;
        break;

    case NGX_HTTP_FOUNDRY_VAR_HOST:
        s = &u->host;
        break;

    default: /* NGX_HTTP_FOUNDRY_VAR_UPSTREAM_MODEL */
        s = ngx_http_foundry_upstream_model(ctx->deployment, u);
        break;
    }

    return ngx_http_foundry_set(v, s);
}


/*
 * The credential for the upstream: its api-key, or "Bearer <token>".
 * Empty when the upstream has none, so "proxy_set_header" sends nothing.
 */

static ngx_int_t
ngx_http_foundry_credential_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                       *p;
    ngx_str_t                     value;
    ngx_http_foundry_ctx_t       *ctx;
    ngx_http_foundry_collect_t   *c;
    ngx_http_complex_value_t     *cv;
    ngx_http_foundry_upstream_t  *u;

    /* a discovery source's fetch: its upstream credential's token */

    if (r != r->main) {

        /* a fetch subrequest's context is where its answer is collected */

        c = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

        if (c && c->authorization.len) {

            if (data != NGX_HTTP_FOUNDRY_VAR_AUTHORIZATION) {
                ngx_str_set(&value, "");
                return ngx_http_foundry_set(v, &value);
            }

            value.data = c->authorization.data + sizeof("Bearer ") - 1;
            value.len = c->authorization.len - (sizeof("Bearer ") - 1);

            ngx_http_foundry_logmask_secret(&value);

            return ngx_http_foundry_set(v, &c->authorization);
        }
    }

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    if (ctx == NULL || ctx->upstream == NULL || !ctx->routed) {
        v->not_found = 1;
        return NGX_OK;
    }

    u = ctx->upstream;

    /* a token the gateway fetched (src/identity/) */

    if (u->credential && data == NGX_HTTP_FOUNDRY_VAR_AUTHORIZATION) {

        if (ctx->identity == NULL) {
            ngx_str_set(&value, "");
            return ngx_http_foundry_set(v, &value);
        }

        /* the token, after "Bearer ", masked in the worker's log lines */

        ngx_http_foundry_identity_logmask(ctx->identity);

        return ngx_http_foundry_set(v, &ctx->identity->bearer);
    }

    /* a static bearer=: the header's value, made with the configuration */

    if (data == NGX_HTTP_FOUNDRY_VAR_AUTHORIZATION && u->authorization.len) {
        return ngx_http_foundry_set(v, &u->authorization);
    }

    cv = (data == NGX_HTTP_FOUNDRY_VAR_API_KEY) ? u->api_key : u->bearer;

    if (cv == NULL) {
        ngx_str_set(&value, "");
        return ngx_http_foundry_set(v, &value);
    }

    if (ngx_http_complex_value(r, cv, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * a value a variable gave is masked in the worker's log lines from now
     * on; a static one was registered with the configuration
     */

    if (cv->lengths) {
        ngx_http_foundry_logmask_secret(&value);
    }

    if (data == NGX_HTTP_FOUNDRY_VAR_AUTHORIZATION && value.len) {
        p = ngx_pnalloc(r->pool, sizeof("Bearer ") - 1 + value.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, "Bearer ", sizeof("Bearer ") - 1);
        ngx_memcpy(p + sizeof("Bearer ") - 1, value.data, value.len);

        value.data = p;
        value.len += sizeof("Bearer ") - 1;
    }

    return ngx_http_foundry_set(v, &value);
}


/* the module's version, as VERSION says it */

static ngx_int_t
ngx_http_foundry_version_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    v->data = (u_char *) NGX_HTTP_FOUNDRY_VERSION;
    v->len = sizeof(NGX_HTTP_FOUNDRY_VERSION) - 1;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * The upstream credential's state for this request: "cached", "fetched",
 * "stale" (its refresh failed, the current token went on) or
 * "unavailable"; not found for upstreams without a credential.
 */

static ngx_int_t
ngx_http_foundry_credential_state_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                s;
    ngx_http_foundry_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    if (ctx == NULL || ctx->identity == NULL || ctx->identity->state == NULL)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    s.data = (u_char *) ctx->identity->state;
    s.len = ngx_strlen(ctx->identity->state);

    return ngx_http_foundry_set(v, &s);
}


static ngx_int_t
ngx_http_foundry_request_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t               *s;
    ngx_http_foundry_ctx_t  *ctx;

    static ngx_str_t  kinds[] = {
        ngx_null_string,
        ngx_string("list"),
        ngx_string("get"),
        ngx_string("inference")
    };

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    if (ctx == NULL || ctx->kind == NGX_HTTP_FOUNDRY_REQ_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = &kinds[ctx->kind];

    return ngx_http_foundry_set(v, s);
}


static ngx_int_t
ngx_http_foundry_key_name_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_foundry_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    if (ctx == NULL || ctx->key == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_foundry_set(v, &ctx->key->name);
}


/* $foundry_key_meta_<name>: a metadata field of the key's entry */

static ngx_int_t
ngx_http_foundry_key_meta_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    ngx_str_t                field;
    ngx_uint_t               i;
    ngx_keyval_t            *kv;
    ngx_http_foundry_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    if (ctx == NULL || ctx->key == NULL || ctx->key->meta == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    field.data = name->data + sizeof("foundry_key_meta_") - 1;
    field.len = name->len - (sizeof("foundry_key_meta_") - 1);

    kv = ctx->key->meta->elts;

    for (i = 0; i < ctx->key->meta->nelts; i++) {
        if (kv[i].key.len == field.len
            && ngx_strncasecmp(kv[i].key.data, field.data, field.len) == 0)
        {
            return ngx_http_foundry_set(v, &kv[i].value);
        }
    }

    v->not_found = 1;

    return NGX_OK;
}


/* a count of the upstream's token usage, once seen in its answer */

static ngx_int_t
ngx_http_foundry_usage_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    int64_t                  n;
    ngx_http_foundry_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    if (ctx == NULL || !ctx->usage.found) {
        v->not_found = 1;
        return NGX_OK;
    }

    n = *(int64_t *) ((u_char *) &ctx->usage + data);

    if (n < 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%L", n) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


/* $foundry_jwt_sub and $foundry_jwt_iss of an accepted token */

static ngx_int_t
ngx_http_foundry_jwt_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_foundry_jwt_t  *jwt;
    ngx_http_foundry_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    if (ctx == NULL || ctx->token == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    jwt = ctx->token;

    if (data == 0) {
        return ngx_http_foundry_set(v, jwt->sub.len ? &jwt->sub : NULL);
    }

    return ngx_http_foundry_set(v, &jwt->iss);
}


/*
 * $foundry_jwks_uri: the "jwks_uri" of the discovery document fetched for
 * the request, for the proxy_pass of the issuer's "jwks=" location
 */

static ngx_int_t
ngx_http_foundry_jwks_uri_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_foundry_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    return ngx_http_foundry_set(v, (ctx && ctx->bearer
                                    && ctx->bearer->jwks_url.len)
                                   ? &ctx->bearer->jwks_url : NULL);
}


/* $foundry_jwt_claim_<name>: an array claim is its items joined by "," */

static ngx_int_t
ngx_http_foundry_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *var = (ngx_str_t *) data;

    u_char                        *p;
    size_t                         len;
    ngx_str_t                      name, *item, value;
    ngx_uint_t                     i;
    ngx_http_foundry_ctx_t        *ctx;
    ngx_http_foundry_jwt_claim_t  *c;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    if (ctx == NULL || ctx->token == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    name.data = var->data + sizeof("foundry_jwt_claim_") - 1;
    name.len = var->len - (sizeof("foundry_jwt_claim_") - 1);

    c = ngx_http_foundry_jwt_claim(ctx->token, &name);

    if (c == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (c->type != NGX_HTTP_FOUNDRY_CLAIM_ARRAY || c->items == NULL) {
        return ngx_http_foundry_set(v, &c->value);
    }

    item = c->items->elts;
    len = 0;

    for (i = 0; i < c->items->nelts; i++) {
        len += item[i].len + 1;
    }

    p = ngx_pnalloc(r->pool, len ? len : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;

    for (i = 0; i < c->items->nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, item[i].data, item[i].len);
    }

    value.len = p - value.data;

    return ngx_http_foundry_set(v, &value);
}
