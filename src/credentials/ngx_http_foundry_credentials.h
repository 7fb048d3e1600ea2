
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_CREDENTIALS_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_CREDENTIALS_H_INCLUDED_


#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"


/* the bearer token check's state in a request (ctx->bearer) */

typedef struct ngx_http_foundry_bearer_ctx_s    ngx_http_foundry_bearer_ctx_t;

struct ngx_http_foundry_bearer_ctx_s {
    /* the parsed token, the issuer's keys */
    struct ngx_http_foundry_jwt_s  *jwt;
    struct ngx_http_foundry_jwks_s *jwks;

    /* the "jwks_uri" of an issuer's discovery document fetched here */
    ngx_str_t                       jwks_url;

    /* an opaque token's introspection */
    struct ngx_http_foundry_introspect_req_s *introspect;

    unsigned                        jwks_pending:1;
    unsigned                        jwks_fetched_here:1;
    unsigned                        refetched:1;
};


/*
 * A location's client access settings (flcf->access): the API keys and
 * where they are sent, foundry_auth, the bearer tokens' issuers, claim
 * and allow rules, time limits and introspection.
 * Every location has its own, made with its configuration and merged
 * field by field from the level above.
 */

typedef struct ngx_http_foundry_access_conf_s   ngx_http_foundry_access_conf_t;

struct ngx_http_foundry_access_conf_s {
    /* foundry_keys, foundry_key_source: the API keys, where credentials are */
    ngx_shm_zone_t                 *keys;
    ngx_array_t                    *key_sources;

    ngx_uint_t                      auth_value;
    ngx_uint_t                      auth_type;
    ngx_uint_t                      auth;
    ngx_array_t                    *issuers;
    ngx_array_t                    *claims;
    ngx_array_t                    *token_allow;
    ngx_array_t                    *token_ops;
    ngx_msec_t                      jwt_leeway;
    ngx_msec_t                      jwt_max_age;

    /* foundry_token_introspection: opaque tokens */
    struct ngx_http_foundry_introspect_s *introspect;
};


/* fmcf->logmask: what nginx's own log lines mask, from http{} */

typedef struct ngx_http_foundry_logmask_conf_s  ngx_http_foundry_logmask_conf_t;

struct ngx_http_foundry_logmask_conf_s {
    /* every arg= of foundry_key_source in http{}, masked in every request */
    ngx_array_t                    *key_args;       /* of ngx_str_t */
    ngx_array_t                    *mask_headers;   /* of ngx_str_t */
    ngx_array_t                    *error_logs;     /* of ngx_log_t * */
};


#define NGX_HTTP_FOUNDRY_MAX_KEYS_FILE      (512 * 1024 * 1024)

typedef struct {
    ngx_rbtree_t                    tree;
    ngx_rbtree_node_t               sentinel;
    ngx_pool_t                     *pool;
} ngx_http_foundry_regex_cache_t;


typedef struct {
    ngx_str_node_t                  sn;
    ngx_regex_t                    *regex;
} ngx_http_foundry_regex_node_t;


/* a key set, as built from a keys file (ngx_http_foundry_keys.c) */

typedef struct ngx_http_foundry_keyset_s  ngx_http_foundry_keyset_t;


/* a key store: the zone, its file, and (per process) a regex cache */

typedef struct {
    ngx_str_t                       name;
    ngx_str_t                       file;
    ngx_msec_t                      interval;
    void                           *conf_set;
    ngx_pool_t                     *conf_pool;
    ngx_file_info_t                 conf_fi;
    ngx_shm_zone_t                 *shm_zone;
    void                           *sh;
    ngx_slab_pool_t                *shpool;
    ngx_http_foundry_regex_cache_t  regexes;
    ngx_err_t                       stat_err;
} ngx_http_foundry_keys_zone_t;


/* a key entry as a request sees it, copied out of the zone */

struct ngx_http_foundry_key_info_s {
    ngx_str_t                       name;
    ngx_uint_t                      disabled;
    time_t                          not_before;
    time_t                          expires;
    ngx_array_t                    *deployments;
    ngx_array_t                    *meta;

    /* the operations the key may use, a mask; all by default */
    uint32_t                        operations;

    /* the keys zone of the entry's regexes when not the location's */
    ngx_shm_zone_t                 *zone;
};


/* where a key may arrive */

#define NGX_HTTP_FOUNDRY_SRC_HEADER         1
#define NGX_HTTP_FOUNDRY_SRC_ARG            2
#define NGX_HTTP_FOUNDRY_SRC_BEARER         3
#define NGX_HTTP_FOUNDRY_SRC_CONFIG         4

typedef struct {
    ngx_uint_t                      type;
    ngx_str_t                       name;
} ngx_http_foundry_key_source_t;


/* how requests authenticate */

#define NGX_HTTP_FOUNDRY_AUTH_OFF           0
#define NGX_HTTP_FOUNDRY_AUTH_KEY           1
#define NGX_HTTP_FOUNDRY_AUTH_TOKEN         2

/* the connection's authType when foundry_auth names it (else derived) */

#define NGX_HTTP_FOUNDRY_TYPE_DERIVED       0
#define NGX_HTTP_FOUNDRY_TYPE_API_KEY       1
#define NGX_HTTP_FOUNDRY_TYPE_OAUTH2        2
#define NGX_HTTP_FOUNDRY_TYPE_PMI           3
#define NGX_HTTP_FOUNDRY_TYPE_AAD           4

/* a foundry_auth value: the mode, and the authType it names */

#define NGX_HTTP_FOUNDRY_AUTH_MODES         0x0f

#define ngx_http_foundry_auth_value(mode, type)                               \
    ((mode) | ((type) << 4))


/* a JWT issuer; "local*" is each worker's parse of the fetched key set */

typedef struct {
    ngx_str_t                       iss;
    ngx_array_t                    *audiences;
    struct ngx_http_foundry_jwks_s *keys;
    ngx_str_t                       jwks_uri;
    ngx_str_t                       oidc_uri;
    ngx_msec_t                      ttl;

    /* the digest of where the keys come from, part of a token's cache key */
    u_char                          keys_id[NGX_HTTP_FOUNDRY_DIGEST_LEN];

    /* the issuer's own claim rules (foundry_entra project=), or NULL */
    ngx_array_t                    *claims;

    struct ngx_http_foundry_jwks_s *local;
    ngx_pool_t                     *local_pool;
    ngx_uint_t                      local_generation;

    /* an accepted token's own mapping (src/oauth2/), or NULL */
    ngx_int_t                     (*accepted)(ngx_http_request_t *r,
                                              void *data, void *ctx);
    void                           *accepted_data;
} ngx_http_foundry_issuer_t;


#define NGX_HTTP_FOUNDRY_CLAIM_EQUALS       1
#define NGX_HTTP_FOUNDRY_CLAIM_ONE_OF       2
#define NGX_HTTP_FOUNDRY_CLAIM_CONTAINS     3

typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      op;
    ngx_array_t                    *values;
    ngx_uint_t                      nocase;
} ngx_http_foundry_claim_rule_t;


typedef struct {
    ngx_str_t                       name;
    ngx_regex_t                    *regex;
} ngx_http_foundry_pattern_t;


typedef struct {
    ngx_str_t                       claim;
    ngx_str_t                       value;
    ngx_array_t                    *deployments;
    uint32_t                        operations;
} ngx_http_foundry_token_allow_t;


struct ngx_http_foundry_jwt_zone_s {
    ngx_shm_zone_t                 *shm_zone;
    void                           *sh;
    ngx_slab_pool_t                *shpool;
};


typedef struct {
    ngx_http_foundry_ctx_t         *ctx;
    ngx_http_foundry_issuer_t      *iss;
    ngx_http_foundry_collect_t     *collect;
    ngx_uint_t                      done;
} ngx_http_foundry_jwks_fetch_t;

#define NGX_HTTP_FOUNDRY_LOCAL_SLOTS        64
#define NGX_HTTP_FOUNDRY_LOCAL_MAX          8192

typedef struct {
    uint32_t                        hash;
    ngx_uint_t                      refs;
    ngx_pool_t                     *pool;
    ngx_str_t                       secret;

    /* what the value was made with: an issuer's keys, a key set */
    u_char                          tag[NGX_HTTP_FOUNDRY_DIGEST_LEN];

    void                           *value;
} ngx_http_foundry_recent_slot_t;

typedef struct {
    ngx_http_foundry_recent_slot_t  slots[NGX_HTTP_FOUNDRY_LOCAL_SLOTS];
    ngx_uint_t                      cleanup;
} ngx_http_foundry_recent_t;


/* ngx_http_foundry_access.c */

ngx_uint_t ngx_http_foundry_allows(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *deployment);
char *ngx_http_foundry_key_source(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_access_handler(ngx_http_request_t *r);


/* ngx_http_foundry_args.c */

ngx_int_t ngx_http_foundry_key_arg(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t n, ngx_str_t *value);
ngx_int_t ngx_http_foundry_args_add_key(ngx_conf_t *cf, ngx_str_t *name);
ngx_int_t ngx_http_foundry_args_merge(ngx_conf_t *cf);
ngx_int_t ngx_http_foundry_args_init(ngx_conf_t *cf);
ngx_int_t ngx_http_foundry_args_init_module(ngx_cycle_t *cycle);

/* ngx_http_foundry_logmask.c */
ngx_int_t ngx_http_foundry_logmask_add_header(ngx_conf_t *cf,
    ngx_str_t *name);
ngx_int_t ngx_http_foundry_logmask_init(ngx_conf_t *cf);
void ngx_http_foundry_logmask_secret(ngx_str_t *value);
void ngx_http_foundry_logmask_text(u_char *p, u_char *last,
    ngx_array_t *headers);

extern ngx_uint_t  ngx_http_foundry_secrets_written;


/*
 * As ngx_http_foundry_logmask_secret(), for a caller that keeps the same
 * value: "stamp" is what the last call returned for it.  While no other
 * value has entered the table since, the value is still in it and is not
 * compared again (inline: a request's token is checked so at each use).
 */

static ngx_inline ngx_uint_t
ngx_http_foundry_logmask_keep(ngx_str_t *value, ngx_uint_t stamp)
{
    if (stamp != ngx_http_foundry_secrets_written) {
        ngx_http_foundry_logmask_secret(value);
    }

    return ngx_http_foundry_secrets_written;
}


/* ngx_http_foundry_introspect_conf.c */

char *ngx_http_foundry_introspection(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_introspect_check_conf(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *conf);


/* ngx_http_foundry_introspect.c */

ngx_int_t ngx_http_foundry_introspect_check(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token);
/* not static for fuzz/fuzz_introspect.c */
ngx_int_t ngx_http_foundry_introspect_parse(ngx_pool_t *pool,
    ngx_str_t *text, struct ngx_http_foundry_jwt_s *jwt, ngx_uint_t *active,
    const char **err);


/* ngx_http_foundry_issuer.c */

char *ngx_http_foundry_jwt_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_jwt_issuer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_entra(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_foundry_jwt_claim_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_foundry_jwt_deployments(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_jwt_operations(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_token_check_conf(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *conf);
ngx_http_foundry_issuer_t *ngx_http_foundry_issuer_add(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *flcf, ngx_str_t *name);
ngx_http_foundry_access_conf_t *ngx_http_foundry_access_create_conf(
    ngx_conf_t *cf);
void ngx_http_foundry_access_merge_conf(ngx_http_foundry_access_conf_t *prev,
    ngx_http_foundry_access_conf_t *conf);
char *ngx_http_foundry_access_enum_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_access_msec_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* ngx_http_foundry_keys.c */

char *ngx_http_foundry_keys_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_foundry_keys_check_zone(ngx_conf_t *cf,
    ngx_shm_zone_t *shm_zone);
ngx_int_t ngx_http_foundry_keys_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_foundry_key_lookup(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_http_foundry_key_info_t *info);
ngx_int_t ngx_http_foundry_key_allows(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, ngx_http_foundry_key_info_t *info,
    ngx_str_t *deployment);


/* ngx_http_foundry_keys_file.c */

void ngx_http_foundry_regex_cache_init(ngx_http_foundry_regex_cache_t *cache,
    ngx_pool_t *pool);
ngx_regex_t *ngx_http_foundry_regex_get(
    ngx_http_foundry_regex_cache_t *cache, ngx_str_t *pattern);
/* not static for fuzz/fuzz_keys.c */
ngx_http_foundry_keyset_t *ngx_http_foundry_keyset_build(ngx_pool_t *pool,
    u_char *text, u_char *err, size_t errlen);


/* ngx_http_foundry_local.c */

uint32_t ngx_http_foundry_local_hash(ngx_str_t *secret);
ngx_http_foundry_recent_slot_t *ngx_http_foundry_local_find(
    ngx_http_foundry_recent_t *t, ngx_str_t *secret, uint32_t hash);
ngx_int_t ngx_http_foundry_local_hold(ngx_http_request_t *r,
    ngx_http_foundry_recent_slot_t *slot);
ngx_http_foundry_recent_slot_t *ngx_http_foundry_local_add(
    ngx_http_foundry_recent_t *t, ngx_str_t *secret, uint32_t hash,
    size_t size);
void ngx_http_foundry_local_drop(ngx_http_foundry_recent_slot_t *slot);


/* ngx_http_foundry_oidc.c */

ngx_int_t ngx_http_foundry_oidc_parse(ngx_pool_t *pool, u_char *text,
    size_t len, ngx_str_t *issuer, ngx_str_t *jwks_uri, const char **err);
ngx_int_t ngx_http_foundry_oidc_check(ngx_str_t *iss, ngx_str_t *issuer,
    ngx_str_t *jwks_uri, const char **err);


/* ngx_http_foundry_verdict.c */

ngx_int_t ngx_http_foundry_auth_deny(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, const char *failure, const char *message,
    const char *challenge);
ngx_int_t ngx_http_foundry_auth_forbid(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, const char *what, ngx_str_t *name);


/* ngx_http_foundry_token.c */

ngx_int_t ngx_http_foundry_token_check(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token);
ngx_uint_t ngx_http_foundry_token_allows(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *deployment);
ngx_uint_t ngx_http_foundry_token_allows_op(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    uint32_t operation);
ngx_uint_t ngx_http_foundry_claim_eq(ngx_str_t *a, ngx_str_t *b,
    ngx_uint_t nocase);


/*
 * A key set's layout, shared by ngx_http_foundry_keys.c (the zone, the
 * lookups) and ngx_http_foundry_keys_file.c (the keys file read into a set)
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

void ngx_http_foundry_keys_trim(void);
uint32_t ngx_http_foundry_key_bucket(u_char *digest, uint32_t nbuckets);


#endif /* _NGX_HTTP_FOUNDRY_CREDENTIALS_H_INCLUDED_ */
