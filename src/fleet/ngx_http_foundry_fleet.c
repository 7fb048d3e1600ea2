
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_limit.h"
#include "ngx_http_foundry_fleet.h"


/*
 * A limit zone shared by a fleet of gateways through Redis.
 *
 * Admission stays local: requests are admitted from the zone as on a
 * single node, with no network call.  In one worker at a time (the one
 * that holds the zone's lease), a timer sends every interval what this
 * node used since the last sync, per key and counter, as INCRBY on keys
 * of the current window (a minute for tpm and rpm; the quota's hour, day
 * or month), each followed by EXPIRE ... NX so that a key's expiry is set
 * when it is created and never extended; then MGET reads the fleet's
 * totals back.  What the other nodes used (total - sent by this node)
 * goes into the zone: a quota counts it next to this node's usage; the
 * buckets of tpm and rpm are debited with what the others used since the
 * last sync.  A key of the zone is foundry:{zone}:c:window:key, c one of
 * t, r (tokens and requests per minute), h, d, m (the quotas): the hash
 * tag puts all of a zone's keys in one slot of a Redis Cluster.
 *
 * A failed sync gives back what it took: the amounts not acknowledged are
 * sent with the next one (at least once: an INCRBY whose reply was lost
 * may count twice).  The zone's sync state (up, down) is shared by the
 * workers; admission uses it for fail=.
 */


#define NGX_HTTP_FOUNDRY_FLEET_MINUTE_TTL  120


static ngx_http_foundry_fleet_t *ngx_http_foundry_fleet_all(
    ngx_cycle_t *cycle);
static void ngx_http_foundry_fleet_timer(ngx_event_t *ev);
static ngx_int_t ngx_http_foundry_fleet_lease(ngx_http_foundry_fleet_t *f);
static ngx_int_t ngx_http_foundry_fleet_sync(ngx_http_foundry_fleet_t *f);
static ngx_int_t ngx_http_foundry_fleet_take(ngx_http_foundry_fleet_t *f,
    time_t now);
static ngx_buf_t *ngx_http_foundry_fleet_commands(
    ngx_http_foundry_fleet_t *f, time_t now);
static size_t ngx_http_foundry_fleet_size(ngx_http_foundry_fleet_t *f,
    ngx_uint_t *reads, ngx_uint_t *used);
static u_char *ngx_http_foundry_fleet_incrby(ngx_http_foundry_fleet_t *f,
    ngx_http_foundry_fleet_entry_t *e, ngx_uint_t c, time_t now, u_char *p);
static u_char *ngx_http_foundry_fleet_zadd(ngx_http_foundry_fleet_t *f,
    time_t now, size_t klen, ngx_uint_t used, u_char *p);
static u_char *ngx_http_foundry_fleet_key_arg(ngx_http_foundry_fleet_t *f,
    ngx_http_foundry_fleet_entry_t *e, ngx_uint_t c, u_char *p);
static size_t ngx_http_foundry_fleet_key(ngx_http_foundry_fleet_t *f,
    ngx_http_foundry_fleet_entry_t *e, ngx_uint_t c, u_char *p);
static void ngx_http_foundry_fleet_apply(ngx_http_foundry_fleet_t *f);
static void ngx_http_foundry_fleet_learn(ngx_http_foundry_fleet_t *f);
static void ngx_http_foundry_fleet_counter(ngx_http_foundry_fleet_t *f,
    ngx_http_foundry_limit_node_t *n, ngx_http_foundry_fleet_entry_t *e,
    ngx_uint_t c);


static char  ngx_http_foundry_fleet_letters[] = "trhdm";

/* fail=, by NGX_HTTP_FOUNDRY_FAIL_* */
char  *ngx_http_foundry_fleet_fails[] = { "open", "share", "closed", NULL };


/* the first of the cycle's foundry_limit_sync, or NULL */

static ngx_http_foundry_fleet_t *
ngx_http_foundry_fleet_all(ngx_cycle_t *cycle)
{
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_foundry_module);

    return fmcf ? fmcf->fleets : NULL;
}


/* init module, in the master: a new zone reads its state file */

ngx_int_t
ngx_http_foundry_fleet_init_module(ngx_cycle_t *cycle)
{
    ngx_http_foundry_fleet_t        *f;
    ngx_http_foundry_limit_shctx_t  *sh;

    for (f = ngx_http_foundry_fleet_all(cycle); f; f = f->next) {
        sh = f->lz->sh;

        ngx_shmtx_lock(&f->lz->shpool->mutex);

        if (sh->sync.started == 0) {
            sh->sync.started = ngx_current_msec;
        }

        if (f->state.len == 0 || sh->sync.loaded) {
            ngx_shmtx_unlock(&f->lz->shpool->mutex);
            continue;
        }

        sh->sync.loaded = 1;

        ngx_shmtx_unlock(&f->lz->shpool->mutex);

        (void) ngx_http_foundry_state_load(f, cycle->log);
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_foundry_fleet_init_process(ngx_cycle_t *cycle)
{
    ngx_http_foundry_fleet_t  *f;

    for (f = ngx_http_foundry_fleet_all(cycle); f; f = f->next) {

        f->timer.handler = ngx_http_foundry_fleet_timer;
        f->timer.data = f;
        f->timer.log = cycle->log;
        f->timer.cancelable = 1;

        f->redis.log = cycle->log;
        f->redis.reply = ngx_http_foundry_fleet_reply;
        f->redis.done = ngx_http_foundry_fleet_done;
        f->redis.data = f;

        /* the workers' timers spread over the interval */

        ngx_add_timer(&f->timer, 1 + ngx_random() % f->interval);
    }

    return NGX_OK;
}


/*
 * A worker that exits: a sync in flight gives its amounts back, the
 * owner writes the state file and gives the lease up
 */

void
ngx_http_foundry_fleet_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_foundry_fleet_t        *f;
    ngx_http_foundry_limit_shctx_t  *sh;

    for (f = ngx_http_foundry_fleet_all(cycle); f; f = f->next) {
        sh = f->lz->sh;

        if (f->pool) {
            ngx_http_foundry_fleet_apply(f);
        }

        ngx_http_foundry_redis_close(&f->redis);

        if (sh->sync.owner != ngx_pid) {
            continue;
        }

        if (f->state.len) {
            (void) ngx_http_foundry_state_save(f, cycle->log);
        }

        ngx_shmtx_lock(&f->lz->shpool->mutex);

        if (sh->sync.owner == ngx_pid) {
            sh->sync.owner = 0;
            sh->sync.lease = 0;
        }

        ngx_shmtx_unlock(&f->lz->shpool->mutex);
    }
}


static void
ngx_http_foundry_fleet_timer(ngx_event_t *ev)
{
    ngx_http_foundry_fleet_t  *f;

    f = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (ngx_http_foundry_fleet_lease(f) == NGX_OK && f->pool == NULL) {

        if (f->state.len) {
            (void) ngx_http_foundry_state_save(f, ev->log);

        } else if (ngx_http_foundry_fleet_sync(f) != NGX_OK) {
            ngx_http_foundry_fleet_done(&f->redis, "no memory");
        }

    } else if (f->pool == NULL && f->redis.peer.connection) {
        /* another worker syncs: this one's connection goes */
        ngx_http_foundry_redis_close(&f->redis);
    }

    ngx_add_timer(ev, f->interval);
}


/* the zone's lease: NGX_OK when this worker holds it (for a while more) */

static ngx_int_t
ngx_http_foundry_fleet_lease(ngx_http_foundry_fleet_t *f)
{
    ngx_int_t                        rc;
    ngx_http_foundry_limit_shctx_t  *sh;

    sh = f->lz->sh;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&f->lz->shpool->mutex);

    if (sh->sync.owner == ngx_pid || sh->sync.owner == 0
        || (ngx_msec_int_t) (ngx_current_msec - sh->sync.lease) > 0)
    {
        sh->sync.owner = ngx_pid;
        sh->sync.lease = ngx_current_msec + 3 * f->interval
                         + f->redis.timeout;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&f->lz->shpool->mutex);

    return rc;
}


/* a sync: this node's amounts taken from the zone, the commands sent */

static ngx_int_t
ngx_http_foundry_fleet_sync(ngx_http_foundry_fleet_t *f)
{
    ngx_buf_t  *b;

    b = ngx_http_foundry_fleet_batch(f, ngx_time());
    if (b == NULL) {
        return NGX_ERROR;
    }

    ngx_http_foundry_redis_exchange(&f->redis, b, f->ops.nelts);

    return NGX_OK;
}


/*
 * The amounts taken from the zone, and the commands that send them, in a
 * pool of the sync's (f->pool); their replies go to fleet_reply, the end
 * to fleet_done.  Used by the fuzzers too.
 */

ngx_buf_t *
ngx_http_foundry_fleet_batch(ngx_http_foundry_fleet_t *f, time_t now)
{
    f->pool = ngx_create_pool(4096, f->timer.log);
    if (f->pool == NULL) {
        return NULL;
    }

    if (ngx_array_init(&f->entries, f->pool, 16,
                       sizeof(ngx_http_foundry_fleet_entry_t))
        != NGX_OK
        || ngx_array_init(&f->ops, f->pool, 16,
                          sizeof(ngx_http_foundry_fleet_op_t))
           != NGX_OK)
    {
        return NULL;
    }

    f->started = now;
    f->minute = now / 60;
    f->op = 0;
    f->read = 0;

    ngx_shmtx_lock(&f->lz->shpool->mutex);

    if (ngx_http_foundry_fleet_take(f, now) != NGX_OK) {
        ngx_shmtx_unlock(&f->lz->shpool->mutex);
        return NULL;
    }

    ngx_shmtx_unlock(&f->lz->shpool->mutex);

    return ngx_http_foundry_fleet_commands(f, now);
}


/* each key's counters: their windows, and the amounts taken (locked) */

static ngx_int_t
ngx_http_foundry_fleet_take(ngx_http_foundry_fleet_t *f, time_t now)
{
    ngx_uint_t                        c, q;
    ngx_queue_t                      *qu;
    ngx_http_foundry_limit_node_t    *n;
    ngx_http_foundry_fleet_entry_t   *e;
    ngx_http_foundry_limit_shctx_t   *sh;

    sh = f->lz->sh;

    for (qu = ngx_queue_head(&sh->queue);
         qu != ngx_queue_sentinel(&sh->queue);
         qu = ngx_queue_next(qu))
    {
        n = ngx_queue_data(qu, ngx_http_foundry_limit_node_t, queue);

        if (n->fleet == NULL || n->fleet->mask == 0) {
            continue;
        }

        e = ngx_array_push(&f->entries);
        if (e == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(e, sizeof(ngx_http_foundry_fleet_entry_t));

        e->key = ngx_pnalloc(f->pool, n->sn.str.len);
        if (e->key == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(e->key, n->data, n->sn.str.len);
        e->len = n->sn.str.len;
        e->hash = n->sn.node.key;

        for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {

            if (c < NGX_HTTP_FOUNDRY_FLEET_QUOTA) {
                e->window[c] = f->minute;

            } else {
                q = c - NGX_HTTP_FOUNDRY_FLEET_QUOTA;

                /* a window that ended: the current one, from nothing */

                if (n->window[q] <= now) {
                    n->window[q] = ngx_http_foundry_limit_window(q + 1, now);
                    n->used[q] = 0;
                    n->fleet->delta[c] = 0;
                    n->fleet->other[c] = 0;
                }

                e->window[c] = n->window[q];
            }

            if (n->fleet->mask & (1 << c)) {
                e->mask |= 1 << c;
                e->amount[c] = n->fleet->delta[c];
            }

            n->fleet->delta[c] = 0;
        }
    }

    return NGX_OK;
}


/*
 * The commands: INCRBY and EXPIRE ... NX for each amount, then one MGET
 * of every counter read; a PING alone when no key is used
 */

static ngx_buf_t *
ngx_http_foundry_fleet_commands(ngx_http_foundry_fleet_t *f, time_t now)
{
    u_char                          *p;
    size_t                           size, klen;
    ngx_buf_t                       *b;
    ngx_uint_t                       i, c, reads, used;
    ngx_http_foundry_fleet_op_t     *op;
    ngx_http_foundry_fleet_entry_t  *e;
    u_char                           num[NGX_INT64_LEN + 1];

    e = f->entries.elts;

    size = ngx_http_foundry_fleet_size(f, &reads, &used);
    klen = sizeof("foundry:{}:keys") - 1 + f->name.len;

    b = ngx_create_temp_buf(f->pool, size);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    for (i = 0; i < f->entries.nelts; i++) {
        for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {
            if (!(e[i].mask & (1 << c)) || e[i].amount[c] == 0) {
                continue;
            }

            p = ngx_http_foundry_fleet_incrby(f, &e[i], c, now, p);

            op = ngx_array_push_n(&f->ops, 2);
            if (op == NULL) {
                return NULL;
            }

            op[0].type = NGX_HTTP_FOUNDRY_REDIS_INCRBY;
            op[0].entry = i;
            op[0].counter = c;
            op[1].type = NGX_HTTP_FOUNDRY_REDIS_EXPIRE;
            op[1].entry = i;
            op[1].counter = c;
        }
    }

    if (used) {
        p = ngx_http_foundry_fleet_zadd(f, now, klen, used, p);

        op = ngx_array_push(&f->ops);
        if (op == NULL) {
            return NULL;
        }

        op->type = NGX_HTTP_FOUNDRY_REDIS_ZADD;
    }

    p = ngx_cpymem(p, "*4\r\n", 4);
    p = ngx_http_foundry_redis_arg(p, (u_char *) "ZRANGEBYSCORE", 13);
    p = ngx_sprintf(p, "$%uz\r\nfoundry:{%V}:keys\r\n", klen, &f->name);
    p = ngx_http_foundry_redis_arg(p, num,
                                   ngx_sprintf(num, "%T",
                                               f->pull ? f->pull - 10 : 0)
                                   - num);
    p = ngx_http_foundry_redis_arg(p, (u_char *) "+inf", 4);

    p = ngx_cpymem(p, "*4\r\n", 4);
    p = ngx_http_foundry_redis_arg(p, (u_char *) "ZREMRANGEBYSCORE", 16);
    p = ngx_sprintf(p, "$%uz\r\nfoundry:{%V}:keys\r\n", klen, &f->name);
    p = ngx_http_foundry_redis_arg(p, (u_char *) "-inf", 4);
    p = ngx_http_foundry_redis_arg(p, num,
                                   ngx_sprintf(num, "%T",
                                               now - 32 * 86400) - num);

    op = ngx_array_push_n(&f->ops, 2);
    if (op == NULL) {
        return NULL;
    }

    op[0].type = NGX_HTTP_FOUNDRY_REDIS_PULL;
    op[1].type = NGX_HTTP_FOUNDRY_REDIS_ZREM;

    f->pulled = NULL;

    if (reads) {
        op = ngx_array_push(&f->ops);
        if (op == NULL) {
            return NULL;
        }

        op->entry = 0;
        op->counter = reads;
        op->type = NGX_HTTP_FOUNDRY_REDIS_MGET;
        p = ngx_sprintf(p, "*%ui\r\n", reads + 1);
        p = ngx_http_foundry_redis_arg(p, (u_char *) "MGET", 4);

        for (i = 0; i < f->entries.nelts; i++) {
            for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {
                if (e[i].mask & (1 << c)) {
                    p = ngx_http_foundry_fleet_key_arg(f, &e[i], c, p);
                }
            }
        }
    }

    b->last = p;

    return b;
}


/*
 * The size of the commands; "reads", the counters read, and "used", the
 * keys used (with an amount to add)
 */

static size_t
ngx_http_foundry_fleet_size(ngx_http_foundry_fleet_t *f, ngx_uint_t *reads,
    ngx_uint_t *used)
{
    size_t                           size, klen;
    ngx_uint_t                       i, c;
    ngx_http_foundry_fleet_entry_t  *e;

    e = f->entries.elts;

    size = 64;
    *reads = 0;

    for (i = 0; i < f->entries.nelts; i++) {
        klen = ngx_http_foundry_fleet_key(f, &e[i], 0, NULL);

        for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {
            if (!(e[i].mask & (1 << c))) {
                continue;
            }

            (*reads)++;
            size += ngx_http_foundry_redis_arg_size(klen);

            if (e[i].amount[c]) {
                size += 2 * (16 + ngx_http_foundry_redis_arg_size(6)
                             + ngx_http_foundry_redis_arg_size(klen)
                             + ngx_http_foundry_redis_arg_size(NGX_INT64_LEN)
                             + ngx_http_foundry_redis_arg_size(2));
            }
        }
    }

    /* ZADD of the keys used, ZRANGEBYSCORE, ZREMRANGEBYSCORE */

    klen = sizeof("foundry:{}:keys") - 1 + f->name.len;
    *used = 0;

    for (i = 0; i < f->entries.nelts; i++) {
        for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {
            if (e[i].amount[c]) {
                (*used)++;
                size += ngx_http_foundry_redis_arg_size(NGX_TIME_T_LEN)
                        + ngx_http_foundry_redis_arg_size(3 + e[i].len);
                break;
            }
        }
    }

    size += 3 * (16 + NGX_SIZE_T_LEN + 3 * ngx_http_foundry_redis_arg_size(
                                              klen + NGX_TIME_T_LEN + 16));

    return size;
}


/* INCRBY and EXPIRE ... NX of a counter's amount */

static u_char *
ngx_http_foundry_fleet_incrby(ngx_http_foundry_fleet_t *f,
    ngx_http_foundry_fleet_entry_t *e, ngx_uint_t c, time_t now, u_char *p)
{
    time_t  ttl;
    u_char  num[NGX_INT64_LEN + 1];

    ttl = (c < NGX_HTTP_FOUNDRY_FLEET_QUOTA)
          ? NGX_HTTP_FOUNDRY_FLEET_MINUTE_TTL
          : e->window[c] - now + 3600;

    p = ngx_cpymem(p, "*3\r\n", 4);
    p = ngx_http_foundry_redis_arg(p, (u_char *) "INCRBY", 6);
    p = ngx_http_foundry_fleet_key_arg(f, e, c, p);
    p = ngx_http_foundry_redis_arg(p, num,
                                   ngx_sprintf(num, "%L", e->amount[c])
                                   - num);

    p = ngx_cpymem(p, "*4\r\n", 4);
    p = ngx_http_foundry_redis_arg(p, (u_char *) "EXPIRE", 6);
    p = ngx_http_foundry_fleet_key_arg(f, e, c, p);
    p = ngx_http_foundry_redis_arg(p, num,
                                   ngx_sprintf(num, "%T", ttl) - num);

    return ngx_http_foundry_redis_arg(p, (u_char *) "NX", 2);
}


/*
 * the zone's keys used lately, by score (when), in a sorted set: each
 * node learns the keys the others use, before they are used here
 */

static u_char *
ngx_http_foundry_fleet_zadd(ngx_http_foundry_fleet_t *f, time_t now,
    size_t klen, ngx_uint_t used, u_char *p)
{
    ngx_uint_t                       i, c;
    ngx_http_foundry_fleet_entry_t  *e;
    u_char                           num[NGX_INT64_LEN + 1];

    e = f->entries.elts;

    p = ngx_sprintf(p, "*%ui\r\n", 2 + 2 * used);
    p = ngx_http_foundry_redis_arg(p, (u_char *) "ZADD", 4);
    p = ngx_sprintf(p, "$%uz\r\nfoundry:{%V}:keys\r\n", klen, &f->name);

    for (i = 0; i < f->entries.nelts; i++) {
        for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {
            if (e[i].amount[c]) {
                break;
            }
        }

        if (c == NGX_HTTP_FOUNDRY_FLEET_COUNTERS) {
            continue;
        }

        p = ngx_http_foundry_redis_arg(p, num,
                                       ngx_sprintf(num, "%T", now) - num);
        p = ngx_sprintf(p, "$%uz\r\n%02ui:", 3 + e[i].len, e[i].mask);
        p = ngx_cpymem(p, e[i].key, e[i].len);
        *p++ = '\r'; *p++ = '\n';
    }

    return p;
}


/* a counter's Redis key as a command's argument */

static u_char *
ngx_http_foundry_fleet_key_arg(ngx_http_foundry_fleet_t *f,
    ngx_http_foundry_fleet_entry_t *e, ngx_uint_t c, u_char *p)
{
    p = ngx_sprintf(p, "$%uz\r\n", ngx_http_foundry_fleet_key(f, e, c, NULL));
    p += ngx_http_foundry_fleet_key(f, e, c, p);
    *p++ = '\r'; *p++ = '\n';

    return p;
}


/* foundry:{zone}:c:window:key, written at p, or only its size */

static size_t
ngx_http_foundry_fleet_key(ngx_http_foundry_fleet_t *f,
    ngx_http_foundry_fleet_entry_t *e, ngx_uint_t c, u_char *p)
{
    u_char  *s;
    u_char   buf[NGX_TIME_T_LEN + 1];

    if (p == NULL) {
        return sizeof("foundry:{}:c::") - 1 + f->name.len
               + (ngx_sprintf(buf, "%T", e->window[c]) - buf) + e->len;
    }

    s = p;
    p = ngx_sprintf(p, "foundry:{%V}:%c:%T:", &f->name,
                    ngx_http_foundry_fleet_letters[c], e->window[c]);
    p = ngx_cpymem(p, e->key, e->len);

    return p - s;
}


/* a reply, for the op awaiting it */

ngx_int_t
ngx_http_foundry_fleet_reply(ngx_http_foundry_redis_t *rd, void *reply)
{
    int64_t                          *values;
    ngx_int_t                         rc;
    ngx_uint_t                        i, c, k;
    ngx_http_foundry_fleet_t         *f;
    ngx_http_foundry_fleet_op_t      *op;
    ngx_http_foundry_fleet_entry_t   *e;

    f = rd->data;

    if (f->op >= f->ops.nelts) {
        return NGX_ERROR;
    }

    op = (ngx_http_foundry_fleet_op_t *) f->ops.elts + f->op++;
    e = f->entries.elts;
    values = NULL;

    if (op->type == NGX_HTTP_FOUNDRY_REDIS_PULL) {
        return ngx_http_foundry_redis_strings(reply, f->pool, &f->pulled);
    }

    if (op->type == NGX_HTTP_FOUNDRY_REDIS_MGET) {
        values = ngx_palloc(f->pool, op->counter * sizeof(int64_t));
        if (values == NULL) {
            return NGX_ERROR;
        }
    }

    rc = ngx_http_foundry_redis_check(op->type, reply, values,
                                      values ? op->counter : 0);

    if (rc != NGX_OK) {
        /* an error reply (or garbage) fails the sync */
        return NGX_ERROR;
    }

    if (op->type == NGX_HTTP_FOUNDRY_REDIS_INCRBY) {
        e[op->entry].acked |= 1 << op->counter;
        return NGX_OK;
    }

    if (op->type != NGX_HTTP_FOUNDRY_REDIS_MGET) {
        return NGX_OK;
    }

    k = 0;

    for (i = 0; i < f->entries.nelts; i++) {
        for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {
            if (e[i].mask & (1 << c)) {
                e[i].total[c] = values[k++];
            }
        }
    }

    f->read = 1;

    return NGX_OK;
}


/* the end of a sync: its results in the zone, the state changed */

void
ngx_http_foundry_fleet_done(ngx_http_foundry_redis_t *rd, const char *error)
{
    ngx_uint_t                       state;
    ngx_http_foundry_fleet_t        *f;
    ngx_http_foundry_limit_shctx_t  *sh;

    f = rd->data;
    sh = f->lz->sh;

    if (f->pool) {
        ngx_http_foundry_fleet_apply(f);
    }

    ngx_shmtx_lock(&f->lz->shpool->mutex);

    state = sh->sync.state;

    if (error == NULL) {
        f->pull = f->started;
        sh->sync.state = NGX_HTTP_FOUNDRY_SYNC_UP;
        sh->sync.last_ok = ngx_current_msec;
        sh->sync.syncs++;

    } else {
        sh->sync.state = NGX_HTTP_FOUNDRY_SYNC_DOWN;
        sh->sync.failures++;
    }

    ngx_shmtx_unlock(&f->lz->shpool->mutex);

    if (error && state != NGX_HTTP_FOUNDRY_SYNC_DOWN) {
        ngx_log_error(NGX_LOG_ERR, f->timer.log, 0,
                      "foundry_limit_zone \"%V\": sync with redis %V "
                      "failed (%s), limits from this node's state, fail=%s",
                      &f->name, &f->server, error,
                      ngx_http_foundry_fleet_fails[f->conf.fail]);

    } else if (error == NULL && state != NGX_HTTP_FOUNDRY_SYNC_UP) {
        ngx_log_error(NGX_LOG_NOTICE, f->timer.log, 0,
                      "foundry_limit_zone \"%V\": syncing with redis %V",
                      &f->name, &f->server);
    }
}


/*
 * What Redis took is sent, what it did not goes back to the deltas, and
 * the totals read give what the others used (locked)
 */

static void
ngx_http_foundry_fleet_apply(ngx_http_foundry_fleet_t *f)
{
    ngx_uint_t                       i, c;
    ngx_http_foundry_limit_node_t   *n;
    ngx_http_foundry_fleet_entry_t  *e;

    e = f->entries.elts;

    ngx_shmtx_lock(&f->lz->shpool->mutex);

    for (i = 0; i < f->entries.nelts; i++) {
        n = ngx_http_foundry_limit_find(f->lz, e[i].key, e[i].len,
                                        e[i].hash);
        if (n == NULL || n->fleet == NULL) {
            /* the key left the zone meanwhile */
            continue;
        }

        for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {
            if (e[i].mask & (1 << c)) {
                ngx_http_foundry_fleet_counter(f, n, &e[i], c);
            }
        }
    }

    if (f->pulled) {
        ngx_http_foundry_fleet_learn(f);
    }

    ngx_shmtx_unlock(&f->lz->shpool->mutex);

    ngx_destroy_pool(f->pool);
    f->pool = NULL;
}


/*
 * The keys the fleet used that this zone does not have yet: nodes that
 * the next sync reads, at the tail of the zone's queue (the first to go
 * when it is full); their buckets are set at their first request (locked)
 */

static void
ngx_http_foundry_fleet_learn(ngx_http_foundry_fleet_t *f)
{
    u_char                          *key;
    size_t                           len;
    ngx_int_t                        mask;
    ngx_str_t                       *m;
    ngx_uint_t                       i;
    ngx_http_foundry_limit_node_t   *n;
    ngx_http_foundry_limit_shctx_t  *sh;

    sh = f->lz->sh;
    m = f->pulled->elts;

    for (i = 0; i < f->pulled->nelts; i++) {

        /* "mm:key", mm the counters' mask in two digits */

        if (m[i].len < 4 || m[i].len > 3 + 65535 || m[i].data[2] != ':') {
            continue;
        }

        mask = ngx_atoi(m[i].data, 2);

        if (mask <= 0 || mask >= (1 << NGX_HTTP_FOUNDRY_FLEET_COUNTERS)) {
            continue;
        }

        key = m[i].data + 3;
        len = m[i].len - 3;

        n = ngx_http_foundry_limit_find(f->lz, key, len,
                                        ngx_crc32_short(key, len));
        if (n) {
            if (n->fleet) {
                n->fleet->mask |= mask;
            }

            continue;
        }

        n = ngx_http_foundry_limit_add(f->lz, key, len);
        if (n == NULL) {
            return;
        }

        n->fleet->mask = mask;
        n->fleet->fresh = 1;

        ngx_queue_remove(&n->queue);
        ngx_queue_insert_tail(&sh->queue, &n->queue);
    }
}


static void
ngx_http_foundry_fleet_counter(ngx_http_foundry_fleet_t *f,
    ngx_http_foundry_limit_node_t *n, ngx_http_foundry_fleet_entry_t *e,
    ngx_uint_t c)
{
    int64_t                          others;
    ngx_http_foundry_limit_fleet_t  *fl;

    fl = n->fleet;

    /* a quota's window that ended meanwhile: nothing to keep */

    if (c >= NGX_HTTP_FOUNDRY_FLEET_QUOTA
        && n->window[c - NGX_HTTP_FOUNDRY_FLEET_QUOTA] != e->window[c])
    {
        return;
    }

    if (e->amount[c] && !(e->acked & (1 << c))) {
        fl->delta[c] += e->amount[c];
        return;
    }

    if (fl->window[c] != e->window[c]) {
        fl->window[c] = e->window[c];
        fl->sent[c] = 0;
        fl->other[c] = 0;
    }

    fl->sent[c] += e->amount[c];

    if (!f->read) {
        return;
    }

    /* a Redis that lost its data counts from what it has */

    if (e->total[c] < fl->sent[c]) {
        fl->sent[c] = ngx_max(ngx_min(e->amount[c], e->total[c]), 0);
    }

    others = ngx_min(e->total[c] - fl->sent[c], NGX_HTTP_FOUNDRY_USED_MAX);

    /* the buckets owe what the others used since: paid at the refill */

    if (c < NGX_HTTP_FOUNDRY_FLEET_QUOTA && others > fl->other[c]) {
        fl->debt[c] = ngx_min(fl->debt[c] + others - fl->other[c],
                              NGX_HTTP_FOUNDRY_TOKENS_MAX);
    }

    fl->other[c] = others;
}
