
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_identity.h"


/*
 * The token of a request, from the credential's zone.  Each worker keeps
 * a copy of the ready header value, "Bearer <token>", per credential
 * (ngx_http_foundry_id_local_t): a request takes it without the zone's
 * lock while the zone's generation of the token is the copy's and the
 * token is not due for refresh; the lock is taken only to copy a new
 * token, and when the token is due.  A request holds the copy it took
 * until its pool is destroyed, after the log phase: its bearer stays
 * valid for the proxy module, the fetch subrequests (discovery, content
 * check) and the log, whatever the worker takes later.  The hold is a
 * count in the copy and a pool cleanup embedded in the request's
 * identity ctx, linked at its first hold: one allocation per request,
 * made in the fast path of ngx_http_foundry_identity_bearer().
 */


static ngx_int_t ngx_http_foundry_identity_locked(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_id_credential_t *cred,
    const char **why);
static ngx_http_foundry_id_node_t *ngx_http_foundry_id_node(
    ngx_http_foundry_id_zone_t *iz, ngx_http_foundry_id_credential_t *cred);
static ngx_http_foundry_id_local_t *ngx_http_foundry_id_local(
    ngx_http_foundry_id_credential_t *cred, ngx_http_foundry_id_node_t *n);
static ngx_inline uint64_t ngx_http_foundry_id_now(void);
static ngx_inline ngx_http_foundry_identity_ctx_t *ngx_http_foundry_id_ctx(
    ngx_http_request_t *r, ngx_http_foundry_ctx_t *ctx);
static ngx_inline ngx_int_t ngx_http_foundry_id_hold(ngx_http_request_t *r,
    ngx_http_foundry_identity_ctx_t *ic, ngx_http_foundry_id_local_t *local);
static ngx_int_t ngx_http_foundry_id_hold_more(ngx_http_request_t *r,
    ngx_http_foundry_identity_ctx_t *ic, ngx_http_foundry_id_local_t *local);
static void ngx_http_foundry_id_release(void *data);
static void ngx_http_foundry_id_unref(ngx_http_foundry_id_local_t *local);
static void ngx_http_foundry_id_free(ngx_http_foundry_id_local_t *local);
static ngx_int_t ngx_http_foundry_identity_refresh(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_id_credential_t *cred,
    ngx_int_t rc, const char **why);
static ngx_int_t ngx_http_foundry_identity_wait(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx);
static void ngx_http_foundry_identity_wake(ngx_http_request_t *r);


/*
 * Before the request goes to an upstream with a credential: its token
 * (ngx_http_foundry_identity_token), or the 503.
 */

ngx_int_t
ngx_http_foundry_identity_bearer(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx)
{
    ngx_http_foundry_id_local_t       *local;
    ngx_http_foundry_identity_ctx_t   *ic;
    ngx_http_foundry_id_credential_t  *cred;

    cred = ctx->upstream->credential;
    local = cred->local;

    /*
     * the request's first look, as in ngx_http_foundry_identity_token():
     * the worker's copy, of the zone's generation, not due for refresh
     */

    if (ctx->identity == NULL && local
        && cred->node->generation == local->generation
        && ngx_http_foundry_id_now() < local->refresh)
    {
        ic = ngx_http_foundry_id_ctx(r, ctx);
        if (ic == NULL) {
            return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        (void) ngx_http_foundry_id_hold(r, ic, local);

        ic->state = "cached";

        return NGX_OK;
    }

    return ngx_http_foundry_identity_bearer_zone(r, ctx);
}


/*
 * The rest of ngx_http_foundry_identity_bearer(), kept out of it (not
 * static, so not inlined) for its fast path to need no stack frame
 */

ngx_int_t
ngx_http_foundry_identity_bearer_zone(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx)
{
    ngx_int_t                          rc;
    const char                        *why;
    ngx_http_foundry_id_credential_t  *cred;

    cred = ctx->upstream->credential;
    why = NULL;

    rc = ngx_http_foundry_identity_token(r, ctx, cred, &why);

    if (rc == NGX_ERROR) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (rc != NGX_DECLINED) {
        return rc;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "foundry: upstream \"%V\": credential \"%V\" has no valid "
                  "token: %s", &ctx->upstream->name, &cred->name, why);

    return ngx_http_foundry_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "UpstreamCredentialUnavailable",
                                  "the gateway has no valid credential for "
                                  "the upstream \"%V\", try again later",
                                  &ctx->upstream->name);
}


/*
 * The credential's token.  NGX_OK with ctx->identity->bearer set;
 * NGX_AGAIN while this request fetches it, or waits for another's fetch;
 * NGX_DECLINED with *why when there is none; NGX_ERROR.  One fetch at a
 * time per credential; a token due for refresh is refreshed by the first
 * request that sees it due, the others go on with it.  The ctx holds one
 * credential's state at a time (ngx_http_foundry_identity_reset between
 * two).
 */

ngx_int_t
ngx_http_foundry_identity_token(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_id_credential_t *cred,
    const char **why)
{
    ngx_http_foundry_id_local_t  *local;

    if (ctx->identity == NULL && ngx_http_foundry_id_ctx(r, ctx) == NULL) {
        return NGX_ERROR;
    }

    if (ctx->identity->bearer.len) {
        return NGX_OK;
    }

    if (ctx->identity->pending || ctx->identity->waiting) {
        return NGX_AGAIN;
    }

    /*
     * the worker's copy, without the lock: the zone has the same token
     * (its generation is read at once) and it is not due for refresh
     */

    local = cred->local;

    if (local && !ctx->identity->fetched
        && cred->node->generation == local->generation
        && ngx_http_foundry_id_now() < local->refresh)
    {
        if (ngx_http_foundry_id_hold(r, ctx->identity, local) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->identity->state = "cached";

        return NGX_OK;
    }

    return ngx_http_foundry_identity_locked(r, ctx, cred, why);
}


/* milliseconds, as ngx_http_foundry_now(), inline for the fast path */

static ngx_inline uint64_t
ngx_http_foundry_id_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/* the request's identity ctx, holding nothing yet; NULL without memory */

static ngx_inline ngx_http_foundry_identity_ctx_t *
ngx_http_foundry_id_ctx(ngx_http_request_t *r, ngx_http_foundry_ctx_t *ctx)
{
    ngx_http_foundry_identity_ctx_t  *ic;

    ic = ngx_palloc(r->pool, sizeof(ngx_http_foundry_identity_ctx_t));
    if (ic == NULL) {
        return NULL;
    }

    ngx_str_null(&ic->bearer);
    ic->state = NULL;
    ic->local = NULL;
    ic->held = NULL;
    ic->more = NULL;
    ic->pending = 0;
    ic->fetched = 0;
    ic->waiting = 0;

    /* ic->cleanup is set at the first hold */

    ctx->identity = ic;

    return ic;
}


/* the token under the zone's lock: a new one, one due, or none */

static ngx_int_t
ngx_http_foundry_identity_locked(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_id_credential_t *cred,
    const char **why)
{
    uint64_t                           now;
    ngx_int_t                          rc;
    ngx_uint_t                         fetch, wait;
    ngx_http_foundry_id_node_t        *n;
    ngx_http_foundry_id_zone_t        *iz;
    ngx_http_foundry_id_local_t       *local;
    ngx_http_foundry_main_conf_t      *fmcf;
    ngx_http_foundry_identity_ctx_t   *ic;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);
    iz = fmcf->identity->zone;
    ic = ctx->identity;

    now = ngx_http_foundry_now();
    fetch = 0;
    wait = 0;
    local = NULL;
    rc = NGX_DECLINED;
    *why = "the zone is full";

    ngx_shmtx_lock(&iz->shpool->mutex);

    n = ngx_http_foundry_id_node(iz, cred);

    if (n) {
        if (n->token && now < n->expires) {

            local = ngx_http_foundry_id_local(cred, n);
            rc = local ? NGX_OK : NGX_ERROR;

            if (!ic->fetched) {
                ic->state = "cached";

            } else if (ic->state && ngx_strcmp(ic->state, "failed") == 0) {
                /* the refresh failed: the current token goes on */
                ic->state = "stale";
            }

            /* due: this request refreshes it, unless one already does */

            if (rc == NGX_OK && !ic->fetched && now >= n->refresh
                && now >= n->retry
                && (n->fetching == 0
                    || now - n->fetching > NGX_HTTP_FOUNDRY_ID_FETCH_STALE))
            {
                n->fetching = now;
                fetch = 1;
            }

        } else if (n->fetching
                   && now - n->fetching <= NGX_HTTP_FOUNDRY_ID_FETCH_STALE)
        {
            wait = 1;

        } else if (ic->fetched || now < n->retry) {
            *why = n->token ? "the token expired and its refresh failed"
                            : "the token endpoint failed";

        } else {
            n->fetching = now;
            fetch = 1;
        }
    }

    ngx_shmtx_unlock(&iz->shpool->mutex);

    if (local && ngx_http_foundry_id_hold(r, ic, local) != NGX_OK) {
        return NGX_ERROR;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (fetch) {
        return ngx_http_foundry_identity_refresh(r, ctx, cred, rc, why);
    }

    if (rc == NGX_OK) {
        return NGX_OK;
    }

    if (wait) {
        return ngx_http_foundry_identity_wait(r, ctx);
    }

    ic->state = "unavailable";

    return NGX_DECLINED;
}


/* the credential's node (mutex held), created if absent */

static ngx_http_foundry_id_node_t *
ngx_http_foundry_id_node(ngx_http_foundry_id_zone_t *iz,
    ngx_http_foundry_id_credential_t *cred)
{
    ngx_http_foundry_id_node_t  *n;

    /* nodes are never freed: the worker keeps the one it found */

    if (cred->node) {
        return cred->node;
    }

    n = ngx_http_foundry_id_find_locked(iz, cred);

    if (n == NULL) {
        n = ngx_slab_calloc_locked(iz->shpool,
                                   sizeof(ngx_http_foundry_id_node_t));
        if (n == NULL) {
            return NULL;
        }

        ngx_memcpy(n->key, cred->key, NGX_HTTP_FOUNDRY_DIGEST_LEN);
        ngx_queue_insert_tail(&iz->sh->nodes, &n->queue);
    }

    cred->node = n;

    return n;
}


/*
 * The worker's copy of the node's token (mutex held): the one it has if
 * it is of the node's generation, else a new one; NULL with no memory.
 * The copy it replaces goes when no request holds it any more.
 */

static ngx_http_foundry_id_local_t *
ngx_http_foundry_id_local(ngx_http_foundry_id_credential_t *cred,
    ngx_http_foundry_id_node_t *n)
{
    u_char                       *p;
    ngx_http_foundry_id_local_t  *local;

    local = cred->local;

    if (local && local->generation == n->generation) {
        return local;
    }

    local = ngx_alloc(sizeof(ngx_http_foundry_id_local_t)
                      + sizeof("Bearer ") - 1 + n->len, ngx_cycle->log);
    if (local == NULL) {
        return NULL;
    }

    p = (u_char *) local + sizeof(ngx_http_foundry_id_local_t);

    local->bearer.data = p;
    p = ngx_cpymem(p, "Bearer ", sizeof("Bearer ") - 1);
    local->token.data = p;
    p = ngx_cpymem(p, n->token, n->len);
    local->bearer.len = p - local->bearer.data;
    local->token.len = n->len;

    local->generation = n->generation;
    local->refresh = n->refresh;
    local->refs = 0;
    local->masked = (ngx_uint_t) -1;
    local->current = 1;

    if (cred->local) {
        cred->local->current = 0;
        ngx_http_foundry_id_free(cred->local);
    }

    cred->local = local;

    return local;
}


/*
 * The request holds the copy until its pool is destroyed: the first in
 * the ctx, whose cleanup it links into the pool (as ngx_pool_cleanup_add()
 * would, without allocating one), the others (another credential's, for
 * discovery; a new token after this request's own fetch) in a list from
 * the request's pool.  The first hold cannot fail.
 */

static ngx_inline ngx_int_t
ngx_http_foundry_id_hold(ngx_http_request_t *r,
    ngx_http_foundry_identity_ctx_t *ic, ngx_http_foundry_id_local_t *local)
{
    ic->bearer = local->bearer;
    ic->local = local;

    if (ic->held == NULL) {
        ic->held = local;
        local->refs++;

        ic->cleanup.handler = ngx_http_foundry_id_release;
        ic->cleanup.data = ic;
        ic->cleanup.next = r->pool->cleanup;
        r->pool->cleanup = &ic->cleanup;

        return NGX_OK;
    }

    if (ic->held == local) {
        return NGX_OK;
    }

    return ngx_http_foundry_id_hold_more(r, ic, local);
}


static ngx_int_t
ngx_http_foundry_id_hold_more(ngx_http_request_t *r,
    ngx_http_foundry_identity_ctx_t *ic, ngx_http_foundry_id_local_t *local)
{
    ngx_http_foundry_id_hold_t  *h;

    for (h = ic->more; h; h = h->next) {
        if (h->local == local) {
            return NGX_OK;
        }
    }

    h = ngx_palloc(r->pool, sizeof(ngx_http_foundry_id_hold_t));
    if (h == NULL) {
        ngx_str_null(&ic->bearer);
        ic->local = NULL;
        return NGX_ERROR;
    }

    h->local = local;
    h->next = ic->more;
    ic->more = h;

    local->refs++;

    return NGX_OK;
}


/* the request's pool goes: the copies it held */

static void
ngx_http_foundry_id_release(void *data)
{
    ngx_http_foundry_identity_ctx_t *ic = data;

    ngx_http_foundry_id_hold_t  *h;

    /* linked at the first hold: ic->held is set */

    ngx_http_foundry_id_unref(ic->held);
    ic->held = NULL;

    for (h = ic->more; h; h = h->next) {
        ngx_http_foundry_id_unref(h->local);
    }

    ic->more = NULL;
}


static void
ngx_http_foundry_id_unref(ngx_http_foundry_id_local_t *local)
{
    local->refs--;

    ngx_http_foundry_id_free(local);
}


/* a copy that is not the credential's any more, once no request holds it */

static void
ngx_http_foundry_id_free(ngx_http_foundry_id_local_t *local)
{
    if (local->refs == 0 && !local->current) {
        ngx_explicit_memzero(local->bearer.data, local->bearer.len);
        ngx_free(local);
    }
}


/* the configuration goes (a worker exits): the credentials' copies */

void
ngx_http_foundry_identity_drop(void *data)
{
    ngx_http_foundry_identity_conf_t *ic = data;

    ngx_uint_t                         i;
    ngx_http_foundry_id_local_t       *local;
    ngx_http_foundry_id_credential_t  *cred;

    cred = ic->credentials.elts;

    for (i = 0; i < ic->credentials.nelts; i++) {
        local = cred[i].local;

        if (local) {
            cred[i].local = NULL;
            local->current = 0;
            ngx_http_foundry_id_free(local);
        }
    }
}


/*
 * This request fetches the token: the current one (rc NGX_OK) goes on
 * while it is valid
 */

static ngx_int_t
ngx_http_foundry_identity_refresh(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_id_credential_t *cred,
    ngx_int_t rc, const char **why)
{
    if (rc == NGX_OK) {
        ngx_str_null(&ctx->identity->bearer);
        ctx->identity->local = NULL;
        ctx->identity->state = "refreshing";
    }

    rc = ngx_http_foundry_identity_fetch(r, ctx, cred);

    if (rc == NGX_DECLINED) {

        /* no assertion: a failed fetch, the current token goes on */

        ctx->identity->fetched = 1;
        ctx->identity->state = "failed";

        return ngx_http_foundry_identity_token(r, ctx, cred, why);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->identity->pending = 1;

    return NGX_AGAIN;
}


/* the ctx ready for another credential's token (it keeps what it holds) */

void
ngx_http_foundry_identity_reset(ngx_http_foundry_ctx_t *ctx)
{
    if (ctx->identity == NULL) {
        return;
    }

    ngx_str_null(&ctx->identity->bearer);
    ctx->identity->local = NULL;
    ctx->identity->state = NULL;
    ctx->identity->fetched = 0;
}


/* another request fetches the token: look again in a moment */

static ngx_int_t
ngx_http_foundry_identity_wait(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx)
{
    ctx->identity->waiting = 1;

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_foundry_identity_wake;

    r->connection->write->delayed = 1;
    ngx_add_timer(r->connection->write, NGX_HTTP_FOUNDRY_ID_POLL);

    return NGX_AGAIN;
}


static void
ngx_http_foundry_identity_wake(ngx_http_request_t *r)
{
    ngx_event_t             *wev;
    ngx_http_foundry_ctx_t  *ctx;

    wev = r->connection->write;

    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);
    ctx->identity->waiting = 0;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}
