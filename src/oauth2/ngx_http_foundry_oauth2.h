
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_OAUTH2_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_OAUTH2_H_INCLUDED_


#include "ngx_http_foundry_common.h"

#include <openssl/evp.h>


/*
 * The gateway's own OAuth2 token service (src/oauth2/): the client
 * credentials grant, the JWTs it signs, their key set.  Its clients are
 * the entries of a foundry_keys_zone whose "sha256" is the digest of the
 * client's secret and whose "name" is the client id.
 */


#define NGX_HTTP_FOUNDRY_OAUTH2_MAX_SCOPES   16
#define NGX_HTTP_FOUNDRY_OAUTH2_MAX_BODY     8192


/* a signing key: the private key, its public JWK, its kid */

typedef struct {
    EVP_PKEY                       *pkey;
    ngx_uint_t                      alg;      /* NGX_HTTP_FOUNDRY_JWT_* */
    ngx_str_t                       kid;
    ngx_str_t                       jwk;      /* the public JWK, JSON */
} ngx_http_foundry_oauth2_key_t;


typedef struct {
    ngx_str_t                       scope;
    ngx_str_t                       audience;
} ngx_http_foundry_oauth2_scope_t;


typedef struct ngx_http_foundry_oauth2_service_s {
    ngx_str_t                       name;
    ngx_str_t                       issuer;
    ngx_shm_zone_t                 *clients;  /* a foundry_keys_zone */
    ngx_shm_zone_t                 *zone;     /* failed attempts */
    ngx_array_t                     keys;     /* oauth2_key_t, [0] signs */
    ngx_array_t                     scopes;   /* oauth2_scope_t */
    ngx_str_t                       jwks;     /* the public key set */
    time_t                          lifetime;
    ngx_uint_t                      max_failures;
    time_t                          lockout;
    ngx_str_t                       token_url; /* for foundry_export */
} ngx_http_foundry_oauth2_service_t;


typedef struct ngx_http_foundry_oauth2_main_s {
    ngx_array_t                     services; /* oauth2_service_t * */
} ngx_http_foundry_oauth2_main_t;


/* a token request, as parsed from its body and Authorization header */

typedef struct {
    ngx_str_t                       grant_type;
    ngx_str_t                       client_id;
    ngx_str_t                       client_secret;
    ngx_str_t                       scope;
    ngx_uint_t                      basic;    /* credentials by Basic */
    ngx_uint_t                      has_scope;
} ngx_http_foundry_oauth2_req_t;


/* ngx_http_foundry_oauth2.c */

char *ngx_http_foundry_token_service(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_token_issuer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_foundry_oauth2_service_t *ngx_http_foundry_oauth2_service(
    ngx_conf_t *cf, ngx_str_t *name);
ngx_http_foundry_oauth2_service_t *ngx_http_foundry_oauth2_named(
    ngx_conf_t *cf, ngx_str_t *name);
ngx_int_t ngx_http_foundry_oauth2_sign(ngx_pool_t *pool,
    ngx_http_foundry_oauth2_key_t *key, ngx_str_t *payload,
    ngx_str_t *token);


/* ngx_http_foundry_oauth2_lockout.c */

void *ngx_http_foundry_oauth2_zone_create(ngx_pool_t *pool);
ngx_int_t ngx_http_foundry_oauth2_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_uint_t ngx_http_foundry_oauth2_locked(ngx_http_request_t *r,
    ngx_http_foundry_oauth2_service_t *svc, ngx_str_t *client,
    ngx_uint_t fail);


/* ngx_http_foundry_oauth2_endpoint.c */

char *ngx_http_foundry_token_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_token_jwks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_foundry_oauth2_form.c */

/* also fuzz/fuzz_oauth2.c's; *err is an RFC 6749 error code */
ngx_int_t ngx_http_foundry_oauth2_parse(ngx_pool_t *pool, ngx_str_t *body,
    ngx_str_t *authorization, ngx_http_foundry_oauth2_req_t *req,
    const char **err, const char **description);
ngx_int_t ngx_http_foundry_oauth2_scopes(ngx_str_t *text, ngx_str_t *out,
    ngx_uint_t max, ngx_uint_t *n);


#endif /* _NGX_HTTP_FOUNDRY_OAUTH2_H_INCLUDED_ */
