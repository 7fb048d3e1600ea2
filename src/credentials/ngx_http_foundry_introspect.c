
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_token.h"
#include "ngx_http_foundry_jwt.h"
#include "ngx_http_foundry_introspect.h"


/*
 * Opaque bearer tokens, checked by OAuth 2.0 token introspection (RFC
 * 7662) at their issuer: foundry_token_introspection.
 *
 * A bearer token that is not a JWT, or a JWT whose "iss" is none of the
 * location's issuers, is sent to the issuer's introspection endpoint: a
 * POST subrequest to the configured location, which proxies to the
 * endpoint, with the form "token=...&token_type_hint=access_token" and the
 * gateway's own client credentials in HTTP Basic; none of the client's
 * headers go with it.  The answer is a JSON object of the token's claims:
 * "active" (required), and "exp", "iss", "aud", "sub", "scope",
 * "client_id" ... of the types they have in a JWT.  An active token is
 * then what a JWT with those claims is: its times, audience, issuer and
 * foundry_jwt_claim rules are checked, and the allow rules and the
 * $foundry_jwt_* variables see its claims.
 *
 * Answers are kept in the JWT zone under the SHA-256 of the token (and of
 * the configuration), never the token: an active one until the token
 * expires, at most "cache="; an inactive one for "inactive_cache=".  One
 * request introspects a token at a time; the others that bring the same
 * token wait for its answer.  A failed introspection (the endpoint down,
 * slower than the location's timeouts, not 200, not a valid answer, too
 * large) is kept for a second: the request, and those that waited for
 * it, get 503; tokens whose answers are kept go on until their time ends.
 * Each worker also keeps the last tokens it accepted, parsed
 * (ngx_http_foundry_local.c), as for JWTs.
 */

#define NGX_HTTP_FOUNDRY_INTROSPECT_MAX      16384
#define NGX_HTTP_FOUNDRY_INTROSPECT_TOKEN    4096


/* milliseconds: a waiting request looks again; a fetch older is lost */
#define NGX_HTTP_FOUNDRY_INTROSPECT_POLL     50


#define NGX_HTTP_FOUNDRY_INTROSPECT_STALE    10000


/* milliseconds a failed introspection is kept */
#define NGX_HTTP_FOUNDRY_INTROSPECT_RETRY    1000


/* a request's introspection: its state across the access phase's runs */

typedef struct ngx_http_foundry_introspect_req_s {
    ngx_http_foundry_ctx_t         *ctx;
    ngx_http_foundry_jwt_zone_t    *zone;
    ngx_http_foundry_introspect_t  *ic;
    ngx_http_foundry_collect_t     *collect;

    u_char                          digest[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    uint64_t                        fetching;

    ngx_http_foundry_jwt_t         *jwt;
    time_t                          until;
    const char                     *err;

    /* waiting for another request's introspection */
    ngx_event_t                     timer;

    unsigned                        decided:1;
    unsigned                        active:1;
    unsigned                        fetched:1;
    unsigned                        pending:1;
    unsigned                        done:1;
} ngx_http_foundry_introspect_req_t;


/* what a worker keeps of a token it accepted */

typedef struct {
    ngx_http_foundry_jwt_t          jwt;
    ngx_str_t                       answer;
    time_t                          until;
} ngx_http_foundry_introspect_local_t;


static ngx_int_t ngx_http_foundry_introspect_local(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token, uint32_t hash);
static void ngx_http_foundry_introspect_remember(
    ngx_http_foundry_introspect_req_t *q, ngx_str_t *token, uint32_t hash);
static ngx_int_t ngx_http_foundry_introspect_lookup(ngx_http_request_t *r,
    ngx_http_foundry_introspect_req_t *q, ngx_str_t *token);
static ngx_int_t ngx_http_foundry_introspect_answer(ngx_pool_t *pool,
    ngx_http_foundry_introspect_req_t *q, ngx_str_t *text);
static void ngx_http_foundry_introspect_fill(
    ngx_http_foundry_introspect_t *ic, ngx_http_foundry_jwt_t *jwt);
static ngx_int_t ngx_http_foundry_introspect_fetch(ngx_http_request_t *r,
    ngx_http_foundry_introspect_req_t *q, ngx_str_t *token);
static ngx_int_t ngx_http_foundry_introspect_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_foundry_introspect_t *ic);
static ngx_int_t ngx_http_foundry_introspect_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_foundry_introspect_store(ngx_http_request_t *r,
    ngx_http_foundry_introspect_req_t *q, ngx_str_t *answer);
static void ngx_http_foundry_introspect_cleanup(void *data);
static ngx_int_t ngx_http_foundry_introspect_wait(ngx_http_request_t *r,
    ngx_http_foundry_introspect_req_t *q);
static void ngx_http_foundry_introspect_wake(ngx_event_t *ev);
static void ngx_http_foundry_introspect_timer_cleanup(void *data);
static ngx_int_t ngx_http_foundry_introspect_claims(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_introspect_t *ic,
    ngx_http_foundry_jwt_t *jwt, const char **err);
static ngx_int_t ngx_http_foundry_introspect_unavailable(
    ngx_http_request_t *r, ngx_http_foundry_introspect_req_t *q);
static void ngx_http_foundry_introspect_count(ngx_http_request_t *r,
    ngx_http_foundry_introspect_t *ic, const char *outcome);


static ngx_http_foundry_recent_t  ngx_http_foundry_introspect_table;


/*
 * An opaque bearer token, or a JWT of none of the location's issuers (the
 * token check declined it): NGX_OK (ctx->token set), NGX_AGAIN while it
 * is introspected or while another request's introspection of it is
 * waited for, NGX_HTTP_UNAUTHORIZED (the ctx says why), NGX_DONE (the 503
 * was sent) or NGX_ERROR.
 */

ngx_int_t
ngx_http_foundry_introspect_check(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token)
{
    uint32_t                            hash;
    ngx_int_t                           rc;
    ngx_str_t                           parts[2];
    const char                         *err;
    ngx_http_foundry_introspect_t      *ic;
    ngx_http_foundry_main_conf_t       *fmcf;
    ngx_http_foundry_introspect_req_t  *q;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);

    ic = flcf->access->introspect;
    q = ctx->bearer->introspect;

    /* the token check found it there: the access phase's credential */

    if (token == NULL) {
        return NGX_ERROR;
    }

    hash = ngx_http_foundry_local_hash(token);

    if (q == NULL) {
        if (token->len > NGX_HTTP_FOUNDRY_INTROSPECT_TOKEN) {
            return ngx_http_foundry_token_deny(r, ctx, "token too large");
        }

        rc = ngx_http_foundry_introspect_local(r, flcf, ctx, token, hash);

        if (rc != NGX_DECLINED) {
            return rc;
        }

        q = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_introspect_req_t));
        if (q == NULL) {
            return NGX_ERROR;
        }

        q->ctx = ctx;
        q->zone = fmcf->jwt;
        q->ic = ic;

        parts[0].data = ic->id;
        parts[0].len = sizeof(ic->id);
        parts[1] = *token;

        if (ngx_http_foundry_sha256(parts, 2, q->digest) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->bearer->introspect = q;
    }

    if (!q->decided) {
        rc = ngx_http_foundry_introspect_lookup(r, q, token);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (q->err) {
        return ngx_http_foundry_introspect_unavailable(r, q);
    }

    if (!q->active) {
        return ngx_http_foundry_token_deny(r, ctx, "token not active");
    }

    if (ngx_http_foundry_introspect_claims(r, flcf, ic, q->jwt, &err)
        != NGX_OK)
    {
        return ngx_http_foundry_token_deny(r, ctx, err);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: token of \"%V\" accepted by introspection%s",
                   &q->jwt->iss, q->fetched ? "" : " (remembered)");

    ngx_http_foundry_introspect_remember(q, token, hash);

    ctx->token = q->jwt;

    return NGX_OK;
}


/*
 * A token this worker accepted before by the same configuration, while
 * its answer is kept: NGX_OK or NGX_HTTP_UNAUTHORIZED by its claims, or
 * NGX_DECLINED when it is not in the table.
 */

static ngx_int_t
ngx_http_foundry_introspect_local(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token, uint32_t hash)
{
    const char                           *err;
    ngx_http_foundry_recent_slot_t       *slot;
    ngx_http_foundry_introspect_local_t  *l;

    slot = ngx_http_foundry_local_find(&ngx_http_foundry_introspect_table,
                                       token, hash);
    if (slot == NULL
        || ngx_memcmp(slot->tag, flcf->access->introspect->id,
                      sizeof(slot->tag))
           != 0)
    {
        return NGX_DECLINED;
    }

    l = slot->value;

    if (ngx_time() >= l->until) {
        return NGX_DECLINED;
    }

    if (ngx_http_foundry_introspect_claims(r, flcf, flcf->access->introspect,
                                           &l->jwt, &err)
        != NGX_OK)
    {
        return ngx_http_foundry_token_deny(r, ctx, err);
    }

    if (ngx_http_foundry_local_hold(r, slot) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: token of \"%V\" accepted by introspection "
                   "(remembered by the worker)", &l->jwt.iss);

    ngx_http_foundry_introspect_count(r, flcf->access->introspect, "cached");

    ctx->token = &l->jwt;

    return NGX_OK;
}


/* an accepted token goes into the worker's table, parsed in its pool */

static void
ngx_http_foundry_introspect_remember(ngx_http_foundry_introspect_req_t *q,
    ngx_str_t *token, uint32_t hash)
{
    ngx_uint_t                            active;
    const char                           *err;
    ngx_http_foundry_recent_slot_t       *slot;
    ngx_http_foundry_introspect_local_t  *l;

    if (q->until <= ngx_time()) {
        return;
    }

    slot = ngx_http_foundry_local_add(&ngx_http_foundry_introspect_table,
                                      token, hash,
                                      2048 + 2 * q->jwt->payload.len);
    if (slot == NULL) {
        return;
    }

    l = ngx_pcalloc(slot->pool, sizeof(ngx_http_foundry_introspect_local_t));
    if (l == NULL) {
        goto failed;
    }

    l->answer.len = q->jwt->payload.len;
    l->answer.data = ngx_pnalloc(slot->pool, l->answer.len);
    if (l->answer.data == NULL) {
        goto failed;
    }

    ngx_memcpy(l->answer.data, q->jwt->payload.data, l->answer.len);

    if (ngx_http_foundry_introspect_parse(slot->pool, &l->answer, &l->jwt,
                                          &active, &err)
        != NGX_OK
        || !active)
    {
        goto failed;
    }

    ngx_http_foundry_introspect_fill(q->ic, &l->jwt);

    l->until = q->until;

    ngx_memcpy(slot->tag, q->ic->id, sizeof(slot->tag));
    slot->value = l;

    return;

failed:

    ngx_http_foundry_local_drop(slot);
}


/*
 * The token's answer from the zone (q->decided), or a fetch started or
 * another's waited for (NGX_AGAIN).
 */

static ngx_int_t
ngx_http_foundry_introspect_lookup(ngx_http_request_t *r,
    ngx_http_foundry_introspect_req_t *q, ngx_str_t *token)
{
    time_t                         sec;
    uint64_t                       now;
    ngx_str_t                      answer;
    ngx_uint_t                     fetch, wait, inactive;
    ngx_http_foundry_jwt_node_t   *n;
    ngx_http_foundry_jwt_zone_t   *jz;
    ngx_http_foundry_jwt_shctx_t  *sh;

    jz = q->zone;
    sh = jz->sh;

    sec = ngx_time();
    now = ngx_http_foundry_now();

    fetch = 0;
    wait = 0;
    inactive = 0;
    ngx_str_null(&answer);

    ngx_shmtx_lock(&jz->shpool->mutex);

    n = ngx_http_foundry_jwt_node(jz, q->digest, sizeof(q->digest), 1);

    if (n == NULL) {
        /* the zone is full of key sets: introspected, not kept */
        fetch = 1;

    } else if (n->type == NGX_HTTP_FOUNDRY_JN_INTROSPECT
               && n->expires > sec)
    {
        q->until = n->expires;

        if (n->json) {
            answer.len = n->json_len;
            answer.data = ngx_pnalloc(r->pool, answer.len);

            if (answer.data == NULL) {
                ngx_shmtx_unlock(&jz->shpool->mutex);
                return NGX_ERROR;
            }

            ngx_memcpy(answer.data, n->json, answer.len);

        } else {
            inactive = 1;
        }

    } else if (n->type == NGX_HTTP_FOUNDRY_JN_INTROSPECT
               && n->fetching
               && now - n->fetching < NGX_HTTP_FOUNDRY_INTROSPECT_STALE)
    {
        wait = 1;

    } else if (n->type == NGX_HTTP_FOUNDRY_JN_INTROSPECT
               && n->failed
               && now - n->fetched < NGX_HTTP_FOUNDRY_INTROSPECT_RETRY)
    {
        q->err = "the introspection failed a moment ago";

    } else {
        if (n->type != NGX_HTTP_FOUNDRY_JN_INTROSPECT) {
            n->type = NGX_HTTP_FOUNDRY_JN_INTROSPECT;
            ngx_queue_insert_head(&sh->queue, &n->queue);
        }

        n->fetching = now;
        q->fetching = now;
        fetch = 1;
    }

    ngx_shmtx_unlock(&jz->shpool->mutex);

    if (fetch) {
        return ngx_http_foundry_introspect_fetch(r, q, token);
    }

    if (wait) {
        return ngx_http_foundry_introspect_wait(r, q);
    }

    q->decided = 1;

    ngx_http_foundry_introspect_count(r, q->ic, q->err ? "failed" : "cached");

    if (q->err || inactive) {
        return NGX_OK;
    }

    /* a kept answer was a good one */

    if (ngx_http_foundry_introspect_answer(r->pool, q, &answer) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a good answer, parsed into q: its claims, and what it lacks filled in */

static ngx_int_t
ngx_http_foundry_introspect_answer(ngx_pool_t *pool,
    ngx_http_foundry_introspect_req_t *q, ngx_str_t *text)
{
    ngx_uint_t  active;

    q->jwt = ngx_pcalloc(pool, sizeof(ngx_http_foundry_jwt_t));
    if (q->jwt == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_introspect_parse(pool, text, q->jwt, &active,
                                          &q->err)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    q->active = active;

    ngx_http_foundry_introspect_fill(q->ic, q->jwt);

    return NGX_OK;
}


/*
 * What an answer lacks: $foundry_jwt_iss is the configured issuer when
 * the answer names none, $foundry_jwt_sub the client when the token has
 * no subject
 */

static void
ngx_http_foundry_introspect_fill(ngx_http_foundry_introspect_t *ic,
    ngx_http_foundry_jwt_t *jwt)
{
    ngx_str_t                      name;
    ngx_http_foundry_jwt_claim_t  *c;

    if (jwt->iss.len == 0) {
        jwt->iss = ic->issuer;
    }

    if (jwt->sub.len == 0) {
        ngx_str_set(&name, "client_id");
        c = ngx_http_foundry_jwt_claim(jwt, &name);

        if (c) {
            jwt->sub = c->value;
        }
    }
}


/*
 * An introspection answer (RFC 7662 2.2): a JSON object with "active", a
 * boolean; the registered claims of the types a JWT has them; "scope",
 * "client_id", "username" and "token_type" strings.  NGX_OK with *active,
 * or NGX_DECLINED / NGX_ERROR with *err.
 */

ngx_int_t
ngx_http_foundry_introspect_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_http_foundry_jwt_t *jwt, ngx_uint_t *active, const char **err)
{
    ngx_int_t                      rc;
    ngx_str_t                      name;
    ngx_uint_t                     i;
    ngx_http_foundry_jwt_claim_t  *c;

    static ngx_str_t  strings[] = {
        ngx_string("scope"),
        ngx_string("client_id"),
        ngx_string("username"),
        ngx_string("token_type"),
        ngx_null_string
    };

    if (text->len == 0) {
        *err = "the answer is empty";
        return NGX_DECLINED;
    }

    if (text->len > NGX_HTTP_FOUNDRY_INTROSPECT_MAX) {
        *err = "the answer is too large";
        return NGX_DECLINED;
    }

    rc = ngx_http_foundry_jwt_claims_parse(pool, text, jwt);

    if (rc == NGX_ERROR) {
        *err = "no memory";
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        *err = "the answer is not a JSON object of valid claims";
        return NGX_DECLINED;
    }

    ngx_str_set(&name, "active");
    c = ngx_http_foundry_jwt_claim(jwt, &name);

    if (c == NULL || c->type != NGX_HTTP_FOUNDRY_CLAIM_BOOL) {
        *err = "the answer has no boolean \"active\"";
        return NGX_DECLINED;
    }

    *active = (c->value.len == 4);

    for (i = 0; strings[i].len; i++) {
        c = ngx_http_foundry_jwt_claim(jwt, &strings[i]);

        if (c
            && (c->type != NGX_HTTP_FOUNDRY_CLAIM_STRING
                || ngx_strlchr(c->value.data, c->value.data + c->value.len,
                               '\0')
                   != NULL))
        {
            *err = "the answer has a claim of a wrong type";
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * The POST to the introspection location: the form and the gateway's
 * credentials, none of the client's headers; NGX_AGAIN.
 */

static ngx_int_t
ngx_http_foundry_introspect_fetch(ngx_http_request_t *r,
    ngx_http_foundry_introspect_req_t *q, ngx_str_t *token)
{
    u_char                      *p;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    ngx_pool_cleanup_t          *cln;
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_foundry_introspect_cleanup;
    cln->data = q;

    q->pending = 1;

    q->collect = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_collect_t));
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (q->collect == NULL || ps == NULL || b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    q->collect->max = NGX_HTTP_FOUNDRY_INTROSPECT_MAX;

    /* the body: the token form-encoded */

    p = ngx_pnalloc(r->pool, sizeof("token=&token_type_hint=access_token")
                             + 3 * token->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    b->pos = p;
    p = ngx_cpymem(p, "token=", sizeof("token=") - 1);
    p = ngx_http_foundry_form_escape(p, token);
    p = ngx_cpymem(p, "&token_type_hint=access_token",
                   sizeof("&token_type_hint=access_token") - 1);
    b->last = p;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    ps->handler = ngx_http_foundry_introspect_done;
    ps->data = q;

    if (ngx_http_subrequest(r, &q->ic->location, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_set_ctx(sr, q->collect, ngx_http_foundry_module);

    if (ngx_http_foundry_introspect_headers(r, sr, q->ic) != NGX_OK) {
        return NGX_ERROR;
    }

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    sr->request_body->bufs = cl;
    sr->headers_in.content_length_n = b->last - b->pos;
    sr->filter_need_in_memory = 1;

    q->ctx->bearer->jwks_pending = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: token introspected at \"%V\"",
                   &q->ic->location);

    return NGX_AGAIN;
}


/* the subrequest's headers: the gateway's own only */

static ngx_int_t
ngx_http_foundry_introspect_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_foundry_introspect_t *ic)
{
    ngx_str_t         values[3];
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    static ngx_str_t  names[] = {
        ngx_string("Authorization"),
        ngx_string("Content-Type"),
        ngx_string("Accept")
    };

    values[0] = ic->basic;
    ngx_str_set(&values[1], "application/x-www-form-urlencoded");
    ngx_str_set(&values[2], "application/json");

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < 3; i++) {
        h = ngx_list_push(&sr->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->key = names[i];
        h->value = values[i];

        h->lowcase_key = ngx_pnalloc(r->pool, h->key.len);
        if (h->lowcase_key == NULL) {
            return NGX_ERROR;
        }

        h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);
    }

    h = sr->headers_in.headers.part.elts;

    sr->headers_in.authorization = &h[0];
    sr->headers_in.content_type = &h[1];

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_introspect_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_foundry_introspect_req_t *q = data;

    ngx_str_t                    body;
    ngx_http_foundry_collect_t  *c;

    if (q->done) {
        return rc;
    }

    q->done = 1;
    q->decided = 1;
    q->fetched = 1;
    q->ctx->bearer->jwks_pending = 0;

    c = q->collect;
    ngx_str_null(&body);

    if (rc == NGX_HTTP_CLIENT_CLOSED_REQUEST || r->connection->error) {

        /* the client left: not the endpoint's failure, nothing is kept */

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: token introspection at \"%V\" abandoned: "
                      "the client left", &q->ic->location);

        q->err = "the client left";

        ngx_http_foundry_introspect_cleanup(q);
        q->pending = 0;

        return rc;
    }

    if (rc != NGX_OK || r->headers_out.status != NGX_HTTP_OK) {
        q->err = "the introspection endpoint did not answer 200";

    } else if (c->too_large) {
        q->err = "the answer is too large";

    } else if (c->buf == NULL || c->buf->last == c->buf->pos) {
        q->err = "the answer is empty";

    } else {
        body.data = c->buf->pos;
        body.len = c->buf->last - c->buf->pos;

        if (ngx_http_foundry_introspect_answer(r->pool, q, &body)
            == NGX_ERROR)
        {
            q->err = "no memory";
        }
    }

    if (q->err) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: token introspection at \"%V\" failed: %s "
                      "(status %ui)", &q->ic->location, q->err,
                      r->headers_out.status);
    }

    ngx_http_foundry_introspect_count(r, q->ic,
                                      q->err ? "failed"
                                      : (q->active ? "active" : "inactive"));

    ngx_http_foundry_introspect_store(r, q, &body);

    return rc;
}


/*
 * The answer into the zone: an active one until the token expires, at
 * most "cache=", an inactive one for "inactive_cache=", a failure for a
 * second; the fetch's mark goes.
 */

static void
ngx_http_foundry_introspect_store(ngx_http_request_t *r,
    ngx_http_foundry_introspect_req_t *q, ngx_str_t *answer)
{
    u_char                        *copy;
    time_t                         sec, until;
    ngx_http_foundry_jwt_node_t   *n;
    ngx_http_foundry_jwt_zone_t   *jz;

    jz = q->zone;

    q->pending = 0;

    sec = ngx_time();
    until = 0;

    if (q->err == NULL && q->active) {
        until = sec + q->ic->cache;

        if (q->jwt->has_exp && q->jwt->exp < (int64_t) until) {
            until = (time_t) q->jwt->exp;
        }

    } else if (q->err == NULL && q->ic->inactive_cache) {
        until = sec + q->ic->inactive_cache;
    }

    q->until = until;

    ngx_shmtx_lock(&jz->shpool->mutex);

    n = ngx_http_foundry_jwt_node(jz, q->digest, sizeof(q->digest), 0);

    if (n && n->type == NGX_HTTP_FOUNDRY_JN_INTROSPECT) {

        if (n->fetching == q->fetching) {
            n->fetching = 0;
        }

        if (n->json) {
            ngx_slab_free_locked(jz->shpool, n->json);
            n->json = NULL;
        }

        n->failed = (q->err != NULL);
        n->fetched = ngx_http_foundry_now();
        n->expires = 0;

        if (until > sec && q->active) {
            copy = ngx_slab_alloc_locked(jz->shpool, answer->len);

            if (copy) {
                ngx_memcpy(copy, answer->data, answer->len);

                n->json = copy;
                n->json_len = answer->len;
                n->expires = until;
            }

        } else if (until > sec) {
            n->expires = until;
        }
    }

    ngx_shmtx_unlock(&jz->shpool->mutex);
}


/* a request that goes before its fetch ends takes the fetch's mark away */

static void
ngx_http_foundry_introspect_cleanup(void *data)
{
    ngx_http_foundry_introspect_req_t *q = data;

    ngx_http_foundry_jwt_node_t  *n;
    ngx_http_foundry_jwt_zone_t  *jz;

    if (!q->pending) {
        return;
    }

    jz = q->zone;

    ngx_shmtx_lock(&jz->shpool->mutex);

    n = ngx_http_foundry_jwt_node(jz, q->digest, sizeof(q->digest), 0);

    if (n && n->type == NGX_HTTP_FOUNDRY_JN_INTROSPECT
        && n->fetching == q->fetching)
    {
        n->fetching = 0;
    }

    ngx_shmtx_unlock(&jz->shpool->mutex);
}


/*
 * Another request introspects the token: the answer is looked for again
 * in a moment, by a timer of the request's own (deleted with its pool).
 */

static ngx_int_t
ngx_http_foundry_introspect_wait(ngx_http_request_t *r,
    ngx_http_foundry_introspect_req_t *q)
{
    ngx_pool_cleanup_t  *cln;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: waiting for the token's introspection");

    if (q->timer.handler == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_foundry_introspect_timer_cleanup;
        cln->data = q;

        q->timer.handler = ngx_http_foundry_introspect_wake;
        q->timer.data = r;
        q->timer.log = r->connection->log;
    }

    /* the client may leave meanwhile: its request then ends */

    r->read_event_handler = ngx_http_test_reading;

    q->ctx->bearer->jwks_pending = 1;

    ngx_add_timer(&q->timer, NGX_HTTP_FOUNDRY_INTROSPECT_POLL);

    return NGX_AGAIN;
}


static void
ngx_http_foundry_introspect_wake(ngx_event_t *ev)
{
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_foundry_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);
    ctx->bearer->jwks_pending = 0;

    r->read_event_handler = ngx_http_block_reading;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_foundry_introspect_timer_cleanup(void *data)
{
    ngx_http_foundry_introspect_req_t *q = data;

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }
}


/*
 * The claims of an active token, as a JWT's: the times (an answer
 * without "exp" is good while it is kept), the issuer and audience when
 * configured, foundry_jwt_max_age, foundry_jwt_claim rules.
 */

static ngx_int_t
ngx_http_foundry_introspect_claims(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_introspect_t *ic,
    ngx_http_foundry_jwt_t *jwt, const char **err)
{
    time_t       now, leeway;
    ngx_str_t   *aud, *want;
    ngx_uint_t   i, j;

    now = ngx_time();
    leeway = (time_t) (flcf->access->jwt_leeway / 1000);

    if (jwt->has_exp && now > jwt->exp + leeway) {
        *err = "token expired";
        return NGX_DECLINED;
    }

    if (jwt->has_nbf && now + leeway < jwt->nbf) {
        *err = "token not valid yet";
        return NGX_DECLINED;
    }

    if (flcf->access->jwt_max_age
        && (!jwt->has_iat
            || now - jwt->iat
               > (time_t) (flcf->access->jwt_max_age / 1000) + leeway))
    {
        *err = "token too old";
        return NGX_DECLINED;
    }

    if (ic->issuer.len
        && (jwt->iss.len != ic->issuer.len
            || ngx_strncmp(jwt->iss.data, ic->issuer.data, jwt->iss.len)
               != 0))
    {
        *err = "wrong issuer";
        return NGX_DECLINED;
    }

    if (ic->audiences) {
        want = ic->audiences->elts;

        for (i = 0; jwt->aud && i < jwt->aud->nelts; i++) {
            aud = &((ngx_str_t *) jwt->aud->elts)[i];

            for (j = 0; j < ic->audiences->nelts; j++) {
                if (aud->len == want[j].len
                    && ngx_strncmp(aud->data, want[j].data, aud->len) == 0)
                {
                    goto audience;
                }
            }
        }

        *err = "wrong audience";
        return NGX_DECLINED;
    }

audience:

    return ngx_http_foundry_token_rules(jwt, flcf->access->claims, err);
}


/*
 * foundry_token_introspections_total{location,outcome}: how a request's
 * token was decided: "active" or "inactive" by the endpoint's answer,
 * "cached" by an answer kept, "failed" without one (503)
 */

static void
ngx_http_foundry_introspect_count(ngx_http_request_t *r,
    ngx_http_foundry_introspect_t *ic, const char *outcome)
{
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);

    ngx_http_foundry_metrics_event(fmcf, NGX_HTTP_FOUNDRY_M_INTROSPECT,
                                   "location", &ic->location, outcome);
}


/* the issuer could not be asked: 503, the token may well be good */

static ngx_int_t
ngx_http_foundry_introspect_unavailable(ngx_http_request_t *r,
    ngx_http_foundry_introspect_req_t *q)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "foundry: token not checked: introspection at \"%V\" "
                  "failed", &q->ic->location);

    return ngx_http_foundry_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "TokenIntrospectionUnavailable",
                                  "the token could not be checked: its "
                                  "issuer's introspection endpoint failed, "
                                  "try again later");
}


/* application/x-www-form-urlencoded: unreserved bytes kept, others %XX */

u_char *
ngx_http_foundry_form_escape(u_char *dst, ngx_str_t *src)
{
    u_char      c;
    ngx_uint_t  i;

    static u_char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < src->len; i++) {
        c = src->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~')
        {
            *dst++ = c;
            continue;
        }

        *dst++ = '%';
        *dst++ = hex[c >> 4];
        *dst++ = hex[c & 0x0f];
    }

    return dst;
}
