
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_limit.h"
#include "ngx_http_foundry_fleet.h"


/*
 * A limit zone's quotas in a file (foundry_limit_sync ... state=), for a
 * single node without Redis: written every interval by the worker that
 * holds the zone's lease, and when it exits, to a temporary file renamed
 * over the last (atomic); read when the zone is created (a start, not a
 * reload).  A line per key that used a quota in its current window:
 *
 *     window used window used window used hex-key
 *
 * for the hour, day and month quotas (window: the end of the window in
 * Unix time; 0 0 for none).  A window that ended by the time the file is
 * read is dropped.  The per-minute buckets are not kept.
 */


#define NGX_HTTP_FOUNDRY_STATE_LINE                                           \
    (NGX_HTTP_FOUNDRY_QUOTAS * 2 * (NGX_INT64_LEN + 1) + 1)


static ngx_int_t ngx_http_foundry_state_line(ngx_http_foundry_fleet_t *f,
    u_char *p, u_char *last, time_t now);


ngx_int_t
ngx_http_foundry_state_save(ngx_http_foundry_fleet_t *f, ngx_log_t *log)
{
    u_char                           *p, *buf, *tmp;
    size_t                            size;
    time_t                            now;
    ngx_fd_t                          fd;
    ngx_uint_t                        q, any;
    ngx_queue_t                      *qu;
    ngx_http_foundry_limit_node_t    *n;
    ngx_http_foundry_limit_shctx_t   *sh;

    sh = f->lz->sh;
    now = ngx_time();

    ngx_shmtx_lock(&f->lz->shpool->mutex);

    size = 1;

    for (qu = ngx_queue_head(&sh->queue);
         qu != ngx_queue_sentinel(&sh->queue);
         qu = ngx_queue_next(qu))
    {
        n = ngx_queue_data(qu, ngx_http_foundry_limit_node_t, queue);
        size += NGX_HTTP_FOUNDRY_STATE_LINE + 2 * n->sn.str.len + 1;
    }

    buf = ngx_alloc(size + f->state.len + 32, log);
    if (buf == NULL) {
        ngx_shmtx_unlock(&f->lz->shpool->mutex);
        return NGX_ERROR;
    }

    p = buf;

    for (qu = ngx_queue_head(&sh->queue);
         qu != ngx_queue_sentinel(&sh->queue);
         qu = ngx_queue_next(qu))
    {
        n = ngx_queue_data(qu, ngx_http_foundry_limit_node_t, queue);

        any = 0;

        for (q = 0; q < NGX_HTTP_FOUNDRY_QUOTAS; q++) {
            if (n->window[q] > now && n->used[q] > 0) {
                any = 1;
            }
        }

        if (!any) {
            continue;
        }

        for (q = 0; q < NGX_HTTP_FOUNDRY_QUOTAS; q++) {
            if (n->window[q] > now && n->used[q] > 0) {
                p = ngx_sprintf(p, "%T %L ", n->window[q], n->used[q]);

            } else {
                p = ngx_cpymem(p, "0 0 ", 4);
            }
        }

        p = ngx_hex_dump(p, n->data, n->sn.str.len);
        *p++ = '\n';
    }

    ngx_shmtx_unlock(&f->lz->shpool->mutex);

    size = p - buf;

    tmp = p;
    p = ngx_sprintf(tmp, "%V.%P%Z", &f->state, ngx_pid);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", tmp);
        ngx_free(buf);
        return NGX_ERROR;
    }

    if (ngx_write_fd(fd, buf, size) != (ssize_t) size) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_write_fd_n " \"%s\" failed", tmp);
        (void) ngx_close_file(fd);
        (void) ngx_delete_file(tmp);
        ngx_free(buf);
        return NGX_ERROR;
    }

    (void) ngx_close_file(fd);

    if (ngx_rename_file(tmp, f->state.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%V\" failed",
                      tmp, &f->state);
        (void) ngx_delete_file(tmp);
        ngx_free(buf);
        return NGX_ERROR;
    }

    ngx_free(buf);

    return NGX_OK;
}


/* at the zone's creation, in the master: the file's quotas in the zone */

ngx_int_t
ngx_http_foundry_state_load(ngx_http_foundry_fleet_t *f, ngx_log_t *log)
{
    u_char           *buf, *p, *last, *eol;
    off_t             size;
    time_t            now;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_uint_t        lines, bad;
    ngx_file_info_t   fi;

    fd = ngx_open_file(f->state.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          ngx_open_file_n " \"%V\" failed", &f->state);
        }

        return NGX_DECLINED;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    size = ngx_file_size(&fi);

    buf = ngx_alloc((size_t) size + 1, log);
    if (buf == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, buf, (size_t) size);

    (void) ngx_close_file(fd);

    if (n != (ssize_t) size) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_read_fd_n " \"%V\" failed", &f->state);
        ngx_free(buf);
        return NGX_ERROR;
    }

    now = ngx_time();
    lines = 0;
    bad = 0;

    p = buf;
    last = buf + n;

    ngx_shmtx_lock(&f->lz->shpool->mutex);

    while (p < last) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        *eol = '\0';

        if (ngx_http_foundry_state_line(f, p, eol, now) == NGX_OK) {
            lines++;

        } else {
            bad++;
        }

        p = eol + 1;
    }

    ngx_shmtx_unlock(&f->lz->shpool->mutex);

    ngx_free(buf);

    if (bad) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "foundry_limit_zone \"%V\": %ui invalid lines in "
                      "\"%V\" ignored", &f->name, bad, &f->state);
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "foundry_limit_zone \"%V\": %ui keys read from \"%V\"",
                  &f->name, lines, &f->state);

    return NGX_OK;
}


/* a line (NUL-terminated at last), its key added (locked) */

static ngx_int_t
ngx_http_foundry_state_line(ngx_http_foundry_fleet_t *f, u_char *p,
    u_char *last, time_t now)
{
    u_char                         *s, *key;
    size_t                          len;
    int64_t                         v[2 * NGX_HTTP_FOUNDRY_QUOTAS];
    ngx_int_t                       hi, lo;
    ngx_uint_t                      i, q;
    ngx_http_foundry_limit_node_t  *n;

    for (i = 0; i < 2 * NGX_HTTP_FOUNDRY_QUOTAS; i++) {
        s = ngx_strlchr(p, last, ' ');
        if (s == NULL) {
            return NGX_ERROR;
        }

        v[i] = ngx_atoof(p, s - p);
        if (v[i] < 0) {
            return NGX_ERROR;
        }

        p = s + 1;
    }

    len = last - p;

    if (len == 0 || len % 2 || len / 2 > 65535) {
        return NGX_ERROR;
    }

    /* decoded in place: each byte from two before it or at it */

    key = p;

    for (i = 0; i < len / 2; i++) {
        hi = ngx_hextoi(p + 2 * i, 1);
        lo = ngx_hextoi(p + 2 * i + 1, 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_ERROR;
        }

        key[i] = (u_char) (hi * 16 + lo);
    }

    len /= 2;

    n = ngx_http_foundry_limit_find(f->lz, key, len,
                                    ngx_crc32_short(key, len));

    if (n == NULL) {
        n = ngx_http_foundry_limit_add(f->lz, key, len);
        if (n == NULL) {
            return NGX_ERROR;
        }

        /* full buckets: the next refill caps them at the limits */

        n->tokens = NGX_HTTP_FOUNDRY_DEBT_MAX;
        n->requests = NGX_HTTP_FOUNDRY_DEBT_MAX;
        n->last = ngx_current_msec;
    }

    for (q = 0; q < NGX_HTTP_FOUNDRY_QUOTAS; q++) {
        if (v[2 * q] == ngx_http_foundry_limit_window(q + 1, now)) {
            n->window[q] = (time_t) v[2 * q];
            n->used[q] = ngx_min(v[2 * q + 1], NGX_HTTP_FOUNDRY_USED_MAX);
        }
    }

    return NGX_OK;
}
