
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/crypto.h>

#include "ngx_http_foundry_module.h"
#include "ngx_http_foundry_jwt.h"


/*
 * Bearer tokens: JWTs of configured issuers, checked in the access phase.
 *
 * An issuer's keys come from a file (JWKS or PEM), a secret, or a JWKS
 * location fetched with an in-memory subrequest and kept in the JWT zone,
 * shared by the workers; each worker parses a fetched set once per
 * version.  A token naming an unknown "kid" makes the set be fetched
 * again, at most once per cooldown; a failed fetch keeps the last good
 * set.  Tokens that passed are remembered in the zone by their SHA-256
 * until they expire, so a token's signature is checked once, not per
 * request; a failure is never remembered.
 */


#define NGX_HTTP_FOUNDRY_JWKS_MAX       (256 * 1024)
#define NGX_HTTP_FOUNDRY_KID_COOLDOWN   30000

/*
 * With foundry_jwt_zone, each worker also keeps the last tokens it
 * accepted, parsed (ngx_http_foundry_local.c): a request with one of them
 * finds it by the token's bytes and its issuer's keys_id, without a
 * SHA-256, a parse or the zone's lock; only the claims are checked again.
 */

static ngx_http_foundry_local_t  ngx_http_foundry_token_table;


/* a remembered token, or an issuer's fetched key set */

typedef struct {
    ngx_rbtree_node_t               node;
    ngx_queue_t                     queue;
    ngx_uint_t                      type;
    time_t                          expires;

    /* key sets */
    u_char                         *json;
    size_t                          json_len;
    ngx_uint_t                      generation;
    uint64_t                        fetched;
    uint64_t                        refetch;
    uint64_t                        fetching;
    ngx_uint_t                      failed;

    u_short                         len;
    u_char                          key[1];
} ngx_http_foundry_jwt_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     queue;
} ngx_http_foundry_jwt_shctx_t;


#define NGX_HTTP_FOUNDRY_JN_TOKEN       1
#define NGX_HTTP_FOUNDRY_JN_JWKS        2


static ngx_int_t ngx_http_foundry_jwt_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_foundry_jwt_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_foundry_jwt_node_t *ngx_http_foundry_jwt_node(
    ngx_http_foundry_jwt_zone_t *jz, u_char *key, size_t len,
    ngx_uint_t create);
static ngx_int_t ngx_http_foundry_token_keys(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_issuer_t *iss, ngx_uint_t refetch);
static void ngx_http_foundry_token_local_cleanup(void *data);
static ngx_int_t ngx_http_foundry_token_fetched(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_foundry_token_claims(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_issuer_t *iss,
    ngx_http_foundry_jwt_t *jwt, const char **err);
static ngx_int_t ngx_http_foundry_token_deny(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, const char *description);
static ngx_http_foundry_token_allow_t *ngx_http_foundry_token_rule(
    ngx_conf_t *cf, ngx_array_t **rules, const char *param, ngx_str_t *list);
static ngx_uint_t ngx_http_foundry_token_matches(ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_token_allow_t *allow);
static ngx_int_t ngx_http_foundry_issuer_keys_id(
    ngx_http_foundry_issuer_t *iss, ngx_str_t *source);
static ngx_int_t ngx_http_foundry_issuer_remote_id(
    ngx_http_foundry_issuer_t *iss);
static char *ngx_http_foundry_jwt_keys_file(ngx_conf_t *cf,
    ngx_http_foundry_issuer_t *iss, ngx_str_t *file, ngx_uint_t pem);
static ngx_http_foundry_issuer_t *ngx_http_foundry_issuer_add(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *flcf, ngx_str_t *name);
static ngx_http_foundry_jwk_t *ngx_http_foundry_token_key(
    ngx_http_foundry_jwks_t *jwks, ngx_http_foundry_jwt_t *jwt);
static ngx_int_t ngx_http_foundry_claim_add(ngx_conf_t *cf,
    ngx_array_t **claims, ngx_str_t *name, ngx_uint_t op, ngx_str_t *values,
    ngx_uint_t nocase);
static ngx_int_t ngx_http_foundry_token_rules(ngx_http_foundry_jwt_t *jwt,
    ngx_array_t *claims, const char **err);
static ngx_int_t ngx_http_foundry_token_local(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token, uint32_t hash);
static void ngx_http_foundry_token_remember(ngx_http_foundry_issuer_t *iss,
    ngx_str_t *token, uint32_t hash);
static ngx_http_foundry_issuer_t *ngx_http_foundry_token_issuer(
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_jwt_t *jwt);


/* foundry_jwt_zone name:size; */

char *
ngx_http_foundry_jwt_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_main_conf_t *fmcf = conf;

    ngx_str_t                    *value;
    ngx_http_foundry_jwt_zone_t  *jz;

    if (fmcf->jwt) {
        return "is duplicate";
    }

    value = cf->args->elts;

    jz = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_jwt_zone_t));
    if (jz == NULL) {
        return NGX_CONF_ERROR;
    }

    jz->shm_zone = ngx_http_foundry_zone_add(cf, &value[1],
        ngx_http_foundry_jwt_init_zone, jz);
    if (jz->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    fmcf->jwt = jz;

    return NGX_CONF_OK;
}


/* foundry_auth off | key | token | key_or_token; */

char *
ngx_http_foundry_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t  *value;

    if (flcf->auth_mode != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        flcf->auth_mode = NGX_HTTP_FOUNDRY_AUTH_OFF;

    } else if (ngx_strcmp(value[1].data, "key") == 0) {
        flcf->auth_mode = NGX_HTTP_FOUNDRY_AUTH_KEY;

    } else if (ngx_strcmp(value[1].data, "token") == 0) {
        flcf->auth_mode = NGX_HTTP_FOUNDRY_AUTH_TOKEN;

    } else if (ngx_strcmp(value[1].data, "key_or_token") == 0) {
        flcf->auth_mode = NGX_HTTP_FOUNDRY_AUTH_KEY
                          |NGX_HTTP_FOUNDRY_AUTH_TOKEN;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, it must "
                           "be \"off\", \"key\", \"token\" or "
                           "\"key_or_token\"", &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_http_foundry_issuer_t *
ngx_http_foundry_issuer_add(ngx_conf_t *cf, ngx_http_foundry_loc_conf_t *flcf,
    ngx_str_t *name)
{
    ngx_uint_t                  i;
    ngx_http_foundry_issuer_t  *iss;

    if (flcf->issuers == NGX_CONF_UNSET_PTR) {
        flcf->issuers = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_foundry_issuer_t));
        if (flcf->issuers == NULL) {
            return NULL;
        }
    }

    iss = flcf->issuers->elts;

    for (i = 0; i < flcf->issuers->nelts; i++) {
        if (iss[i].iss.len == name->len
            && ngx_strncmp(iss[i].iss.data, name->data, name->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate issuer \"%V\"", name);
            return NULL;
        }
    }

    iss = ngx_array_push(flcf->issuers);
    if (iss == NULL) {
        return NULL;
    }

    ngx_memzero(iss, sizeof(ngx_http_foundry_issuer_t));

    iss->iss = *name;
    iss->ttl = 3600000;

    iss->audiences = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (iss->audiences == NULL) {
        return NULL;
    }

    return iss;
}


/*
 * foundry_jwt_issuer iss audience=aud ... [jwks=/location [ttl=time]]
 *                    [jwks_file=file] [pem=file] [secret=value];
 */

char *
ngx_http_foundry_jwt_issuer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    char                       *rv;
    ngx_str_t                  *value, v, *aud;
    ngx_uint_t                  i, keys;
    const char                 *err;
    ngx_http_foundry_jwk_t     *jwk;
    ngx_http_foundry_jwks_t    *jwks;
    ngx_http_foundry_issuer_t  *iss;

    value = cf->args->elts;

    iss = ngx_http_foundry_issuer_add(cf, flcf, &value[1]);
    if (iss == NULL) {
        return NGX_CONF_ERROR;
    }

    keys = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "audience=", 9) == 0) {
            aud = ngx_array_push(iss->audiences);
            if (aud == NULL) {
                return NGX_CONF_ERROR;
            }

            aud->data = value[i].data + 9;
            aud->len = value[i].len - 9;

            if (aud->len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "jwks=", 5) == 0) {
            iss->jwks_uri.data = value[i].data + 5;
            iss->jwks_uri.len = value[i].len - 5;

            if (iss->jwks_uri.len == 0 || iss->jwks_uri.data[0] != '/') {
                goto invalid;
            }

            keys++;
            continue;
        }

        if (ngx_strncmp(value[i].data, "oidc=", 5) == 0) {
            iss->oidc_uri.data = value[i].data + 5;
            iss->oidc_uri.len = value[i].len - 5;

            if (iss->oidc_uri.len == 0 || iss->oidc_uri.data[0] != '/') {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            v.data = value[i].data + 4;
            v.len = value[i].len - 4;

            iss->ttl = ngx_parse_time(&v, 0);

            if (iss->ttl == (ngx_msec_t) NGX_ERROR || iss->ttl == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "jwks_file=", 10) == 0
            || ngx_strncmp(value[i].data, "pem=", 4) == 0)
        {
            v.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            v.len = value[i].data + value[i].len - v.data;

            rv = ngx_http_foundry_jwt_keys_file(cf, iss, &v,
                                                value[i].data[0] == 'p');
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            keys++;
            continue;
        }

        if (ngx_strncmp(value[i].data, "secret=", 7) == 0) {
            v.data = value[i].data + 7;
            v.len = value[i].len - 7;

            jwks = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_jwks_t));

            if (jwks == NULL
                || ngx_array_init(&jwks->keys, cf->pool, 1,
                                  sizeof(ngx_http_foundry_jwk_t))
                   != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            iss->keys = jwks;

            jwk = ngx_array_push(&jwks->keys);
            if (jwk == NULL) {
                return NGX_CONF_ERROR;
            }

            if (ngx_http_foundry_issuer_keys_id(iss, &value[i]) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            if (ngx_http_foundry_jwk_secret(cf->pool, &v, jwk, &err)
                != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"secret=\" in \"%V\" directive: "
                                   "%s", &value[0], err);
                return NGX_CONF_ERROR;
            }

            keys++;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive",
                           &value[i], &value[0]);
        return NGX_CONF_ERROR;
    }

    if (iss->audiences->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"audience=\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (keys != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs one of \"jwks=\", "
                           "\"jwks_file=\", \"pem=\" or \"secret=\"",
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    if (iss->oidc_uri.len && iss->jwks_uri.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oidc=\" in \"%V\" directive needs \"jwks=\", "
                           "a location that proxies to $foundry_jwks_uri",
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    if (iss->jwks_uri.len
        && ngx_http_foundry_issuer_remote_id(iss) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive",
                       &value[i], &value[0]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_foundry_jwt_keys_file(ngx_conf_t *cf, ngx_http_foundry_issuer_t *iss,
    ngx_str_t *file, ngx_uint_t pem)
{
    ngx_str_t                 name, text;
    ngx_uint_t                skipped;
    const char               *err;
    ngx_http_foundry_jwk_t   *jwk;
    ngx_http_foundry_jwks_t  *jwks;

    name = *file;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_read_file(cf, &name, &text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_issuer_keys_id(iss, &text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    jwks = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_jwks_t));
    if (jwks == NULL) {
        return NGX_CONF_ERROR;
    }

    iss->keys = jwks;

    if (pem) {
        if (ngx_array_init(&jwks->keys, cf->pool, 1,
                           sizeof(ngx_http_foundry_jwk_t))
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        jwk = ngx_array_push(&jwks->keys);
        if (jwk == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_foundry_jwk_pem(cf->pool, &text, jwk, &err) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid PEM key file \"%V\": %s", &name, err);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    skipped = 0;

    if (ngx_http_foundry_jwks_parse(cf->pool, text.data, text.len, jwks,
                                    &skipped, &err)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid JWKS file \"%V\": %s", &name, err);
        return NGX_CONF_ERROR;
    }

    if (jwks->keys.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "JWKS file \"%V\" has no usable key (%ui skipped)",
                           &name, skipped);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the digest of the issuer's name and of its keys' source or text */

static ngx_int_t
ngx_http_foundry_issuer_keys_id(ngx_http_foundry_issuer_t *iss,
    ngx_str_t *source)
{
    ngx_str_t  parts[3];

    parts[0] = iss->iss;
    ngx_str_set(&parts[1], "\0");
    parts[2] = *source;

    return ngx_http_foundry_sha256(parts, 3, iss->keys_id);
}


/* the keys_id of an issuer whose keys are fetched: its locations */

static ngx_int_t
ngx_http_foundry_issuer_remote_id(ngx_http_foundry_issuer_t *iss)
{
    u_char     digest[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    ngx_str_t  parts[3], source;

    parts[0] = iss->oidc_uri;
    ngx_str_set(&parts[1], "\0");
    parts[2] = iss->jwks_uri;

    if (ngx_http_foundry_sha256(parts, 3, digest) != NGX_OK) {
        return NGX_ERROR;
    }

    source.data = digest;
    source.len = sizeof(digest);

    return ngx_http_foundry_issuer_keys_id(iss, &source);
}


/*
 * foundry_entra tenant=id project=resource-id jwks=/location
 *               [audience=aud] [ttl=time];
 *
 * Entra ID tokens of a Foundry project's managed identity: the v1 and v2
 * issuers of the tenant, the audience (by default Azure AI services'),
 * and the project's resource id in "xms_mirid", compared without regard
 * to case.
 */

char *
ngx_http_foundry_entra(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t                  *value, tenant, project, jwks, audience, v;
    ngx_str_t                   names[2], *aud;
    ngx_uint_t                  i, k;
    ngx_msec_t                  ttl;
    ngx_array_t                *claims;
    ngx_http_foundry_issuer_t  *iss;

    value = cf->args->elts;

    ngx_str_null(&tenant);
    ngx_str_null(&project);
    claims = NULL;
    ngx_str_null(&jwks);
    ngx_str_set(&audience, "https://cognitiveservices.azure.com");
    ttl = 3600000;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "tenant=", 7) == 0) {
            tenant.data = value[i].data + 7;
            tenant.len = value[i].len - 7;

            if (ngx_http_foundry_valid_token(&tenant) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "project=", 8) == 0) {
            project.data = value[i].data + 8;
            project.len = value[i].len - 8;

            if (project.len == 0 || project.data[0] != '/') {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "jwks=", 5) == 0) {
            jwks.data = value[i].data + 5;
            jwks.len = value[i].len - 5;

            if (jwks.len == 0 || jwks.data[0] != '/') {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "audience=", 9) == 0) {
            audience.data = value[i].data + 9;
            audience.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            v.data = value[i].data + 4;
            v.len = value[i].len - 4;

            ttl = ngx_parse_time(&v, 0);

            if (ttl == (ngx_msec_t) NGX_ERROR || ttl == 0) {
                goto invalid;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive",
                           &value[i], &value[0]);
        return NGX_CONF_ERROR;
    }

    if (tenant.data == NULL || jwks.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"tenant=\" and "
                           "\"jwks=\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    names[0].len = sizeof("https://sts.windows.net//") - 1 + tenant.len;
    names[0].data = ngx_pnalloc(cf->pool, names[0].len);
    names[1].len = sizeof("https://login.microsoftonline.com//v2.0") - 1
                   + tenant.len;
    names[1].data = ngx_pnalloc(cf->pool, names[1].len);

    if (names[0].data == NULL || names[1].data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(names[0].data, "https://sts.windows.net/%V/", &tenant);
    ngx_sprintf(names[1].data, "https://login.microsoftonline.com/%V/v2.0",
                &tenant);

    for (k = 0; k < 2; k++) {
        iss = ngx_http_foundry_issuer_add(cf, flcf, &names[k]);
        if (iss == NULL) {
            return NGX_CONF_ERROR;
        }

        iss->jwks_uri = jwks;
        iss->ttl = ttl;

        if (ngx_http_foundry_issuer_remote_id(iss) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        aud = ngx_array_push(iss->audiences);
        if (aud == NULL) {
            return NGX_CONF_ERROR;
        }

        *aud = audience;
    }

    /*
     * the project is the issuers' own rule: it goes wherever they are
     * inherited, whatever foundry_jwt_claim rules a level has
     */

    if (project.data) {
        ngx_str_set(&v, "xms_mirid");

        if (ngx_http_foundry_claim_add(cf, &claims, &v,
                                       NGX_HTTP_FOUNDRY_CLAIM_EQUALS,
                                       &project, 1)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        iss = flcf->issuers->elts;
        iss[flcf->issuers->nelts - 1].claims = claims;
        iss[flcf->issuers->nelts - 2].claims = claims;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive",
                       &value[i], &value[0]);
    return NGX_CONF_ERROR;
}


/*
 * foundry_jwt_claim name equals=value | one_of=a,b | contains=value
 *                   [nocase];
 */

char *
ngx_http_foundry_jwt_claim_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t   *value, v;
    ngx_uint_t   op, nocase;

    value = cf->args->elts;

    nocase = 0;

    if (cf->args->nelts == 4) {
        if (ngx_strcmp(value[3].data, "nocase") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" directive, "
                               "expected \"nocase\"", &value[3], &value[0]);
            return NGX_CONF_ERROR;
        }

        nocase = 1;
    }

    if (ngx_strncmp(value[2].data, "equals=", 7) == 0) {
        op = NGX_HTTP_FOUNDRY_CLAIM_EQUALS;
        v.data = value[2].data + 7;

    } else if (ngx_strncmp(value[2].data, "one_of=", 7) == 0) {
        op = NGX_HTTP_FOUNDRY_CLAIM_ONE_OF;
        v.data = value[2].data + 7;

    } else if (ngx_strncmp(value[2].data, "contains=", 9) == 0) {
        op = NGX_HTTP_FOUNDRY_CLAIM_CONTAINS;
        v.data = value[2].data + 9;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive, "
                           "expected \"equals=\", \"one_of=\" or "
                           "\"contains=\"", &value[2], &value[0]);
        return NGX_CONF_ERROR;
    }

    v.len = value[2].data + value[2].len - v.data;

    if (v.len == 0 || value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive",
                           &value[2], &value[0]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_claim_add(cf, &flcf->claims, &value[1], op, &v,
                                   nocase)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_foundry_claim_add(ngx_conf_t *cf, ngx_array_t **claims,
    ngx_str_t *name, ngx_uint_t op, ngx_str_t *values, ngx_uint_t nocase)
{
    u_char                           *p, *last, *start;
    ngx_str_t                        *s;
    ngx_http_foundry_claim_rule_t    *rule;

    if (*claims == NGX_CONF_UNSET_PTR || *claims == NULL) {
        *claims = ngx_array_create(cf->pool, 2,
                                   sizeof(ngx_http_foundry_claim_rule_t));
        if (*claims == NULL) {
            return NGX_ERROR;
        }
    }

    rule = ngx_array_push(*claims);
    if (rule == NULL) {
        return NGX_ERROR;
    }

    rule->name = *name;
    rule->op = op;
    rule->nocase = nocase;

    rule->values = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (rule->values == NULL) {
        return NGX_ERROR;
    }

    /* one_of= takes a comma-separated list; the others one value */

    last = values->data + values->len;
    start = values->data;

    for (p = start; p <= last; p++) {
        if (p < last && (*p != ',' || op != NGX_HTTP_FOUNDRY_CLAIM_ONE_OF)) {
            continue;
        }

        s = ngx_array_push(rule->values);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->data = start;
        s->len = p - start;
        start = p + 1;
    }

    return NGX_OK;
}


/*
 * The common part of foundry_jwt_deployments and foundry_jwt_operations:
 * a rule "claim=name value=v <list>=..." added to "rules"; "list" is the
 * list's value.
 */

static ngx_http_foundry_token_allow_t *
ngx_http_foundry_token_rule(ngx_conf_t *cf, ngx_array_t **rules,
    const char *param, ngx_str_t *list)
{
    size_t                           len;
    ngx_str_t                       *value;
    ngx_uint_t                       i;
    ngx_http_foundry_token_allow_t  *allow;

    value = cf->args->elts;
    len = ngx_strlen(param);

    if (*rules == NGX_CONF_UNSET_PTR) {
        *rules = ngx_array_create(cf->pool, 2,
                                  sizeof(ngx_http_foundry_token_allow_t));
        if (*rules == NULL) {
            return NULL;
        }
    }

    allow = ngx_array_push(*rules);
    if (allow == NULL) {
        return NULL;
    }

    ngx_memzero(allow, sizeof(ngx_http_foundry_token_allow_t));
    ngx_str_null(list);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "claim=", 6) == 0) {
            allow->claim.data = value[i].data + 6;
            allow->claim.len = value[i].len - 6;

        } else if (ngx_strncmp(value[i].data, "value=", 6) == 0) {
            allow->value.data = value[i].data + 6;
            allow->value.len = value[i].len - 6;

        } else if (ngx_strncmp(value[i].data, param, len) == 0) {
            list->data = value[i].data + len;
            list->len = value[i].len - len;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" directive",
                               &value[i], &value[0]);
            return NULL;
        }
    }

    if (allow->claim.len == 0 || allow->value.len == 0 || list->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"claim=\", \"value=\" and "
                           "\"%s\"", &value[0], param);
        return NULL;
    }

    return allow;
}


/*
 * foundry_jwt_leeway time; foundry_jwt_max_age time; are ngx_conf slots;
 * foundry_jwt_deployments claim=name value=v deployments=a,~re,...;
 */

char *
ngx_http_foundry_jwt_deployments(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    u_char                          *p, *last, *start;
    ngx_str_t                       *value, list;
    ngx_http_foundry_pattern_t      *pt;
    ngx_http_foundry_token_allow_t  *allow;
    ngx_http_foundry_regex_cache_t   cache;

    value = cf->args->elts;

    allow = ngx_http_foundry_token_rule(cf, &flcf->token_allow,
                                        "deployments=", &list);
    if (allow == NULL) {
        return NGX_CONF_ERROR;
    }

    allow->deployments = ngx_array_create(cf->pool, 4,
                                         sizeof(ngx_http_foundry_pattern_t));
    if (allow->deployments == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_foundry_regex_cache_init(&cache, cf->pool);

    last = list.data + list.len;
    start = list.data;

    for (p = start; p <= last; p++) {
        if (p < last && *p != ',') {
            continue;
        }

        pt = ngx_array_push(allow->deployments);
        if (pt == NULL) {
            return NGX_CONF_ERROR;
        }

        pt->name.data = start;
        pt->name.len = p - start;
        pt->regex = NULL;
        start = p + 1;

        if (pt->name.len && pt->name.data[0] == '~') {
            pt->regex = ngx_http_foundry_regex_get(&cache, &pt->name);
        }

        if (pt->name.len == 0
            || (pt->name.data[0] == '~' && pt->regex == NULL))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid deployment \"%V\" in \"%V\" "
                               "directive", &pt->name, &value[0]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * foundry_jwt_operations claim=name value=v operations=a,b,...;
 */

char *
ngx_http_foundry_jwt_operations(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    u_char                          *p, *last, *start;
    ngx_str_t                       *value, list, name;
    ngx_http_foundry_token_allow_t  *allow;

    value = cf->args->elts;

    allow = ngx_http_foundry_token_rule(cf, &flcf->token_ops, "operations=",
                                        &list);
    if (allow == NULL) {
        return NGX_CONF_ERROR;
    }

    last = list.data + list.len;
    start = list.data;

    for (p = start; p <= last; p++) {
        if (p < last && *p != ',') {
            continue;
        }

        name.data = start;
        name.len = p - start;
        start = p + 1;

        if (ngx_http_foundry_operation_mask(&name, &allow->operations)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown operation \"%V\" in \"%V\" "
                               "directive, expected \"default\" or %s",
                               &name, &value[0],
                               ngx_http_foundry_operation_list());
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_foundry_token_check_conf(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *conf)
{
    ngx_uint_t                     i;
    ngx_http_foundry_issuer_t     *iss;
    ngx_http_foundry_main_conf_t  *fmcf;

    if (conf->issuers == NULL) {
        return NGX_OK;
    }

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    iss = conf->issuers->elts;

    for (i = 0; i < conf->issuers->nelts; i++) {
        if (iss[i].jwks_uri.len && fmcf->jwt == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "issuer \"%V\" fetches its keys from \"%V\": "
                               "\"foundry_jwt_zone\" is needed",
                               &iss[i].iss, &iss[i].jwks_uri);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_jwt_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_foundry_jwt_zone_t  *ojz = data;

    size_t                         len;
    ngx_http_foundry_jwt_zone_t   *jz;
    ngx_http_foundry_jwt_shctx_t  *sh;

    jz = shm_zone->data;

    if (ojz) {
        jz->sh = ojz->sh;
        jz->shpool = ojz->shpool;
        return NGX_OK;
    }

    jz->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        jz->sh = jz->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(jz->shpool, sizeof(ngx_http_foundry_jwt_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    jz->sh = sh;
    jz->shpool->data = sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_http_foundry_jwt_insert);
    ngx_queue_init(&sh->queue);

    len = sizeof(" in foundry_jwt_zone \"\"") + shm_zone->shm.name.len;

    jz->shpool->log_ctx = ngx_slab_alloc(jz->shpool, len);
    if (jz->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(jz->shpool->log_ctx, " in foundry_jwt_zone \"%V\"%Z",
                &shm_zone->shm.name);

    jz->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_foundry_jwt_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t            **p;
    ngx_http_foundry_jwt_node_t   *n, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            n = (ngx_http_foundry_jwt_node_t *) node;
            t = (ngx_http_foundry_jwt_node_t *) temp;

            p = (ngx_memn2cmp(n->key, t->key, n->len, t->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* a node of the zone by key (mutex held); remembered tokens may be evicted */

static ngx_http_foundry_jwt_node_t *
ngx_http_foundry_jwt_node(ngx_http_foundry_jwt_zone_t *jz, u_char *key,
    size_t len, ngx_uint_t create)
{
    uint32_t                       hash;
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_queue_t                   *q;
    ngx_rbtree_node_t             *node, *sentinel;
    ngx_http_foundry_jwt_node_t   *n;
    ngx_http_foundry_jwt_shctx_t  *sh;

    sh = jz->sh;
    hash = ngx_crc32_short(key, len);

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        n = (ngx_http_foundry_jwt_node_t *) node;

        rc = ngx_memn2cmp(key, n->key, len, n->len);

        if (rc == 0) {
            if (n->type == NGX_HTTP_FOUNDRY_JN_TOKEN) {
                ngx_queue_remove(&n->queue);
                ngx_queue_insert_head(&sh->queue, &n->queue);
            }

            return n;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    if (!create) {
        return NULL;
    }

    n = ngx_slab_calloc_locked(jz->shpool,
                               offsetof(ngx_http_foundry_jwt_node_t, key)
                               + len);

    /* full: the least recently used tokens go (key sets are not queued) */

    for (i = 0; n == NULL && i < 16 && !ngx_queue_empty(&sh->queue); i++) {
        q = ngx_queue_last(&sh->queue);
        ngx_queue_remove(q);

        n = ngx_queue_data(q, ngx_http_foundry_jwt_node_t, queue);
        ngx_rbtree_delete(&sh->rbtree, &n->node);
        ngx_slab_free_locked(jz->shpool, n);

        n = ngx_slab_calloc_locked(jz->shpool,
                                   offsetof(ngx_http_foundry_jwt_node_t, key)
                                   + len);
    }

    if (n == NULL) {
        return NULL;
    }

    n->node.key = hash;
    n->len = (u_short) len;
    ngx_memcpy(n->key, key, len);

    ngx_rbtree_insert(&sh->rbtree, &n->node);
    ngx_queue_init(&n->queue);

    return n;
}


static uint64_t
ngx_http_foundry_token_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * The bearer token of the request, checked: NGX_OK (ctx->token set),
 * NGX_AGAIN while an issuer's keys are fetched, NGX_HTTP_UNAUTHORIZED
 * (the ctx says why), or NGX_ERROR.
 */

ngx_int_t
ngx_http_foundry_token_check(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    u_char                         digest[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    uint32_t                       hash;
    ngx_int_t                      rc;
    ngx_str_t                      token;
    ngx_uint_t                     cached;
    ngx_str_t                      parts[2];
    const char                    *err;
    ngx_table_elt_t               *h;
    ngx_http_foundry_jwk_t        *key;
    ngx_http_foundry_jwt_t        *jwt;
    ngx_http_foundry_issuer_t     *iss;
    ngx_http_foundry_jwt_node_t   *n;
    ngx_http_foundry_jwt_zone_t   *jz;
    ngx_http_foundry_main_conf_t  *fmcf;

    h = r->headers_in.authorization;

    if (h == NULL || h->value.len <= sizeof("Bearer ") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1)
           != 0)
    {
        ctx->auth_failure = "missing";
        ctx->error_code = "Unauthorized";
        ctx->error_message = "access denied: no credential was sent";
        ctx->challenge = "Bearer";
        return NGX_HTTP_UNAUTHORIZED;
    }

    token.data = h->value.data + sizeof("Bearer ") - 1;
    token.len = h->value.len - (sizeof("Bearer ") - 1);

    while (token.len && token.data[0] == ' ') {
        token.data++;
        token.len--;
    }

    hash = ngx_http_foundry_local_hash(&token);

    /* remembering tokens is foundry_jwt_zone's: without it, none is */

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);
    jz = fmcf->jwt;

    if (jz) {
        rc = ngx_http_foundry_token_local(r, flcf, ctx, &token, hash);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    jwt = ctx->jwt;

    if (jwt == NULL) {
        jwt = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_jwt_t));
        if (jwt == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_foundry_jwt_parse(r->pool, &token, 0, jwt, &err)
            != NGX_OK)
        {
            return ngx_http_foundry_token_deny(r, ctx, err);
        }

        ctx->jwt = jwt;
    }

    iss = ngx_http_foundry_token_issuer(flcf, jwt);

    if (iss == NULL) {
        return ngx_http_foundry_token_deny(r, ctx, "wrong issuer");
    }

    /* a token that passed before: only the claims are checked again */

    cached = 0;

    /*
     * the token is remembered with its issuer's keys: a token verified
     * with the keys of one server's issuer is not taken for verified
     * by another of the same "iss" but other keys, nor after a reload
     * that changed the keys
     */

    parts[0].data = iss->keys_id;
    parts[0].len = sizeof(iss->keys_id);
    parts[1] = token;

    if (ngx_http_foundry_sha256(parts, 2, digest) != NGX_OK) {
        return NGX_ERROR;
    }

    if (jz && jz->sh) {
        ngx_shmtx_lock(&jz->shpool->mutex);

        n = ngx_http_foundry_jwt_node(jz, digest, sizeof(digest), 0);
        cached = (n && n->type == NGX_HTTP_FOUNDRY_JN_TOKEN
                  && n->expires > ngx_time());

        ngx_shmtx_unlock(&jz->shpool->mutex);
    }

    if (!cached) {
        rc = ngx_http_foundry_token_keys(r, flcf, ctx, iss, 0);

        if (rc != NGX_OK) {
            return rc;
        }

        key = ngx_http_foundry_token_key(ctx->jwks, jwt);

        if (key == NULL && iss->jwks_uri.len && !ctx->refetched) {

            /* a key the set may have got since: fetch it again, maybe */

            ctx->refetched = 1;

            rc = ngx_http_foundry_token_keys(r, flcf, ctx, iss, 1);

            if (rc != NGX_OK) {
                return rc;
            }

            key = ngx_http_foundry_token_key(ctx->jwks, jwt);
        }

        if (key == NULL) {
            return ngx_http_foundry_token_deny(r, ctx, "unknown key");
        }

        rc = ngx_http_foundry_jwt_verify(jwt, key, &err);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_http_foundry_token_deny(r, ctx, err);
        }
    }

    if (ngx_http_foundry_token_claims(r, flcf, iss, jwt, &err) != NGX_OK) {
        return ngx_http_foundry_token_deny(r, ctx, err);
    }

    /* remembered until it expires */

    if (!cached && jz && jz->sh) {
        ngx_shmtx_lock(&jz->shpool->mutex);

        n = ngx_http_foundry_jwt_node(jz, digest, sizeof(digest), 1);

        if (n) {
            n->type = NGX_HTTP_FOUNDRY_JN_TOKEN;
            n->expires = (time_t) jwt->exp;

            if (ngx_queue_prev(&n->queue) == &n->queue) {
                ngx_queue_insert_head(&((ngx_http_foundry_jwt_shctx_t *)
                                        jz->sh)->queue, &n->queue);
            }
        }

        ngx_shmtx_unlock(&jz->shpool->mutex);
    }

    ngx_explicit_memzero(digest, sizeof(digest));

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: token of \"%V\" accepted%s", &jwt->iss,
                   cached ? " (remembered)" : "");

    if (jz) {
        ngx_http_foundry_token_remember(iss, &token, hash);
    }

    ctx->token = jwt;

    return NGX_OK;
}


/* the issuer of the location that the token names */

static ngx_http_foundry_issuer_t *
ngx_http_foundry_token_issuer(ngx_http_foundry_loc_conf_t *flcf,
    ngx_http_foundry_jwt_t *jwt)
{
    ngx_uint_t                  i;
    ngx_http_foundry_issuer_t  *iss;

    if (flcf->issuers == NULL) {
        return NULL;
    }

    iss = flcf->issuers->elts;

    for (i = 0; i < flcf->issuers->nelts; i++) {
        if (iss[i].iss.len == jwt->iss.len
            && ngx_strncmp(iss[i].iss.data, jwt->iss.data, jwt->iss.len) == 0)
        {
            return &iss[i];
        }
    }

    return NULL;
}


/*
 * A token this worker accepted before, with the same issuer's keys: its
 * claims are checked again and it is accepted or refused (NGX_OK,
 * NGX_HTTP_UNAUTHORIZED), or NGX_DECLINED when it is not in the table.
 */

static ngx_int_t
ngx_http_foundry_token_local(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *token, uint32_t hash)
{
    const char                     *err;
    ngx_http_foundry_jwt_t         *jwt;
    ngx_http_foundry_issuer_t      *iss;
    ngx_http_foundry_local_slot_t  *slot;

    slot = ngx_http_foundry_local_find(&ngx_http_foundry_token_table, token,
                                       hash);
    if (slot == NULL) {
        return NGX_DECLINED;
    }

    jwt = slot->value;
    iss = ngx_http_foundry_token_issuer(flcf, jwt);

    if (iss == NULL
        || ngx_memcmp(iss->keys_id, slot->tag, sizeof(iss->keys_id)) != 0)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_foundry_token_claims(r, flcf, iss, jwt, &err) != NGX_OK) {
        return ngx_http_foundry_token_deny(r, ctx, err);
    }

    if (ngx_http_foundry_local_hold(r, slot) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: token of \"%V\" accepted (remembered)",
                   &jwt->iss);

    ctx->jwt = jwt;
    ctx->token = jwt;

    return NGX_OK;
}


/* an accepted token goes into the table, parsed again in its slot's pool */

static void
ngx_http_foundry_token_remember(ngx_http_foundry_issuer_t *iss,
    ngx_str_t *token, uint32_t hash)
{
    const char                     *err;
    ngx_http_foundry_jwt_t         *jwt;
    ngx_http_foundry_local_slot_t  *slot;

    slot = ngx_http_foundry_local_add(&ngx_http_foundry_token_table, token,
                                      hash, 2048 + token->len);
    if (slot == NULL) {
        return;
    }

    /* parsed from the slot's copy: the request's memory goes */

    jwt = ngx_pcalloc(slot->pool, sizeof(ngx_http_foundry_jwt_t));

    if (jwt == NULL
        || ngx_http_foundry_jwt_parse(slot->pool, &slot->secret, 0, jwt, &err)
           != NGX_OK)
    {
        ngx_http_foundry_local_drop(slot);
        return;
    }

    ngx_memcpy(slot->tag, iss->keys_id, sizeof(iss->keys_id));
    slot->value = jwt;
}


/* a key of the set for the token: by its kid, which then must be there */

static ngx_http_foundry_jwk_t *
ngx_http_foundry_token_key(ngx_http_foundry_jwks_t *jwks,
    ngx_http_foundry_jwt_t *jwt)
{
    ngx_uint_t               i;
    const char              *err;
    ngx_http_foundry_jwk_t  *keys;

    if (jwks == NULL) {
        return NULL;
    }

    if (jwt->kid.len == 0) {
        return ngx_http_foundry_jwks_find(jwks, jwt);
    }

    keys = jwks->keys.elts;

    for (i = 0; i < jwks->keys.nelts; i++) {
        if (keys[i].kid.len == jwt->kid.len
            && ngx_memcmp(keys[i].kid.data, jwt->kid.data, jwt->kid.len) == 0
            && ngx_http_foundry_jwk_usable(&keys[i], jwt->alg, &err)
               == NGX_OK)
        {
            return &keys[i];
        }
    }

    /* a single key without kid still verifies tokens that name one */

    if (jwks->keys.nelts == 1 && keys[0].kid.len == 0
        && ngx_http_foundry_jwk_usable(&keys[0], jwt->alg, &err) == NGX_OK)
    {
        return &keys[0];
    }

    return NULL;
}


/*
 * The issuer's keys in ctx->jwks: its static set, or its fetched set as
 * this worker parsed it last (parsed again when the zone holds a newer
 * one).  NGX_AGAIN when a fetch was started; with "refetch", a fetch is
 * started unless one was done within the cooldown.
 */

static ngx_int_t
ngx_http_foundry_token_keys(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_issuer_t *iss, ngx_uint_t refetch)
{
    u_char                        *json;
    size_t                         len;
    uint64_t                       now;
    ngx_uint_t                     fetch, generation, skipped;
    ngx_pool_t                    *pool;
    const char                    *err;
    ngx_pool_cleanup_t            *cln;
    ngx_http_foundry_jwks_t       *jwks;
    ngx_http_foundry_jwt_node_t   *n;
    ngx_http_foundry_jwt_zone_t   *jz;
    ngx_http_foundry_main_conf_t  *fmcf;

    if (iss->jwks_uri.len == 0) {
        ctx->jwks = iss->keys;
        return NGX_OK;
    }

    if (ctx->jwks_url.len && !ctx->jwks_fetched_here) {
        /* the discovery document was fetched here: now the set */
        return ngx_http_foundry_token_fetch(r, ctx, iss, &iss->jwks_uri,
                                            ngx_http_foundry_token_fetched,
                                            NGX_HTTP_FOUNDRY_JWKS_MAX);
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);
    jz = fmcf->jwt;

    now = ngx_http_foundry_token_now();
    fetch = 0;
    json = NULL;
    len = 0;
    generation = 0;

    ngx_shmtx_lock(&jz->shpool->mutex);

    n = ngx_http_foundry_jwt_node(jz, iss->keys_id, sizeof(iss->keys_id), 1);

    if (n) {
        n->type = NGX_HTTP_FOUNDRY_JN_JWKS;

        if (ctx->jwks_fetched_here) {
            /* this request fetched: use what there is now */

        } else if ((n->json == NULL && !n->failed)
                   || now >= n->fetched + iss->ttl
                   || (refetch && now >= n->refetch
                                         + NGX_HTTP_FOUNDRY_KID_COOLDOWN))
        {
            if (n->fetching == 0 || now - n->fetching > 30000
                || (n->json == NULL && !n->failed))
            {
                n->fetching = now;

                if (refetch) {
                    n->refetch = now;
                }

                fetch = 1;
            }
        }

        generation = n->generation;

        if (!fetch && n->json
            && (iss->local == NULL || iss->local_generation != generation))
        {
            len = n->json_len;
            json = ngx_pnalloc(r->pool, len);

            if (json) {
                ngx_memcpy(json, n->json, len);
            }
        }
    }

    ngx_shmtx_unlock(&jz->shpool->mutex);

    if (fetch) {
        return iss->oidc_uri.len ? ngx_http_foundry_oidc_fetch(r, ctx, iss)
                                 : ngx_http_foundry_token_fetch(r, ctx, iss,
                                       &iss->jwks_uri,
                                       ngx_http_foundry_token_fetched,
                                       NGX_HTTP_FOUNDRY_JWKS_MAX);
    }

    if (json) {

        /* a newer set: this worker parses it once */

        pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_cycle->log);
        if (pool == NULL) {
            return NGX_ERROR;
        }

        jwks = ngx_pcalloc(pool, sizeof(ngx_http_foundry_jwks_t));

        if (jwks == NULL
            || ngx_http_foundry_jwks_parse(pool, json, len, jwks, &skipped,
                                           &err)
               != NGX_OK)
        {
            ngx_destroy_pool(pool);

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "foundry: the key set of \"%V\" cannot be used",
                          &iss->iss);

            ctx->jwks = iss->local;
            return NGX_OK;
        }

        if (iss->local_pool) {
            ngx_destroy_pool(iss->local_pool);

        } else {
            /* the worker's last parse goes with the configuration */

            cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
            if (cln == NULL) {
                ngx_destroy_pool(pool);
                return NGX_ERROR;
            }

            cln->handler = ngx_http_foundry_token_local_cleanup;
            cln->data = iss;
        }

        iss->local_pool = pool;
        iss->local = jwks;
        iss->local_generation = generation;
    }

    ctx->jwks = iss->local;

    return NGX_OK;
}


static void
ngx_http_foundry_token_local_cleanup(void *data)
{
    ngx_http_foundry_issuer_t  *iss = data;

    if (iss->local_pool) {
        ngx_destroy_pool(iss->local_pool);
        iss->local_pool = NULL;
        iss->local = NULL;
    }
}


/*
 * A fetch for an issuer's keys (its key set, or its discovery document):
 * a subrequest to "uri" whose answer, up to "max" bytes, goes to
 * "handler"; NGX_AGAIN
 */

ngx_int_t
ngx_http_foundry_token_fetch(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_issuer_t *iss,
    ngx_str_t *uri, ngx_http_post_subrequest_pt handler, size_t max)
{
    ngx_http_post_subrequest_t     *ps;
    ngx_http_foundry_jwks_fetch_t  *f;

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_jwks_fetch_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    f->ctx = ctx;
    f->iss = iss;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = handler;
    ps->data = f;

    if (ngx_http_foundry_subrequest(r, uri, ps, max, &f->collect) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->jwks_pending = 1;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_foundry_token_fetched(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_foundry_jwks_fetch_t *f = data;

    ngx_str_t                 body;
    ngx_uint_t                skipped;
    ngx_pool_t               *pool;
    const char               *err;
    ngx_http_foundry_jwks_t   jwks;

    if (f->done) {
        return rc;
    }

    f->done = 1;
    f->ctx->jwks_pending = 0;
    f->ctx->jwks_fetched_here = 1;

    err = NULL;
    ngx_str_null(&body);

    if (rc != NGX_OK || r->headers_out.status != NGX_HTTP_OK) {
        err = "the key set location did not answer 200";

    } else if (f->collect->too_large) {
        err = "the key set is too large";

    } else if (f->collect->buf == NULL
               || f->collect->buf->last == f->collect->buf->pos)
    {
        err = "the key set is empty";

    } else {
        body.data = f->collect->buf->pos;
        body.len = f->collect->buf->last - f->collect->buf->pos;

        /* only a set that parses replaces the last good one */

        pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, r->connection->log);
        if (pool == NULL) {
            return rc;
        }

        ngx_memzero(&jwks, sizeof(ngx_http_foundry_jwks_t));

        if (ngx_http_foundry_jwks_parse(pool, body.data, body.len, &jwks,
                                        &skipped, &err)
            == NGX_OK
            && jwks.keys.nelts == 0)
        {
            err = "the key set has no usable key";
        }

        ngx_destroy_pool(pool);
    }

    ngx_http_foundry_token_store(r, f->iss, &f->iss->jwks_uri,
                                 err ? NULL : &body, err);

    return rc;
}


/*
 * The end of a fetch of an issuer's key set: a good set ("body") is kept
 * in the zone, a failure ("err") is logged once and the set is fetched
 * again after the cooldown, the last good set kept; "from" is the
 * location, for the log.
 */

void
ngx_http_foundry_token_store(ngx_http_request_t *r,
    ngx_http_foundry_issuer_t *iss, ngx_str_t *from, ngx_str_t *body,
    const char *err)
{
    u_char                        *copy;
    ngx_uint_t                     logged, kept;
    ngx_http_foundry_jwt_node_t   *n;
    ngx_http_foundry_jwt_zone_t   *jz;
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);
    jz = fmcf->jwt;

    ngx_shmtx_lock(&jz->shpool->mutex);

    n = ngx_http_foundry_jwt_node(jz, iss->keys_id,
                                  sizeof(iss->keys_id), 1);
    logged = 1;
    kept = 0;

    if (n) {
        n->type = NGX_HTTP_FOUNDRY_JN_JWKS;
        n->fetching = 0;

        if (err == NULL) {
            copy = ngx_slab_alloc_locked(jz->shpool, body->len);

            if (copy == NULL) {
                err = "the JWT zone is full";

            } else {
                ngx_memcpy(copy, body->data, body->len);

                if (n->json) {
                    ngx_slab_free_locked(jz->shpool, n->json);
                }

                n->json = copy;
                n->json_len = body->len;
                n->generation++;
                n->fetched = ngx_http_foundry_token_now();
                n->failed = 0;
            }
        }

        if (err) {
            logged = n->failed;
            kept = (n->json != NULL);
            n->failed = 1;

            /* retried after the cooldown, the last good set kept */

            n->fetched = ngx_http_foundry_token_now()
                         + NGX_HTTP_FOUNDRY_KID_COOLDOWN
                         - iss->ttl;
        }
    }

    ngx_shmtx_unlock(&jz->shpool->mutex);

    ngx_http_foundry_metrics_event(fmcf, NGX_HTTP_FOUNDRY_M_JWKS, "issuer",
                                   &iss->iss, err ? "failed" : "ok");

    if (err && !logged) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: the key set of \"%V\" from \"%V\" failed: "
                      "%s, %s", &iss->iss, from, err,
                      kept ? "the last good set is kept"
                           : "no token of the issuer can be verified");
    }
}


/* the registered claims, then the required ones */

static ngx_int_t
ngx_http_foundry_token_claims(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_issuer_t *iss,
    ngx_http_foundry_jwt_t *jwt, const char **err)
{
    time_t       now, leeway;
    ngx_str_t   *aud, *want;
    ngx_uint_t   i, j, ok;

    now = ngx_time();
    leeway = (time_t) (flcf->jwt_leeway / 1000);

    if (!jwt->has_exp) {
        *err = "token without expiry";
        return NGX_DECLINED;
    }

    if (now > jwt->exp + leeway) {
        *err = "token expired";
        return NGX_DECLINED;
    }

    if (jwt->has_nbf && now + leeway < jwt->nbf) {
        *err = "token not valid yet";
        return NGX_DECLINED;
    }

    if (flcf->jwt_max_age) {
        if (!jwt->has_iat
            || now - jwt->iat > (time_t) (flcf->jwt_max_age / 1000) + leeway)
        {
            *err = "token too old";
            return NGX_DECLINED;
        }
    }

    /* an audience of the token is one of the issuer's */

    ok = 0;
    want = iss->audiences->elts;

    for (i = 0; jwt->aud && i < jwt->aud->nelts && !ok; i++) {
        aud = &((ngx_str_t *) jwt->aud->elts)[i];

        for (j = 0; j < iss->audiences->nelts; j++) {
            if (aud->len == want[j].len
                && ngx_strncmp(aud->data, want[j].data, aud->len) == 0)
            {
                ok = 1;
                break;
            }
        }
    }

    if (!ok) {
        *err = "wrong audience";
        return NGX_DECLINED;
    }

    if (ngx_http_foundry_token_rules(jwt, iss->claims, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    return ngx_http_foundry_token_rules(jwt, flcf->claims, err);
}


/* the rules of foundry_jwt_claim or of an issuer */

static ngx_int_t
ngx_http_foundry_token_rules(ngx_http_foundry_jwt_t *jwt, ngx_array_t *claims,
    const char **err)
{
    ngx_str_t                      *have, *want;
    ngx_uint_t                      i, k, ok;
    ngx_http_foundry_jwt_claim_t   *c;
    ngx_http_foundry_claim_rule_t  *rule;

    if (claims == NULL) {
        return NGX_OK;
    }

    rule = claims->elts;

    for (i = 0; i < claims->nelts; i++) {

        c = ngx_http_foundry_jwt_claim(jwt, &rule[i].name);

        if (c == NULL) {
            *err = "missing claim";
            return NGX_DECLINED;
        }

        want = rule[i].values->elts;
        ok = 0;

        if (rule[i].op == NGX_HTTP_FOUNDRY_CLAIM_CONTAINS) {
            if (c->type != NGX_HTTP_FOUNDRY_CLAIM_ARRAY || c->items == NULL) {
                *err = "wrong claim";
                return NGX_DECLINED;
            }

            have = c->items->elts;

            for (k = 0; k < c->items->nelts && !ok; k++) {
                ok = ngx_http_foundry_claim_eq(&have[k], &want[0],
                                               rule[i].nocase);
            }

        } else {
            if (c->type != NGX_HTTP_FOUNDRY_CLAIM_STRING
                && c->type != NGX_HTTP_FOUNDRY_CLAIM_NUMBER
                && c->type != NGX_HTTP_FOUNDRY_CLAIM_BOOL)
            {
                *err = "wrong claim";
                return NGX_DECLINED;
            }

            for (k = 0; k < rule[i].values->nelts && !ok; k++) {
                ok = ngx_http_foundry_claim_eq(&c->value, &want[k],
                                               rule[i].nocase);
            }
        }

        if (!ok) {
            *err = "wrong claim";
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


ngx_uint_t
ngx_http_foundry_claim_eq(ngx_str_t *a, ngx_str_t *b, ngx_uint_t nocase)
{
    if (a->len != b->len) {
        return 0;
    }

    if (nocase) {
        return ngx_strncasecmp(a->data, b->data, a->len) == 0;
    }

    return ngx_strncmp(a->data, b->data, a->len) == 0;
}


/* the 401: RFC 6750's challenge with a description safe to give */

static ngx_int_t
ngx_http_foundry_token_deny(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, const char *description)
{
    u_char  *p;
    size_t   len;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "foundry: token refused: %s", description);

    ctx->auth_failure = "token";
    ctx->error_code = "Unauthorized";
    ctx->error_message = "access denied: the token is not valid";

    len = sizeof("Bearer error=\"invalid_token\", error_description=\"\"") - 1
          + ngx_strlen(description);

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(p, "Bearer error=\"invalid_token\", "
                "error_description=\"%s\"%Z", description);

    ctx->challenge = (char *) p;

    return NGX_HTTP_UNAUTHORIZED;
}


/* whether a token may use a deployment: by the allow rules, if any */

ngx_uint_t
ngx_http_foundry_token_allows(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *deployment)
{
    ngx_int_t                        rc;
    ngx_uint_t                       i, j;
    ngx_http_foundry_pattern_t      *d;
    ngx_http_foundry_token_allow_t  *allow;

    if (flcf->token_allow == NULL || ctx->token == NULL) {
        return 1;
    }

    allow = flcf->token_allow->elts;

    for (i = 0; i < flcf->token_allow->nelts; i++) {

        if (!ngx_http_foundry_token_matches(ctx, &allow[i])) {
            continue;
        }

        d = allow[i].deployments->elts;

        for (j = 0; j < allow[i].deployments->nelts; j++) {

            if (d[j].regex == NULL) {
                if (d[j].name.len == deployment->len
                    && ngx_strncasecmp(d[j].name.data, deployment->data,
                                       d[j].name.len)
                       == 0)
                {
                    return 1;
                }

                continue;
            }

            rc = ngx_regex_exec(d[j].regex, deployment, NULL, 0);

            if (rc >= 0) {
                return 1;
            }
        }
    }

    return 0;
}


/* whether a token may use an operation: by the operations rules, if any */

ngx_uint_t
ngx_http_foundry_token_allows_op(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    uint32_t operation)
{
    ngx_uint_t                       i;
    ngx_http_foundry_token_allow_t  *allow;

    if (flcf->token_ops == NULL || ctx->token == NULL) {
        return 1;
    }

    allow = flcf->token_ops->elts;

    for (i = 0; i < flcf->token_ops->nelts; i++) {
        if ((allow[i].operations & operation)
            && ngx_http_foundry_token_matches(ctx, &allow[i]))
        {
            return 1;
        }
    }

    return 0;
}


/* whether the token's claim of a rule is (or, an array, holds) its value */

static ngx_uint_t
ngx_http_foundry_token_matches(ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_token_allow_t *allow)
{
    ngx_str_t                     *v;
    ngx_uint_t                     k;
    ngx_http_foundry_jwt_claim_t  *c;

    c = ngx_http_foundry_jwt_claim(ctx->token, &allow->claim);

    if (c == NULL) {
        return 0;
    }

    if (c->type == NGX_HTTP_FOUNDRY_CLAIM_ARRAY && c->items) {
        v = c->items->elts;

        for (k = 0; k < c->items->nelts; k++) {
            if (ngx_http_foundry_claim_eq(&v[k], &allow->value, 0)) {
                return 1;
            }
        }

        return 0;
    }

    return ngx_http_foundry_claim_eq(&c->value, &allow->value, 0);
}
