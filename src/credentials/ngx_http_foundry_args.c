
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_credentials.h"


/*
 * Query arguments.  Their names compare after percent-decoding and without
 * regard to case ("api%2Dversion" is "api-version").
 *
 * The key arguments, every "arg=" of foundry_key_source in the http block,
 * never reach a log:
 *
 *   - in the post-read phase, the first of every request, their values are
 *     copied to the request's pool for the access phase, then overwritten
 *     with '*' where nginx keeps the request: the request line ($request,
 *     the error log's "request:"), $request_uri and $args;
 *   - a request nginx refuses before the phases (400, 414, 494) is masked
 *     the same way at the start of the log phase, before the access log;
 *   - the error logs of the http block write through a writer that masks
 *     "name=value" in every line, whatever its level, before writing it:
 *     the lines nginx writes while it reads a request line, before any
 *     phase ("client sent too long URI", the debug log's "http args").
 */


typedef struct {
    ngx_str_t                      *name;
    ngx_str_t                       value;
} ngx_http_foundry_key_arg_t;


typedef struct {
    ngx_array_t                     args;   /* ngx_http_foundry_key_arg_t */
} ngx_http_foundry_args_ctx_t;


typedef struct {
    ngx_log_writer_pt               writer;
    void                           *wdata;
    ngx_array_t                    *names;
    ngx_array_t                    *headers;
} ngx_http_foundry_log_writer_t;


static ngx_str_t *ngx_http_foundry_key_name(u_char *p, u_char *last,
    ngx_array_t *names);
static ngx_http_foundry_args_ctx_t *ngx_http_foundry_args_ctx(
    ngx_http_request_t *r, ngx_uint_t create);
static void ngx_http_foundry_args_cleanup(void *data);
static void ngx_http_foundry_args_unwrap(void *data);
static ngx_int_t ngx_http_foundry_args_post_read(ngx_http_request_t *r);
static ngx_int_t ngx_http_foundry_args_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_foundry_args_protect(ngx_http_request_t *r,
    ngx_uint_t save);
static ngx_int_t ngx_http_foundry_args_save(ngx_http_request_t *r,
    ngx_array_t *names);
static void ngx_http_foundry_mask_query(u_char *p, u_char *last,
    ngx_array_t *names);
static void ngx_http_foundry_mask_uri(u_char *p, u_char *last,
    ngx_array_t *names);
static void ngx_http_foundry_mask_text(u_char *p, u_char *last,
    ngx_array_t *names);
static void ngx_http_foundry_log_writer(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);


/* a name's characters in a log line: a token's, and '%' */

#define ngx_http_foundry_name_char(c)                                         \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')                 \
     || ((c) >= '0' && (c) <= '9') || (c) == '-' || (c) == '_' || (c) == '.'  \
     || (c) == '%')

/* where a value ends in a log line */

#define ngx_http_foundry_value_end(c)                                         \
    ((c) == '&' || (c) == ' ' || (c) == '"' || (c) == '\'' || (c) == '\t'     \
     || (c) == CR || (c) == LF)


/* the n-th value of the key argument "name" the client sent */

ngx_int_t
ngx_http_foundry_key_arg(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t n, ngx_str_t *value)
{
    ngx_uint_t                    i;
    ngx_http_foundry_key_arg_t   *ka;
    ngx_http_foundry_args_ctx_t  *ctx;

    ctx = ngx_http_foundry_args_ctx(r->main, 0);

    if (ctx == NULL) {
        return NGX_DECLINED;
    }

    ka = ctx->args.elts;

    for (i = 0; i < ctx->args.nelts; i++) {
        if (ka[i].name->len == name->len
            && ngx_strncasecmp(ka[i].name->data, name->data, name->len) == 0
            && n-- == 0)
        {
            *value = ka[i].value;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_str_t *
ngx_http_foundry_key_name(u_char *p, u_char *last, ngx_array_t *names)
{
    ngx_str_t   *name;
    ngx_uint_t   i;

    name = names->elts;

    for (i = 0; i < names->nelts; i++) {
        if (ngx_http_foundry_arg_is(p, last, &name[i])) {
            return &name[i];
        }
    }

    return NULL;
}


/* configuration: foundry_key_source arg=name */

ngx_int_t
ngx_http_foundry_args_add_key(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_str_t                     *s;
    ngx_uint_t                     i;
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    if (fmcf->logmask->key_args == NULL) {
        fmcf->logmask->key_args = ngx_array_create(cf->pool, 2,
                                                   sizeof(ngx_str_t));
        if (fmcf->logmask->key_args == NULL) {
            return NGX_ERROR;
        }
    }

    s = fmcf->logmask->key_args->elts;

    for (i = 0; i < fmcf->logmask->key_args->nelts; i++) {
        if (s[i].len == name->len
            && ngx_strncasecmp(s[i].data, name->data, name->len) == 0)
        {
            return NGX_OK;
        }
    }

    s = ngx_array_push(fmcf->logmask->key_args);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = *name;

    return NGX_OK;
}


/* every location's error log, for the writer (the core's are merged) */

ngx_int_t
ngx_http_foundry_args_merge(ngx_conf_t *cf)
{
    ngx_log_t                     **log;
    ngx_uint_t                      i;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_foundry_main_conf_t   *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->error_log == NULL) {
        return NGX_OK;
    }

    if (fmcf->logmask->error_logs == NULL) {
        fmcf->logmask->error_logs = ngx_array_create(cf->pool, 4,
                                            sizeof(ngx_log_t *));
        if (fmcf->logmask->error_logs == NULL) {
            return NGX_ERROR;
        }
    }

    log = fmcf->logmask->error_logs->elts;

    for (i = 0; i < fmcf->logmask->error_logs->nelts; i++) {
        if (log[i] == clcf->error_log) {
            return NGX_OK;
        }
    }

    log = ngx_array_push(fmcf->logmask->error_logs);
    if (log == NULL) {
        return NGX_ERROR;
    }

    *log = clcf->error_log;

    return NGX_OK;
}


/*
 * postconfiguration: the post-read handler, and a log handler that runs
 * before every other one (the access log's)
 */

ngx_int_t
ngx_http_foundry_args_init(ngx_conf_t *cf)
{
    ngx_uint_t                     n;
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    if (fmcf->logmask->key_args == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_foundry_args_post_read;

    if (ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers) == NULL) {
        return NGX_ERROR;
    }

    h = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
    n = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.nelts;

    ngx_memmove(&h[1], &h[0], (n - 1) * sizeof(ngx_http_handler_pt));

    h[0] = ngx_http_foundry_args_log;

    return NGX_OK;
}


/*
 * init module: the writer on the error logs of the http block, once they
 * are all known; the listening sockets copied theirs before this
 */

ngx_int_t
ngx_http_foundry_args_init_module(ngx_cycle_t *cycle)
{
    ngx_log_t                      *log, **logs;
    ngx_uint_t                      i;
    ngx_listening_t                *ls;
    ngx_pool_cleanup_t             *cln;
    ngx_http_foundry_log_writer_t  *w;
    ngx_http_foundry_main_conf_t   *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_foundry_module);

    /* with key arguments, or a gateway: credentials in headers too */

    if (fmcf == NULL || fmcf->logmask->error_logs == NULL
        || (fmcf->logmask->key_args == NULL && !fmcf->used))
    {
        return NGX_OK;
    }

    /*
     * the writers are taken off again when the cycle's pool goes, before
     * the module is unloaded with it (its cleanup was added earlier, so it
     * runs later): nginx logs on while it frees the pool, at exit too
     */

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_foundry_args_unwrap;
    cln->data = cycle;

    logs = fmcf->logmask->error_logs->elts;

    for (i = 0; i < fmcf->logmask->error_logs->nelts; i++) {
        log = logs[i];

        if (log->writer == ngx_http_foundry_log_writer) {
            continue;
        }

        w = ngx_palloc(cycle->pool, sizeof(ngx_http_foundry_log_writer_t));
        if (w == NULL) {
            return NGX_ERROR;
        }

        w->writer = log->writer;
        w->wdata = log->wdata;
        w->names = fmcf->logmask->key_args;
        w->headers = fmcf->logmask->mask_headers;

        log->writer = ngx_http_foundry_log_writer;
        log->wdata = w;
    }

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].handler != ngx_http_init_connection || ls[i].logp == NULL
            || ls[i].logp->writer != ngx_http_foundry_log_writer)
        {
            continue;
        }

        ls[i].log.writer = ls[i].logp->writer;
        ls[i].log.wdata = ls[i].logp->wdata;
    }

    return NGX_OK;
}


/* the cycle's logs write as nginx made them again */

static void
ngx_http_foundry_args_unwrap(void *data)
{
    ngx_cycle_t *cycle = data;

    ngx_log_t                      *log, **logs;
    ngx_uint_t                      i;
    ngx_listening_t                *ls;
    ngx_http_foundry_log_writer_t  *w;
    ngx_http_foundry_main_conf_t   *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_foundry_module);

    logs = fmcf->logmask->error_logs->elts;

    for (i = 0; i < fmcf->logmask->error_logs->nelts; i++) {
        log = logs[i];

        if (log->writer != ngx_http_foundry_log_writer) {
            continue;
        }

        w = log->wdata;

        log->writer = w->writer;
        log->wdata = w->wdata;
    }

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].log.writer == ngx_http_foundry_log_writer) {
            w = ls[i].log.wdata;

            ls[i].log.writer = w->writer;
            ls[i].log.wdata = w->wdata;
        }
    }
}


static ngx_http_foundry_args_ctx_t *
ngx_http_foundry_args_ctx(ngx_http_request_t *r, ngx_uint_t create)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_foundry_args_ctx_t  *ctx;

    /* in the pool, not the module's ctx: internal redirects keep it */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_foundry_args_cleanup) {
            return cln->data;
        }
    }

    if (!create) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_foundry_args_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;

    if (ngx_array_init(&ctx->args, r->pool, 2,
                       sizeof(ngx_http_foundry_key_arg_t))
        != NGX_OK)
    {
        return NULL;
    }

    cln->handler = ngx_http_foundry_args_cleanup;

    return ctx;
}


static void
ngx_http_foundry_args_cleanup(void *data)
{
    ngx_http_foundry_args_ctx_t *ctx = data;

    ngx_uint_t                   i;
    ngx_http_foundry_key_arg_t  *ka;

    ka = ctx->args.elts;

    for (i = 0; i < ctx->args.nelts; i++) {
        ngx_explicit_memzero(ka[i].value.data, ka[i].value.len);
    }
}


static ngx_int_t
ngx_http_foundry_args_post_read(ngx_http_request_t *r)
{
    if (ngx_http_foundry_args_protect(r, 1) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_foundry_args_log(ngx_http_request_t *r)
{
    (void) ngx_http_foundry_args_protect(r, 0);

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_args_protect(ngx_http_request_t *r, ngx_uint_t save)
{
    u_char                        *start, *end;
    ngx_array_t                   *names;
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);
    names = fmcf->logmask->key_args;

    r = r->main;

    /* the keys were saved and masked already */

    if (ngx_http_foundry_args_ctx(r, 0) != NULL) {
        return NGX_OK;
    }

    if (save && r->args.len
        && ngx_http_foundry_args_save(r, names) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the request line; nginx makes it up from the buffer when it refuses
     * a request before it is parsed, and so does this */

    start = r->request_line.data;
    end = start + r->request_line.len;

    if (start == NULL && r->request_start && r->header_in) {
        start = r->request_start;

        for (end = start; end < r->header_in->last; end++) {
            if (*end == CR || *end == LF) {
                break;
            }
        }
    }

    if (start) {
        ngx_http_foundry_mask_uri(start, end, names);
    }

    /* $request_uri and $args: mostly in the request line (HTTP/1) */

    if (r->unparsed_uri.data
        && (start == NULL || r->unparsed_uri.data < start
            || r->unparsed_uri.data >= end))
    {
        ngx_http_foundry_mask_uri(r->unparsed_uri.data,
                                  r->unparsed_uri.data + r->unparsed_uri.len,
                                  names);
    }

    /* $args alone only as the client sent them: later, a "set $args" may
     * point to the configuration */

    if (save && r->args.data
        && (start == NULL || r->args.data < start || r->args.data >= end)
        && (r->unparsed_uri.data == NULL
            || r->args.data < r->unparsed_uri.data
            || r->args.data >= r->unparsed_uri.data + r->unparsed_uri.len))
    {
        ngx_http_foundry_mask_query(r->args.data, r->args.data + r->args.len,
                                    names);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_args_save(ngx_http_request_t *r, ngx_array_t *names)
{
    u_char                       *p, *last, *next, *eq;
    ngx_str_t                    *name;
    ngx_http_foundry_key_arg_t   *ka;
    ngx_http_foundry_args_ctx_t  *ctx;

    ctx = NULL;

    p = r->args.data;
    last = r->args.data + r->args.len;

    for ( /* void */ ; p < last; p = next + 1) {
        next = ngx_http_foundry_arg_next(p, last, &eq);

        if (eq == NULL || eq + 1 == next) {
            continue;
        }

        name = ngx_http_foundry_key_name(p, eq, names);

        if (name == NULL) {
            continue;
        }

        if (ctx == NULL) {
            ctx = ngx_http_foundry_args_ctx(r, 1);
            if (ctx == NULL) {
                return NGX_ERROR;
            }
        }

        ka = ngx_array_push(&ctx->args);
        if (ka == NULL) {
            return NGX_ERROR;
        }

        ka->name = name;
        ka->value.len = next - (eq + 1);
        ka->value.data = ngx_pnalloc(r->pool, ka->value.len);

        if (ka->value.data == NULL) {
            ka->value.len = 0;
            return NGX_ERROR;
        }

        ngx_memcpy(ka->value.data, eq + 1, ka->value.len);
    }

    return NGX_OK;
}


/* every key argument's value in a query becomes '*'s */

static void
ngx_http_foundry_mask_query(u_char *p, u_char *last, ngx_array_t *names)
{
    u_char  *next, *eq;

    for ( /* void */ ; p < last; p = next + 1) {
        next = ngx_http_foundry_arg_next(p, last, &eq);

        if (eq != NULL && ngx_http_foundry_key_name(p, eq, names) != NULL) {
            ngx_memset(eq + 1, '*', next - (eq + 1));
        }
    }
}


/* the same in a URI or a request line: from "?" to the first space */

static void
ngx_http_foundry_mask_uri(u_char *p, u_char *last, ngx_array_t *names)
{
    u_char  *end;

    p = ngx_strlchr(p, last, '?');

    if (p == NULL) {
        return;
    }

    p++;

    end = ngx_strlchr(p, last, ' ');

    ngx_http_foundry_mask_query(p, end ? end : last, names);
}


/* and in a log line: "name=value" wherever a word begins */

static void
ngx_http_foundry_mask_text(u_char *p, u_char *last, ngx_array_t *names)
{
    u_char  *e;

    while (p < last) {

        if (!ngx_http_foundry_name_char(*p)) {
            p++;
            continue;
        }

        for (e = p; e < last && ngx_http_foundry_name_char(*e); e++) {
            /* void */
        }

        if (e < last && *e == '='
            && ngx_http_foundry_key_name(p, e, names) != NULL)
        {
            for (e++; e < last && !ngx_http_foundry_value_end(*e); e++) {
                *e = '*';
            }
        }

        p = e;
    }
}


static void
ngx_http_foundry_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    ssize_t                         n;
    ngx_log_t                       copy;
    ngx_http_foundry_log_writer_t  *w;

    w = log->wdata;

    if (w->names) {
        ngx_http_foundry_mask_text(buf, buf + len, w->names);
    }

    /* credential headers and values (ngx_http_foundry_logmask.c) */

    ngx_http_foundry_logmask_text(buf, buf + len, w->headers);

    /* then as nginx writes it: another writer (syslog, memory), a file */

    if (w->writer) {
        copy = *log;
        copy.writer = w->writer;
        copy.wdata = w->wdata;

        w->writer(&copy, level, buf, len);
        return;
    }

    if (log->file == NULL || ngx_time() == log->disk_full_time) {
        return;
    }

    n = ngx_write_fd(log->file->fd, buf, len);

    if (n == -1 && ngx_errno == NGX_ENOSPC) {
        log->disk_full_time = ngx_time();
    }
}
