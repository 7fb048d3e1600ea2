
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"


#define NGX_HTTP_FOUNDRY_MAX_FILE_SIZE  (256 * 1024 * 1024)


static void *ngx_http_foundry_json_malloc(void *ctx, size_t size);
static void *ngx_http_foundry_json_realloc(void *ctx, void *ptr, size_t size);
static void ngx_http_foundry_json_free(void *ctx, void *ptr);


/*
 * yajl allocates through these: memory comes from a pool and goes away with
 * it.  Each block is preceded by its size, as realloc() needs the old one.
 */

static void *
ngx_http_foundry_json_malloc(void *ctx, size_t size)
{
    size_t  *p;

    p = ngx_palloc(ctx, sizeof(size_t) + size);
    if (p == NULL) {
        return NULL;
    }

    *p = size;

    return p + 1;
}


static void *
ngx_http_foundry_json_realloc(void *ctx, void *ptr, size_t size)
{
    size_t  *old, *p;

    if (ptr == NULL) {
        return ngx_http_foundry_json_malloc(ctx, size);
    }

    old = (size_t *) ptr - 1;

    if (*old >= size) {
        return ptr;
    }

    p = ngx_http_foundry_json_malloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, ptr, *old);

    ngx_pfree(ctx, old);

    return p;
}


static void
ngx_http_foundry_json_free(void *ctx, void *ptr)
{
    if (ptr) {
        ngx_pfree(ctx, (size_t *) ptr - 1);
    }
}


void
ngx_http_foundry_json_alloc_funcs(ngx_pool_t *pool, yajl_alloc_funcs *funcs)
{
    funcs->malloc = ngx_http_foundry_json_malloc;
    funcs->realloc = ngx_http_foundry_json_realloc;
    funcs->free = ngx_http_foundry_json_free;
    funcs->ctx = pool;
}


/* a compact generator whose memory belongs to the pool */

yajl_gen
ngx_http_foundry_json_gen(ngx_pool_t *pool, yajl_alloc_funcs *funcs)
{
    yajl_gen  g;

    ngx_http_foundry_json_alloc_funcs(pool, funcs);

    g = yajl_gen_alloc(funcs);
    if (g == NULL) {
        return NULL;
    }

    yajl_gen_config(g, yajl_gen_beautify, 0);
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);

    return g;
}


ngx_int_t
ngx_http_foundry_json_string(yajl_gen g, ngx_str_t *s)
{
    if (yajl_gen_string(g, s->data, s->len) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_foundry_json_key(yajl_gen g, const char *key)
{
    if (yajl_gen_string(g, (const unsigned char *) key, ngx_strlen(key))
        != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * JSON text rendered before, as one value: yajl writes a "number" as it
 * is given, and the text is ours
 */

ngx_int_t
ngx_http_foundry_json_raw(yajl_gen g, ngx_str_t *json)
{
    if (yajl_gen_number(g, (const char *) json->data, json->len)
        != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* copies the generated text into the pool and frees the generator */

ngx_int_t
ngx_http_foundry_json_result(yajl_gen g, ngx_pool_t *pool, ngx_str_t *out)
{
    size_t                len;
    const unsigned char  *buf;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    out->len = len;
    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, buf, len);

    yajl_gen_free(g);

    return NGX_OK;
}


/*
 * Reads a whole file at configuration time into a NUL-terminated buffer
 * from cf->temp_pool.
 */

ngx_int_t
ngx_http_foundry_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *text)
{
    ssize_t          n;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = *name;
    file.log = cf->log;

    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        goto failed;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_FOUNDRY_MAX_FILE_SIZE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "file \"%V\" is too large", name);
        goto failed;
    }

    text->len = (size_t) ngx_file_size(&fi);
    text->data = ngx_pnalloc(cf->temp_pool, text->len + 1);
    if (text->data == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, text->data, text->len, 0);

    if (n == NGX_ERROR) {
        goto failed;
    }

    if ((size_t) n != text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           ngx_read_file_n " \"%V\" returned only %z bytes "
                           "instead of %uz", name, n, text->len);
        goto failed;
    }

    text->data[text->len] = '\0';

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", name);
    }

    return NGX_OK;

failed:

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", name);
    }

    return NGX_ERROR;
}


/*
 * yajl's messages quote the input around the error on further lines; keep
 * the first line only, so no content of a file reaches the log.
 */

void
ngx_http_foundry_json_error_line(char *errbuf)
{
    char  *p;

    for (p = errbuf; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = '\0';
            break;
        }
    }

    if (errbuf[0] == '\0') {
        ngx_cpystrn((u_char *) errbuf, (u_char *) "parse error", 12);
    }
}


ngx_int_t
ngx_http_foundry_json_quote(ngx_pool_t *pool, ngx_str_t *s, ngx_str_t *out)
{
    u_char  *p;

    out->len = s->len + ngx_escape_json(NULL, s->data, s->len) + 2;

    p = ngx_pnalloc(pool, out->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s->data, s->len);
    *p = '"';

    return NGX_OK;
}


/*
 * JSON text parsed whole by yajl (on the pool) for its callbacks: NGX_OK,
 * NGX_DECLINED when it is not JSON or a callback stopped the parse,
 * NGX_ERROR without memory
 */

ngx_int_t
ngx_http_foundry_json_parse(ngx_pool_t *pool, const yajl_callbacks *callbacks,
    void *ctx, u_char *data, size_t len)
{
    yajl_handle       h;
    yajl_status       st;
    yajl_alloc_funcs  funcs;

    ngx_http_foundry_json_alloc_funcs(pool, &funcs);

    h = yajl_alloc(callbacks, &funcs, ctx);
    if (h == NULL) {
        return NGX_ERROR;
    }

    st = yajl_parse(h, data, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    return (st == yajl_status_ok) ? NGX_OK : NGX_DECLINED;
}


/* the array being written closed, then the object that holds it */

ngx_int_t
ngx_http_foundry_json_end_list(yajl_gen g)
{
    if (yajl_gen_array_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
