
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_IDENTITY_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_IDENTITY_H_INCLUDED_


#include <openssl/evp.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_credentials.h"


/* the upstream credential's token in a request (ctx->identity) */

typedef struct ngx_http_foundry_id_local_s  ngx_http_foundry_id_local_t;
typedef struct ngx_http_foundry_id_hold_s  ngx_http_foundry_id_hold_t;

struct ngx_http_foundry_identity_ctx_s {
    /*
     * "Bearer <token>", and its state ($foundry_upstream_credential); the
     * bearer points into "local", the worker's copy the request holds
     */
    ngx_str_t                       bearer;
    const char                     *state;
    ngx_http_foundry_id_local_t    *local;

    /*
     * the copies the request holds until its pool goes (see _token.c),
     * let go by "cleanup", linked into the pool at the first
     */
    ngx_http_foundry_id_local_t    *held;
    ngx_http_foundry_id_hold_t     *more;
    ngx_pool_cleanup_t              cleanup;

    unsigned                        pending:1;
    unsigned                        fetched:1;
    unsigned                        waiting:1;
};


/*
 * A worker's copy of a credential's token, "Bearer <token>", for one
 * generation of the token in the zone: made when the worker first sees
 * that generation, shared by the requests that take it (each holds it
 * until its pool is destroyed), freed when the credential has a newer one
 * and no request holds it any more.  Allocated with ngx_alloc(), not from
 * a pool: at most one per token fetched, plus the old ones still held.
 */

struct ngx_http_foundry_id_local_s {
    /* "Bearer <token>", and the token alone in it */
    ngx_str_t                       bearer;
    ngx_str_t                       token;
    ngx_atomic_uint_t               generation;

    /* milliseconds: the zone's refresh time of this token */
    uint64_t                        refresh;

    ngx_uint_t                      refs;
    ngx_uint_t                      masked;
    ngx_uint_t                      current;
};


struct ngx_http_foundry_id_hold_s {
    ngx_http_foundry_id_local_t    *local;
    ngx_http_foundry_id_hold_t     *next;
};


#define NGX_HTTP_FOUNDRY_ID_IMDS            1
#define NGX_HTTP_FOUNDRY_ID_APP_SERVICE     2
#define NGX_HTTP_FOUNDRY_ID_CLIENT_SECRET   3
#define NGX_HTTP_FOUNDRY_ID_OAUTH2          4
#define NGX_HTTP_FOUNDRY_ID_CERTIFICATE     5
#define NGX_HTTP_FOUNDRY_ID_WORKLOAD        6

/* the client assertion's lifetime, seconds */
#define NGX_HTTP_FOUNDRY_ID_ASSERTION_LIFE  300

/* the largest token answer read, and the largest token kept */
#define NGX_HTTP_FOUNDRY_ID_ANSWER_MAX      65536
#define NGX_HTTP_FOUNDRY_ID_TOKEN_MAX       16384

/* a fetch that takes longer is taken over (its worker may have died) */
#define NGX_HTTP_FOUNDRY_ID_FETCH_STALE     60000

/* a request with no token waits, polling, for another's fetch */
#define NGX_HTTP_FOUNDRY_ID_POLL            20


/*
 * workload identity: the federated token file, read again when its
 * inode, size or time changes; each worker keeps its own copy
 */

typedef struct {
    u_char                         *path;
    ngx_file_uniq_t                 uniq;
    off_t                           size;
    time_t                          mtime;
    size_t                          len;
    u_char                         *data;
} ngx_http_foundry_id_file_t;


/* foundry_upstream_credential: one credential, built at configuration */

typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      source;
    const char                     *source_name;

    /* the internal location the fetch subrequest goes to */
    ngx_str_t                       location;

    /* the fetch, precomputed: GET with args, or POST with a form body */
    ngx_uint_t                      post;
    ngx_str_t                       args;
    ngx_str_t                       body;
    ngx_str_t                       header_name;
    ngx_str_t                       header_value;

    /*
     * certificate: the key, "PS256" or "RS256", the JWT header (with the
     * certificate's x5t#S256) in base64url, the claims' aud and iss/sub;
     * workload identity: the federated token file
     */
    EVP_PKEY                       *pkey;
    ngx_uint_t                      pss;
    ngx_str_t                       jwt_header;
    ngx_str_t                       audience_url;
    ngx_str_t                       client_id;
    ngx_http_foundry_id_file_t     *file;

    /* the zone's key: a digest of all of the above */
    u_char                          key[NGX_HTTP_FOUNDRY_DIGEST_LEN];

    /* the worker's: the zone's node, and its copy of the token */
    struct ngx_http_foundry_id_node_s  *node;
    ngx_http_foundry_id_local_t    *local;

    u_char                         *conf_file;
    ngx_uint_t                      conf_line;
} ngx_http_foundry_id_credential_t;


typedef struct ngx_http_foundry_id_node_s {
    ngx_queue_t                     queue;
    u_char                          key[NGX_HTTP_FOUNDRY_DIGEST_LEN];

    /*
     * one more at each new token, under the lock; read without it by the
     * workers, which then take the lock only to copy a new token
     */
    ngx_atomic_t                    generation;

    /* milliseconds: usable until, refresh due, fetch started, retry */
    uint64_t                        expires;
    uint64_t                        refresh;
    uint64_t                        fetching;
    uint64_t                        retry;

    ngx_uint_t                      failures;
    ngx_uint_t                      fetches;

    size_t                          len;
    u_char                         *token;
} ngx_http_foundry_id_node_t;


typedef struct {
    ngx_queue_t                     nodes;
} ngx_http_foundry_id_shctx_t;


typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_foundry_id_shctx_t    *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_foundry_id_zone_t;


typedef struct ngx_http_foundry_identity_conf_s {
    ngx_array_t                     credentials;
    ngx_http_foundry_id_zone_t     *zone;
} ngx_http_foundry_identity_conf_t;


/* what a token endpoint answered */

typedef struct {
    ngx_str_t                       token;
    int64_t                         expires_in;
    int64_t                         expires_on;
} ngx_http_foundry_id_answer_t;


/* ngx_http_foundry_identity.c */

char *ngx_http_foundry_credential_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_credential(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_identity_init(ngx_conf_t *cf);


/* ngx_http_foundry_identity_token.c */

ngx_int_t ngx_http_foundry_identity_bearer(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx);
ngx_int_t ngx_http_foundry_identity_bearer_zone(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx);
ngx_int_t ngx_http_foundry_identity_token(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_id_credential_t *cred,
    const char **why);
void ngx_http_foundry_identity_reset(ngx_http_foundry_ctx_t *ctx);
void ngx_http_foundry_identity_drop(void *data);


/*
 * The token, masked in the worker's log lines: compared with the table of
 * ngx_http_foundry_logmask_secret() once per copy, again only when other
 * values have entered the table since.  ic->local is the copy of
 * ic->bearer, or NULL with no token.
 */

static ngx_inline void
ngx_http_foundry_identity_logmask(ngx_http_foundry_identity_ctx_t *ic)
{
    ngx_http_foundry_id_local_t  *local;

    local = ic->local;

    if (local) {
        local->masked = ngx_http_foundry_logmask_keep(&local->token,
                                                      local->masked);
    }
}


/* ngx_http_foundry_identity_assertion.c */

ngx_int_t ngx_http_foundry_identity_certificate(ngx_conf_t *cf,
    ngx_http_foundry_id_credential_t *cred, ngx_str_t *cert, ngx_str_t *key,
    ngx_str_t *alg, ngx_str_t *token_url, ngx_str_t *client_id);
ngx_int_t ngx_http_foundry_identity_token_file(ngx_conf_t *cf,
    ngx_http_foundry_id_credential_t *cred, ngx_str_t *path);
ngx_int_t ngx_http_foundry_identity_assertion(ngx_http_request_t *r,
    ngx_http_foundry_id_credential_t *cred, ngx_str_t *body, const char **err);


/* ngx_http_foundry_identity_fetch.c */

ngx_int_t ngx_http_foundry_identity_fetch(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_id_credential_t *cred);
/* not static for fuzz/ */
ngx_int_t ngx_http_foundry_identity_parse(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_http_foundry_id_answer_t *a, const char **err);
void ngx_http_foundry_identity_store(ngx_http_request_t *r,
    ngx_http_foundry_id_credential_t *cred, ngx_http_foundry_id_answer_t *a,
    const char *err);
ngx_http_foundry_id_node_t *ngx_http_foundry_id_find_locked(
    ngx_http_foundry_id_zone_t *iz, ngx_http_foundry_id_credential_t *cred);


#endif /* _NGX_HTTP_FOUNDRY_IDENTITY_H_INCLUDED_ */
