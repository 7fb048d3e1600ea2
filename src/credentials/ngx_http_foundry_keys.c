
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
    uint32_t                        off;
    uint32_t                        len;
} ngx_http_foundry_kstr_t;


typedef struct {
    u_char                          digest[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    uint32_t                        next;
    uint32_t                        ndeployments;
    uint32_t                        nmeta;
    uint32_t                        disabled;
    ngx_http_foundry_kstr_t         name;
    uint32_t                        deployments;
    uint32_t                        meta;
    uint32_t                        operations;
    int64_t                         not_before;
    int64_t                         expires;
} ngx_http_foundry_key_t;


struct ngx_http_foundry_keyset_s {
    size_t                          size;
    uint32_t                        nkeys;
    uint32_t                        nbuckets;
    uint32_t                        buckets;
    uint32_t                        keys;
};


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


static ngx_http_foundry_local_t  ngx_http_foundry_keys_table;


/* a key entry while the file is being read */

typedef struct {
    u_char                          digest[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    ngx_str_t                       name;
    ngx_array_t                    *deployments;
    ngx_array_t                    *meta;
    uint32_t                        operations;
    int64_t                         not_before;
    int64_t                         expires;
    ngx_uint_t                      disabled;
} ngx_http_foundry_key_entry_t;


#define ngx_http_foundry_keyset_ptr(set, off)                                 \
    ((u_char *) (set) + (off))


static void ngx_http_foundry_keys_trim(void);
static ngx_int_t ngx_http_foundry_key_copy(ngx_pool_t *pool, u_char *base,
    ngx_http_foundry_key_t *k, ngx_http_foundry_key_info_t *info);
static char *ngx_http_foundry_key_entry(ngx_pool_t *pool,
    ngx_http_foundry_regex_cache_t *cache, yajl_val v,
    ngx_http_foundry_key_entry_t *e);
static char *ngx_http_foundry_key_deployments(ngx_pool_t *pool,
    ngx_http_foundry_regex_cache_t *cache, yajl_val f,
    ngx_http_foundry_key_entry_t *e);
static char *ngx_http_foundry_key_metadata(ngx_pool_t *pool, yajl_val f,
    ngx_http_foundry_key_entry_t *e);
static char *ngx_http_foundry_key_operations(ngx_pool_t *pool, yajl_val f,
    ngx_http_foundry_key_entry_t *e);
static char *ngx_http_foundry_key_time(yajl_val v, int64_t *t);
static char *ngx_http_foundry_key_digest(yajl_val v, u_char *digest);
static ngx_int_t ngx_http_foundry_key_str(ngx_pool_t *pool, yajl_val v,
    ngx_str_t *s, size_t max);
static uint32_t ngx_http_foundry_key_bucket(u_char *digest,
    uint32_t nbuckets);
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
    ngx_str_t                     *value, s, text;
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
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            kz->interval = ngx_parse_time(&s, 0);

            if (kz->interval == (ngx_msec_t) NGX_ERROR || kz->interval == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\" in \"%V\" directive",
                                   &value[i], &value[0]);
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

    if (flcf->keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        flcf->keys = NULL;
        return NGX_CONF_OK;
    }

    shm_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                     &ngx_http_foundry_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    flcf->keys = shm_zone;

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


/*
 * The keys file:
 *
 *   {"keys": [{"name": "team-a",
 *              "sha256": "<hex or base64 of the SHA-256 of the key>",
 *              "deployments": ["gpt-4o", "~^gpt-4o-"],
 *              "operations": ["chat/completions", "embeddings"],
 *              "not_before": "2025-01-01T00:00:00Z", "expires": 1767225600,
 *              "disabled": false,
 *              "metadata": {"team": "a", "tpm": 100000}}]}
 *
 * or the array alone.
 */

ngx_http_foundry_keyset_t *
ngx_http_foundry_keyset_build(ngx_pool_t *pool, u_char *text, u_char *err,
    size_t errlen)
{
    char                            *msg, errbuf[256];
    u_char                          *p;
    size_t                           size, i, j, n;
    uint32_t                         b, *buckets;
    yajl_val                         root, arr;
    ngx_str_t                       *s;
    ngx_keyval_t                    *kv;
    ngx_http_foundry_key_t          *k;
    ngx_http_foundry_kstr_t         *ks;
    ngx_http_foundry_keyset_t       *set;
    ngx_http_foundry_key_entry_t    *e;
    ngx_pool_t                      *tmp;
    ngx_http_foundry_regex_cache_t   cache;
    const char                      *keys_path[] = { "keys", NULL };

    errbuf[0] = '\0';

    /*
     * the entries are made in a pool of their own, gone once the set is
     * built: with 100,000 keys they are about 100 MB, which would stay in
     * every process for as long as the configuration lives
     */

    tmp = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, pool->log);
    if (tmp == NULL) {
        ngx_snprintf(err, errlen, "out of memory%Z");
        return NULL;
    }

    /*
     * (the patterns are compiled in "pool": at configuration time nginx
     * keeps a list of the regexes compiled, to JIT-compile and free them
     * with the cycle)
     */

    ngx_http_foundry_regex_cache_init(&cache, pool);

    set = NULL;

    root = yajl_tree_parse((const char *) text, errbuf, sizeof(errbuf));
    if (root == NULL) {
        ngx_http_foundry_json_error_line(errbuf);
        ngx_snprintf(err, errlen, "%s%Z", errbuf);
        goto done;
    }

    arr = YAJL_IS_OBJECT(root) ? yajl_tree_get(root, keys_path, yajl_t_array)
                               : root;

    if (arr == NULL || !YAJL_IS_ARRAY(arr)) {
        ngx_snprintf(err, errlen, "expected an array of keys, or an object "
                     "with a \"keys\" array%Z");
        yajl_tree_free(root);
        goto done;
    }

    n = YAJL_GET_ARRAY(arr)->len;

    e = ngx_pcalloc(tmp, (n ? n : 1) * sizeof(ngx_http_foundry_key_entry_t));
    if (e == NULL) {
        yajl_tree_free(root);
        goto done;
    }

    size = sizeof(ngx_http_foundry_keyset_t);

    for (i = 0; i < n; i++) {
        msg = ngx_http_foundry_key_entry(tmp, &cache,
                                         YAJL_GET_ARRAY(arr)->values[i],
                                         &e[i]);
        if (msg) {
            if (e[i].name.len) {
                ngx_snprintf(err, errlen, "key #%uz (\"%V\"): %s%Z", i + 1,
                             &e[i].name, msg);

            } else {
                ngx_snprintf(err, errlen, "key #%uz: %s%Z", i + 1, msg);
            }

            yajl_tree_free(root);
            goto done;
        }

        size += e[i].name.len;

        if (e[i].deployments) {
            size += 8 + e[i].deployments->nelts
                        * sizeof(ngx_http_foundry_kstr_t);
            s = e[i].deployments->elts;

            for (j = 0; j < e[i].deployments->nelts; j++) {
                size += s[j].len;
            }
        }

        if (e[i].meta) {
            size += 8 + e[i].meta->nelts * 2
                        * sizeof(ngx_http_foundry_kstr_t);
            kv = e[i].meta->elts;

            for (j = 0; j < e[i].meta->nelts; j++) {
                size += kv[j].key.len + kv[j].value.len;
            }
        }
    }

    yajl_tree_free(root);

    /* a power of two of buckets, about one per key */

    for (b = 16; b < n && b < 0x40000000; b <<= 1) { /* void */ }

    size = ngx_align(size, 8) + b * sizeof(uint32_t)
           + n * sizeof(ngx_http_foundry_key_t) + 8;

    if (size > 0xffffffff) {
        ngx_snprintf(err, errlen, "too many keys%Z");
        goto done;
    }

    set = ngx_pcalloc(pool, size);
    if (set == NULL) {
        ngx_snprintf(err, errlen, "out of memory%Z");
        goto done;
    }

    set->size = size;
    set->nkeys = n;
    set->nbuckets = b;
    set->buckets = ngx_align(sizeof(ngx_http_foundry_keyset_t), 8);
    set->keys = set->buckets + b * sizeof(uint32_t);

    buckets = (uint32_t *) ngx_http_foundry_keyset_ptr(set, set->buckets);
    k = (ngx_http_foundry_key_t *) ngx_http_foundry_keyset_ptr(set,
                                                                set->keys);
    p = (u_char *) (k + n);

#define ngx_http_foundry_keyset_str(dst, src)                                 \
    (dst)->off = p - (u_char *) set;                                          \
    (dst)->len = (src)->len;                                                  \
    p = ngx_cpymem(p, (src)->data, (src)->len)

    for (i = 0; i < n; i++) {
        ngx_memcpy(k[i].digest, e[i].digest, NGX_HTTP_FOUNDRY_DIGEST_LEN);
        k[i].disabled = e[i].disabled;
        k[i].operations = e[i].operations;
        k[i].not_before = e[i].not_before;
        k[i].expires = e[i].expires;

        ngx_http_foundry_keyset_str(&k[i].name, &e[i].name);

        if (e[i].deployments) {
            p = ngx_align_ptr(p, 8);
            k[i].ndeployments = e[i].deployments->nelts;
            k[i].deployments = p - (u_char *) set;
            ks = (ngx_http_foundry_kstr_t *) p;
            p += k[i].ndeployments * sizeof(ngx_http_foundry_kstr_t);
            s = e[i].deployments->elts;

            for (j = 0; j < k[i].ndeployments; j++) {
                ngx_http_foundry_keyset_str(&ks[j], &s[j]);
            }
        }

        if (e[i].meta) {
            p = ngx_align_ptr(p, 8);
            k[i].nmeta = e[i].meta->nelts;
            k[i].meta = p - (u_char *) set;
            ks = (ngx_http_foundry_kstr_t *) p;
            p += k[i].nmeta * 2 * sizeof(ngx_http_foundry_kstr_t);
            kv = e[i].meta->elts;

            for (j = 0; j < k[i].nmeta; j++) {
                ngx_http_foundry_keyset_str(&ks[2 * j], &kv[j].key);
                ngx_http_foundry_keyset_str(&ks[2 * j + 1], &kv[j].value);
            }
        }

        /* chain into the bucket; the same digest twice is an error */

        b = ngx_http_foundry_key_bucket(k[i].digest, set->nbuckets);

        for (j = buckets[b]; j; j = k[j - 1].next) {
            if (ngx_memcmp(k[j - 1].digest, k[i].digest,
                           NGX_HTTP_FOUNDRY_DIGEST_LEN)
                == 0)
            {
                ngx_snprintf(err, errlen, "key #%uz (\"%V\") has the same "
                             "sha256 as key #%uz%Z", i + 1, &e[i].name,
                             (size_t) j);

                /* (the set is in "pool", whose owner frees it) */
                set = NULL;
                goto done;
            }
        }

        k[i].next = buckets[b];
        buckets[b] = i + 1;
    }

#undef ngx_http_foundry_keyset_str

done:

    ngx_destroy_pool(tmp);

    ngx_http_foundry_keys_trim();

    return set;
}


/*
 * The memory of a keys file just parsed (yajl's tree, the entries) goes
 * back to the system: glibc keeps a freed heap otherwise
 */

static void
ngx_http_foundry_keys_trim(void)
{
#if (NGX_LINUX && defined __GLIBC__)
    (void) malloc_trim(0);
#endif
}


static char *
ngx_http_foundry_key_entry(ngx_pool_t *pool,
    ngx_http_foundry_regex_cache_t *cache, yajl_val v,
    ngx_http_foundry_key_entry_t *e)
{
    char        *msg;
    size_t       i;
    yajl_val     f;
    ngx_uint_t   digest;
    const char  *key;
    const char  *name_path[] = { "name", NULL };

    if (!YAJL_IS_OBJECT(v)) {
        return "not an object";
    }

    digest = 0;
    e->operations = NGX_HTTP_FOUNDRY_OPS_ALL;

    /* the name first, so that messages can name the entry */

    f = yajl_tree_get(v, name_path, yajl_t_any);

    if (f) {
        if (!YAJL_IS_STRING(f)
            || ngx_http_foundry_key_str(pool, f, &e->name, 128) != NGX_OK
            || ngx_http_foundry_valid_name(&e->name) != NGX_OK)
        {
            ngx_str_null(&e->name);
            return "\"name\" must be a string of letters, digits, "
                   "\"-\", \"_\", \".\" and \":\", at most 128";
        }
    }

    for (i = 0; i < YAJL_GET_OBJECT(v)->len; i++) {
        key = YAJL_GET_OBJECT(v)->keys[i];
        f = YAJL_GET_OBJECT(v)->values[i];

        if (ngx_strcmp(key, "name") == 0) {
            msg = NULL;

        } else if (ngx_strcmp(key, "sha256") == 0) {
            msg = ngx_http_foundry_key_digest(f, e->digest);
            digest = 1;

        } else if (ngx_strcmp(key, "not_before") == 0) {
            msg = ngx_http_foundry_key_time(f, &e->not_before);

        } else if (ngx_strcmp(key, "expires") == 0) {
            msg = ngx_http_foundry_key_time(f, &e->expires);

        } else if (ngx_strcmp(key, "disabled") == 0) {
            msg = (YAJL_IS_TRUE(f) || YAJL_IS_FALSE(f))
                  ? NULL : "\"disabled\" must be true or false";
            e->disabled = YAJL_IS_TRUE(f) ? 1 : 0;

        } else if (ngx_strcmp(key, "deployments") == 0) {
            msg = ngx_http_foundry_key_deployments(pool, cache, f, e);

        } else if (ngx_strcmp(key, "metadata") == 0) {
            msg = ngx_http_foundry_key_metadata(pool, f, e);

        } else if (ngx_strcmp(key, "operations") == 0) {
            msg = ngx_http_foundry_key_operations(pool, f, e);

        } else {
            msg = "unknown field (expected \"name\", \"sha256\", "
                  "\"deployments\", \"operations\", \"not_before\", "
                  "\"expires\", \"disabled\" and \"metadata\")";
        }

        if (msg) {
            return msg;
        }
    }

    if (e->name.len == 0) {
        return "\"name\" is missing";
    }

    if (!digest) {
        return "\"sha256\" is missing";
    }

    return NULL;
}


static char *
ngx_http_foundry_key_deployments(ngx_pool_t *pool,
    ngx_http_foundry_regex_cache_t *cache, yajl_val f,
    ngx_http_foundry_key_entry_t *e)
{
    size_t      i;
    yajl_val    item;
    ngx_str_t  *s;

    static char  *bad = "\"deployments\" must be an array of names and "
                        "\"~regex\" patterns";

    if (!YAJL_IS_ARRAY(f)) {
        return bad;
    }

    e->deployments = ngx_array_create(pool, YAJL_GET_ARRAY(f)->len + 1,
                                      sizeof(ngx_str_t));
    if (e->deployments == NULL) {
        return "out of memory";
    }

    for (i = 0; i < YAJL_GET_ARRAY(f)->len; i++) {
        item = YAJL_GET_ARRAY(f)->values[i];

        s = ngx_array_push(e->deployments);
        if (s == NULL) {
            return "out of memory";
        }

        if (!YAJL_IS_STRING(item)
            || ngx_http_foundry_key_str(pool, item, s, 1024) != NGX_OK
            || s->len == 0)
        {
            return bad;
        }

        if (s->data[0] == '~'
            && ngx_http_foundry_regex_get(cache, s) == NULL)
        {
            return "a \"deployments\" pattern is not a valid regular "
                   "expression";
        }
    }

    return NULL;
}


/* the operations the key may use, by the names of foundry_operations */

static char *
ngx_http_foundry_key_operations(ngx_pool_t *pool, yajl_val f,
    ngx_http_foundry_key_entry_t *e)
{
    u_char     *msg;
    size_t      i, len;
    yajl_val    item;
    ngx_str_t   name;

    static char  *bad = "\"operations\" must be an array of operation "
                        "names";

    if (!YAJL_IS_ARRAY(f)) {
        return bad;
    }

    e->operations = 0;

    for (i = 0; i < YAJL_GET_ARRAY(f)->len; i++) {
        item = YAJL_GET_ARRAY(f)->values[i];

        if (!YAJL_IS_STRING(item)) {
            return bad;
        }

        name.data = (u_char *) YAJL_GET_STRING(item);
        name.len = ngx_strlen(name.data);

        if (ngx_http_foundry_operation_mask(&name, &e->operations)
            == NGX_OK)
        {
            continue;
        }

        /* the message names it, cut to 64 bytes; the pool is the entries' */

        len = sizeof("unknown operation \"\" in \"operations\", expected "
                     "\"default\" or ") + 64 + 512;

        msg = ngx_pnalloc(pool, len);
        if (msg == NULL) {
            return "out of memory";
        }

        ngx_snprintf(msg, len, "unknown operation \"%*s\" in \"operations\", "
                     "expected \"default\" or %s%Z",
                     ngx_min(name.len, 64), name.data,
                     ngx_http_foundry_operation_list());

        return (char *) msg;
    }

    return NULL;
}


/* metadata: scalar values, kept as text, named for $foundry_key_meta_* */

static char *
ngx_http_foundry_key_metadata(ngx_pool_t *pool, yajl_val f,
    ngx_http_foundry_key_entry_t *e)
{
    u_char        *p;
    size_t         i;
    yajl_val       item;
    ngx_str_t      name;
    ngx_keyval_t  *kv;

    if (!YAJL_IS_OBJECT(f)) {
        return "\"metadata\" must be an object";
    }

    e->meta = ngx_array_create(pool, YAJL_GET_OBJECT(f)->len + 1,
                               sizeof(ngx_keyval_t));
    if (e->meta == NULL) {
        return "out of memory";
    }

    for (i = 0; i < YAJL_GET_OBJECT(f)->len; i++) {
        name.data = (u_char *) YAJL_GET_OBJECT(f)->keys[i];
        name.len = ngx_strlen(name.data);
        item = YAJL_GET_OBJECT(f)->values[i];

        if (name.len == 0 || name.len > 64) {
            return "a \"metadata\" name is empty or too long";
        }

        for (p = name.data; p < name.data + name.len; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '_'))
            {
                return "\"metadata\" names are letters, digits and \"_\"";
            }
        }

        kv = ngx_array_push(e->meta);
        if (kv == NULL) {
            return "out of memory";
        }

        kv->key.len = name.len;
        kv->key.data = ngx_pnalloc(pool, name.len);
        if (kv->key.data == NULL) {
            return "out of memory";
        }

        ngx_strlow(kv->key.data, name.data, name.len);

        if (YAJL_IS_STRING(item)) {
            if (ngx_http_foundry_key_str(pool, item, &kv->value, 4096)
                != NGX_OK)
            {
                return "a \"metadata\" value is too long";
            }

        } else if (YAJL_IS_NUMBER(item)) {
            kv->value.data = (u_char *) YAJL_GET_NUMBER(item);
            kv->value.len = ngx_strlen(kv->value.data);
            kv->value.data = ngx_pstrdup(pool, &kv->value);
            if (kv->value.data == NULL) {
                return "out of memory";
            }

        } else if (YAJL_IS_TRUE(item)) {
            ngx_str_set(&kv->value, "true");

        } else if (YAJL_IS_FALSE(item)) {
            ngx_str_set(&kv->value, "false");

        } else {
            return "\"metadata\" values must be strings, numbers or "
                   "booleans";
        }
    }

    return NULL;
}


/* a Unix time, or an RFC 3339 time such as "2025-01-01T00:00:00Z" */

static char *
ngx_http_foundry_key_time(yajl_val v, int64_t *t)
{
    u_char     *p;
    ngx_int_t   y, mo, d, h, mi, s, off;
    ngx_tm_t    tm;

    static char  *bad = "times must be Unix times or RFC 3339 times "
                        "(\"2025-01-01T00:00:00Z\")";

    if (YAJL_IS_INTEGER(v)) {
        *t = YAJL_GET_INTEGER(v);
        return *t > 0 ? NULL : bad;
    }

    if (!YAJL_IS_STRING(v)) {
        return bad;
    }

    p = (u_char *) YAJL_GET_STRING(v);

    if (ngx_strlen(p) < 20 || p[4] != '-' || p[7] != '-'
        || (p[10] != 'T' && p[10] != 't' && p[10] != ' ')
        || p[13] != ':' || p[16] != ':')
    {
        return bad;
    }

    y = ngx_atoi(p, 4);
    mo = ngx_atoi(p + 5, 2);
    d = ngx_atoi(p + 8, 2);
    h = ngx_atoi(p + 11, 2);
    mi = ngx_atoi(p + 14, 2);
    s = ngx_atoi(p + 17, 2);

    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23
        || mi < 0 || mi > 59 || s < 0 || s > 60)
    {
        return bad;
    }

    p += 19;

    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) { /* void */ }
    }

    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        off = 0;

    } else if ((*p == '+' || *p == '-') && ngx_strlen(p) == 6 && p[3] == ':'
               && ngx_atoi(p + 1, 2) != NGX_ERROR
               && ngx_atoi(p + 4, 2) != NGX_ERROR)
    {
        off = (ngx_atoi(p + 1, 2) * 60 + ngx_atoi(p + 4, 2)) * 60;
        off = (*p == '-') ? -off : off;

    } else {
        return bad;
    }

    ngx_memzero(&tm, sizeof(ngx_tm_t));

    tm.ngx_tm_year = y;
    tm.ngx_tm_mon = mo;
    tm.ngx_tm_mday = d;
    tm.ngx_tm_hour = h;
    tm.ngx_tm_min = mi;
    tm.ngx_tm_sec = s;

    *t = (int64_t) ngx_http_foundry_timegm(&tm) - off;

    return NULL;
}


/* hex (64 digits), base64 or base64url of the 32 bytes of a SHA-256 */

static char *
ngx_http_foundry_key_digest(yajl_val v, u_char *digest)
{
    u_char     *p, buf[64];
    size_t      i;
    ngx_int_t   hi, lo;
    ngx_str_t   src, dst;

    static char  *bad = "\"sha256\" must be the SHA-256 of the key, in hex "
                        "or base64";

    if (!YAJL_IS_STRING(v)) {
        return bad;
    }

    p = (u_char *) YAJL_GET_STRING(v);
    src.data = p;
    src.len = ngx_strlen(p);

    if (src.len == 2 * NGX_HTTP_FOUNDRY_DIGEST_LEN) {
        for (i = 0; i < NGX_HTTP_FOUNDRY_DIGEST_LEN; i++) {
            hi = ngx_hextoi(p + 2 * i, 1);
            lo = ngx_hextoi(p + 2 * i + 1, 1);

            if (hi == NGX_ERROR || lo == NGX_ERROR) {
                return bad;
            }

            digest[i] = (u_char) (hi * 16 + lo);
        }

        return NULL;
    }

    if (src.len < 43 || src.len > 44) {
        return bad;
    }

    dst.data = buf;

    if (ngx_decode_base64(&dst, &src) != NGX_OK
        && ngx_decode_base64url(&dst, &src) != NGX_OK)
    {
        return bad;
    }

    if (dst.len != NGX_HTTP_FOUNDRY_DIGEST_LEN) {
        return bad;
    }

    ngx_memcpy(digest, buf, NGX_HTTP_FOUNDRY_DIGEST_LEN);

    return NULL;
}


static ngx_int_t
ngx_http_foundry_key_str(ngx_pool_t *pool, yajl_val v, ngx_str_t *s,
    size_t max)
{
    ngx_str_t  src;

    src.data = (u_char *) YAJL_GET_STRING(v);
    src.len = ngx_strlen(src.data);

    if (src.len > max) {
        return NGX_ERROR;
    }

    s->len = src.len;
    s->data = ngx_pstrdup(pool, &src);

    return (s->data || src.len == 0) ? NGX_OK : NGX_ERROR;
}


void
ngx_http_foundry_regex_cache_init(ngx_http_foundry_regex_cache_t *cache,
    ngx_pool_t *pool)
{
    ngx_rbtree_init(&cache->tree, &cache->sentinel,
                    ngx_str_rbtree_insert_value);
    cache->pool = pool;
}


/*
 * The compiled form of a "~regex" pattern, compiled once per cache; NULL
 * when it is not a valid regular expression (then known as such).
 */

ngx_regex_t *
ngx_http_foundry_regex_get(ngx_http_foundry_regex_cache_t *cache,
    ngx_str_t *pattern)
{
    u_char                          errstr[NGX_MAX_CONF_ERRSTR];
    uint32_t                        hash;
    ngx_str_node_t                 *sn;
    ngx_regex_compile_t             rc;
    ngx_http_foundry_regex_node_t  *rn;

    hash = ngx_crc32_short(pattern->data, pattern->len);

    sn = ngx_str_rbtree_lookup(&cache->tree, pattern, hash);

    if (sn) {
        rn = (ngx_http_foundry_regex_node_t *) sn;
        return rn->regex;
    }

    rn = ngx_pcalloc(cache->pool, sizeof(ngx_http_foundry_regex_node_t));
    if (rn == NULL) {
        return NULL;
    }

    /* NUL-terminated: ngx_regex_compile() quotes it with "%s" on errors */

    rn->sn.str.len = pattern->len;
    rn->sn.str.data = ngx_pnalloc(cache->pool, pattern->len + 1);
    if (rn->sn.str.data == NULL) {
        return NULL;
    }

    *ngx_cpymem(rn->sn.str.data, pattern->data, pattern->len) = '\0';

    rn->sn.node.key = hash;

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern.data = rn->sn.str.data + 1;
    rc.pattern.len = rn->sn.str.len - 1;
    rc.pool = cache->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    rn->regex = (ngx_regex_compile(&rc) == NGX_OK) ? rc.regex : NULL;

    ngx_rbtree_insert(&cache->tree, &rn->sn.node);

    return rn->regex;
}


static uint32_t
ngx_http_foundry_key_bucket(u_char *digest, uint32_t nbuckets)
{
    uint32_t  b;

    b = ((uint32_t) digest[0] << 24) | ((uint32_t) digest[1] << 16)
        | ((uint32_t) digest[2] << 8) | digest[3];

    return b & (nbuckets - 1);
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
    ngx_http_foundry_local_slot_t  *slot;

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
            if (s[i].len == deployment->len
                && ngx_strncasecmp(s[i].data, deployment->data, s[i].len)
                   == 0)
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
