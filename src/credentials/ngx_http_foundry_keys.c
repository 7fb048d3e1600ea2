
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_tree.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>

#if (NGX_LINUX && defined __GLIBC__)
#include <malloc.h>
#endif

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_credentials.h"


/*
 * A key set is one position independent block: a header, the bucket
 * array, the keys, then their strings.  It is built in process memory
 * (when the configuration is read, or when a worker re-reads a changed
 * file) and copied whole into the shared zone, where it replaces the
 * previous set under the zone's mutex.  Keys are found by the SHA-256 of
 * the presented key; the file holds only those digests.
 */

typedef struct {
    ngx_http_foundry_keyset_t      *set;
    time_t                          mtime;
    off_t                           fsize;
    ngx_file_uniq_t                 uniq;
    time_t                          failed_mtime;
    off_t                           failed_fsize;
    time_t                          loading;
    time_t                          loaded;
    ngx_uint_t                      generation;
} ngx_http_foundry_keys_shctx_t;


/* what a worker's table entry was made with */

typedef struct {
    void                           *zone;
    ngx_uint_t                      generation;
} ngx_http_foundry_keys_tag_t;


static ngx_http_foundry_recent_t  ngx_http_foundry_keys_table;


static ngx_int_t ngx_http_foundry_key_copy(ngx_pool_t *pool, u_char *base,
    ngx_http_foundry_key_t *k, ngx_http_foundry_key_info_t *info);
static ngx_int_t ngx_http_foundry_keys_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_foundry_keys_install(
    ngx_http_foundry_keys_zone_t *kz, ngx_http_foundry_keyset_t *set,
    ngx_file_info_t *fi, ngx_log_t *log);
static ngx_int_t ngx_http_foundry_keys_read(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *name, ngx_file_info_t *fi, ngx_str_t *text);
static void ngx_http_foundry_keys_timer(ngx_event_t *ev);


/*
 * foundry_keys_zone name:size file=path [interval=time];
 */

char *
ngx_http_foundry_keys_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_main_conf_t *fmcf = conf;

    u_char                         err[NGX_MAX_CONF_ERRSTR];
    ngx_str_t                     *value, text;
    ngx_uint_t                     i;
    ngx_file_info_t                fi;
    ngx_http_foundry_keys_zone_t  *kz, **kzp;

    value = cf->args->elts;

    kz = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_keys_zone_t));
    if (kz == NULL) {
        return NGX_CONF_ERROR;
    }

    kz->shm_zone = ngx_http_foundry_zone_add(cf, &value[1],
                                             ngx_http_foundry_keys_init_zone,
                                             kz);
    if (kz->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    kz->name = kz->shm_zone->shm.name;

    kz->interval = NGX_CONF_UNSET_MSEC;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "file=", 5) == 0) {
            kz->file.data = value[i].data + 5;
            kz->file.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0) {
            if (ngx_http_foundry_conf_msec(cf, &value[i], 9, &kz->interval)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive, "
                           "expected \"file=\" or \"interval=\"",
                           &value[i], &value[0]);
        return NGX_CONF_ERROR;
    }

    if (kz->file.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"file=\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &kz->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* the file is read and checked now: a broken one fails "nginx -t" */

    if (ngx_http_foundry_keys_read(cf->temp_pool, cf->log, &kz->file, &fi,
                                   &text)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read keys file \"%V\"", &kz->file);
        ngx_http_foundry_metrics_count(NGX_HTTP_FOUNDRY_M_KEYS, "zone",
                                       &kz->name, "failed");
        return NGX_CONF_ERROR;
    }

    err[0] = '\0';

    kz->conf_pool = cf->pool;
    kz->conf_set = ngx_http_foundry_keyset_build(cf->pool, text.data, err,
                                                 sizeof(err));
    if (kz->conf_set == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid keys file \"%V\": %s", &kz->file, err);
        ngx_http_foundry_metrics_count(NGX_HTTP_FOUNDRY_M_KEYS, "zone",
                                       &kz->name, "failed");
        return NGX_CONF_ERROR;
    }

    kz->conf_fi = fi;

    kzp = ngx_array_push(&fmcf->key_zones);
    if (kzp == NULL) {
        return NGX_CONF_ERROR;
    }

    *kzp = kz;

    return NGX_CONF_OK;
}


/* the key store of a location */

char *
ngx_http_foundry_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t       *value;
    ngx_shm_zone_t  *shm_zone;

    if (flcf->access->keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        flcf->access->keys = NULL;
        return NGX_CONF_OK;
    }

    shm_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                     &ngx_http_foundry_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    flcf->access->keys = shm_zone;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_foundry_keys_check_zone(ngx_conf_t *cf, ngx_shm_zone_t *shm_zone)
{
    if (shm_zone->data == NULL
        || shm_zone->init != ngx_http_foundry_keys_init_zone)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown foundry_keys_zone \"%V\"",
                           &shm_zone->shm.name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_keys_read(ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *name,
    ngx_file_info_t *fi, ngx_str_t *text)
{
    ssize_t     n;
    ngx_file_t  file;

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = *name;
    file.log = log;

    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

    if (ngx_fd_info(file.fd, fi) == NGX_FILE_ERROR
        || ngx_file_size(fi) > NGX_HTTP_FOUNDRY_MAX_KEYS_FILE)
    {
        goto failed;
    }

    text->len = (size_t) ngx_file_size(fi);
    text->data = ngx_pnalloc(pool, text->len + 1);
    if (text->data == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, text->data, text->len, 0);

    if (n == NGX_ERROR || (size_t) n != text->len) {
        goto failed;
    }

    text->data[text->len] = '\0';

    ngx_close_file(file.fd);

    return NGX_OK;

failed:

    ngx_close_file(file.fd);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_foundry_keys_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_foundry_keys_zone_t  *okz = data;

    size_t                         len;
    ngx_http_foundry_keys_zone_t  *kz;

    kz = shm_zone->data;

    if (okz) {
        kz->sh = okz->sh;
        kz->shpool = okz->shpool;

    } else {
        kz->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        if (shm_zone->shm.exists) {
            kz->sh = kz->shpool->data;
            return NGX_OK;
        }

        kz->sh = ngx_slab_calloc(kz->shpool,
                                 sizeof(ngx_http_foundry_keys_shctx_t));
        if (kz->sh == NULL) {
            return NGX_ERROR;
        }

        kz->shpool->data = kz->sh;

        len = sizeof(" in foundry_keys_zone \"\"") + shm_zone->shm.name.len;

        kz->shpool->log_ctx = ngx_slab_alloc(kz->shpool, len);
        if (kz->shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(kz->shpool->log_ctx, " in foundry_keys_zone \"%V\"%Z",
                    &shm_zone->shm.name);
    }

    /* the keys read with this configuration replace those in the zone */

    if (ngx_http_foundry_keys_install(kz, kz->conf_set, &kz->conf_fi,
                                      shm_zone->shm.log)
        != NGX_OK)
    {
        ngx_http_foundry_metrics_count(NGX_HTTP_FOUNDRY_M_KEYS, "zone",
                                       &kz->name, "failed");
        return NGX_ERROR;
    }

    /* the zone has them now: the configuration's copy is not kept */

    (void) ngx_pfree(kz->conf_pool, kz->conf_set);
    kz->conf_set = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_keys_install(ngx_http_foundry_keys_zone_t *kz,
    ngx_http_foundry_keyset_t *set, ngx_file_info_t *fi, ngx_log_t *log)
{
    ngx_http_foundry_keyset_t      *copy;
    ngx_http_foundry_keys_shctx_t  *sh;

    sh = kz->sh;

    ngx_shmtx_lock(&kz->shpool->mutex);

    copy = ngx_slab_alloc_locked(kz->shpool, set->size);

    if (copy == NULL) {
        ngx_shmtx_unlock(&kz->shpool->mutex);

        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "foundry_keys_zone \"%V\" is too small for the %uD "
                      "keys of \"%V\": they need %uz bytes, and the zone "
                      "holds the previous keys while it loads new ones",
                      &kz->name, set->nkeys, &kz->file, set->size);
        return NGX_ERROR;
    }

    ngx_memcpy(copy, set, set->size);

    if (sh->set) {
        ngx_slab_free_locked(kz->shpool, sh->set);
    }

    sh->set = copy;
    sh->mtime = ngx_file_mtime(fi);
    sh->fsize = ngx_file_size(fi);
    sh->uniq = ngx_file_uniq(fi);
    sh->failed_mtime = 0;
    sh->failed_fsize = 0;
    sh->loaded = ngx_time();
    sh->generation++;

    ngx_shmtx_unlock(&kz->shpool->mutex);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "foundry_keys_zone \"%V\": %uD keys loaded from \"%V\"",
                  &kz->name, copy->nkeys, &kz->file);

    return NGX_OK;
}


ngx_int_t
ngx_http_foundry_keys_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_event_t                    *ev;
    ngx_http_foundry_main_conf_t   *fmcf;
    ngx_http_foundry_keys_zone_t  **kz;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_foundry_module);
    if (fmcf == NULL) {
        return NGX_OK;
    }

    kz = fmcf->key_zones.elts;

    /*
     * what the master freed after building the key sets (the files'
     * text, with its configuration's temporary pool) is given back here
     */

    if (fmcf->key_zones.nelts) {
        ngx_http_foundry_keys_trim();
    }

    for (i = 0; i < fmcf->key_zones.nelts; i++) {

        if (kz[i]->interval == NGX_CONF_UNSET_MSEC) {
            continue;
        }

        ev = ngx_pcalloc(cycle->pool, sizeof(ngx_event_t));
        if (ev == NULL) {
            return NGX_ERROR;
        }

        ev->handler = ngx_http_foundry_keys_timer;
        ev->data = kz[i];
        ev->log = cycle->log;
        ev->cancelable = 1;

        ngx_add_timer(ev, kz[i]->interval);
    }

    return NGX_OK;
}


/*
 * Every interval, each worker looks at the file; the first one to see it
 * changed reads it and installs the new keys for all.  A file that does
 * not load leaves the keys in place, and is reported once.
 */

static void
ngx_http_foundry_keys_timer(ngx_event_t *ev)
{
    u_char                          msg[NGX_MAX_ERROR_STR];
    ngx_err_t                       err;
    ngx_str_t                       text;
    ngx_pool_t                     *pool;
    ngx_uint_t                      load;
    ngx_file_info_t                 fi;
    ngx_http_foundry_keyset_t      *set;
    ngx_http_foundry_keys_zone_t   *kz;
    ngx_http_foundry_keys_shctx_t  *sh;

    kz = ev->data;
    sh = kz->sh;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, kz->interval);

    if (ngx_file_info(kz->file.data, &fi) == NGX_FILE_ERROR) {
        err = ngx_errno;

        /* once per worker and cause: workers may not read what root can */

        if (err != kz->stat_err) {
            ngx_log_error(NGX_LOG_ERR, ev->log, err,
                          "foundry_keys_zone \"%V\": " ngx_file_info_n
                          " \"%V\" failed, the file is not watched",
                          &kz->name, &kz->file);
            kz->stat_err = err;
        }

        return;
    }

    kz->stat_err = 0;

    ngx_shmtx_lock(&kz->shpool->mutex);

    load = (ngx_file_mtime(&fi) != sh->mtime
            || ngx_file_size(&fi) != sh->fsize
            || ngx_file_uniq(&fi) != sh->uniq)
           && !(ngx_file_mtime(&fi) == sh->failed_mtime
                && ngx_file_size(&fi) == sh->failed_fsize)
           && (sh->loading == 0 || ngx_time() - sh->loading > 60);

    if (load) {
        sh->loading = ngx_time();
    }

    ngx_shmtx_unlock(&kz->shpool->mutex);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "foundry keys timer: mtime %T size %O, zone %T %O",
                   ngx_file_mtime(&fi), ngx_file_size(&fi), sh->mtime,
                   sh->fsize);

    if (!load) {
        return;
    }

    msg[0] = '\0';
    set = NULL;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ev->log);

    if (pool != NULL) {
        if (ngx_http_foundry_keys_read(pool, ev->log, &kz->file, &fi, &text)
            != NGX_OK)
        {
            ngx_snprintf(msg, sizeof(msg), "cannot read it%Z");

        } else {
            set = ngx_http_foundry_keyset_build(pool, text.data, msg,
                                                sizeof(msg));
        }
    }

    if (set == NULL
        || ngx_http_foundry_keys_install(kz, set, &fi, ev->log) != NGX_OK)
    {
        if (set == NULL) {
            ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                          "foundry_keys_zone \"%V\": \"%V\" changed but is "
                          "not valid, the previous keys stay: %s",
                          &kz->name, &kz->file, msg);
        }

        ngx_shmtx_lock(&kz->shpool->mutex);
        sh->failed_mtime = ngx_file_mtime(&fi);
        sh->failed_fsize = ngx_file_size(&fi);
        ngx_shmtx_unlock(&kz->shpool->mutex);

        ngx_http_foundry_metrics_count(NGX_HTTP_FOUNDRY_M_KEYS, "zone",
                                       &kz->name, "failed");

    } else {
        ngx_http_foundry_metrics_count(NGX_HTTP_FOUNDRY_M_KEYS, "zone",
                                       &kz->name, "ok");
    }

    ngx_shmtx_lock(&kz->shpool->mutex);
    sh->loading = 0;
    ngx_shmtx_unlock(&kz->shpool->mutex);

    if (pool) {
        ngx_destroy_pool(pool);
    }
}


/*
 * Finds the presented key.  Under the zone's mutex, the entry is copied
 * out of the set, so a reload can replace the set at any time.  Returns
 * NGX_OK, NGX_DECLINED for an unknown key, or NGX_ERROR.
 *
 * Each worker also keeps the keys it found last (ngx_http_foundry_local.c)
 * with their entries, tagged with the zone and the set's generation: a key
 * found there, of the set the zone has now, needs no SHA-256, no lock and
 * no copy.
 */

ngx_int_t
ngx_http_foundry_key_lookup(ngx_http_request_t *r, ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_http_foundry_key_info_t *info)
{
    u_char                          digest[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    u_char                         *base;
    uint32_t                        i, found, hash;
    ngx_http_foundry_key_t         *k, *keys;
    ngx_http_foundry_keyset_t      *set;
    ngx_http_foundry_key_info_t    *copy;
    ngx_http_foundry_keys_zone_t   *kz;
    ngx_http_foundry_keys_tag_t     tag;
    ngx_http_foundry_recent_slot_t *slot;

    kz = shm_zone->data;

    ngx_memzero(&tag, sizeof(ngx_http_foundry_keys_tag_t));
    tag.zone = kz;
    tag.generation = ((volatile ngx_http_foundry_keys_shctx_t *) kz->sh)
                         ->generation;

    hash = ngx_http_foundry_local_hash(key);

    slot = ngx_http_foundry_local_find(&ngx_http_foundry_keys_table, key,
                                       hash);

    if (slot && ngx_memcmp(slot->tag, &tag, sizeof(tag)) == 0) {
        if (ngx_http_foundry_local_hold(r, slot) != NGX_OK) {
            return NGX_ERROR;
        }

        *info = *(ngx_http_foundry_key_info_t *) slot->value;

        return NGX_OK;
    }

    if (ngx_http_foundry_sha256(key, 1, digest) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&kz->shpool->mutex);

    set = ((ngx_http_foundry_keys_shctx_t *) kz->sh)->set;
    tag.generation = ((ngx_http_foundry_keys_shctx_t *) kz->sh)->generation;
    base = (u_char *) set;
    keys = (ngx_http_foundry_key_t *) (base + set->keys);

    found = 0;

    i = ((uint32_t *) (base + set->buckets))
            [ngx_http_foundry_key_bucket(digest, set->nbuckets)];

    for ( /* void */ ; i; i = keys[i - 1].next) {
        if (CRYPTO_memcmp(keys[i - 1].digest, digest,
                          NGX_HTTP_FOUNDRY_DIGEST_LEN)
            == 0)
        {
            found = i;
        }
    }

    if (!found) {
        ngx_shmtx_unlock(&kz->shpool->mutex);
        ngx_explicit_memzero(digest, sizeof(digest));
        return NGX_DECLINED;
    }

    k = &keys[found - 1];

    /*
     * the entry is copied into a slot of the worker's table (its pool
     * made under the lock: only for a key that exists), or, when the slot
     * is in use, into the request's pool
     */

    slot = ngx_http_foundry_local_add(&ngx_http_foundry_keys_table, key,
                                      hash, 1024);

    copy = slot ? ngx_palloc(slot->pool, sizeof(ngx_http_foundry_key_info_t))
                : info;

    if (copy == NULL
        || ngx_http_foundry_key_copy(slot ? slot->pool : r->pool, base, k,
                                     copy)
           != NGX_OK)
    {
        ngx_shmtx_unlock(&kz->shpool->mutex);
        ngx_explicit_memzero(digest, sizeof(digest));

        if (slot) {
            ngx_http_foundry_local_drop(slot);
        }

        return NGX_ERROR;
    }

    ngx_shmtx_unlock(&kz->shpool->mutex);
    ngx_explicit_memzero(digest, sizeof(digest));

    if (slot) {
        ngx_memcpy(slot->tag, &tag, sizeof(tag));
        slot->value = copy;

        if (ngx_http_foundry_local_hold(r, slot) != NGX_OK) {
            return NGX_ERROR;
        }

        *info = *copy;
    }

    return NGX_OK;
}


/* a key's entry, out of the set into "pool" */

static ngx_int_t
ngx_http_foundry_key_copy(ngx_pool_t *pool, u_char *base,
    ngx_http_foundry_key_t *k, ngx_http_foundry_key_info_t *info)
{
    uint32_t                  j;
    ngx_str_t                *s;
    ngx_keyval_t             *kv;
    ngx_http_foundry_kstr_t  *ks;

    info->disabled = k->disabled;
    info->operations = k->operations;
    info->not_before = (time_t) k->not_before;
    info->expires = (time_t) k->expires;
    info->deployments = NULL;
    info->meta = NULL;
    info->zone = NULL;

    info->name.len = k->name.len;
    info->name.data = ngx_pnalloc(pool, k->name.len);
    if (info->name.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(info->name.data, base + k->name.off, k->name.len);

    if (k->ndeployments) {
        info->deployments = ngx_array_create(pool, k->ndeployments,
                                             sizeof(ngx_str_t));
        if (info->deployments == NULL) {
            return NGX_ERROR;
        }

        ks = (ngx_http_foundry_kstr_t *) (base + k->deployments);

        for (j = 0; j < k->ndeployments; j++) {
            s = ngx_array_push(info->deployments);
            if (s == NULL) {
                return NGX_ERROR;
            }

            s->len = ks[j].len;
            s->data = ngx_pnalloc(pool, s->len);
            if (s->data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(s->data, base + ks[j].off, s->len);
        }
    }

    if (k->nmeta) {
        info->meta = ngx_array_create(pool, k->nmeta,
                                      sizeof(ngx_keyval_t));
        if (info->meta == NULL) {
            return NGX_ERROR;
        }

        ks = (ngx_http_foundry_kstr_t *) (base + k->meta);

        for (j = 0; j < k->nmeta; j++) {
            kv = ngx_array_push(info->meta);
            if (kv == NULL) {
                return NGX_ERROR;
            }

            kv->key.len = ks[2 * j].len;
            kv->value.len = ks[2 * j + 1].len;
            kv->key.data = ngx_pnalloc(pool,
                                       kv->key.len + kv->value.len + 1);
            if (kv->key.data == NULL) {
                return NGX_ERROR;
            }

            kv->value.data = kv->key.data + kv->key.len;
            ngx_memcpy(kv->key.data, base + ks[2 * j].off, kv->key.len);
            ngx_memcpy(kv->value.data, base + ks[2 * j + 1].off,
                       kv->value.len);
        }
    }

    return NGX_OK;
}


/*
 * Whether a key may use a deployment: no list means every deployment;
 * names compare as deployments do (case-insensitively), "~" starts a
 * regular expression, compiled once per worker and kept in the zone's
 * cache.
 */

ngx_int_t
ngx_http_foundry_key_allows(ngx_http_request_t *r, ngx_shm_zone_t *shm_zone,
    ngx_http_foundry_key_info_t *info, ngx_str_t *deployment)
{
    ngx_int_t                      rc;
    ngx_str_t                     *s;
    ngx_uint_t                     i;
    ngx_regex_t                   *re;
    ngx_http_foundry_keys_zone_t  *kz;

    if (info->deployments == NULL) {
        return 1;
    }

    kz = shm_zone->data;
    s = info->deployments->elts;

    for (i = 0; i < info->deployments->nelts; i++) {

        if (s[i].data[0] != '~') {
            /* the same bytes first, the usual case; then any case */

            if (s[i].len == deployment->len
                && (ngx_memcmp(s[i].data, deployment->data, s[i].len) == 0
                    || ngx_strncasecmp(s[i].data, deployment->data, s[i].len)
                       == 0))
            {
                return 1;
            }

            continue;
        }

        if (kz->regexes.pool == NULL) {
            ngx_http_foundry_regex_cache_init(&kz->regexes,
                                              ngx_cycle->pool);
        }

        re = ngx_http_foundry_regex_get(&kz->regexes, &s[i]);
        if (re == NULL) {
            continue;
        }

        rc = ngx_regex_exec(re, deployment, NULL, 0);

        if (rc >= 0) {
            return 1;
        }

        if (rc != NGX_REGEX_NO_MATCHED) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          ngx_regex_exec_n " failed: %i on \"%V\" using "
                          "\"%V\"", rc, deployment, &s[i]);
        }
    }

    return 0;
}
