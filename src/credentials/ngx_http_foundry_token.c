
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/crypto.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_token.h"
#include "ngx_http_foundry_jwt.h"


/*
 * Bearer tokens: JWTs of configured issuers, checked in the access phase.
 *
 * An issuer's keys come from a file (JWKS or PEM), a secret, or a JWKS
 * location fetched with an in-memory subrequest and kept in the JWT zone,
 * shared by the workers; each worker parses a fetched set once per
 * version.  A token naming an unknown "kid" makes the set be fetched
 * again, at most once per cooldown; a failed fetch keeps the last good
 * set.  Tokens that passed are remembered in the zone by their SHA-256
 * until they expire, so a token's signature is checked once, not per
 * request; a failure is never remembered.
 */


/*
 * With foundry_jwt_zone, each worker also keeps the last tokens it
 * accepted, parsed (ngx_http_foundry_local.c): a request with one of them
 * finds it by the token's bytes and its issuer's keys_id, without a
 * SHA-256, a parse or the zone's lock; only the claims are checked again.
 */

static ngx_http_foundry_recent_t  ngx_http_foundry_token_table;


static ngx_int_t ngx_http_foundry_token_keys(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_issuer_t *iss, ngx_uint_t refetch);
static ngx_int_t ngx_http_foundry_token_keys_parse(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_issuer_t *iss, u_char *json,
    size_t len, ngx_uint_t generation);
static void ngx_http_foundry_token_local_cleanup(void *data);
static ngx_int_t ngx_http_foundry_token_claims(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_issuer_t *iss,
    ngx_http_foundry_jwt_t *jwt, const char **err);
static ngx_uint_t ngx_http_foundry_token_matches(ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_token_allow_t *allow);
static ngx_http_foundry_jwk_t *ngx_http_foundry_token_key(
    ngx_http_foundry_jwks_t *jwks, ngx_http_foundry_jwt_t *jwt);
static ngx_int_t ngx_http_foundry_token_local(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token, uint32_t hash);
static void ngx_http_foundry_token_remember(ngx_http_foundry_issuer_t *iss,
    ngx_str_t *token, uint32_t hash);
static ngx_http_foundry_issuer_t *ngx_http_foundry_token_find_issuer(
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_jwt_t *jwt);
static ngx_int_t ngx_http_foundry_token_accepted(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_issuer_t *iss);
static ngx_int_t ngx_http_foundry_token_parse(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token, ngx_http_foundry_issuer_t **issp);
static ngx_int_t ngx_http_foundry_token_verify(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_issuer_t *iss, ngx_http_foundry_jwt_t *jwt);
static void ngx_http_foundry_token_cache(ngx_http_foundry_jwt_zone_t *jz,
    u_char *digest, ngx_http_foundry_jwt_t *jwt);


/*
 * The bearer token of the request (NULL: none), taken from it by the
 * access phase, checked: NGX_OK (ctx->token set),
 * NGX_AGAIN while an issuer's keys are fetched, NGX_HTTP_UNAUTHORIZED
 * (the ctx says why), NGX_DECLINED for a token that is not a JWT of the
 * location's issuers where foundry_token_introspection is to check it,
 * or NGX_ERROR.
 */

ngx_int_t
ngx_http_foundry_token_check(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token)
{
    u_char                         digest[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    uint32_t                       hash;
    ngx_int_t                      rc;
    ngx_uint_t                     cached;
    ngx_str_t                      parts[2];
    const char                    *err;
    ngx_http_foundry_jwt_t        *jwt;
    ngx_http_foundry_issuer_t     *iss;
    ngx_http_foundry_jwt_node_t   *n;
    ngx_http_foundry_jwt_zone_t   *jz;
    ngx_http_foundry_main_conf_t  *fmcf;

    if (token == NULL) {
        return ngx_http_foundry_auth_deny(r, ctx, "missing",
                                     "access denied: no credential was sent",
                                     "Bearer");
    }

    hash = ngx_http_foundry_local_hash(token);

    /* remembering tokens is foundry_jwt_zone's: without it, none is */

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);
    jz = fmcf->jwt;

    if (jz) {
        rc = ngx_http_foundry_token_local(r, flcf, ctx, token, hash);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    rc = ngx_http_foundry_token_parse(r, flcf, ctx, token, &iss);

    if (rc != NGX_OK) {
        return rc;
    }

    jwt = ctx->bearer->jwt;

    /* a token that passed before: only the claims are checked again */

    cached = 0;

    /*
     * the token is remembered with its issuer's keys: a token verified
     * with the keys of one server's issuer is not taken for verified
     * by another of the same "iss" but other keys, nor after a reload
     * that changed the keys
     */

    parts[0].data = iss->keys_id;
    parts[0].len = sizeof(iss->keys_id);
    parts[1] = *token;

    if (ngx_http_foundry_sha256(parts, 2, digest) != NGX_OK) {
        return NGX_ERROR;
    }

    if (jz && jz->sh) {
        ngx_shmtx_lock(&jz->shpool->mutex);

        n = ngx_http_foundry_jwt_node(jz, digest, sizeof(digest), 0);
        cached = (n && n->type == NGX_HTTP_FOUNDRY_JN_TOKEN
                  && n->expires > ngx_time());

        ngx_shmtx_unlock(&jz->shpool->mutex);
    }

    if (!cached) {
        rc = ngx_http_foundry_token_verify(r, flcf, ctx, iss, jwt);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ngx_http_foundry_token_claims(r, flcf, iss, jwt, &err) != NGX_OK) {
        return ngx_http_foundry_token_deny(r, ctx, err);
    }

    /* remembered until it expires */

    if (!cached && jz && jz->sh) {
        ngx_http_foundry_token_cache(jz, digest, jwt);
    }

    ngx_explicit_memzero(digest, sizeof(digest));

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: token of \"%V\" accepted%s", &jwt->iss,
                   cached ? " (remembered)" : "");

    if (jz) {
        ngx_http_foundry_token_remember(iss, token, hash);
    }

    ctx->token = jwt;

    return ngx_http_foundry_token_accepted(r, ctx, iss);
}


/*
 * The token parsed (ctx->bearer->jwt) and its issuer: NGX_OK, NGX_DECLINED for
 * introspection, NGX_HTTP_UNAUTHORIZED or NGX_ERROR
 */

static ngx_int_t
ngx_http_foundry_token_parse(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token, ngx_http_foundry_issuer_t **issp)
{
    const char              *err;
    ngx_http_foundry_jwt_t  *jwt;

    jwt = ctx->bearer->jwt;

    if (jwt == NULL) {
        jwt = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_jwt_t));
        if (jwt == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_foundry_jwt_parse(r->pool, token, 0, jwt, &err)
            != NGX_OK)
        {
            /* not a JWT: an opaque token, introspected if configured */

            if (flcf->access->introspect) {
                return NGX_DECLINED;
            }

            return ngx_http_foundry_token_deny(r, ctx, err);
        }

        ctx->bearer->jwt = jwt;
    }

    *issp = ngx_http_foundry_token_find_issuer(flcf, jwt);

    if (*issp == NULL) {
        if (flcf->access->introspect) {
            return NGX_DECLINED;
        }

        return ngx_http_foundry_token_deny(r, ctx, "wrong issuer");
    }

    return NGX_OK;
}


/* the signature, with the issuer's keys, fetched again for a new kid */

static ngx_int_t
ngx_http_foundry_token_verify(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_issuer_t *iss, ngx_http_foundry_jwt_t *jwt)
{
    ngx_int_t                rc;
    const char              *err;
    ngx_http_foundry_jwk_t  *key;

    rc = ngx_http_foundry_token_keys(r, flcf, ctx, iss, 0);

    if (rc != NGX_OK) {
        return rc;
    }

    key = ngx_http_foundry_token_key(ctx->bearer->jwks, jwt);

    if (key == NULL && iss->jwks_uri.len && !ctx->bearer->refetched) {

        /* a key the set may have got since: fetch it again, maybe */

        ctx->bearer->refetched = 1;

        rc = ngx_http_foundry_token_keys(r, flcf, ctx, iss, 1);

        if (rc != NGX_OK) {
            return rc;
        }

        key = ngx_http_foundry_token_key(ctx->bearer->jwks, jwt);
    }

    if (key == NULL) {
        return ngx_http_foundry_token_deny(r, ctx, "unknown key");
    }

    rc = ngx_http_foundry_jwt_verify(jwt, key, &err);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_foundry_token_deny(r, ctx, err);
    }

    return NGX_OK;
}


/* a verified token in the zone, until it expires */

static void
ngx_http_foundry_token_cache(ngx_http_foundry_jwt_zone_t *jz, u_char *digest,
    ngx_http_foundry_jwt_t *jwt)
{
    ngx_http_foundry_jwt_node_t  *n;

    ngx_shmtx_lock(&jz->shpool->mutex);

    n = ngx_http_foundry_jwt_node(jz, digest, NGX_HTTP_FOUNDRY_DIGEST_LEN, 1);

    if (n) {
        n->type = NGX_HTTP_FOUNDRY_JN_TOKEN;
        n->expires = (time_t) jwt->exp;

        if (ngx_queue_prev(&n->queue) == &n->queue) {
            ngx_queue_insert_head(&((ngx_http_foundry_jwt_shctx_t *)
                                    jz->sh)->queue, &n->queue);
        }
    }

    ngx_shmtx_unlock(&jz->shpool->mutex);
}


/* an issuer's own mapping of its accepted tokens (src/oauth2/) */

static ngx_int_t
ngx_http_foundry_token_accepted(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_issuer_t *iss)
{
    ngx_int_t  rc;

    if (iss->accepted == NULL) {
        return NGX_OK;
    }

    rc = iss->accepted(r, iss->accepted_data, ctx);

    if (rc == NGX_DECLINED) {
        ctx->token = NULL;
        return ngx_http_foundry_token_deny(r, ctx, "wrong claim");
    }

    return rc;
}


/* the issuer of the location that the token names */

static ngx_http_foundry_issuer_t *
ngx_http_foundry_token_find_issuer(ngx_http_foundry_loc_conf_t *flcf,
    ngx_http_foundry_jwt_t *jwt)
{
    ngx_uint_t                  i;
    ngx_http_foundry_issuer_t  *iss;

    if (flcf->access->issuers == NULL) {
        return NULL;
    }

    iss = flcf->access->issuers->elts;

    for (i = 0; i < flcf->access->issuers->nelts; i++) {
        if (iss[i].iss.len == jwt->iss.len
            && ngx_strncmp(iss[i].iss.data, jwt->iss.data, jwt->iss.len) == 0)
        {
            return &iss[i];
        }
    }

    return NULL;
}


/*
 * A token this worker accepted before, with the same issuer's keys: its
 * claims are checked again and it is accepted or refused (NGX_OK,
 * NGX_HTTP_UNAUTHORIZED), or NGX_DECLINED when it is not in the table.
 */

static ngx_int_t
ngx_http_foundry_token_local(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token, uint32_t hash)
{
    const char                     *err;
    ngx_http_foundry_jwt_t         *jwt;
    ngx_http_foundry_issuer_t      *iss;
    ngx_http_foundry_recent_slot_t *slot;

    slot = ngx_http_foundry_local_find(&ngx_http_foundry_token_table, token,
                                       hash);
    if (slot == NULL) {
        return NGX_DECLINED;
    }

    jwt = slot->value;
    iss = ngx_http_foundry_token_find_issuer(flcf, jwt);

    if (iss == NULL
        || ngx_memcmp(iss->keys_id, slot->tag, sizeof(iss->keys_id)) != 0)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_foundry_token_claims(r, flcf, iss, jwt, &err) != NGX_OK) {
        return ngx_http_foundry_token_deny(r, ctx, err);
    }

    if (ngx_http_foundry_local_hold(r, slot) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: token of \"%V\" accepted (remembered)",
                   &jwt->iss);

    ctx->bearer->jwt = jwt;
    ctx->token = jwt;

    return ngx_http_foundry_token_accepted(r, ctx, iss);
}


/* an accepted token goes into the table, parsed again in its slot's pool */

static void
ngx_http_foundry_token_remember(ngx_http_foundry_issuer_t *iss,
    ngx_str_t *token, uint32_t hash)
{
    const char                     *err;
    ngx_http_foundry_jwt_t         *jwt;
    ngx_http_foundry_recent_slot_t *slot;

    slot = ngx_http_foundry_local_add(&ngx_http_foundry_token_table, token,
                                      hash, 2048 + token->len);
    if (slot == NULL) {
        return;
    }

    /* parsed from the slot's copy: the request's memory goes */

    jwt = ngx_pcalloc(slot->pool, sizeof(ngx_http_foundry_jwt_t));

    if (jwt == NULL
        || ngx_http_foundry_jwt_parse(slot->pool, &slot->secret, 0, jwt, &err)
           != NGX_OK)
    {
        ngx_http_foundry_local_drop(slot);
        return;
    }

    ngx_memcpy(slot->tag, iss->keys_id, sizeof(iss->keys_id));
    slot->value = jwt;
}


/* a key of the set for the token: by its kid, which then must be there */

static ngx_http_foundry_jwk_t *
ngx_http_foundry_token_key(ngx_http_foundry_jwks_t *jwks,
    ngx_http_foundry_jwt_t *jwt)
{
    ngx_uint_t               i;
    const char              *err;
    ngx_http_foundry_jwk_t  *keys;

    if (jwks == NULL) {
        return NULL;
    }

    if (jwt->kid.len == 0) {
        return ngx_http_foundry_jwks_find(jwks, jwt);
    }

    keys = jwks->keys.elts;

    for (i = 0; i < jwks->keys.nelts; i++) {
        if (keys[i].kid.len == jwt->kid.len
            && ngx_memcmp(keys[i].kid.data, jwt->kid.data, jwt->kid.len) == 0
            && ngx_http_foundry_jwk_usable(&keys[i], jwt->alg, &err)
               == NGX_OK)
        {
            return &keys[i];
        }
    }

    /* a single key without kid still verifies tokens that name one */

    if (jwks->keys.nelts == 1 && keys[0].kid.len == 0
        && ngx_http_foundry_jwk_usable(&keys[0], jwt->alg, &err) == NGX_OK)
    {
        return &keys[0];
    }

    return NULL;
}


/*
 * The issuer's keys in ctx->bearer->jwks: its static set, or its fetched
 * set as this worker parsed it last (parsed again when the zone holds a
 * newer one).  NGX_AGAIN when a fetch was started; with "refetch", a fetch is
 * started unless one was done within the cooldown.
 */

static ngx_int_t
ngx_http_foundry_token_keys(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_issuer_t *iss, ngx_uint_t refetch)
{
    u_char                        *json;
    size_t                         len;
    uint64_t                       now;
    ngx_uint_t                     fetch, generation;
    ngx_http_foundry_jwt_node_t   *n;
    ngx_http_foundry_jwt_zone_t   *jz;
    ngx_http_foundry_main_conf_t  *fmcf;

    if (iss->jwks_uri.len == 0) {
        ctx->bearer->jwks = iss->keys;
        return NGX_OK;
    }

    if (ctx->bearer->jwks_url.len && !ctx->bearer->jwks_fetched_here) {
        /* the discovery document was fetched here: now the set */
        return ngx_http_foundry_token_fetch(r, ctx, iss, &iss->jwks_uri,
                                            ngx_http_foundry_token_fetched,
                                            NGX_HTTP_FOUNDRY_JWKS_MAX);
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);
    jz = fmcf->jwt;

    now = ngx_http_foundry_now();
    fetch = 0;
    json = NULL;
    len = 0;
    generation = 0;

    ngx_shmtx_lock(&jz->shpool->mutex);

    n = ngx_http_foundry_jwt_node(jz, iss->keys_id, sizeof(iss->keys_id), 1);

    if (n) {
        n->type = NGX_HTTP_FOUNDRY_JN_JWKS;

        if (ctx->bearer->jwks_fetched_here) {
            /* this request fetched: use what there is now */

        } else if ((n->json == NULL && !n->failed)
                   || now >= n->fetched + iss->ttl
                   || (refetch && now >= n->refetch
                                         + NGX_HTTP_FOUNDRY_KID_COOLDOWN))
        {
            if (n->fetching == 0 || now - n->fetching > 30000
                || (n->json == NULL && !n->failed))
            {
                n->fetching = now;

                if (refetch) {
                    n->refetch = now;
                }

                fetch = 1;
            }
        }

        generation = n->generation;

        if (!fetch && n->json
            && (iss->local == NULL || iss->local_generation != generation))
        {
            len = n->json_len;
            json = ngx_pnalloc(r->pool, len);

            if (json) {
                ngx_memcpy(json, n->json, len);
            }
        }
    }

    ngx_shmtx_unlock(&jz->shpool->mutex);

    if (fetch) {
        return iss->oidc_uri.len ? ngx_http_foundry_oidc_fetch(r, ctx, iss)
                                 : ngx_http_foundry_token_fetch(r, ctx, iss,
                                       &iss->jwks_uri,
                                       ngx_http_foundry_token_fetched,
                                       NGX_HTTP_FOUNDRY_JWKS_MAX);
    }

    if (json) {
        return ngx_http_foundry_token_keys_parse(r, ctx, iss, json, len,
                                                 generation);
    }

    ctx->bearer->jwks = iss->local;

    return NGX_OK;
}


/* a newer set: this worker parses it once */

static ngx_int_t
ngx_http_foundry_token_keys_parse(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_issuer_t *iss, u_char *json,
    size_t len, ngx_uint_t generation)
{
    ngx_uint_t                skipped;
    ngx_pool_t               *pool;
    const char               *err;
    ngx_pool_cleanup_t       *cln;
    ngx_http_foundry_jwks_t  *jwks;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    jwks = ngx_pcalloc(pool, sizeof(ngx_http_foundry_jwks_t));

    if (jwks == NULL
        || ngx_http_foundry_jwks_parse(pool, json, len, jwks, &skipped,
                                       &err)
           != NGX_OK)
    {
        ngx_destroy_pool(pool);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: the key set of \"%V\" cannot be used",
                      &iss->iss);

        ctx->bearer->jwks = iss->local;
        return NGX_OK;
    }

    if (iss->local_pool) {
        ngx_destroy_pool(iss->local_pool);

    } else {
        /* the worker's last parse goes with the configuration */

        cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
        if (cln == NULL) {
            ngx_destroy_pool(pool);
            return NGX_ERROR;
        }

        cln->handler = ngx_http_foundry_token_local_cleanup;
        cln->data = iss;
    }

    iss->local_pool = pool;
    iss->local = jwks;
    iss->local_generation = generation;

    ctx->bearer->jwks = jwks;

    return NGX_OK;
}


static void
ngx_http_foundry_token_local_cleanup(void *data)
{
    ngx_http_foundry_issuer_t  *iss = data;

    if (iss->local_pool) {
        ngx_destroy_pool(iss->local_pool);
        iss->local_pool = NULL;
        iss->local = NULL;
    }
}


/* the registered claims, then the required ones */

static ngx_int_t
ngx_http_foundry_token_claims(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_issuer_t *iss,
    ngx_http_foundry_jwt_t *jwt, const char **err)
{
    time_t       now, leeway;
    ngx_str_t   *aud, *want;
    ngx_uint_t   i, j, ok;

    now = ngx_time();
    leeway = (time_t) (flcf->access->jwt_leeway / 1000);

    if (!jwt->has_exp) {
        *err = "token without expiry";
        return NGX_DECLINED;
    }

    if (now > jwt->exp + leeway) {
        *err = "token expired";
        return NGX_DECLINED;
    }

    if (jwt->has_nbf && now + leeway < jwt->nbf) {
        *err = "token not valid yet";
        return NGX_DECLINED;
    }

    if (flcf->access->jwt_max_age) {
        if (!jwt->has_iat
            || now - jwt->iat
               > (time_t) (flcf->access->jwt_max_age / 1000) + leeway)
        {
            *err = "token too old";
            return NGX_DECLINED;
        }
    }

    /* an audience of the token is one of the issuer's */

    ok = 0;
    want = iss->audiences->elts;

    for (i = 0; jwt->aud && i < jwt->aud->nelts && !ok; i++) {
        aud = &((ngx_str_t *) jwt->aud->elts)[i];

        for (j = 0; j < iss->audiences->nelts; j++) {
            if (aud->len == want[j].len
                && ngx_strncmp(aud->data, want[j].data, aud->len) == 0)
            {
                ok = 1;
                break;
            }
        }
    }

    if (!ok) {
        *err = "wrong audience";
        return NGX_DECLINED;
    }

    if (ngx_http_foundry_token_rules(jwt, iss->claims, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    return ngx_http_foundry_token_rules(jwt, flcf->access->claims, err);
}


/* the rules of foundry_jwt_claim or of an issuer */

ngx_int_t
ngx_http_foundry_token_rules(ngx_http_foundry_jwt_t *jwt, ngx_array_t *claims,
    const char **err)
{
    ngx_str_t                      *have, *want;
    ngx_uint_t                      i, k, ok;
    ngx_http_foundry_jwt_claim_t   *c;
    ngx_http_foundry_claim_rule_t  *rule;

    if (claims == NULL) {
        return NGX_OK;
    }

    rule = claims->elts;

    for (i = 0; i < claims->nelts; i++) {

        c = ngx_http_foundry_jwt_claim(jwt, &rule[i].name);

        if (c == NULL) {
            *err = "missing claim";
            return NGX_DECLINED;
        }

        want = rule[i].values->elts;
        ok = 0;

        if (rule[i].op == NGX_HTTP_FOUNDRY_CLAIM_CONTAINS) {
            if (c->type != NGX_HTTP_FOUNDRY_CLAIM_ARRAY || c->items == NULL) {
                *err = "wrong claim";
                return NGX_DECLINED;
            }

            have = c->items->elts;

            for (k = 0; k < c->items->nelts && !ok; k++) {
                ok = ngx_http_foundry_claim_eq(&have[k], &want[0],
                                               rule[i].nocase);
            }

        } else {
            if (c->type != NGX_HTTP_FOUNDRY_CLAIM_STRING
                && c->type != NGX_HTTP_FOUNDRY_CLAIM_NUMBER
                && c->type != NGX_HTTP_FOUNDRY_CLAIM_BOOL)
            {
                *err = "wrong claim";
                return NGX_DECLINED;
            }

            for (k = 0; k < rule[i].values->nelts && !ok; k++) {
                ok = ngx_http_foundry_claim_eq(&c->value, &want[k],
                                               rule[i].nocase);
            }
        }

        if (!ok) {
            *err = "wrong claim";
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


ngx_uint_t
ngx_http_foundry_claim_eq(ngx_str_t *a, ngx_str_t *b, ngx_uint_t nocase)
{
    if (a->len != b->len) {
        return 0;
    }

    if (nocase) {
        return ngx_strncasecmp(a->data, b->data, a->len) == 0;
    }

    return ngx_strncmp(a->data, b->data, a->len) == 0;
}


/* the 401: RFC 6750's challenge with a description safe to give */

ngx_int_t
ngx_http_foundry_token_deny(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, const char *description)
{
    u_char  *p;
    size_t   len;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "foundry: token refused: %s", description);

    len = sizeof("Bearer error=\"invalid_token\", error_description=\"\"") - 1
          + ngx_strlen(description);

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(p, "Bearer error=\"invalid_token\", "
                "error_description=\"%s\"%Z", description);

    return ngx_http_foundry_auth_deny(r, ctx, "token",
                                      "access denied: the token is not valid",
                                      (char *) p);
}


/* whether a token may use a deployment: by the allow rules, if any */

ngx_uint_t
ngx_http_foundry_token_allows(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *deployment)
{
    ngx_int_t                        rc;
    ngx_uint_t                       i, j;
    ngx_http_foundry_pattern_t      *d;
    ngx_http_foundry_token_allow_t  *allow;

    if (flcf->access->token_allow == NULL || ctx->token == NULL) {
        return 1;
    }

    allow = flcf->access->token_allow->elts;

    for (i = 0; i < flcf->access->token_allow->nelts; i++) {

        if (!ngx_http_foundry_token_matches(ctx, &allow[i])) {
            continue;
        }

        d = allow[i].deployments->elts;

        for (j = 0; j < allow[i].deployments->nelts; j++) {

            if (d[j].regex == NULL) {
                if (d[j].name.len == deployment->len
                    && ngx_strncasecmp(d[j].name.data, deployment->data,
                                       d[j].name.len)
                       == 0)
                {
                    return 1;
                }

                continue;
            }

            rc = ngx_regex_exec(d[j].regex, deployment, NULL, 0);

            if (rc >= 0) {
                return 1;
            }
        }
    }

    return 0;
}


/* whether a token may use an operation: by the operations rules, if any */

ngx_uint_t
ngx_http_foundry_token_allows_op(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    uint32_t operation)
{
    ngx_uint_t                       i;
    ngx_http_foundry_token_allow_t  *allow;

    if (flcf->access->token_ops == NULL || ctx->token == NULL) {
        return 1;
    }

    allow = flcf->access->token_ops->elts;

    for (i = 0; i < flcf->access->token_ops->nelts; i++) {
        if ((allow[i].operations & operation)
            && ngx_http_foundry_token_matches(ctx, &allow[i]))
        {
            return 1;
        }
    }

    return 0;
}


/* whether the token's claim of a rule is (or, an array, holds) its value */

static ngx_uint_t
ngx_http_foundry_token_matches(ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_token_allow_t *allow)
{
    ngx_str_t                     *v;
    ngx_uint_t                     k;
    ngx_http_foundry_jwt_claim_t  *c;

    c = ngx_http_foundry_jwt_claim(ctx->token, &allow->claim);

    if (c == NULL) {
        return 0;
    }

    if (c->type == NGX_HTTP_FOUNDRY_CLAIM_ARRAY && c->items) {
        v = c->items->elts;

        for (k = 0; k < c->items->nelts; k++) {
            if (ngx_http_foundry_claim_eq(&v[k], &allow->value, 0)) {
                return 1;
            }
        }

        return 0;
    }

    return ngx_http_foundry_claim_eq(&c->value, &allow->value, 0);
}
