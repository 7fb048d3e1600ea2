
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_limit.h"
#include "ngx_http_foundry_deployments.h"


/*
 * Token and request limits, shared by all workers in a zone.
 *
 * Tokens and requests per minute are token buckets: full at the limit,
 * refilled continuously.  Quotas per hour, day and month (UTC windows)
 * are counters.  A request reserves an estimate before it goes upstream
 * (the body's size / 4 for the prompt, plus its max_tokens or the
 * configured reserve); when it ends, the log phase replaces the estimate
 * with the usage the upstream reported.  Everything happens under the
 * zone's mutex: the reservations of the requests still in flight are out
 * of the bucket already, so a request is admitted only when what is left
 * after them covers its own reservation.  A request that uses more than
 * it reserved leaves the bucket negative, a debt: nothing more is admitted
 * until the refill has repaid it.
 *
 * Every figure is at most NGX_HTTP_FOUNDRY_TOKENS_MAX (2^40) tokens: in
 * millionths, a bucket stays within +-2^60 and a sum of two within +-2^62.
 */


static ngx_int_t ngx_http_foundry_limit_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_foundry_limit_arg(ngx_conf_t *cf, void *data,
    ngx_str_t *arg);
static time_t ngx_http_foundry_limit_take(ngx_http_foundry_limit_zone_t *lz,
    ngx_http_foundry_limit_state_t *st, ngx_http_foundry_limit_node_t *n,
    ngx_http_foundry_limit_values_t *v, ngx_msec_t now, time_t now_s);
static ngx_int_t ngx_http_foundry_limit_refuse(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_limit_state_t *st,
    time_t retry);
static ngx_int_t ngx_http_foundry_limit_values(ngx_http_request_t *r,
    ngx_http_foundry_limit_t *limit, ngx_http_foundry_limit_values_t *v);
static void ngx_http_foundry_limit_slots(ngx_http_foundry_limit_t *limit,
    ngx_http_foundry_limit_values_t *v, ngx_http_complex_value_t **cv,
    int64_t **out);
static ngx_int_t ngx_http_foundry_limit_key_index(ngx_conf_t *cf,
    ngx_str_t *v);
static ngx_int_t ngx_http_foundry_limit_key(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_limit_t *limit,
    ngx_str_t *key);
static int64_t ngx_http_foundry_limit_number(ngx_str_t *s);
static u_char *ngx_http_foundry_limit_decimal(u_char *p, int64_t n);
static ngx_int_t ngx_http_foundry_limit_sync_down(ngx_http_request_t *r,
    ngx_http_foundry_limit_zone_t *lz, ngx_http_foundry_limit_values_t *v);


static char  *ngx_http_foundry_quota_names[] = {
    "tokens_per_hour", "tokens_per_day", "tokens_per_month"
};


/* foundry_limit_zone name:size; */

char *
ngx_http_foundry_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                      *value;
    ngx_http_foundry_limit_zone_t  *lz;

    value = cf->args->elts;

    lz = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_limit_zone_t));
    if (lz == NULL) {
        return NGX_CONF_ERROR;
    }

    lz->shm_zone = ngx_http_foundry_zone_add(cf, &value[1],
        ngx_http_foundry_limit_init_zone, lz);
    if (lz->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * foundry_limit zone=name key=value [tpm=n] [rpm=n] [tokens_per_hour=n]
 *               [tokens_per_day=n] [tokens_per_month=n] [reserve=n];
 */

char *
ngx_http_foundry_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    int64_t                    n, *out[2 + NGX_HTTP_FOUNDRY_QUOTAS];
    ngx_str_t                 *value;
    ngx_uint_t                 q;
    ngx_http_foundry_limit_t  *limit;
    ngx_http_complex_value_t  *cv[2 + NGX_HTTP_FOUNDRY_QUOTAS];

    value = cf->args->elts;

    if (flcf->limits == NGX_CONF_UNSET_PTR) {
        flcf->limits = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_http_foundry_limit_t));
        if (flcf->limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limit = ngx_array_push(flcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(limit, sizeof(ngx_http_foundry_limit_t));

    limit->reserve = NGX_CONF_UNSET;
    limit->key_index = NGX_ERROR;

    if (ngx_http_foundry_conf_args(cf, 1, ngx_http_foundry_limit_arg, limit)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (limit->shm_zone == NULL || limit->key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"zone=\" and \"key=\"",
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    if (limit->tpm == NULL && limit->rpm == NULL
        && limit->quota[0] == NULL && limit->quota[1] == NULL
        && limit->quota[2] == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs a limit: \"tpm=\", "
                           "\"rpm=\", \"tokens_per_hour=\", "
                           "\"tokens_per_day=\" or \"tokens_per_month=\"",
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    if (limit->reserve == NGX_CONF_UNSET) {
        limit->reserve = 1000;
    }

    /* values without variables are read once, here */

    ngx_http_foundry_limit_slots(limit, &limit->values, cv, out);

    for (q = 0; q < 2 + NGX_HTTP_FOUNDRY_QUOTAS; q++) {
        *out[q] = -1;

        if (cv[q] == NULL) {
            continue;
        }

        if (cv[q]->lengths) {
            limit->variable = 1;
            continue;
        }

        *out[q] = ngx_http_foundry_limit_number(&cv[q]->value);
    }

    /* the x-ratelimit-limit-* values of a limit without variables */

    for (q = 0; !limit->variable && q < 2; q++) {
        n = (q == 0) ? limit->values.rpm : limit->values.tpm;

        if (n < 0) {
            continue;
        }

        limit->text[q].data = ngx_pnalloc(cf->pool, NGX_INT64_LEN);
        if (limit->text[q].data == NULL) {
            return NGX_CONF_ERROR;
        }

        limit->text[q].len = ngx_sprintf(limit->text[q].data, "%L", n)
                             - limit->text[q].data;
    }

    return NGX_CONF_OK;
}


/* one argument of foundry_limit, for ngx_http_foundry_conf_args() */

static ngx_int_t
ngx_http_foundry_limit_arg(ngx_conf_t *cf, void *data, ngx_str_t *arg)
{
    ngx_http_foundry_limit_t *limit = data;

    ngx_str_t                           v, name;
    ngx_uint_t                          q;
    ngx_shm_zone_t                     *shm_zone;
    ngx_http_complex_value_t          **cvp;
    ngx_http_compile_complex_value_t    ccv;

    if (ngx_strncmp(arg->data, "zone=", 5) == 0) {
        name.data = arg->data + 5;
        name.len = arg->len - 5;

        shm_zone = ngx_shared_memory_add(cf, &name, 0,
                                         &ngx_http_foundry_module);
        if (shm_zone == NULL) {
            return NGX_ERROR;
        }

        limit->shm_zone = shm_zone;
        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "reserve=", 8) == 0) {
        limit->reserve = ngx_atoi(arg->data + 8, arg->len - 8);

        if (limit->reserve == NGX_ERROR) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    cvp = NULL;
    v.len = 0;

    if (ngx_strncmp(arg->data, "key=", 4) == 0) {
        cvp = &limit->key;
        v.data = arg->data + 4;
        v.len = arg->len - 4;

    } else if (ngx_strncmp(arg->data, "tpm=", 4) == 0) {
        cvp = &limit->tpm;
        v.data = arg->data + 4;
        v.len = arg->len - 4;

    } else if (ngx_strncmp(arg->data, "rpm=", 4) == 0) {
        cvp = &limit->rpm;
        v.data = arg->data + 4;
        v.len = arg->len - 4;

    } else {
        for (q = 0; q < NGX_HTTP_FOUNDRY_QUOTAS; q++) {
            v.len = ngx_strlen(ngx_http_foundry_quota_names[q]);

            if (arg->len > v.len
                && ngx_strncmp(arg->data,
                               ngx_http_foundry_quota_names[q], v.len)
                   == 0
                && arg->data[v.len] == '=')
            {
                cvp = &limit->quota[q];
                v.data = arg->data + v.len + 1;
                v.len = arg->len - v.len - 1;
                break;
            }
        }
    }

    if (cvp == NULL) {
        return NGX_ABORT;
    }

    if (v.len == 0) {
        return NGX_DECLINED;
    }

    /* a number, or variables (a key's metadata, a map) */

    if (cvp != &limit->key && ngx_strlchr(v.data, v.data + v.len, '$')
                              == NULL
        && ngx_atoi(v.data, v.len) == NGX_ERROR)
    {
        return NGX_DECLINED;
    }

    *cvp = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (*cvp == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &v;
    ccv.complex_value = *cvp;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_ERROR;
    }

    if (cvp == &limit->key) {
        limit->key_index = ngx_http_foundry_limit_key_index(cf, &v);

        /* $foundry_deployment: the request's deployment's name itself */

        ngx_str_set(&name, "foundry_deployment");

        limit->key_deployment = (limit->key_index != NGX_ERROR
                                 && limit->key_index
                                    == ngx_http_get_variable_index(cf, &name));
    }

    return NGX_OK;
}


/*
 * A key that is one variable, "$name": its index (the request reads it
 * as the complex value would, without the script and a copy), or
 * NGX_ERROR
 */

static ngx_int_t
ngx_http_foundry_limit_key_index(ngx_conf_t *cf, ngx_str_t *v)
{
    size_t     i;
    u_char     c;
    ngx_str_t  name;

    if (v->len < 2 || v->data[0] != '$') {
        return NGX_ERROR;
    }

    name.data = v->data + 1;
    name.len = v->len - 1;

    /* not a capture ("$1") */

    if (name.data[0] >= '0' && name.data[0] <= '9') {
        return NGX_ERROR;
    }

    for (i = 0; i < name.len; i++) {
        c = name.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_'))
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_get_variable_index(cf, &name);
}


ngx_int_t
ngx_http_foundry_limit_check_zone(ngx_conf_t *cf, ngx_array_t *limits)
{
    ngx_uint_t                 i;
    ngx_http_foundry_limit_t  *limit;

    limit = limits->elts;

    for (i = 0; i < limits->nelts; i++) {
        if (limit[i].shm_zone->data == NULL
            || limit[i].shm_zone->init != ngx_http_foundry_limit_init_zone)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown foundry_limit_zone \"%V\"",
                               &limit[i].shm_zone->shm.name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_limit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_int_t                        rc;
    ngx_http_foundry_limit_zone_t   *lz;
    ngx_http_foundry_limit_shctx_t  *sh;

    lz = shm_zone->data;

    rc = ngx_http_foundry_shm_init(shm_zone, data,
                                   sizeof(ngx_http_foundry_limit_shctx_t),
                                   "foundry_limit_zone", &lz->sh, &lz->shpool);
    if (rc != NGX_DONE) {
        return rc;
    }

    sh = lz->sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->queue);

    return NGX_OK;
}


/*
 * The limits of a gateway request, before it goes upstream: NGX_OK (the
 * estimate is reserved), or an answer has been sent: 429 with Retry-After
 * when a per-minute bucket is short, 403 when a quota is spent.
 */

ngx_int_t
ngx_http_foundry_limit_request(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    time_t                            now_s, retry;
    int64_t                           estimate;
    uint32_t                          hash;
    ngx_str_t                         key;
    ngx_uint_t                        i;
    ngx_msec_t                        now;
    ngx_http_foundry_limit_t         *limit;
    ngx_http_foundry_limit_zone_t    *lz;
    ngx_http_foundry_limit_node_t    *n;
    ngx_http_foundry_limit_state_t   *st;
    ngx_http_foundry_limit_values_t   v;

    if (flcf->limits == NULL) {
        return NGX_OK;
    }

    /* the estimate: the prompt at ~4 bytes a token, and what may come */

    estimate = r->headers_in.content_length_n > 0
               ? ngx_min(r->headers_in.content_length_n / 4,
                         NGX_HTTP_FOUNDRY_TOKENS_MAX)
               : 0;

    limit = flcf->limits->elts;

    ctx->limits = ngx_pcalloc(r->pool,
                              flcf->limits->nelts
                              * sizeof(ngx_http_foundry_limit_state_t));
    if (ctx->limits == NULL) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    now = ngx_current_msec;
    now_s = ngx_time();

    for (i = 0; i < flcf->limits->nelts; i++) {
        st = &ctx->limits[i];
        st->conf = &limit[i];

        if (ngx_http_foundry_limit_key(r, ctx, &limit[i], &key) != NGX_OK
            || ngx_http_foundry_limit_values(r, &limit[i], &v) != NGX_OK)
        {
            return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        if (key.len == 0 || key.len > 65535) {
            /* no key, no limit: e.g. a variable not set for this request */
            continue;
        }

        st->estimate = estimate
                       + ngx_min((ctx->body.max_tokens > 0
                                  ? ctx->body.max_tokens : limit[i].reserve),
                                 NGX_HTTP_FOUNDRY_TOKENS_MAX);

        lz = limit[i].shm_zone->data;
        /*
         * the CRC32 of ngx_crc32_short(), as the zone's nodes have it,
         * a byte a step (its table of 256 is nginx's too)
         */

        hash = ngx_crc32_long(key.data, key.len);

        ngx_shmtx_lock(&lz->shpool->mutex);

        if (ngx_http_foundry_limit_sync_down(r, lz, &v) != NGX_OK) {
            return ngx_http_foundry_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "LimitUnavailable",
                                          "the limit's shared state is "
                                          "unavailable, retry later");
        }

        n = ngx_http_foundry_limit_lookup(lz, &key, hash, now, &limit[i], &v);

        if (n == NULL) {
            ngx_shmtx_unlock(&lz->shpool->mutex);

            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "foundry_limit_zone \"%V\" is full",
                          &limit[i].shm_zone->shm.name);

            return ngx_http_foundry_finish(r,
                                           NGX_HTTP_SERVICE_UNAVAILABLE);
        }

        retry = ngx_http_foundry_limit_take(lz, st, n, &v, now, now_s);

        st->zone = lz;
        st->hash = hash;
        st->values = v;
        st->remaining_requests = n->requests / NGX_HTTP_FOUNDRY_UNIT;
        st->remaining_tokens = n->tokens / NGX_HTTP_FOUNDRY_UNIT;

        ngx_shmtx_unlock(&lz->shpool->mutex);

        st->key.len = key.len;
        st->key.data = key.data;

        if (retry || st->quota) {
            return ngx_http_foundry_limit_refuse(r, ctx, st, retry);
        }

        if (ctx->limit_headers == NULL
            && (v.tpm >= 0 || v.rpm >= 0))
        {
            ctx->limit_headers = st;
        }
    }

    return NGX_OK;
}


/*
 * A synced zone whose sync is down, with the zone locked: fail=share
 * limits to this node's share (NGX_OK); fail=closed unlocks the zone and
 * refuses (NGX_DECLINED).
 */

static ngx_int_t
ngx_http_foundry_limit_sync_down(ngx_http_request_t *r,
    ngx_http_foundry_limit_zone_t *lz, ngx_http_foundry_limit_values_t *v)
{
    if (lz->fleet == NULL
        || ((ngx_http_foundry_limit_shctx_t *) lz->sh)->sync.state
           != NGX_HTTP_FOUNDRY_SYNC_DOWN)
    {
        return NGX_OK;
    }

    if (lz->fleet->fail == NGX_HTTP_FOUNDRY_FAIL_CLOSED) {
        ngx_shmtx_unlock(&lz->shpool->mutex);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: foundry_limit_zone \"%V\" has no "
                      "fleet sync, fail=closed", &lz->shm_zone->shm.name);

        return NGX_DECLINED;
    }

    ngx_http_foundry_limit_share(lz, v);

    return NGX_OK;
}


/*
 * under the zone's lock: the node refilled, the wait until enough is
 * refilled (0 if none), a quota spent, or the request's share reserved
 */

static time_t
ngx_http_foundry_limit_take(ngx_http_foundry_limit_zone_t *lz,
    ngx_http_foundry_limit_state_t *st, ngx_http_foundry_limit_node_t *n,
    ngx_http_foundry_limit_values_t *v, ngx_msec_t now, time_t now_s)
{
    time_t       retry;
    ngx_uint_t   q;
    const char  *kind;

    ngx_http_foundry_limit_refill(n, v, now);

    /* a request larger than the whole minute still goes when full */

    if (v->tpm >= 0 && st->estimate > v->tpm) {
        st->estimate = v->tpm;
    }

    retry = 0;

    /* a limit of 0 lets nothing through */

    if (v->rpm == 0 || v->tpm == 0) {
        retry = 60;
        st->kind = (v->rpm == 0) ? "requests" : "tokens";
    }

    /* the seconds until enough is refilled, rounded up */

    if (v->rpm > 0 && n->requests < NGX_HTTP_FOUNDRY_UNIT) {
        retry = ngx_http_foundry_limit_wait(NGX_HTTP_FOUNDRY_UNIT
                                            - n->requests, v->rpm);
        st->kind = "requests";
    }

    if (v->tpm > 0 && n->tokens < st->estimate * NGX_HTTP_FOUNDRY_UNIT) {
        retry = ngx_max(retry,
                        ngx_http_foundry_limit_wait(st->estimate
                                                    * NGX_HTTP_FOUNDRY_UNIT
                                                    - n->tokens, v->tpm));
        st->kind = "tokens";
    }

    /* in a fleet: no more than this node's share until the next sync */

    kind = (retry == 0 && n->fleet)
           ? ngx_http_foundry_limit_fleet_spent(lz, n, v, st->estimate)
           : NULL;

    if (kind) {
        retry = lz->fleet->retry;
        st->kind = kind;
    }

    if (retry == 0) {
        for (q = 0; q < NGX_HTTP_FOUNDRY_QUOTAS; q++) {

            /* as with tpm: a request larger than the quota still goes */

            if (v->quota[q] == 0
                || (v->quota[q] > 0
                    && n->used[q]
                       + (n->fleet ? n->fleet->other[
                                         NGX_HTTP_FOUNDRY_FLEET_QUOTA + q]
                                   : 0)
                       + ngx_min(st->estimate, v->quota[q])
                       > v->quota[q]))
            {
                st->quota = q + 1;
                st->reset = ngx_http_foundry_limit_window(q + 1, now_s)
                            - now_s;
                break;
            }
        }
    }

    if (retry == 0 && st->quota == 0) {
        /* reserved */

        if (v->rpm >= 0) {
            n->requests -= NGX_HTTP_FOUNDRY_UNIT;
        }

        if (v->tpm >= 0) {
            n->tokens -= st->estimate * NGX_HTTP_FOUNDRY_UNIT;
        }

        for (q = 0; q < NGX_HTTP_FOUNDRY_QUOTAS; q++) {
            n->used[q] = ngx_min(n->used[q] + st->estimate,
                                 NGX_HTTP_FOUNDRY_USED_MAX);
        }

        if (n->fleet) {
            ngx_http_foundry_limit_fleet_count(n->fleet, v, st->estimate, 1);
        }

        st->reserved = 1;
    }

    return retry;
}


/* a limit reached (429, Retry-After) or a quota spent (403) */

static ngx_int_t
ngx_http_foundry_limit_refuse(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_limit_state_t *st,
    time_t retry)
{
    ngx_table_elt_t  *h;

    if (retry) {
        ctx->limited = st;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: %s per minute limit of \"%V\" reached",
                      st->kind, &st->key);

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");

        h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        h->value.len = ngx_sprintf(h->value.data, "%T", retry)
                       - h->value.data;

        ctx->limit_headers = st;

        return ngx_http_foundry_error(r, 429, "RateLimitExceeded",
                                      "the %s per minute limit is reached, "
                                      "retry after %T seconds",
                                      st->kind, retry);
    }

    /* a quota spent */

    ctx->limited = st;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "foundry: %s quota of \"%V\" spent",
                  ngx_http_foundry_quota_names[st->quota - 1], &st->key);

    return ngx_http_foundry_error(r, NGX_HTTP_FORBIDDEN, "QuotaExceeded",
                                  "the %s quota is spent, it resets in %T "
                                  "seconds",
                                  ngx_http_foundry_quota_names[st->quota - 1],
                                  st->reset);
}


/*
 * A limit's key for a request: a variable alone is read as the complex
 * value reads it (flushed; not found or none is empty) and copied, as
 * the complex value is; $foundry_deployment is the deployment's name,
 * what the variable gives, of the configuration or of the request's pool
 * (a discovered deployment): not copied
 */

static ngx_int_t
ngx_http_foundry_limit_key(ngx_http_request_t *r, ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_limit_t *limit, ngx_str_t *key)
{
    ngx_http_variable_value_t  *vv;

    if (limit->key_deployment) {
        if (ctx->deployment == NULL) {
            key->len = 0;
            key->data = NULL;

        } else {
            *key = ctx->deployment->name;
        }

        return NGX_OK;
    }

    if (limit->key_index == NGX_ERROR) {
        return ngx_http_complex_value(r, limit->key, key);
    }

    vv = ngx_http_get_flushed_variable(r, limit->key_index);

    if (vv == NULL || vv->not_found || vv->len == 0) {
        key->len = 0;
        key->data = NULL;
        return NGX_OK;
    }

    key->data = ngx_pnalloc(r->pool, vv->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = vv->len;
    ngx_memcpy(key->data, vv->data, vv->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_limit_values(ngx_http_request_t *r,
    ngx_http_foundry_limit_t *limit, ngx_http_foundry_limit_values_t *v)
{
    ngx_str_t                  s;
    ngx_uint_t                 q;
    ngx_http_complex_value_t  *cv[2 + NGX_HTTP_FOUNDRY_QUOTAS];
    int64_t                   *out[2 + NGX_HTTP_FOUNDRY_QUOTAS];

    if (!limit->variable) {
        *v = limit->values;
        return NGX_OK;
    }

    ngx_http_foundry_limit_slots(limit, v, cv, out);

    for (q = 0; q < 2 + NGX_HTTP_FOUNDRY_QUOTAS; q++) {
        *out[q] = -1;

        if (cv[q] == NULL) {
            continue;
        }

        if (ngx_http_complex_value(r, cv[q], &s) != NGX_OK) {
            return NGX_ERROR;
        }

        *out[q] = ngx_http_foundry_limit_number(&s);
    }

    return NGX_OK;
}


/* a limit's values and where each one goes */

static void
ngx_http_foundry_limit_slots(ngx_http_foundry_limit_t *limit,
    ngx_http_foundry_limit_values_t *v, ngx_http_complex_value_t **cv,
    int64_t **out)
{
    ngx_uint_t  q;

    cv[0] = limit->tpm;
    out[0] = &v->tpm;
    cv[1] = limit->rpm;
    out[1] = &v->rpm;

    for (q = 0; q < NGX_HTTP_FOUNDRY_QUOTAS; q++) {
        cv[2 + q] = limit->quota[q];
        out[2 + q] = &v->quota[q];
    }
}


/* an empty or non-numeric value (a key without metadata): none, -1 */

static int64_t
ngx_http_foundry_limit_number(ngx_str_t *s)
{
    int64_t  n;

    if (s->len == 0) {
        return -1;
    }

    n = ngx_atoi(s->data, s->len);

    return ngx_min(n, NGX_HTTP_FOUNDRY_TOKENS_MAX);
}


/*
 * The log phase: the estimate gives way to the usage the upstream
 * reported; an answer that is an error used no tokens; an answer whose
 * usage is not known (a stream cut short) keeps its estimate, or costs
 * what was read of it when that is more (ngx_http_foundry_usage_estimate).
 */

ngx_int_t
ngx_http_foundry_limit_commit(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx)
{
    int64_t                          actual, delta;
    ngx_uint_t                       i, q, refused;
    ngx_http_foundry_loc_conf_t     *flcf;
    ngx_http_foundry_limit_node_t   *n;
    ngx_http_foundry_limit_state_t  *st;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);

    if (ctx->limits == NULL || flcf->limits == NULL) {
        return NGX_OK;
    }

    for (i = 0; i < flcf->limits->nelts; i++) {
        st = &ctx->limits[i];

        if (!st->reserved || st->committed) {
            continue;
        }

        st->committed = 1;

        if (r->headers_out.status >= NGX_HTTP_BAD_REQUEST) {
            actual = 0;

        } else if (ctx->usage.found && ctx->usage.tokens.total >= 0) {
            actual = ctx->usage.tokens.total;

        } else if (ctx->usage.found && ctx->usage.tokens.prompt >= 0) {
            actual = ngx_min(ctx->usage.tokens.prompt,
                             NGX_HTTP_FOUNDRY_TOKENS_MAX)
                     + ngx_min(ngx_max(ctx->usage.tokens.completion, 0),
                               NGX_HTTP_FOUNDRY_TOKENS_MAX);

        } else {
            /* no usage: the reservation, or the answer's size if larger */
            actual = ngx_max(st->estimate,
                             ngx_http_foundry_usage_estimate(r, &ctx->usage));
        }

        /* delta is within -2^40 .. 2^41: in millionths, within 2^61 */

        actual = ngx_min(actual, NGX_HTTP_FOUNDRY_TOKENS_MAX);

        delta = st->estimate - actual;
        refused = (ctx->limited != NULL);

        if (delta == 0 && !refused) {
            continue;
        }

        ngx_shmtx_lock(&st->zone->shpool->mutex);

        n = ngx_http_foundry_limit_find(st->zone, st->key.data, st->key.len,
                                        st->hash);

        if (n) {

            /* more used than reserved: a debt, the refill repays it */

            if (st->values.tpm >= 0) {
                n->tokens += delta * NGX_HTTP_FOUNDRY_UNIT;
                n->tokens = ngx_min(n->tokens,
                                    st->values.tpm * NGX_HTTP_FOUNDRY_UNIT);
                n->tokens = ngx_max(n->tokens, -NGX_HTTP_FOUNDRY_DEBT_MAX);
            }

            /* refused by a later limit: the request never went upstream */

            if (refused && st->values.rpm >= 0) {
                n->requests += NGX_HTTP_FOUNDRY_UNIT;
                n->requests = ngx_min(n->requests,
                                      st->values.rpm * NGX_HTTP_FOUNDRY_UNIT);
            }

            for (q = 0; q < NGX_HTTP_FOUNDRY_QUOTAS; q++) {
                n->used[q] = ngx_max(n->used[q] - delta, 0);
                n->used[q] = ngx_min(n->used[q], NGX_HTTP_FOUNDRY_USED_MAX);
            }

            if (n->fleet) {
                ngx_http_foundry_limit_fleet_count(n->fleet, NULL, -delta,
                                                   refused ? -1 : 0);
            }
        }

        ngx_shmtx_unlock(&st->zone->shpool->mutex);

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "foundry limit \"%V\": estimate %L, used %L",
                       &st->key, st->estimate, actual);
    }

    return NGX_OK;
}


/* OpenAI's x-ratelimit-* headers, on every answer of a limited request */

ngx_int_t
ngx_http_foundry_limit_headers(ngx_http_request_t *r,
    ngx_http_foundry_limit_state_t *st)
{
    u_char           *p;
    int64_t           values[6];
    ngx_str_t        *text;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    static ngx_str_t  names[] = {
        ngx_string("x-ratelimit-limit-requests"),
        ngx_string("x-ratelimit-remaining-requests"),
        ngx_string("x-ratelimit-reset-requests"),
        ngx_string("x-ratelimit-limit-tokens"),
        ngx_string("x-ratelimit-remaining-tokens"),
        ngx_string("x-ratelimit-reset-tokens")
    };

    /* a bucket in debt: none remaining, and longer than a minute to full */

    values[0] = st->values.rpm;
    values[1] = ngx_max(st->remaining_requests, 0);
    values[2] = st->values.rpm > 0
                ? (st->values.rpm - st->remaining_requests) * 60
                  / st->values.rpm
                : 0;
    values[3] = st->values.tpm;
    values[4] = ngx_max(st->remaining_tokens, 0);
    values[5] = st->values.tpm > 0
                ? (st->values.tpm - st->remaining_tokens) * 60
                  / st->values.tpm
                : 0;

    /* the values' text, all in one allocation */

    p = ngx_pnalloc(r->pool, 6 * (NGX_INT64_LEN + 1));
    if (p == NULL) {
        return NGX_ERROR;
    }

    /* the requests' three, then the tokens', for the limits set */

    for (i = (values[0] < 0) ? 3 : 0; i < 6; i++) {

        if (i == 3 && values[3] < 0) {
            break;
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        h->key = names[i];

        /* a limit's value as configured (not a fleet node's share) */

        text = (i == 0 || i == 3) ? &st->conf->text[i / 3] : NULL;

        if (text && text->len
            && values[i] == (i == 0 ? st->conf->values.rpm
                                    : st->conf->values.tpm))
        {
            h->value = *text;
            continue;
        }

        h->value.data = p;

        p = ngx_http_foundry_limit_decimal(p, values[i]);

        if (i == 2 || i == 5) {
            *p++ = 's';
        }

        h->value.len = p - h->value.data;
    }

    return NGX_OK;
}


/*
 * n in decimal, what ngx_sprintf("%L") writes, without its format parse:
 * its digits counted, then written from the last, two at a time
 */

static u_char *
ngx_http_foundry_limit_decimal(u_char *p, int64_t n)
{
    u_char    *b;
    size_t     len;
    uint64_t   u, d;

    static uint64_t  tens[] = {
        1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
        10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
        100000000000ULL, 1000000000000ULL, 10000000000000ULL,
        100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
        100000000000000000ULL, 1000000000000000000ULL,
        10000000000000000000ULL
    };

    static u_char  pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930"
        "31323334353637383940414243444546474849505152535455565758596061"
        "62636465666768697071727374757677787980818283848586878889909192"
        "93949596979899";

    if (n < 0) {
        *p++ = '-';
        u = (uint64_t) -(n + 1) + 1;

    } else {
        u = (uint64_t) n;
    }

#if (defined __GNUC__)

    /*
     * the digits: about log10(2) = 1233 / 4096 of the bits, then one
     * compare (u | 1: 0 has a digit too)
     */

    len = ((64 - __builtin_clzll(u | 1)) * 1233) >> 12;
    len += ((u | 1) >= tens[len]);

#else

    for (len = 1; len < 20 && u >= tens[len]; len++) {
        /* void */
    }

#endif

    b = p + len;
    p = b;

    while (u >= 100) {
        d = (u % 100) * 2;
        u /= 100;
        *--b = pairs[d + 1];
        *--b = pairs[d];
    }

    if (u >= 10) {
        *--b = pairs[u * 2 + 1];
        *--b = pairs[u * 2];

    } else {
        *--b = (u_char) ('0' + u);
    }

    return p;
}


ngx_int_t
ngx_http_foundry_limit_is_zone(ngx_shm_zone_t *shm_zone)
{
    return shm_zone->init == ngx_http_foundry_limit_init_zone
           && shm_zone->data != NULL;
}


/*
 * Whether the configuration has a foundry_limit_zone (without one, no
 * foundry_limit: nothing for the log phase to commit)
 */

ngx_uint_t
ngx_http_foundry_limit_zones(ngx_cycle_t *cycle)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *zone;

    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].init == ngx_http_foundry_limit_init_zone) {
            return 1;
        }
    }
}
