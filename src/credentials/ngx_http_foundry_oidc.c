
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_parse.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_token.h"


/*
 * OpenID Connect discovery of an issuer's key set ("oidc=" of
 * foundry_jwt_issuer).  When the issuer's keys are to be fetched, its
 * discovery document is fetched first with a subrequest to the "oidc="
 * location; the document must name the issuer exactly ("issuer") and
 * give "jwks_uri", which the key set fetch then finds in
 * $foundry_jwks_uri: the "jwks=" location proxies to it.  The document
 * is fetched again with every fetch of the set, so a changed "jwks_uri"
 * is followed.  A failed discovery is a failed fetch of the set: the
 * last good set is kept.
 */


#define NGX_HTTP_FOUNDRY_OIDC_MAX       (64 * 1024)
#define NGX_HTTP_FOUNDRY_OIDC_URI_MAX   2048


typedef struct {
    ngx_pool_t                     *pool;
    ngx_str_t                      *issuer;
    ngx_str_t                      *jwks_uri;
    ngx_str_t                      *field;
    ngx_uint_t                      depth;
    const char                     *err;
} ngx_http_foundry_oidc_ctx_t;


static ngx_int_t ngx_http_foundry_oidc_fetched(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static int ngx_http_foundry_oidc_null(void *ctx);
static int ngx_http_foundry_oidc_boolean(void *ctx, int b);
static int ngx_http_foundry_oidc_number(void *ctx, const char *s, size_t len);
static int ngx_http_foundry_oidc_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_oidc_start_map(void *ctx);
static int ngx_http_foundry_oidc_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_oidc_end(void *ctx);
static int ngx_http_foundry_oidc_start_array(void *ctx);


static yajl_callbacks  ngx_http_foundry_oidc_callbacks = {
    ngx_http_foundry_oidc_null,
    ngx_http_foundry_oidc_boolean,
    NULL,
    NULL,
    ngx_http_foundry_oidc_number,
    ngx_http_foundry_oidc_string,
    ngx_http_foundry_oidc_start_map,
    ngx_http_foundry_oidc_map_key,
    ngx_http_foundry_oidc_end,
    ngx_http_foundry_oidc_start_array,
    ngx_http_foundry_oidc_end
};


/* starts the fetch of the issuer's discovery document: NGX_AGAIN */

ngx_int_t
ngx_http_foundry_oidc_fetch(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_issuer_t *iss)
{
    return ngx_http_foundry_token_fetch(r, ctx, iss, &iss->oidc_uri,
                                        ngx_http_foundry_oidc_fetched,
                                        NGX_HTTP_FOUNDRY_OIDC_MAX);
}


static ngx_int_t
ngx_http_foundry_oidc_fetched(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_foundry_jwks_fetch_t *f = data;

    ngx_str_t                    issuer, jwks_uri;
    const char                  *err;
    ngx_http_foundry_collect_t  *c;

    if (f->done) {
        return rc;
    }

    f->done = 1;
    f->ctx->bearer->jwks_pending = 0;

    c = f->collect;
    err = NULL;

    if (rc != NGX_OK || r->headers_out.status != NGX_HTTP_OK) {
        err = "the discovery location did not answer 200";

    } else if (c->too_large) {
        err = "the discovery document is too large";

    } else if (c->buf == NULL || c->buf->last == c->buf->pos) {
        err = "the discovery document is empty";

    } else if (ngx_http_foundry_oidc_parse(r->main->pool, c->buf->pos,
                                           c->buf->last - c->buf->pos,
                                           &issuer, &jwks_uri, &err)
               == NGX_OK)
    {
        if (ngx_http_foundry_oidc_check(&f->iss->iss, &issuer, &jwks_uri,
                                        &err)
            == NGX_OK)
        {
            /* the key set is fetched next, from $foundry_jwks_uri */

            ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "foundry: discovery of \"%V\" from \"%V\": "
                           "jwks_uri \"%V\"", &f->iss->iss,
                           &f->iss->oidc_uri, &jwks_uri);

            f->ctx->bearer->jwks_url = jwks_uri;

            return rc;
        }
    }

    /* a failed fetch of the set, from the discovery location */

    f->ctx->bearer->jwks_fetched_here = 1;

    ngx_http_foundry_token_store(r, f->iss, &f->iss->oidc_uri, NULL, err);

    return rc;
}


/*
 * What an issuer takes from its discovery document: the "issuer" must be
 * the configured one, byte for byte (OpenID Connect Discovery 1.0, 4.3),
 * and "jwks_uri" an absolute URL, https unless the issuer itself is http
 * (a test or local identity provider); it goes to proxy_pass, so it has
 * no blanks or control characters.
 */

ngx_int_t
ngx_http_foundry_oidc_check(ngx_str_t *iss, ngx_str_t *issuer,
    ngx_str_t *jwks_uri, const char **err)
{
    u_char     *p, *last;
    ngx_uint_t  https;

    if (issuer->len != iss->len
        || ngx_memcmp(issuer->data, iss->data, iss->len) != 0)
    {
        *err = "the discovery document names another issuer";
        return NGX_DECLINED;
    }

    https = (jwks_uri->len > sizeof("https://") - 1
             && ngx_strncasecmp(jwks_uri->data, (u_char *) "https://",
                                sizeof("https://") - 1) == 0);

    if (!https
        && !(jwks_uri->len > sizeof("http://") - 1
             && ngx_strncasecmp(jwks_uri->data, (u_char *) "http://",
                                sizeof("http://") - 1) == 0
             && iss->len > sizeof("http://") - 1
             && ngx_strncasecmp(iss->data, (u_char *) "http://",
                                sizeof("http://") - 1) == 0))
    {
        *err = "the \"jwks_uri\" of the discovery document is not an "
               "https URL";
        return NGX_DECLINED;
    }

    if (jwks_uri->len > NGX_HTTP_FOUNDRY_OIDC_URI_MAX) {
        *err = "the \"jwks_uri\" of the discovery document is too long";
        return NGX_DECLINED;
    }

    last = jwks_uri->data + jwks_uri->len;

    for (p = jwks_uri->data; p < last; p++) {
        if (*p <= ' ' || *p >= 0x7f) {
            *err = "the \"jwks_uri\" of the discovery document is not a "
                   "valid URL";
            return NGX_DECLINED;
        }
    }

    p = jwks_uri->data + (https ? sizeof("https://") : sizeof("http://")) - 1;

    if (*p == '/' || *p == '?' || *p == '#') {
        *err = "the \"jwks_uri\" of the discovery document has no host";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The "issuer" and "jwks_uri" of a discovery document, copied into the
 * pool; the document must be a JSON object, both must be strings, no
 * member may appear twice at the top.
 */

ngx_int_t
ngx_http_foundry_oidc_parse(ngx_pool_t *pool, u_char *text, size_t len,
    ngx_str_t *issuer, ngx_str_t *jwks_uri, const char **err)
{
    ngx_int_t                    rc;
    ngx_http_foundry_oidc_ctx_t  o;

    ngx_str_null(issuer);
    ngx_str_null(jwks_uri);

    ngx_memzero(&o, sizeof(ngx_http_foundry_oidc_ctx_t));

    o.pool = pool;
    o.issuer = issuer;
    o.jwks_uri = jwks_uri;
    o.err = "the discovery document is not valid JSON";

    rc = ngx_http_foundry_json_parse(pool, &ngx_http_foundry_oidc_callbacks,
                                     &o, text, len);
    if (rc == NGX_ERROR) {
        *err = "internal error";
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        *err = o.err;
        return NGX_DECLINED;
    }

    if (issuer->data == NULL) {
        *err = "the discovery document has no \"issuer\"";
        return NGX_DECLINED;
    }

    if (jwks_uri->data == NULL) {
        *err = "the discovery document has no \"jwks_uri\"";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a top-level value other than a string for "issuer" or "jwks_uri" */

static int
ngx_http_foundry_oidc_value(ngx_http_foundry_oidc_ctx_t *o)
{
    if (o->depth == 0) {
        o->err = "the discovery document is not a JSON object";
        return 0;
    }

    if (o->field) {
        o->err = "\"issuer\" and \"jwks_uri\" of the discovery document "
                 "must be strings";
        return 0;
    }

    return 1;
}


static int
ngx_http_foundry_oidc_null(void *ctx)
{
    return ngx_http_foundry_oidc_value(ctx);
}


static int
ngx_http_foundry_oidc_boolean(void *ctx, int b)
{
    return ngx_http_foundry_oidc_value(ctx);
}


static int
ngx_http_foundry_oidc_number(void *ctx, const char *s, size_t len)
{
    return ngx_http_foundry_oidc_value(ctx);
}


static int
ngx_http_foundry_oidc_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_oidc_ctx_t *o = ctx;

    if (o->depth == 0) {
        o->err = "the discovery document is not a JSON object";
        return 0;
    }

    if (o->field == NULL) {
        return 1;
    }

    o->field->data = ngx_pnalloc(o->pool, len + 1);
    if (o->field->data == NULL) {
        o->err = "internal error";
        return 0;
    }

    /* one byte more: a present empty string is not a missing one */

    ngx_memcpy(o->field->data, s, len);
    o->field->data[len] = '\0';
    o->field->len = len;
    o->field = NULL;

    return 1;
}


static int
ngx_http_foundry_oidc_start_map(void *ctx)
{
    ngx_http_foundry_oidc_ctx_t *o = ctx;

    if (o->depth && !ngx_http_foundry_oidc_value(o)) {
        return 0;
    }

    o->depth++;

    return 1;
}


static int
ngx_http_foundry_oidc_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_oidc_ctx_t *o = ctx;

    ngx_str_t  *field;

    o->field = NULL;

    if (o->depth != 1) {
        return 1;
    }

    if (len == sizeof("issuer") - 1
        && ngx_strncmp(s, "issuer", sizeof("issuer") - 1) == 0)
    {
        field = o->issuer;

    } else if (len == sizeof("jwks_uri") - 1
               && ngx_strncmp(s, "jwks_uri", sizeof("jwks_uri") - 1) == 0)
    {
        field = o->jwks_uri;

    } else {
        return 1;
    }

    if (field->data) {
        o->err = "a member of the discovery document appears twice";
        return 0;
    }

    o->field = field;

    return 1;
}


static int
ngx_http_foundry_oidc_end(void *ctx)
{
    ngx_http_foundry_oidc_ctx_t *o = ctx;

    o->depth--;

    return 1;
}


static int
ngx_http_foundry_oidc_start_array(void *ctx)
{
    ngx_http_foundry_oidc_ctx_t *o = ctx;

    if (!ngx_http_foundry_oidc_value(o)) {
        return 0;
    }

    o->depth++;

    return 1;
}
