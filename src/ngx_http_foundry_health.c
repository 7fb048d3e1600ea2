
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_module.h"


/*
 * The module's own state: "foundry_health", an answer from the module
 * alone (no upstream call, no shared zone touched), and what is done once
 * a configuration is loaded: the version notice, the running metrics, the
 * keys files loaded.
 */


static ngx_int_t ngx_http_foundry_health_handler(ngx_http_request_t *r);


/* foundry_health; the location answers {"status":"ok","version":"..."} */

char *
ngx_http_foundry_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_foundry_health_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_foundry_health_handler(ngx_http_request_t *r)
{
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    static u_char  body[] = "{\"status\":\"ok\",\"version\":\""
                            NGX_HTTP_FOUNDRY_VERSION "\"}";
    static u_char  msg[] = "the health endpoint answers GET and HEAD";

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");

        return ngx_http_foundry_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "MethodNotAllowed", msg,
                                           sizeof(msg) - 1);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body;
    b->last = body + sizeof(body) - 1;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_foundry_send_json(r, NGX_HTTP_OK, &out,
                                      sizeof(body) - 1);
}


/*
 * init module: in the master (and "nginx -t"), once the configuration is
 * loaded and its shared zones are ready, at each start and reload
 */

ngx_int_t
ngx_http_foundry_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_http_foundry_main_conf_t   *fmcf;
    ngx_http_foundry_keys_zone_t  **kz;

    if (ngx_http_foundry_args_init_module(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_test_config) {
        return NGX_OK;
    }

    ngx_http_foundry_version_notice(cycle->log);

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_foundry_module);

    ngx_http_foundry_metrics_commit(fmcf);

    if (fmcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_foundry_fleet_init_module(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    /* each keys zone read its file with this configuration */

    kz = fmcf->key_zones.elts;

    for (i = 0; i < fmcf->key_zones.nelts; i++) {
        ngx_http_foundry_metrics_count(NGX_HTTP_FOUNDRY_M_KEYS, "zone",
                                       &kz[i]->name, "ok");
    }

    return NGX_OK;
}


/* init process: the keys files' timers, the limit zones' syncs */

ngx_int_t
ngx_http_foundry_init_process(ngx_cycle_t *cycle)
{
    if (ngx_http_foundry_keys_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_foundry_fleet_init_process(cycle);
}
