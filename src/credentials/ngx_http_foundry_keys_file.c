
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
 * The keys file read into a key set: its JSON, each key's entry
 * (deployments, operations, metadata, times, digest), and the regex
 * cache of the deployment patterns keys name.
 */


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


static ngx_int_t ngx_http_foundry_keyset_entries(ngx_pool_t *tmp,
    ngx_http_foundry_regex_cache_t *cache, u_char *text,
    ngx_http_foundry_key_entry_t **entries, size_t *nentries, size_t *psize,
    u_char *err, size_t errlen);
static u_char *ngx_http_foundry_keyset_copy(ngx_http_foundry_keyset_t *set,
    ngx_http_foundry_key_t *k, ngx_http_foundry_key_entry_t *e, u_char *p);
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
    u_char                          *p;
    size_t                           size, i, j, n;
    uint32_t                         b, *buckets;
    ngx_pool_t                      *tmp;
    ngx_http_foundry_key_t          *k;
    ngx_http_foundry_keyset_t       *set;
    ngx_http_foundry_key_entry_t    *e;
    ngx_http_foundry_regex_cache_t   cache;

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

    if (ngx_http_foundry_keyset_entries(tmp, &cache, text, &e, &n, &size,
                                        err, errlen)
        != NGX_OK)
    {
        goto done;
    }

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

    for (i = 0; i < n; i++) {
        p = ngx_http_foundry_keyset_copy(set, &k[i], &e[i], p);

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

done:

    ngx_destroy_pool(tmp);

    ngx_http_foundry_keys_trim();

    return set;
}


/*
 * The keys file's entries read into "tmp", and the size their strings
 * take in the set: NGX_OK, or NGX_ERROR with the error in "err".
 */

static ngx_int_t
ngx_http_foundry_keyset_entries(ngx_pool_t *tmp,
    ngx_http_foundry_regex_cache_t *cache, u_char *text,
    ngx_http_foundry_key_entry_t **entries, size_t *nentries, size_t *psize,
    u_char *err, size_t errlen)
{
    char                          *msg, errbuf[256];
    size_t                         size, i, j, n;
    yajl_val                       root, arr;
    ngx_str_t                     *s;
    ngx_keyval_t                  *kv;
    ngx_http_foundry_key_entry_t  *e;
    const char                    *keys_path[] = { "keys", NULL };

    errbuf[0] = '\0';

    root = yajl_tree_parse((const char *) text, errbuf, sizeof(errbuf));
    if (root == NULL) {
        ngx_http_foundry_json_error_line(errbuf);
        ngx_snprintf(err, errlen, "%s%Z", errbuf);
        return NGX_ERROR;
    }

    arr = YAJL_IS_OBJECT(root) ? yajl_tree_get(root, keys_path, yajl_t_array)
                               : root;

    if (arr == NULL || !YAJL_IS_ARRAY(arr)) {
        ngx_snprintf(err, errlen, "expected an array of keys, or an object "
                     "with a \"keys\" array%Z");
        yajl_tree_free(root);
        return NGX_ERROR;
    }

    n = YAJL_GET_ARRAY(arr)->len;

    e = ngx_pcalloc(tmp, (n ? n : 1) * sizeof(ngx_http_foundry_key_entry_t));
    if (e == NULL) {
        yajl_tree_free(root);
        return NGX_ERROR;
    }

    size = sizeof(ngx_http_foundry_keyset_t);

    for (i = 0; i < n; i++) {
        msg = ngx_http_foundry_key_entry(tmp, cache,
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
            return NGX_ERROR;
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

    *entries = e;
    *nentries = n;
    *psize = size;

    return NGX_OK;
}


/* a key's entry copied into the set at "p"; returns the end */

static u_char *
ngx_http_foundry_keyset_copy(ngx_http_foundry_keyset_t *set,
    ngx_http_foundry_key_t *k, ngx_http_foundry_key_entry_t *e, u_char *p)
{
    ngx_str_t                *s;
    ngx_uint_t                j;
    ngx_keyval_t             *kv;
    ngx_http_foundry_kstr_t  *ks;

#define ngx_http_foundry_keyset_str(dst, src)                                 \
    (dst)->off = p - (u_char *) set;                                          \
    (dst)->len = (src)->len;                                                  \
    p = ngx_cpymem(p, (src)->data, (src)->len)

    ngx_memcpy(k->digest, e->digest, NGX_HTTP_FOUNDRY_DIGEST_LEN);
    k->disabled = e->disabled;
    k->operations = e->operations;
    k->not_before = e->not_before;
    k->expires = e->expires;

    ngx_http_foundry_keyset_str(&k->name, &e->name);

    if (e->deployments) {
        p = ngx_align_ptr(p, 8);
        k->ndeployments = e->deployments->nelts;
        k->deployments = p - (u_char *) set;
        ks = (ngx_http_foundry_kstr_t *) p;
        p += k->ndeployments * sizeof(ngx_http_foundry_kstr_t);
        s = e->deployments->elts;

        for (j = 0; j < k->ndeployments; j++) {
            ngx_http_foundry_keyset_str(&ks[j], &s[j]);
        }
    }

    if (e->meta) {
        p = ngx_align_ptr(p, 8);
        k->nmeta = e->meta->nelts;
        k->meta = p - (u_char *) set;
        ks = (ngx_http_foundry_kstr_t *) p;
        p += k->nmeta * 2 * sizeof(ngx_http_foundry_kstr_t);
        kv = e->meta->elts;

        for (j = 0; j < k->nmeta; j++) {
            ngx_http_foundry_keyset_str(&ks[2 * j], &kv[j].key);
            ngx_http_foundry_keyset_str(&ks[2 * j + 1], &kv[j].value);
        }
    }

#undef ngx_http_foundry_keyset_str

    return p;
}


/*
 * The memory of a keys file just parsed (yajl's tree, the entries) goes
 * back to the system: glibc keeps a freed heap otherwise
 */

void
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


uint32_t
ngx_http_foundry_key_bucket(u_char *digest, uint32_t nbuckets)
{
    uint32_t  b;

    b = ((uint32_t) digest[0] << 24) | ((uint32_t) digest[1] << 16)
        | ((uint32_t) digest[2] << 8) | digest[3];

    return b & (nbuckets - 1);
}
