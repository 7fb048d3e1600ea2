
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_deployments.h"


/*
 * "proxy_pass https://foundry_route;": a proxy_pass without variables, so
 * that nginx's proxy module neither evaluates nor parses a URL per request
 * and the upstream module does not look for the upstream{} block of its
 * host among all of them (what "proxy_pass $foundry_upstream_url" costs).
 *
 * foundry_route is an upstream{} block the module makes itself, with a
 * balancer of its own: its init_peer, called by the upstream module once
 * the proxy module has made the request, hands the request to the peers of
 * the upstream its deployment routed it to, found here once at
 * configuration time: the upstream{} block that url= names (its balancer,
 * keepalive, weights, max_fails, cool-downs and TLS sessions), or the
 * address url= gives, as nginx itself makes a single peer of it; a host
 * name is resolved per request, in the precontent phase, with the
 * location's resolver, as the upstream module resolves the host of a
 * proxy_pass variable.  The request's path and arguments reach the proxy
 * module as the request's unparsed URI (a proxy_pass without a URI part
 * sends it unchanged), set by the precontent phase's last handler; the
 * client's is put back once the request is made.
 *
 * The scheme is the upstream's: the proxy module makes a TLS context for
 * "https://foundry_route" (used for https upstreams; plain http ones turn
 * TLS off here).
 */


#define NGX_HTTP_FOUNDRY_ROUTE  "foundry_route"


extern ngx_module_t  ngx_http_proxy_module;


static ngx_int_t ngx_http_foundry_route_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_foundry_route_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_foundry_route_peers(ngx_conf_t *cf,
    ngx_http_foundry_upstream_t *fu);
static void ngx_http_foundry_route_resolved(ngx_resolver_ctx_t *rctx);
static ngx_int_t ngx_http_foundry_route_handler(ngx_http_request_t *r);
static void ngx_http_foundry_route_resolve_cleanup(void *data);


/* preconfiguration: the upstream{} block foundry_route */

ngx_int_t
ngx_http_foundry_route_add(ngx_conf_t *cf)
{
    ngx_url_t                      u;
    ngx_http_upstream_srv_conf_t  *uscf;
    ngx_http_foundry_main_conf_t  *fmcf;

    ngx_memzero(&u, sizeof(ngx_url_t));

    ngx_str_set(&u.host, NGX_HTTP_FOUNDRY_ROUTE);
    u.url = u.host;
    u.no_resolve = 1;
    u.no_port = 1;

    uscf = ngx_http_upstream_add(cf, &u, NGX_HTTP_UPSTREAM_CREATE);
    if (uscf == NULL) {
        return NGX_ERROR;
    }

    uscf->peer.init_upstream = ngx_http_foundry_route_init_upstream;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);
    fmcf->route = uscf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_route_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    us->peer.init = ngx_http_foundry_route_init_peer;

    return NGX_OK;
}


/*
 * Whether the location's proxy_pass is "proxy_pass http[s]://foundry_route"
 * (the proxy module's merge has run): its configuration begins with the
 * upstream module's ngx_http_upstream_conf_t, whose first member is the
 * upstream{} block of a proxy_pass without variables (as in every nginx
 * since the proxy module has had the upstream module, and in the public
 * ngx_http_proxy_module.h of newer ones).
 */

ngx_flag_t
ngx_http_foundry_route_location(ngx_conf_t *cf)
{
    ngx_http_upstream_conf_t      *ucf;
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    ucf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_proxy_module);

    if (fmcf->route == NULL || ucf == NULL || ucf->upstream != fmcf->route) {
        return 0;
    }

    fmcf->route_used = 1;

    return 1;
}


/* postconfiguration, when a location uses foundry_route: each upstream's */

ngx_int_t
ngx_http_foundry_route_init(ngx_conf_t *cf)
{
    ngx_uint_t                     i;
    ngx_array_t                   *handlers;
    ngx_http_handler_pt           *h;
    ngx_http_foundry_upstream_t   *fu;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    if (!fmcf->route_used) {
        return NGX_OK;
    }

    fu = fmcf->upstreams.elts;

    for (i = 0; i < fmcf->upstreams.nelts; i++) {
        if (ngx_http_foundry_route_peers(cf, &fu[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /*
     * the precontent phase's handlers run from the last added to the
     * first: this one goes first, to run last
     */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    handlers = &cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers;

    h = ngx_array_push(handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h = handlers->elts;
    ngx_memmove(&h[1], &h[0],
                (handlers->nelts - 1) * sizeof(ngx_http_handler_pt));
    h[0] = ngx_http_foundry_route_handler;

    return NGX_OK;
}


/*
 * What "proxy_pass $foundry_upstream_url" finds per request, found once:
 * the upstream{} block of url='s host and port (the upstream module's own
 * rule), else url='s address
 */

static ngx_int_t
ngx_http_foundry_route_peers(ngx_conf_t *cf, ngx_http_foundry_upstream_t *fu)
{
    size_t                          add;
    in_port_t                       port;
    ngx_url_t                       url;
    ngx_uint_t                      i;
    ngx_http_upstream_resolved_t   *ur;
    ngx_http_foundry_main_conf_t   *fmcf;
    ngx_http_upstream_srv_conf_t  **uscfp, *uscf;
    ngx_http_upstream_main_conf_t  *umcf;

    if (ngx_strncasecmp(fu->url.data, (u_char *) "https://", 8) == 0) {
        add = 8;
        port = 443;
        fu->ssl = 1;

    } else {
        add = 7;
        port = 80;
    }

    ngx_memzero(&url, sizeof(ngx_url_t));

    url.url.len = fu->url.len - add;
    url.url.data = fu->url.data + add;
    url.default_port = port;
    url.uri_part = 1;
    url.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &url) != NGX_OK) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s in the url= of foundry_upstream \"%V\", in %s:%ui",
                      url.err ? url.err : "invalid host", &fu->name,
                      fu->conf_file, fu->conf_line);
        return NGX_ERROR;
    }

    if (url.no_port) {
        url.port = port;
    }

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);
    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        uscf = uscfp[i];

        if (uscf != fmcf->route
            && uscf->host.len == url.host.len
            && ((uscf->port == 0 && url.no_port) || uscf->port == url.port)
            && ngx_strncasecmp(uscf->host.data, url.host.data, url.host.len)
               == 0)
        {
            fu->uscf = uscf;
            return NGX_OK;
        }
    }

    ur = ngx_pcalloc(cf->pool, sizeof(ngx_http_upstream_resolved_t));
    if (ur == NULL) {
        return NGX_ERROR;
    }

    ur->host = url.host;
    ur->port = url.port;
    ur->no_port = url.no_port;

    /* a host name is resolved per request (ngx_http_foundry_route_resolve) */

    if (url.addrs) {
        ur->sockaddr = url.addrs[0].sockaddr;
        ur->socklen = url.addrs[0].socklen;
        ur->name = url.addrs[0].name;
        ur->naddrs = 1;
    }

    fu->resolved = ur;

    return NGX_OK;
}


/*
 * The routing phase, for an upstream whose url= has a host name that is no
 * upstream{} block: its addresses, with the location's resolver, as the
 * upstream module resolves the host of a proxy_pass variable.  NGX_OK when
 * they are in ctx->resolved; NGX_AGAIN while the resolver works (the
 * phases run again when it has answered); an HTTP status (502 when the
 * name cannot be resolved, or when no resolver is configured) otherwise.
 */

ngx_int_t
ngx_http_foundry_route_resolve(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx)
{
    ngx_pool_cleanup_t            *cln;
    ngx_resolver_ctx_t            *rctx, temp;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_upstream_resolved_t  *ur;

    if (ctx->resolved) {
        return NGX_OK;
    }

    if (ctx->resolving) {
        return NGX_AGAIN;
    }

    if (ctx->resolve_status) {
        return ctx->resolve_status;
    }

    ur = ctx->upstream->resolved;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    temp.name = ur->host;

    rctx = ngx_resolve_start(clcf->resolver, &temp);
    if (rctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rctx == NGX_NO_RESOLVER) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "no resolver defined to resolve %V", &ur->host);
        return NGX_HTTP_BAD_GATEWAY;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_resolve_name_done(rctx);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_foundry_route_resolve_cleanup;
    cln->data = ctx;

    rctx->name = ur->host;
    rctx->handler = ngx_http_foundry_route_resolved;
    rctx->data = r;
    rctx->timeout = clcf->resolver_timeout;

    ctx->resolving = rctx;

    if (ngx_resolve_name(rctx) != NGX_OK) {
        ctx->resolving = NULL;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->resolving == NULL) {
        /* a name the resolver had: answered at once */
        return ctx->resolved ? NGX_OK : ctx->resolve_status;
    }

    /* the client may leave meanwhile */

    r->read_event_handler = ngx_http_test_reading;

    return NGX_AGAIN;
}


static void
ngx_http_foundry_route_resolved(ngx_resolver_ctx_t *rctx)
{
    size_t                         len;
    ngx_uint_t                     i, async;
    ngx_connection_t              *c;
    ngx_resolver_addr_t           *addrs;
    ngx_http_request_t            *r;
    ngx_http_foundry_ctx_t        *ctx;
    ngx_http_upstream_resolved_t  *ur;

    r = rctx->data;
    c = r->connection;
    async = rctx->async;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    if (rctx->state) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "%V could not be resolved (%i: %s)",
                      &rctx->name, rctx->state,
                      ngx_resolver_strerror(rctx->state));

        ctx->resolve_status = NGX_HTTP_BAD_GATEWAY;
        goto done;
    }

    /* the resolver's answer is freed below: the request keeps a copy */

    ctx->resolve_status = NGX_HTTP_INTERNAL_SERVER_ERROR;

    ur = ngx_palloc(r->pool, sizeof(ngx_http_upstream_resolved_t));
    addrs = ngx_palloc(r->pool, rctx->naddrs * sizeof(ngx_resolver_addr_t));

    if (ur == NULL || addrs == NULL) {
        goto done;
    }

    for (i = 0; i < rctx->naddrs; i++) {
        len = rctx->addrs[i].socklen;

        addrs[i] = rctx->addrs[i];
        addrs[i].sockaddr = ngx_palloc(r->pool, len);
        if (addrs[i].sockaddr == NULL) {
            goto done;
        }

        ngx_memcpy(addrs[i].sockaddr, rctx->addrs[i].sockaddr, len);
    }

    *ur = *ctx->upstream->resolved;
    ur->addrs = addrs;
    ur->naddrs = rctx->naddrs;

    ctx->resolved = ur;
    ctx->resolve_status = 0;

done:

    ngx_resolve_name_done(rctx);
    ctx->resolving = NULL;

    if (!async) {
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_foundry_route_resolve_cleanup(void *data)
{
    ngx_http_foundry_ctx_t  *ctx = data;

    if (ctx->resolving) {
        ngx_resolve_name_done(ctx->resolving);
        ctx->resolving = NULL;
    }
}


/*
 * The last handler of the precontent phase, once the gateway has routed
 * the request (and after the phase's other handlers, mirror's included,
 * which see the client's URI): the request's path and arguments for the
 * upstream, as the unparsed URI the proxy module sends
 */

static ngx_int_t
ngx_http_foundry_route_handler(ngx_http_request_t *r)
{
    ngx_http_foundry_ctx_t       *ctx;
    ngx_http_foundry_loc_conf_t  *flcf;

    if (r != r->main || r->upstream) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    if (ctx == NULL || !ctx->routed || ctx->route_uri) {
        return NGX_DECLINED;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);

    if (!flcf->route) {
        return NGX_DECLINED;
    }

    ctx->client_uri = r->unparsed_uri;
    ctx->client_uri_valid = r->valid_unparsed_uri;
    ctx->route_uri = 1;

    r->unparsed_uri = ctx->upstream_uri;
    r->valid_unparsed_uri = 1;

    return NGX_DECLINED;
}


/* the client's URI back, for the logs and whatever reads it after */

void
ngx_http_foundry_route_restore(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx)
{
    if (ctx->route_uri) {
        r->unparsed_uri = ctx->client_uri;
        r->valid_unparsed_uri = ctx->client_uri_valid;
        ctx->route_uri = 0;
    }
}


/*
 * foundry_route's balancer: the proxy module has made the request; the
 * peers are those of the request's upstream
 */

static ngx_int_t
ngx_http_foundry_route_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_t           *u;
    ngx_http_foundry_ctx_t        *ctx;
    ngx_http_foundry_upstream_t   *fu;
    ngx_http_upstream_resolved_t  *ur;

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    if (ctx == NULL || !ctx->routed || !ctx->route_uri) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: \"proxy_pass http[s]://"
                      NGX_HTTP_FOUNDRY_ROUTE "\" for a request the gateway "
                      "did not route");
        return NGX_ERROR;
    }

    ngx_http_foundry_route_restore(r, ctx);

    u = r->upstream;
    fu = ctx->upstream;

#if (NGX_HTTP_SSL)

    if (fu->ssl && u->conf->ssl == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: upstream \"%V\" is https: the location "
                      "needs \"proxy_pass https://" NGX_HTTP_FOUNDRY_ROUTE
                      "\", not http://", &fu->name);
        return NGX_ERROR;
    }

    u->ssl = fu->ssl;

#endif

    if (fu->uscf) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "foundry: " NGX_HTTP_FOUNDRY_ROUTE " to the "
                       "upstream{} block \"%V\" of upstream \"%V\"",
                       &fu->uscf->host, &fu->name);

        u->upstream = fu->uscf;
#if (NGX_HTTP_SSL)
        u->ssl_name = fu->uscf->host;
#endif

        return fu->uscf->peer.init(r, fu->uscf);
    }

    ur = fu->resolved;

    if (ur->sockaddr == NULL) {
        ur = ctx->resolved;

        if (ur == NULL) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "foundry: upstream \"%V\" was not resolved",
                          &fu->name);
            return NGX_ERROR;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: " NGX_HTTP_FOUNDRY_ROUTE " to the host "
                   "\"%V\" of upstream \"%V\"", &ur->host, &fu->name);

    /* as the upstream module does for the host of a proxy_pass variable */

    u->upstream = NULL;
#if (NGX_HTTP_SSL)
    u->ssl_name = ur->host;
#endif

    return ngx_http_upstream_create_round_robin_peer(r, ur);
}
