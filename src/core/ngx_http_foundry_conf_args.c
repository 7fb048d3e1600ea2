
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"


/*
 * The arguments of a directive from the first one given on, each passed
 * to the directive's parser of one argument (name=value), which returns
 * NGX_OK, NGX_DECLINED for an invalid value, NGX_ABORT for an unknown
 * parameter, or NGX_ERROR once it has logged its own error.  NGX_OK, or
 * NGX_ERROR once the error is logged.
 */

ngx_int_t
ngx_http_foundry_conf_args(ngx_conf_t *cf, ngx_uint_t first,
    ngx_int_t (*parse)(ngx_conf_t *cf, void *data, ngx_str_t *arg),
    void *data)
{
    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;

    value = cf->args->elts;

    for (i = first; i < cf->args->nelts; i++) {
        rc = parse(cf, data, &value[i]);

        if (rc == NGX_OK) {
            continue;
        }

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\" directive",
                               &value[i], &value[0]);

        } else if (rc == NGX_ABORT) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" directive",
                               &value[i], &value[0]);
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A time parameter of more than 0, "name=time", whose name= is "skip"
 * bytes long: NGX_OK, or NGX_ERROR once "invalid value" is logged
 */

ngx_int_t
ngx_http_foundry_conf_msec(ngx_conf_t *cf, ngx_str_t *arg, size_t skip,
    ngx_msec_t *msec)
{
    ngx_str_t   s, *value;

    s.data = arg->data + skip;
    s.len = arg->len - skip;

    *msec = ngx_parse_time(&s, 0);

    if (*msec == (ngx_msec_t) NGX_ERROR || *msec == 0) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive",
                           arg, &value[0]);
        return NGX_ERROR;
    }

    return NGX_OK;
}
