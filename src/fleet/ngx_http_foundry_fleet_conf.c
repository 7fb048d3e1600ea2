
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
 * foundry_limit_sync: its parameters, the TLS context, the password file
 * read into the AUTH command; the zone's sync settings for admission
 * (limit.h) and the configuration's list of syncs.
 */


/* foundry_limit_sync's parameters while they are read */

typedef struct {
    ngx_http_foundry_fleet_t       *fleet;
    ngx_http_foundry_limit_zone_t  *lz;
    ngx_str_t                       password;
    ngx_str_t                       ca;
    ngx_str_t                       host;
    ngx_int_t                       nodes;
    ngx_int_t                       fail;
    ngx_uint_t                      tls;
} ngx_http_foundry_fleet_args_t;


static ngx_int_t ngx_http_foundry_fleet_param(ngx_conf_t *cf, void *data,
    ngx_str_t *arg);
static ngx_int_t ngx_http_foundry_fleet_number(
    ngx_http_foundry_fleet_args_t *a, ngx_str_t *arg);
static ngx_uint_t ngx_http_foundry_fleet_arg(ngx_str_t *arg, char *name,
    ngx_str_t *value);
static ngx_int_t ngx_http_foundry_fleet_tls(ngx_conf_t *cf,
    ngx_http_foundry_fleet_t *f, ngx_str_t *ca);
static ngx_int_t ngx_http_foundry_fleet_password(ngx_conf_t *cf,
    ngx_http_foundry_fleet_t *f, ngx_str_t *file);


/*
 * foundry_limit_sync zone=name (redis=host:port | state=path)
 *                    [tls] [tls_ca=path] [tls_name=name]
 *                    [password_file=path] [interval=1s] [timeout=1s]
 *                    [nodes=n] [fail=open|share|closed];
 */

char *
ngx_http_foundry_limit_sync(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_main_conf_t *fmcf = conf;

    ngx_str_t                      *value;
    ngx_http_foundry_fleet_t       *f;
    ngx_http_foundry_fleet_args_t   a;

    value = cf->args->elts;

    f = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_fleet_t));
    if (f == NULL) {
        return NGX_CONF_ERROR;
    }

    f->interval = 1000;
    f->redis.timeout = 1000;

    ngx_memzero(&a, sizeof(ngx_http_foundry_fleet_args_t));
    a.fleet = f;
    a.nodes = 1;
    a.fail = NGX_HTTP_FOUNDRY_FAIL_SHARE;

    if (ngx_http_foundry_conf_args(cf, 1, ngx_http_foundry_fleet_param, &a)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (f->redis.tls_name.len == 0) {
        f->redis.tls_name = a.host;
    }

    if (a.lz == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"zone=\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (a.lz->fleet) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": zone \"%V\" is synced already",
                           &value[0], &f->name);
        return NGX_CONF_ERROR;
    }

    if ((f->redis.addr == NULL) == (f->state.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs either \"redis=\" or "
                           "\"state=\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    if ((a.tls || a.ca.len) && f->redis.addr == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": \"tls\" needs \"redis=\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    if ((a.tls || a.ca.len)
        && ngx_http_foundry_fleet_tls(cf, f, &a.ca) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (a.password.len) {
        if (f->redis.addr == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": \"password_file=\" needs \"redis=\"",
                               &value[0]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_foundry_fleet_password(cf, f, &a.password) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    f->lz = a.lz;
    f->conf.fail = (ngx_uint_t) a.fail;
    f->conf.nodes = (ngx_uint_t) a.nodes;
    f->conf.redis = (f->redis.addr != NULL);
    f->conf.retry = (time_t) (f->interval + 999) / 1000;
    a.lz->fleet = &f->conf;

    /* the configuration's list of them */

    f->next = fmcf->fleets;
    fmcf->fleets = f;

    return NGX_CONF_OK;
}


/*
 * One parameter of foundry_limit_sync (ngx_http_foundry_conf_args()):
 * NGX_OK, NGX_DECLINED for an invalid value, NGX_ABORT for an unknown
 * parameter, NGX_ERROR once the error is logged.
 */

static ngx_int_t
ngx_http_foundry_fleet_param(ngx_conf_t *cf, void *data, ngx_str_t *arg)
{
    ngx_http_foundry_fleet_args_t *a = data;

    ngx_str_t                 *value, name;
    ngx_url_t                  u;
    ngx_shm_zone_t            *shm_zone;
    ngx_http_foundry_fleet_t  *f;

    f = a->fleet;

    if (ngx_http_foundry_fleet_arg(arg, "zone=", &name)) {
        shm_zone = ngx_shared_memory_add(cf, &name, 0,
                                         &ngx_http_foundry_module);
        if (shm_zone == NULL) {
            return NGX_ERROR;
        }

        if (!ngx_http_foundry_limit_is_zone(shm_zone)) {
            value = cf->args->elts;

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": no foundry_limit_zone \"%V\" "
                               "before it", &value[0], &name);
            return NGX_ERROR;
        }

        a->lz = shm_zone->data;
        f->name = shm_zone->shm.name;

    } else if (ngx_http_foundry_fleet_arg(arg, "redis=", &name)) {
        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url = name;
        u.default_port = 6379;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            value = cf->args->elts;

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": %s in \"%V\"", &value[0],
                               u.err ? u.err : "no address", arg);
            return NGX_ERROR;
        }

        f->redis.addr = &u.addrs[0];
        f->server = u.addrs[0].name;
        a->host = u.host;

    } else if (ngx_strcmp(arg->data, "tls") == 0) {
        a->tls = 1;

    } else if (ngx_http_foundry_fleet_arg(arg, "tls_ca=", &a->ca)
               || ngx_http_foundry_fleet_arg(arg, "password_file=",
                                             &a->password))
    {
        /* read once all are known */

    } else if (ngx_http_foundry_fleet_arg(arg, "tls_name=",
                                          &f->redis.tls_name))
    {
        if (f->redis.tls_name.len == 0) {
            return NGX_DECLINED;
        }

    } else if (ngx_http_foundry_fleet_arg(arg, "state=", &f->state)) {
        if (f->state.len == 0
            || ngx_conf_full_name(cf->cycle, &f->state, 0) != NGX_OK)
        {
            return NGX_DECLINED;
        }

    } else {
        return ngx_http_foundry_fleet_number(a, arg);
    }

    return NGX_OK;
}


/* interval=, timeout=, nodes= and fail= */

static ngx_int_t
ngx_http_foundry_fleet_number(ngx_http_foundry_fleet_args_t *a,
    ngx_str_t *arg)
{
    ngx_str_t                  name;
    ngx_http_foundry_fleet_t  *f;

    f = a->fleet;

    if (ngx_http_foundry_fleet_arg(arg, "interval=", &name)) {
        f->interval = ngx_parse_time(&name, 0);

        if (f->interval == (ngx_msec_t) NGX_ERROR || f->interval < 10) {
            return NGX_DECLINED;
        }

    } else if (ngx_http_foundry_fleet_arg(arg, "timeout=", &name)) {
        f->redis.timeout = ngx_parse_time(&name, 0);

        if (f->redis.timeout == (ngx_msec_t) NGX_ERROR
            || f->redis.timeout == 0)
        {
            return NGX_DECLINED;
        }

    } else if (ngx_http_foundry_fleet_arg(arg, "nodes=", &name)) {
        a->nodes = ngx_atoi(name.data, name.len);

        if (a->nodes < 1 || a->nodes > 1000) {
            return NGX_DECLINED;
        }

    } else if (ngx_http_foundry_fleet_arg(arg, "fail=", &name)) {
        for (a->fail = 0; a->fail < 3; a->fail++) {
            if (ngx_strcmp(name.data, ngx_http_foundry_fleet_fails[a->fail])
                == 0)
            {
                break;
            }
        }

        if (a->fail == 3) {
            return NGX_DECLINED;
        }

    } else {
        return NGX_ABORT;
    }

    return NGX_OK;
}


/* a "name=value" parameter: 1 and its value when it is the one named */

static ngx_uint_t
ngx_http_foundry_fleet_arg(ngx_str_t *arg, char *name, ngx_str_t *value)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len < len || ngx_strncmp(arg->data, name, len) != 0) {
        return 0;
    }

    value->data = arg->data + len;
    value->len = arg->len - len;

    return 1;
}


/*
 * tls: the connections to Redis through nginx's SSL (TLS 1.2 and 1.3), the
 * server's certificate verified against tls_ca= (else the system's CAs)
 * and its name against tls_name= (else redis='s host)
 */

static ngx_int_t
ngx_http_foundry_fleet_tls(ngx_conf_t *cf, ngx_http_foundry_fleet_t *f,
    ngx_str_t *ca)
{
#if (NGX_SSL)
    u_char              *p;
    ngx_ssl_t           *ssl;
    ngx_pool_cleanup_t  *cln;

    ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (ssl == NULL) {
        return NGX_ERROR;
    }

    ssl->log = cf->log;

    if (ngx_ssl_create(ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = ssl;

    if (ca->len) {
        if (ngx_ssl_trusted_certificate(cf, ssl, ca, 4) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (SSL_CTX_set_default_verify_paths(ssl->ctx) != 1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "SSL_CTX_set_default_verify_paths() failed");
        return NGX_ERROR;
    }

    /* the name, NUL-terminated for SNI; no SNI for an address */

    p = ngx_pnalloc(cf->pool, f->redis.tls_name.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(p, f->redis.tls_name.data, f->redis.tls_name.len) = '\0';
    f->redis.tls_name.data = p;

    f->redis.sni = (ngx_inet_addr(p, f->redis.tls_name.len) == INADDR_NONE
                    && ngx_strlchr(p, p + f->redis.tls_name.len, ':') == NULL);

    f->redis.ssl = ssl;

    return NGX_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"foundry_limit_sync ... tls\" needs nginx built "
                       "with OpenSSL");
    return NGX_ERROR;

#endif
}


/*
 * password_file=: its first line, "password" or "user password" (an ACL
 * user), becomes the AUTH command sent on each new connection
 */

static ngx_int_t
ngx_http_foundry_fleet_password(ngx_conf_t *cf, ngx_http_foundry_fleet_t *f,
    ngx_str_t *file)
{
    u_char     *p, *last, *sp;
    ngx_str_t   text, user, pass;

    if (ngx_conf_full_name(cf->cycle, file, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_read_file(cf, file, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    p = text.data;
    last = ngx_strlchr(p, p + text.len, '\n');
    if (last == NULL) {
        last = p + text.len;
    }

    if (last > p && last[-1] == '\r') {
        last--;
    }

    sp = ngx_strlchr(p, last, ' ');

    ngx_str_null(&user);

    if (sp) {
        user.data = p;
        user.len = sp - p;
        p = sp + 1;
    }

    pass.data = p;
    pass.len = last - p;

    if (pass.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no password in \"%V\"", file);
        return NGX_ERROR;
    }

    f->redis.auth.data = ngx_pnalloc(cf->pool,
                                     16 + ngx_http_foundry_redis_arg_size(4)
                                     + ngx_http_foundry_redis_arg_size(
                                           user.len)
                                     + ngx_http_foundry_redis_arg_size(
                                           pass.len));
    if (f->redis.auth.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(f->redis.auth.data, "*%d\r\n", user.len ? 3 : 2);
    p = ngx_http_foundry_redis_arg(p, (u_char *) "AUTH", 4);

    if (user.len) {
        p = ngx_http_foundry_redis_arg(p, user.data, user.len);
    }

    p = ngx_http_foundry_redis_arg(p, pass.data, pass.len);

    f->redis.auth.len = p - f->redis.auth.data;

    ngx_explicit_memzero(text.data, text.len);

    return NGX_OK;
}
