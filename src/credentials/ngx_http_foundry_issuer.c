
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_jwt.h"
#include "ngx_http_foundry_token.h"


/* the arguments of foundry_jwt_issuer, while they are read */

typedef struct {
    ngx_http_foundry_issuer_t  *iss;
    ngx_uint_t                  keys;       /* the key sources given */
} ngx_http_foundry_issuer_args_t;


/* the arguments of foundry_entra, while they are read */

typedef struct {
    ngx_str_t    tenant;
    ngx_str_t    project;
    ngx_str_t    jwks;
    ngx_str_t    audience;
    ngx_msec_t   ttl;
} ngx_http_foundry_entra_args_t;


static ngx_http_foundry_token_allow_t *ngx_http_foundry_token_rule(
    ngx_conf_t *cf, ngx_array_t **rules, const char *param, ngx_str_t *list);
static ngx_int_t ngx_http_foundry_issuer_keys_id(
    ngx_http_foundry_issuer_t *iss, ngx_str_t *source);
static ngx_int_t ngx_http_foundry_issuer_remote_id(
    ngx_http_foundry_issuer_t *iss);
static ngx_int_t ngx_http_foundry_jwt_issuer_arg(ngx_conf_t *cf, void *data,
    ngx_str_t *arg);
static ngx_int_t ngx_http_foundry_issuer_secret(ngx_conf_t *cf,
    ngx_http_foundry_issuer_t *iss, ngx_str_t *arg);
static ngx_int_t ngx_http_foundry_entra_arg(ngx_conf_t *cf, void *data,
    ngx_str_t *arg);
static ngx_int_t ngx_http_foundry_entra_issuers(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_entra_args_t *ea);
static char *ngx_http_foundry_jwt_keys_file(ngx_conf_t *cf,
    ngx_http_foundry_issuer_t *iss, ngx_str_t *file, ngx_uint_t pem);
static ngx_int_t ngx_http_foundry_claim_add(ngx_conf_t *cf,
    ngx_array_t **claims, ngx_str_t *name, ngx_uint_t op, ngx_str_t *values,
    ngx_uint_t nocase);


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


ngx_http_foundry_issuer_t *
ngx_http_foundry_issuer_add(ngx_conf_t *cf, ngx_http_foundry_loc_conf_t *flcf,
    ngx_str_t *name)
{
    ngx_uint_t                  i;
    ngx_http_foundry_issuer_t  *iss;

    if (flcf->access->issuers == NGX_CONF_UNSET_PTR) {
        flcf->access->issuers = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_foundry_issuer_t));
        if (flcf->access->issuers == NULL) {
            return NULL;
        }
    }

    iss = flcf->access->issuers->elts;

    for (i = 0; i < flcf->access->issuers->nelts; i++) {
        if (iss[i].iss.len == name->len
            && ngx_strncmp(iss[i].iss.data, name->data, name->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate issuer \"%V\"", name);
            return NULL;
        }
    }

    iss = ngx_array_push(flcf->access->issuers);
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

    ngx_str_t                       *value;
    ngx_http_foundry_issuer_t       *iss;
    ngx_http_foundry_issuer_args_t   ia;

    value = cf->args->elts;

    iss = ngx_http_foundry_issuer_add(cf, flcf, &value[1]);
    if (iss == NULL) {
        return NGX_CONF_ERROR;
    }

    ia.iss = iss;
    ia.keys = 0;

    if (ngx_http_foundry_conf_args(cf, 2, ngx_http_foundry_jwt_issuer_arg, &ia)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (iss->audiences->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"audience=\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (ia.keys != 1) {
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
}


/* one argument of foundry_jwt_issuer, for ngx_http_foundry_conf_args() */

static ngx_int_t
ngx_http_foundry_jwt_issuer_arg(ngx_conf_t *cf, void *data, ngx_str_t *arg)
{
    ngx_http_foundry_issuer_args_t *ia = data;

    ngx_str_t                  v, *aud;
    ngx_http_foundry_issuer_t  *iss;

    iss = ia->iss;

    if (ngx_strncmp(arg->data, "audience=", 9) == 0) {
        aud = ngx_array_push(iss->audiences);
        if (aud == NULL) {
            return NGX_ERROR;
        }

        aud->data = arg->data + 9;
        aud->len = arg->len - 9;

        if (aud->len == 0) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "jwks=", 5) == 0) {
        iss->jwks_uri.data = arg->data + 5;
        iss->jwks_uri.len = arg->len - 5;

        if (iss->jwks_uri.len == 0 || iss->jwks_uri.data[0] != '/') {
            return NGX_DECLINED;
        }

        ia->keys++;
        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "oidc=", 5) == 0) {
        iss->oidc_uri.data = arg->data + 5;
        iss->oidc_uri.len = arg->len - 5;

        if (iss->oidc_uri.len == 0 || iss->oidc_uri.data[0] != '/') {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "ttl=", 4) == 0) {
        v.data = arg->data + 4;
        v.len = arg->len - 4;

        iss->ttl = ngx_parse_time(&v, 0);

        if (iss->ttl == (ngx_msec_t) NGX_ERROR || iss->ttl == 0) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "jwks_file=", 10) == 0
        || ngx_strncmp(arg->data, "pem=", 4) == 0)
    {
        v.data = (u_char *) ngx_strchr(arg->data, '=') + 1;
        v.len = arg->data + arg->len - v.data;

        if (ngx_http_foundry_jwt_keys_file(cf, iss, &v, arg->data[0] == 'p')
            != NGX_CONF_OK)
        {
            return NGX_ERROR;
        }

        ia->keys++;
        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "secret=", 7) == 0) {
        ia->keys++;
        return ngx_http_foundry_issuer_secret(cf, iss, arg);
    }

    return NGX_ABORT;
}


/* secret=: an HMAC key */

static ngx_int_t
ngx_http_foundry_issuer_secret(ngx_conf_t *cf, ngx_http_foundry_issuer_t *iss,
    ngx_str_t *arg)
{
    ngx_str_t                *value, v;
    const char               *err;
    ngx_http_foundry_jwk_t   *jwk;
    ngx_http_foundry_jwks_t  *jwks;

    value = cf->args->elts;

    v.data = arg->data + 7;
    v.len = arg->len - 7;

    jwks = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_jwks_t));

    if (jwks == NULL
        || ngx_array_init(&jwks->keys, cf->pool, 1,
                          sizeof(ngx_http_foundry_jwk_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    iss->keys = jwks;

    jwk = ngx_array_push(&jwks->keys);
    if (jwk == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_issuer_keys_id(iss, arg) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_jwk_secret(cf->pool, &v, jwk, &err) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"secret=\" in \"%V\" directive: %s",
                           &value[0], err);
        return NGX_ERROR;
    }

    return NGX_OK;
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

    ngx_str_t                      *value;
    ngx_http_foundry_entra_args_t   ea;

    value = cf->args->elts;

    ngx_memzero(&ea, sizeof(ngx_http_foundry_entra_args_t));

    ngx_str_set(&ea.audience, "https://cognitiveservices.azure.com");
    ea.ttl = 3600000;

    if (ngx_http_foundry_conf_args(cf, 1, ngx_http_foundry_entra_arg, &ea)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ea.tenant.data == NULL || ea.jwks.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"tenant=\" and "
                           "\"jwks=\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_entra_issuers(cf, flcf, &ea) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* one argument of foundry_entra, for ngx_http_foundry_conf_args() */

static ngx_int_t
ngx_http_foundry_entra_arg(ngx_conf_t *cf, void *data, ngx_str_t *arg)
{
    ngx_http_foundry_entra_args_t *ea = data;

    ngx_str_t  v;

    if (ngx_strncmp(arg->data, "tenant=", 7) == 0) {
        ea->tenant.data = arg->data + 7;
        ea->tenant.len = arg->len - 7;

        if (ngx_http_foundry_valid_token(&ea->tenant) != NGX_OK) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "project=", 8) == 0) {
        ea->project.data = arg->data + 8;
        ea->project.len = arg->len - 8;

        if (ea->project.len == 0 || ea->project.data[0] != '/') {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "jwks=", 5) == 0) {
        ea->jwks.data = arg->data + 5;
        ea->jwks.len = arg->len - 5;

        if (ea->jwks.len == 0 || ea->jwks.data[0] != '/') {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "audience=", 9) == 0) {
        ea->audience.data = arg->data + 9;
        ea->audience.len = arg->len - 9;
        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "ttl=", 4) == 0) {
        v.data = arg->data + 4;
        v.len = arg->len - 4;

        ea->ttl = ngx_parse_time(&v, 0);

        if (ea->ttl == (ngx_msec_t) NGX_ERROR || ea->ttl == 0) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    return NGX_ABORT;
}


/* the tenant's two issuers (v1, v2), their keys and audience, the project */

static ngx_int_t
ngx_http_foundry_entra_issuers(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_entra_args_t *ea)
{
    ngx_str_t                   names[2], *aud, v;
    ngx_uint_t                  k;
    ngx_array_t                *claims;
    ngx_http_foundry_issuer_t  *iss;

    claims = NULL;

    names[0].len = sizeof("https://sts.windows.net//") - 1 + ea->tenant.len;
    names[0].data = ngx_pnalloc(cf->pool, names[0].len);
    names[1].len = sizeof("https://login.microsoftonline.com//v2.0") - 1
                   + ea->tenant.len;
    names[1].data = ngx_pnalloc(cf->pool, names[1].len);

    if (names[0].data == NULL || names[1].data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(names[0].data, "https://sts.windows.net/%V/", &ea->tenant);
    ngx_sprintf(names[1].data, "https://login.microsoftonline.com/%V/v2.0",
                &ea->tenant);

    for (k = 0; k < 2; k++) {
        iss = ngx_http_foundry_issuer_add(cf, flcf, &names[k]);
        if (iss == NULL) {
            return NGX_ERROR;
        }

        iss->jwks_uri = ea->jwks;
        iss->ttl = ea->ttl;

        if (ngx_http_foundry_issuer_remote_id(iss) != NGX_OK) {
            return NGX_ERROR;
        }

        aud = ngx_array_push(iss->audiences);
        if (aud == NULL) {
            return NGX_ERROR;
        }

        *aud = ea->audience;
    }

    /*
     * the project is the issuers' own rule: it goes wherever they are
     * inherited, whatever foundry_jwt_claim rules a level has
     */

    if (ea->project.data) {
        ngx_str_set(&v, "xms_mirid");

        if (ngx_http_foundry_claim_add(cf, &claims, &v,
                                       NGX_HTTP_FOUNDRY_CLAIM_EQUALS,
                                       &ea->project, 1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        iss = flcf->access->issuers->elts;
        iss[flcf->access->issuers->nelts - 1].claims = claims;
        iss[flcf->access->issuers->nelts - 2].claims = claims;
    }

    return NGX_OK;
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

    if (ngx_http_foundry_claim_add(cf, &flcf->access->claims, &value[1], op, &v,
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

    allow = ngx_http_foundry_token_rule(cf, &flcf->access->token_allow,
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

    allow = ngx_http_foundry_token_rule(cf, &flcf->access->token_ops,
                                        "operations=", &list);
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

    if (conf->access->issuers == NULL) {
        return NGX_OK;
    }

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    iss = conf->access->issuers->elts;

    for (i = 0; i < conf->access->issuers->nelts; i++) {
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


/* a location's bearer token settings, all unset */

ngx_http_foundry_access_conf_t *
ngx_http_foundry_access_create_conf(ngx_conf_t *cf)
{
    ngx_http_foundry_access_conf_t  *bcf;

    bcf = ngx_palloc(cf->pool, sizeof(ngx_http_foundry_access_conf_t));
    if (bcf == NULL) {
        return NULL;
    }

    /* auth_type and auth are set by the merge */

    bcf->keys = NGX_CONF_UNSET_PTR;
    bcf->key_sources = NGX_CONF_UNSET_PTR;
    bcf->auth_value = NGX_CONF_UNSET_UINT;
    bcf->auth_type = 0;
    bcf->auth = 0;
    bcf->issuers = NGX_CONF_UNSET_PTR;
    bcf->claims = NGX_CONF_UNSET_PTR;
    bcf->token_allow = NGX_CONF_UNSET_PTR;
    bcf->token_ops = NGX_CONF_UNSET_PTR;
    bcf->jwt_leeway = NGX_CONF_UNSET_MSEC;
    bcf->jwt_max_age = NGX_CONF_UNSET_MSEC;
    bcf->introspect = NGX_CONF_UNSET_PTR;

    return bcf;
}


/* what the location did not set, from the level above; auth_value stays */

void
ngx_http_foundry_access_merge_conf(ngx_http_foundry_access_conf_t *prev,
    ngx_http_foundry_access_conf_t *conf)
{
    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);
    ngx_conf_merge_ptr_value(conf->key_sources, prev->key_sources, NULL);
    ngx_conf_merge_ptr_value(conf->issuers, prev->issuers, NULL);
    ngx_conf_merge_ptr_value(conf->claims, prev->claims, NULL);
    ngx_conf_merge_ptr_value(conf->token_allow, prev->token_allow, NULL);
    ngx_conf_merge_ptr_value(conf->token_ops, prev->token_ops, NULL);
    ngx_conf_merge_msec_value(conf->jwt_leeway, prev->jwt_leeway, 60000);
    ngx_conf_merge_msec_value(conf->jwt_max_age, prev->jwt_max_age, 0);
    ngx_conf_merge_ptr_value(conf->introspect, prev->introspect, NULL);
}


/* foundry_auth, foundry_jwt_leeway, foundry_jwt_max_age: flcf->access's */

char *
ngx_http_foundry_access_enum_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t  *flcf = conf;

    return ngx_http_foundry_conf_set_enum(cf, cmd, flcf->access);
}


char *
ngx_http_foundry_access_msec_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t  *flcf = conf;

    return ngx_conf_set_msec_slot(cf, cmd, flcf->access);
}
