
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: what a Redis server answers to a fleet sync
 * (foundry_limit_sync), read as the module reads it.  A limit zone (a
 * slab pool in memory, as nginx makes for a shared zone) holds up to
 * three keys with amounts not sent yet; ngx_http_foundry_fleet_batch()
 * takes them and writes the pipeline (INCRBY, EXPIRE ... NX, ZADD,
 * ZRANGEBYSCORE, ZREMRANGEBYSCORE, MGET); the input's payload is fed to
 * ngx_http_foundry_redis_feed() (hiredis's redisReader, the AUTH reply,
 * then each reply to ngx_http_foundry_fleet_reply()) in two pieces, and
 * ngx_http_foundry_fleet_done() applies the result to the zone: the
 * totals read, the keys learnt from the fleet, or, when the replies fail
 * or do not all come, the amounts given back.
 *
 * The input's first three bytes: flags (bit 0: an AUTH reply first; bits
 * 1-2: the number of keys; bit 3: the last key has nothing to send), the
 * counters the keys use (bits 0-4: t, r, h, d, m), where the payload is
 * cut.  Checked: the sync ends once, its pool is gone, and, unless the
 * totals came, each amount is either sent or back in the zone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


#define NGX_FUZZ_ZONE_SIZE  (256 * 1024)


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ngx_int_t ngx_fuzz_zone(ngx_http_foundry_limit_zone_t *lz,
    u_char *addr);
static void ngx_fuzz_done(ngx_http_foundry_redis_t *rd, const char *error);


static ngx_log_t   *ngx_fuzz_log;
static ngx_uint_t   ngx_fuzz_ends;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_log = ngx_fuzz_init();

    ngx_slab_sizes_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                          *addr, key[2];
    size_t                           cut;
    time_t                           now;
    int64_t                          amount[3][NGX_HTTP_FOUNDRY_FLEET_COUNTERS];
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_uint_t                       i, c, keys, mask;
    const char                      *error;
    ngx_http_foundry_fleet_t         f;
    ngx_http_foundry_limit_zone_t    lz;
    ngx_http_foundry_limit_node_t   *n[3];
    ngx_http_foundry_limit_shctx_t  *sh;

    if (size < 3) {
        return 0;
    }

    keys = (data[0] >> 1) & 3;
    mask = data[1] & ((1 << NGX_HTTP_FOUNDRY_FLEET_COUNTERS) - 1);
    cut = data[2];

    data += 3;
    size -= 3;

    if (posix_memalign((void **) &addr, ngx_pagesize, NGX_FUZZ_ZONE_SIZE)
        != 0)
    {
        abort();
    }

    ngx_memzero(&lz, sizeof(ngx_http_foundry_limit_zone_t));
    ngx_memzero(&f, sizeof(ngx_http_foundry_fleet_t));

    if (ngx_fuzz_zone(&lz, addr) != NGX_OK) {
        abort();
    }

    sh = lz.sh;

    ngx_str_set(&f.name, "fleet");
    ngx_str_set(&f.server, "127.0.0.1:6379");
    f.lz = &lz;
    f.conf.fail = NGX_HTTP_FOUNDRY_FAIL_SHARE;
    f.conf.nodes = 2;
    f.conf.redis = 1;
    f.timer.log = ngx_fuzz_log;
    f.interval = 1000;
    lz.fleet = &f.conf;

    f.redis.log = ngx_fuzz_log;
    f.redis.reply = ngx_http_foundry_fleet_reply;
    f.redis.done = ngx_fuzz_done;
    f.redis.data = &f;

    /* the keys, with amounts used here and not sent yet */

    now = ngx_time();
    ngx_memzero(amount, sizeof(amount));

    for (i = 0; i < keys; i++) {
        key[0] = 'k';
        key[1] = (u_char) ('0' + i);

        n[i] = ngx_http_foundry_limit_add(&lz, key, 2);
        if (n[i] == NULL || n[i]->fleet == NULL) {
            abort();
        }

        for (c = 0; c < NGX_HTTP_FOUNDRY_QUOTAS; c++) {
            n[i]->window[c] = ngx_http_foundry_limit_window(c + 1, now);
        }

        n[i]->fleet->mask = mask;

        if (i == keys - 1 && (data[-3] & 8)) {
            continue;
        }

        for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {
            if (mask & (1 << c)) {
                amount[i][c] = (int64_t) (c + 1) * 7 + i;
                n[i]->fleet->delta[c] = amount[i][c];
            }
        }
    }

    b = ngx_http_foundry_fleet_batch(&f, now);
    if (b == NULL) {
        abort();
    }

    /* the replies, in two pieces, to a connection that awaits them */

    f.redis.reader = ngx_http_foundry_redis_reader(&f.redis);
    if (f.redis.reader == NULL) {
        abort();
    }

    f.redis.replies = f.ops.nelts;
    f.redis.authing = data[-3] & 1;
    f.redis.busy = 1;

    cut = ngx_min(cut, size);
    ngx_fuzz_ends = 0;

    rc = ngx_http_foundry_redis_feed(&f.redis, (u_char *) data, cut, &error);

    if (rc == NGX_OK) {
        rc = ngx_http_foundry_redis_feed(&f.redis, (u_char *) data + cut,
                                         size - cut, &error);
    }

    if (rc == NGX_OK) {
        /* the rest never comes */
        error = "timed out";
        rc = NGX_ERROR;
    }

    /* taken: nothing is left in the zone until the sync ends */

    for (i = 0; i < keys; i++) {
        for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {
            if (n[i]->fleet->delta[c] != 0) {
                fprintf(stderr, "fuzz_redis: a delta before the end\n");
                abort();
            }
        }
    }

    ngx_fuzz_done(&f.redis, (rc == NGX_DONE) ? NULL : error);

    if (ngx_fuzz_ends != 1 || f.pool != NULL) {
        fprintf(stderr, "fuzz_redis: the sync ended %lu times\n",
                (unsigned long) ngx_fuzz_ends);
        abort();
    }

    if (sh->sync.state
        != ((rc == NGX_DONE) ? NGX_HTTP_FOUNDRY_SYNC_UP
                             : NGX_HTTP_FOUNDRY_SYNC_DOWN))
    {
        fprintf(stderr, "fuzz_redis: state %lu, rc %ld\n",
                (unsigned long) sh->sync.state, (long) rc);
        abort();
    }

    if (!f.read) {
        for (i = 0; i < keys; i++) {
            key[0] = 'k';
            key[1] = (u_char) ('0' + i);

            /* the keys learnt from the fleet may have moved it */

            n[i] = ngx_http_foundry_limit_find(&lz, key, 2,
                                               ngx_crc32_short(key, 2));
            if (n[i] == NULL) {
                continue;
            }

            for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {
                if (n[i]->fleet->delta[c] + n[i]->fleet->sent[c]
                    != amount[i][c])
                {
                    fprintf(stderr, "fuzz_redis: key %lu counter %lu: "
                            "%lld + %lld sent, of %lld\n",
                            (unsigned long) i, (unsigned long) c,
                            (long long) n[i]->fleet->delta[c],
                            (long long) n[i]->fleet->sent[c],
                            (long long) amount[i][c]);
                    abort();
                }
            }
        }
    }

    redisReaderFree(f.redis.reader);
    ngx_shmtx_destroy(&lz.shpool->mutex);
    free(addr);

    return 0;
}


/* a limit zone in memory: a slab pool as nginx makes, the zone's context */

static ngx_int_t
ngx_fuzz_zone(ngx_http_foundry_limit_zone_t *lz, u_char *addr)
{
    ngx_slab_pool_t                 *sp;
    ngx_http_foundry_limit_shctx_t  *sh;

    /* as a shared memory zone: zeroed */

    ngx_memzero(addr, NGX_FUZZ_ZONE_SIZE);

    sp = (ngx_slab_pool_t *) addr;

    sp->end = addr + NGX_FUZZ_ZONE_SIZE;
    sp->min_shift = 3;
    sp->addr = addr;

    if (ngx_shmtx_create(&sp->mutex, &sp->lock, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_slab_init(sp);

    sh = ngx_slab_alloc(sp, sizeof(ngx_http_foundry_limit_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->queue);

    lz->shpool = sp;
    lz->sh = sh;

    return NGX_OK;
}


static void
ngx_fuzz_done(ngx_http_foundry_redis_t *rd, const char *error)
{
    ngx_fuzz_ends++;

    ngx_http_foundry_fleet_done(rd, error);
}
