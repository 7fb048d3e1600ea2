
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_token.h"


#define NGX_HTTP_FOUNDRY_NO_KEY     "access denied: no key was sent"
#define NGX_HTTP_FOUNDRY_BAD_KEY    "access denied: the key is not valid"


static ngx_int_t ngx_http_foundry_key_check(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *bearer);
static ngx_int_t ngx_http_foundry_key_find(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *bearer, ngx_str_t *key, ngx_uint_t *found);
static ngx_int_t ngx_http_foundry_key_from(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_key_source_t *src,
    ngx_str_t *bearer, ngx_str_t *key);
static ngx_int_t ngx_http_foundry_bearer(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_uint_t ngx_http_foundry_is_jwt(ngx_str_t *s);
static void ngx_http_foundry_mask_keys(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_str_t *bearer);
static ngx_int_t ngx_http_foundry_key_deny(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    const char *failure, const char *message, const char *challenge);


/*
 * foundry_key_source header=name | arg=name | bearer | config ...;
 */

char *
ngx_http_foundry_key_source(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t                  *value;
    ngx_uint_t                  i;
    ngx_http_foundry_key_source_t *src;

    if (flcf->access->key_sources != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    flcf->access->key_sources = ngx_array_create(cf->pool, cf->args->nelts - 1,
                            sizeof(ngx_http_foundry_key_source_t));
    if (flcf->access->key_sources == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        src = ngx_array_push(flcf->access->key_sources);
        if (src == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_null(&src->name);

        if (ngx_strncmp(value[i].data, "header=", 7) == 0) {
            src->type = NGX_HTTP_FOUNDRY_SRC_HEADER;
            src->name.data = value[i].data + 7;
            src->name.len = value[i].len - 7;

        } else if (ngx_strncmp(value[i].data, "arg=", 4) == 0) {
            src->type = NGX_HTTP_FOUNDRY_SRC_ARG;
            src->name.data = value[i].data + 4;
            src->name.len = value[i].len - 4;

        } else if (ngx_strcmp(value[i].data, "bearer") == 0) {
            src->type = NGX_HTTP_FOUNDRY_SRC_BEARER;
            ngx_str_set(&src->name, "Authorization");
            continue;

        } else if (ngx_strcmp(value[i].data, "config") == 0) {
            src->type = NGX_HTTP_FOUNDRY_SRC_CONFIG;
            continue;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" directive, "
                               "expected \"header=\", \"arg=\", \"bearer\" or "
                               "\"config\"", &value[i], &value[0]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_foundry_valid_token(&src->name) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid name in \"%V\" of \"%V\" directive",
                               &value[i], &value[0]);
            return NGX_CONF_ERROR;
        }

        /* masked in every request of the http block, from the post-read
         * phase on (ngx_http_foundry_args.c) */

        if (src->type == NGX_HTTP_FOUNDRY_SRC_ARG
            && ngx_http_foundry_args_add_key(cf, &src->name) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        /* and a header's value in nginx's own log lines */

        if (src->type == NGX_HTTP_FOUNDRY_SRC_HEADER
            && ngx_http_foundry_logmask_add_header(cf, &src->name) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The access phase: by "foundry_auth", a request needs a valid
 * subscription key, a valid bearer token, or either.  Failures return
 * 401 with the message in the ctx, so "satisfy any" works as with any
 * access module and the error filter answers JSON.
 */

ngx_int_t
ngx_http_foundry_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_str_t                       key, token, *bearer;
    ngx_uint_t                      i, present;
    ngx_http_foundry_ctx_t         *ctx;
    ngx_http_foundry_loc_conf_t    *flcf;
    ngx_http_foundry_key_source_t  *src;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);

    if (!flcf->enable || flcf->access->auth == NGX_HTTP_FOUNDRY_AUTH_OFF) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_foundry_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->key || ctx->token) {
        return NGX_OK;
    }

    if (ctx->bearer && ctx->bearer->jwks_pending) {
        return NGX_AGAIN;
    }

    /* the credential is taken from the request once, for every checker */

    bearer = (ngx_http_foundry_bearer(r, &token) == NGX_OK) ? &token
                                                                  : NULL;

    /* key or token: a key when one is present, as API Management does */

    if (flcf->access->auth & NGX_HTTP_FOUNDRY_AUTH_KEY) {
        present = 0;

        if (!(flcf->access->auth & NGX_HTTP_FOUNDRY_AUTH_TOKEN)) {
            present = 1;

        } else {
            src = flcf->access->key_sources->elts;

            for (i = 0; i < flcf->access->key_sources->nelts && !present; i++) {
                present = (ngx_http_foundry_key_from(r, flcf, &src[i],
                                                     bearer, &key)
                           == NGX_OK);
            }
        }

        if (present) {
            return ngx_http_foundry_key_check(r, flcf, ctx, bearer);
        }
    }

    if (ctx->bearer == NULL) {
        ctx->bearer = ngx_pcalloc(r->pool,
                                  sizeof(ngx_http_foundry_bearer_ctx_t));
        if (ctx->bearer == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_foundry_token_check(r, flcf, ctx, bearer);

    if (rc == NGX_DECLINED) {
        /* not a JWT of the location's issuers: foundry_token_introspection */
        rc = ngx_http_foundry_introspect_check(r, flcf, ctx, bearer);
    }

    return rc;
}


/*
 * A subscription key: looked up by its SHA-256 in the zone; the entry
 * (name, allowed deployments, metadata) stays with the request for the
 * deployment check, the variables and the limits.
 */

static ngx_int_t
ngx_http_foundry_key_check(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *bearer)
{
    time_t                        now;
    ngx_int_t                     rc;
    ngx_str_t                     key;
    ngx_uint_t                    n;
    const char                   *failure;
    ngx_http_foundry_key_info_t  *info;

    rc = ngx_http_foundry_key_find(r, flcf, ctx, bearer, &key, &n);

    if (rc != NGX_OK) {
        return rc;
    }

    if (flcf->access->keys == NULL) {
        ngx_http_foundry_mask_keys(r, flcf, bearer);

        return ngx_http_foundry_key_deny(r, flcf, ctx, "unknown",
                                         NGX_HTTP_FOUNDRY_BAD_KEY,
                                         "Bearer error=\"invalid_token\"");
    }

    info = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_key_info_t));
    if (info == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_foundry_key_lookup(r, flcf->access->keys, &key, info);

    /* the key found in one place is masked there, else in all of them */

    if (n == 1) {
        ngx_memset(key.data, '*', key.len);

    } else {
        ngx_http_foundry_mask_keys(r, flcf, bearer);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: unknown key");

        return ngx_http_foundry_key_deny(r, flcf, ctx, "unknown",
                                         NGX_HTTP_FOUNDRY_BAD_KEY,
                                         "Bearer error=\"invalid_token\"");
    }

    now = ngx_time();

    if (info->disabled
        || (info->not_before && now < info->not_before)
        || (info->expires && now >= info->expires))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: key \"%V\" is %s", &info->name,
                      info->disabled ? "disabled"
                      : (info->not_before && now < info->not_before)
                        ? "not valid yet" : "expired");

        failure = info->disabled ? "disabled"
                  : (info->not_before && now < info->not_before)
                    ? "not_yet_valid" : "expired";

        return ngx_http_foundry_key_deny(r, flcf, ctx, failure,
                                         NGX_HTTP_FOUNDRY_BAD_KEY,
                                         "Bearer error=\"invalid_token\"");
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: key \"%V\" accepted", &info->name);

    ctx->key = info;

    return NGX_OK;
}


/*
 * The key of the request: the first source present wins; a different key
 * elsewhere is refused.  NGX_OK (the key, the number of places it is in),
 * or the refusal.
 */

static ngx_int_t
ngx_http_foundry_key_find(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *bearer, ngx_str_t *key, ngx_uint_t *found)
{
    ngx_int_t                       rc;
    ngx_str_t                       other;
    ngx_uint_t                      i, j, n;
    ngx_http_foundry_key_source_t  *src;

    ngx_str_null(key);

    /* set before use on every path; clang cannot tell (fuzz builds) */
    ngx_str_null(&other);

    src = flcf->access->key_sources->elts;
    n = 0;
    *found = 0;

    for (i = 0; i < flcf->access->key_sources->nelts; i++) {

        /* every occurrence of a key argument counts */

        for (j = 0; /* void */ ; j++) {

            if (src[i].type == NGX_HTTP_FOUNDRY_SRC_ARG) {
                rc = ngx_http_foundry_key_arg(r, &src[i].name, j, &other);

            } else {
                rc = (j == 0) ? ngx_http_foundry_key_from(r, flcf, &src[i],
                                                          bearer, &other)
                              : NGX_DECLINED;
            }

            if (rc != NGX_OK) {
                break;
            }

            if (n++ == 0) {
                *key = other;
                continue;
            }

            if (other.len != key->len
                || ngx_memcmp(other.data, key->data, key->len) != 0)
            {
                /* no key here: the request line is masked since post-read */

                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "foundry: the request carries different keys");

                ngx_http_foundry_mask_keys(r, flcf, bearer);

                return ngx_http_foundry_key_deny(r, flcf, ctx, "conflicting",
                                                 "access denied: the request "
                                                 "carries different keys",
                                                 "Bearer "
                                                 "error=\"invalid_request\"");
            }
        }
    }

    if (key->len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: no key was sent");

        return ngx_http_foundry_key_deny(r, flcf, ctx, "missing",
                                         NGX_HTTP_FOUNDRY_NO_KEY, "Bearer");
    }

    *found = n;

    return NGX_OK;
}


/* whether the caller (its key, its token) may use a deployment */

ngx_uint_t
ngx_http_foundry_allows(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *deployment)
{
    if (ctx->key
        && !ngx_http_foundry_key_allows(r, ctx->key->zone ? ctx->key->zone
                                                          : flcf->access->keys,
                                        ctx->key, deployment))
    {
        return 0;
    }

    if (ctx->token
        && !ngx_http_foundry_token_allows(r, flcf, ctx, deployment))
    {
        return 0;
    }

    return 1;
}


/*
 * The key in one source, or NGX_DECLINED.  Bearer values that look like a
 * JWT are tokens, not keys.
 */

static ngx_int_t
ngx_http_foundry_key_from(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_key_source_t *src,
    ngx_str_t *bearer, ngx_str_t *key)
{
    ngx_str_t         v;
    ngx_table_elt_t  *h;

    switch (src->type) {

    case NGX_HTTP_FOUNDRY_SRC_ARG:

        /* saved in the post-read phase, before the query was masked */

        return ngx_http_foundry_key_arg(r, &src->name, 0, key);

    case NGX_HTTP_FOUNDRY_SRC_HEADER:
        h = ngx_http_foundry_find_header(r, &src->name);
        if (h == NULL) {
            return NGX_DECLINED;
        }

        *key = h->value;
        return key->len ? NGX_OK : NGX_DECLINED;

    case NGX_HTTP_FOUNDRY_SRC_BEARER:
        if (bearer == NULL || bearer->len == 0
            || ngx_http_foundry_is_jwt(bearer))
        {
            return NGX_DECLINED;
        }

        *key = *bearer;
        return NGX_OK;

    default: /* NGX_HTTP_FOUNDRY_SRC_CONFIG */
        h = ngx_http_foundry_find_header(r, &flcf->auth_header);
        if (h == NULL) {
            return NGX_DECLINED;
        }

        v = h->value;

        if (v.len <= flcf->auth_prefix.len + flcf->auth_suffix.len
            || (flcf->auth_prefix.len
                && ngx_strncasecmp(v.data, flcf->auth_prefix.data,
                                   flcf->auth_prefix.len)
                   != 0)
            || (flcf->auth_suffix.len
                && ngx_strncmp(v.data + v.len - flcf->auth_suffix.len,
                               flcf->auth_suffix.data, flcf->auth_suffix.len)
                   != 0))
        {
            return NGX_DECLINED;
        }

        v.data += flcf->auth_prefix.len;
        v.len -= flcf->auth_prefix.len + flcf->auth_suffix.len;

        if (ngx_http_foundry_is_jwt(&v)) {
            return NGX_DECLINED;
        }

        *key = v;
        return NGX_OK;
    }
}


/* the token of "Authorization: Bearer <token>", or NGX_DECLINED */

static ngx_int_t
ngx_http_foundry_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    /* "Bearer " as clients send it, else in any case */

    if (h == NULL || h->value.len <= sizeof("Bearer ") - 1
        || (ngx_memcmp(h->value.data, "Bearer ", sizeof("Bearer ") - 1) != 0
            && !ngx_http_foundry_lc_equal(h->value.data, (u_char *) "bearer ",
                                          sizeof("bearer ") - 1)))
    {
        return NGX_DECLINED;
    }

    token->data = h->value.data + sizeof("Bearer ") - 1;
    token->len = h->value.len - (sizeof("Bearer ") - 1);

    while (token->len && token->data[0] == ' ') {
        token->data++;
        token->len--;
    }

    return NGX_OK;
}


/* three base64url parts, the first a JSON object ("eyJ" is '{"') */

static ngx_uint_t
ngx_http_foundry_is_jwt(ngx_str_t *s)
{
    u_char      *p;
    ngx_uint_t   dots;

    if (s->len < 10 || ngx_memcmp(s->data, "eyJ", 3) != 0) {
        return 0;
    }

    dots = 0;

    for (p = s->data; p < s->data + s->len; p++) {
        if (*p == '.') {
            dots++;
            continue;
        }

        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
        {
            return 0;
        }
    }

    return dots == 2;
}


/*
 * A key is of no use once checked: it is overwritten in the request's
 * buffers, so that no log ($http_*) and no upstream ever sees it.  Key
 * arguments are masked in $request, $request_uri and $args since the
 * post-read phase; here their saved copy is.
 */

static void
ngx_http_foundry_mask_keys(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_str_t *bearer)
{
    ngx_str_t                   key;
    ngx_uint_t                  i;
    ngx_http_foundry_key_source_t *src;

    src = flcf->access->key_sources->elts;

    for (i = 0; i < flcf->access->key_sources->nelts; i++) {
        if (ngx_http_foundry_key_from(r, flcf, &src[i], bearer, &key)
            == NGX_OK)
        {
            ngx_memset(key.data, '*', key.len);
        }
    }
}


/* a key refused: the challenge only where a bearer credential is accepted */

static ngx_int_t
ngx_http_foundry_key_deny(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    const char *failure, const char *message, const char *challenge)
{
    ngx_uint_t                      i, bearer;
    ngx_http_foundry_key_source_t  *src;

    bearer = flcf->auth_header.len == sizeof("Authorization") - 1
             && ngx_strncasecmp(flcf->auth_header.data,
                                (u_char *) "Authorization",
                                flcf->auth_header.len)
                == 0;

    src = flcf->access->key_sources->elts;

    for (i = 0; i < flcf->access->key_sources->nelts; i++) {
        if (src[i].type == NGX_HTTP_FOUNDRY_SRC_BEARER) {
            bearer = 1;
        }
    }

    return ngx_http_foundry_auth_deny(r, ctx, failure, message,
                                      bearer ? challenge : NULL);
}
