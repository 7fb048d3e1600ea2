
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include <hiredis/hiredis.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_fleet.h"


/*
 * Redis through nginx's event loop: a non-blocking connection made with
 * ngx_event_connect_peer, kept open between exchanges, closed on any
 * error, timeout, or anything that arrives while no reply is awaited.
 * Replies are parsed by hiredis's reply reader (redisReader, fed with
 * what recv() brought); hiredis's own I/O is not used.  One exchange at
 * a time: the commands are written at once (a pipeline), then as many
 * replies are read, each handed to rd->reply; rd->done ends it.
 */


#define NGX_HTTP_FOUNDRY_REDIS_BUF      16384

/*
 * A reply's bounds.  hiredis allocates an array's element pointers when
 * the array's header comes, before its elements do: a garbage "*888888883"
 * would cost gigabytes for 12 bytes, so the arrays of one reply declare
 * at most NGX_HTTP_FOUNDRY_REDIS_ELEMENTS elements together (a fleet's
 * largest reply, ZRANGEBYSCORE or MGET of the keys used, has one element
 * a key).  The bytes the reader holds unparsed (a bulk string's declared
 * length is awaited) are bounded too.
 */
#define NGX_HTTP_FOUNDRY_REDIS_ELEMENTS 1048576
#define NGX_HTTP_FOUNDRY_REDIS_PENDING  (128 * 1024 * 1024)


static void ngx_http_foundry_redis_write(ngx_event_t *wev);
#if (NGX_SSL)
static void ngx_http_foundry_redis_connected(ngx_event_t *wev);
static void ngx_http_foundry_redis_tls(ngx_http_foundry_redis_t *rd);
static void ngx_http_foundry_redis_tls_done(ngx_connection_t *c);
static ngx_int_t ngx_http_foundry_redis_tls_name(ngx_http_foundry_redis_t *rd,
    ngx_connection_t *c);
#endif
static void ngx_http_foundry_redis_read(ngx_event_t *rev);
static void ngx_http_foundry_redis_idle(ngx_event_t *ev);
static void ngx_http_foundry_redis_fail(ngx_http_foundry_redis_t *rd,
    const char *error);
static ngx_int_t ngx_http_foundry_redis_integer(u_char *p, size_t len,
    int64_t *value);
static void *ngx_http_foundry_redis_array(const redisReadTask *task,
    int elements);


/* hiredis's reply functions, but the arrays' (see above) */
static redisReplyObjectFunctions  ngx_http_foundry_redis_functions;
static void *(*ngx_http_foundry_redis_create_array)(const redisReadTask *task,
    int elements);

/* the connection whose replies are being read, for the arrays' count */
static ngx_http_foundry_redis_t  *ngx_http_foundry_redis_feeding;


void
ngx_http_foundry_redis_exchange(ngx_http_foundry_redis_t *rd, ngx_buf_t *out,
    ngx_uint_t replies)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    rd->out = out;
    rd->replies = replies;
    rd->busy = 1;

    c = rd->peer.connection;

    if (c == NULL) {
        ngx_memzero(&rd->peer, sizeof(ngx_peer_connection_t));

        rd->peer.sockaddr = rd->addr->sockaddr;
        rd->peer.socklen = rd->addr->socklen;
        rd->peer.name = &rd->addr->name;
        rd->peer.get = ngx_event_get_peer;
        rd->peer.log = rd->log;
        rd->peer.log_error = NGX_ERROR_ERR;

        rc = ngx_event_connect_peer(&rd->peer);

        if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
            if (rd->peer.connection) {
                ngx_close_connection(rd->peer.connection);
                rd->peer.connection = NULL;
            }

            ngx_http_foundry_redis_fail(rd, "connect() failed");
            return;
        }

        c = rd->peer.connection;
        c->data = rd;
        c->pool = NULL;

        rd->reader = ngx_http_foundry_redis_reader(rd);
        if (rd->reader == NULL) {
            ngx_http_foundry_redis_fail(rd, "no memory for the reader");
            return;
        }

        rd->authing = (rd->auth.len != 0);
        rd->auth_sent = 0;

    } else {
        rc = NGX_OK;
    }

    c->read->handler = ngx_http_foundry_redis_read;
    c->write->handler = ngx_http_foundry_redis_write;

    ngx_add_timer(c->read, rd->timeout);

#if (NGX_SSL)

    if (rd->ssl && c->ssl == NULL) {

        /* TLS: the handshake once connected, then the exchange */

        if (rc == NGX_AGAIN) {
            c->write->handler = ngx_http_foundry_redis_connected;
            return;
        }

        ngx_http_foundry_redis_tls(rd);
        return;
    }

#endif

    if (rc == NGX_AGAIN) {
        /* the connect completes: the write handler sends */
        return;
    }

    ngx_http_foundry_redis_write(c->write);
}


#if (NGX_SSL)

static void
ngx_http_foundry_redis_connected(ngx_event_t *wev)
{
    ngx_connection_t          *c;
    ngx_http_foundry_redis_t  *rd;

    c = wev->data;
    rd = c->data;

    if (wev->timedout || c->read->timedout) {
        ngx_http_foundry_redis_fail(rd, "timed out");
        return;
    }

    ngx_http_foundry_redis_tls(rd);
}


/* TLS through nginx's SSL: SNI, the handshake, the peer's certificate */

static void
ngx_http_foundry_redis_tls(ngx_http_foundry_redis_t *rd)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = rd->peer.connection;

    if (c->pool == NULL) {
        c->pool = ngx_create_pool(512, rd->log);
        if (c->pool == NULL) {
            ngx_http_foundry_redis_fail(rd, "no memory");
            return;
        }
    }

    if (ngx_ssl_create_connection(rd->ssl, c, NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_http_foundry_redis_fail(rd, "TLS failed");
        return;
    }

    if (rd->sni
        && SSL_set_tlsext_host_name(c->ssl->connection,
                                    (char *) rd->tls_name.data)
           == 0)
    {
        ngx_http_foundry_redis_fail(rd, "TLS failed");
        return;
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        if (!c->write->timer_set) {
            ngx_add_timer(c->write, rd->timeout);
        }

        c->ssl->handler = ngx_http_foundry_redis_tls_done;
        return;
    }

    ngx_http_foundry_redis_tls_done(c);
}


static void
ngx_http_foundry_redis_tls_done(ngx_connection_t *c)
{
    ngx_http_foundry_redis_t  *rd;

    rd = c->data;

    if (!c->ssl->handshaked) {
        ngx_http_foundry_redis_fail(rd, "TLS handshake failed");
        return;
    }

    if (SSL_get_verify_result(c->ssl->connection) != X509_V_OK) {
        ngx_http_foundry_redis_fail(rd, "TLS certificate not verified");
        return;
    }

    if (ngx_http_foundry_redis_tls_name(rd, c) != NGX_OK) {
        ngx_http_foundry_redis_fail(rd, "TLS certificate of another name");
        return;
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->read->handler = ngx_http_foundry_redis_read;
    c->write->handler = ngx_http_foundry_redis_write;

    ngx_http_foundry_redis_write(c->write);
}



/* the certificate's name: tls_name=, or redis='s host; an address in IP: */

static ngx_int_t
ngx_http_foundry_redis_tls_name(ngx_http_foundry_redis_t *rd,
    ngx_connection_t *c)
{
    int    rc;
    X509  *cert;

    if (rd->sni) {
        return ngx_ssl_check_host(c, &rd->tls_name);
    }

    cert = SSL_get_peer_certificate(c->ssl->connection);
    if (cert == NULL) {
        return NGX_ERROR;
    }

    rc = X509_check_ip_asc(cert, (char *) rd->tls_name.data, 0);

    X509_free(cert);

    return (rc == 1) ? NGX_OK : NGX_ERROR;
}

#endif


static void
ngx_http_foundry_redis_write(ngx_event_t *wev)
{
    ssize_t                    n;
    ngx_str_t                  s;
    ngx_connection_t          *c;
    ngx_http_foundry_redis_t  *rd;

    c = wev->data;
    rd = c->data;

    if (wev->timedout) {
        ngx_http_foundry_redis_fail(rd, "timed out");
        return;
    }

    /* the AUTH command first, on a new connection, then the exchange's */

    while (rd->authing && rd->auth_sent < rd->auth.len) {
        n = c->send(c, rd->auth.data + rd->auth_sent,
                    rd->auth.len - rd->auth_sent);

        if (n == NGX_AGAIN) {
            goto again;
        }

        if (n == NGX_ERROR) {
            ngx_http_foundry_redis_fail(rd, "send() failed");
            return;
        }

        rd->auth_sent += n;
    }

    while (rd->out->pos < rd->out->last) {
        s.data = rd->out->pos;
        s.len = rd->out->last - rd->out->pos;

        n = c->send(c, s.data, s.len);

        if (n == NGX_AGAIN) {
            goto again;
        }

        if (n == NGX_ERROR) {
            ngx_http_foundry_redis_fail(rd, "send() failed");
            return;
        }

        rd->out->pos += n;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_http_foundry_redis_fail(rd, "event failed");
        return;
    }

    if (c->read->ready) {
        ngx_http_foundry_redis_read(c->read);
    }

    return;

again:

    if (!wev->timer_set) {
        ngx_add_timer(wev, rd->timeout);
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_http_foundry_redis_fail(rd, "event failed");
    }
}


static void
ngx_http_foundry_redis_read(ngx_event_t *rev)
{
    ssize_t                    n;
    ngx_int_t                  rc;
    const char                *error;
    ngx_connection_t          *c;
    ngx_http_foundry_redis_t  *rd;
    u_char                     buf[NGX_HTTP_FOUNDRY_REDIS_BUF];

    c = rev->data;
    rd = c->data;

    if (rev->timedout) {
        ngx_http_foundry_redis_fail(rd, "timed out");
        return;
    }

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0) {
            ngx_http_foundry_redis_fail(rd, "connection closed");
            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_foundry_redis_fail(rd, "recv() failed");
            return;
        }

        rc = ngx_http_foundry_redis_feed(rd, buf, n, &error);

        if (rc == NGX_ERROR) {
            ngx_http_foundry_redis_fail(rd, error);
            return;
        }

        if (rc == NGX_DONE) {
            goto done;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_foundry_redis_fail(rd, "event failed");
    }

    return;

done:

    /* all replies: the connection waits for the next exchange */

    if (rev->timer_set) {
        ngx_del_timer(rev);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->read->handler = ngx_http_foundry_redis_idle;
    c->write->handler = ngx_http_foundry_redis_idle;

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_foundry_redis_close(rd);
    }

    rd->busy = 0;
    rd->done(rd, NULL);
}


/*
 * What recv() brought, to the reader, and each whole reply to rd->reply
 * (AUTH's first, on a new connection): NGX_OK (more awaited), NGX_DONE
 * (the last reply came), or NGX_ERROR with the reason; bytes past the
 * last reply are an error.  Used by the fuzzers too.
 */

ngx_int_t
ngx_http_foundry_redis_feed(ngx_http_foundry_redis_t *rd, u_char *buf,
    size_t n, const char **error)
{
    int           rc_get;
    void         *reply;
    ngx_int_t     rc;
    redisReply   *r;
    redisReader  *reader;

    *error = "invalid reply";
    reader = rd->reader;

    if (redisReaderFeed(reader, (const char *) buf, n) != REDIS_OK) {
        return NGX_ERROR;
    }

    if (reader->len - reader->pos > NGX_HTTP_FOUNDRY_REDIS_PENDING) {
        *error = "reply too large";
        return NGX_ERROR;
    }

    for ( ;; ) {
        reply = NULL;

        ngx_http_foundry_redis_feeding = rd;
        rc_get = redisReaderGetReply(reader, &reply);
        ngx_http_foundry_redis_feeding = NULL;

        if (rc_get != REDIS_OK) {
            if (rd->too_large) {
                *error = "reply too large";
            }

            return NGX_ERROR;
        }

        if (reply == NULL) {
            return NGX_OK;
        }

        /* the next reply's arrays are counted anew */
        rd->elements = 0;

        if (rd->authing) {
            r = reply;
            rc = (r->type == REDIS_REPLY_STATUS) ? NGX_OK : NGX_ERROR;

            freeReplyObject(reply);

            if (rc != NGX_OK) {
                *error = "AUTH refused";
                return NGX_ERROR;
            }

            rd->authing = 0;
            continue;
        }

        rc = (rd->replies == 0) ? NGX_ERROR : rd->reply(rd, reply);

        freeReplyObject(reply);

        if (rc != NGX_OK) {
            *error = "unexpected reply";
            return NGX_ERROR;
        }

        if (--rd->replies == 0) {
            /* what follows the last reply is unexpected */
            return (((redisReader *) rd->reader)->len
                    > ((redisReader *) rd->reader)->pos)
                   ? NGX_ERROR : NGX_DONE;
        }
    }
}


/* hiredis's reader, its arrays bounded: for a new connection, the fuzzers */

void *
ngx_http_foundry_redis_reader(ngx_http_foundry_redis_t *rd)
{
    redisReader  *reader;

    reader = redisReaderCreate();
    if (reader == NULL) {
        return NULL;
    }

    if (ngx_http_foundry_redis_create_array == NULL) {
        ngx_http_foundry_redis_functions = *reader->fn;
        ngx_http_foundry_redis_create_array =
                                 ngx_http_foundry_redis_functions.createArray;
        ngx_http_foundry_redis_functions.createArray =
                                                 ngx_http_foundry_redis_array;
    }

    reader->fn = &ngx_http_foundry_redis_functions;

    rd->elements = 0;
    rd->too_large = 0;

    return reader;
}


/* an array's header: NULL (an error of the reader) past the bound */

static void *
ngx_http_foundry_redis_array(const redisReadTask *task, int elements)
{
    ngx_http_foundry_redis_t  *rd;

    rd = ngx_http_foundry_redis_feeding;

    if (elements > 0) {
        if (rd == NULL
            || (size_t) elements > NGX_HTTP_FOUNDRY_REDIS_ELEMENTS
                                   - rd->elements)
        {
            if (rd) {
                rd->too_large = 1;
            }

            return NULL;
        }

        rd->elements += elements;
    }

    return ngx_http_foundry_redis_create_array(task, elements);
}


/* between exchanges: anything but EAGAIN (closed, data) closes */

static void
ngx_http_foundry_redis_idle(ngx_event_t *ev)
{
    u_char                     ch;
    ssize_t                    n;
    ngx_connection_t          *c;
    ngx_http_foundry_redis_t  *rd;

    c = ev->data;
    rd = c->data;

    if (ev->write) {
        return;
    }

    n = c->recv(c, &ch, 1);

    if (n == NGX_AGAIN) {
        if (ngx_handle_read_event(ev, 0) != NGX_OK) {
            ngx_http_foundry_redis_close(rd);
        }

        return;
    }

    ngx_http_foundry_redis_close(rd);
}


static void
ngx_http_foundry_redis_fail(ngx_http_foundry_redis_t *rd, const char *error)
{
    ngx_http_foundry_redis_close(rd);

    if (rd->busy) {
        rd->busy = 0;
        rd->done(rd, error);
    }
}


void
ngx_http_foundry_redis_close(ngx_http_foundry_redis_t *rd)
{
    ngx_pool_t        *pool;
    ngx_connection_t  *c;

    c = rd->peer.connection;

    if (c) {
        pool = c->pool;

#if (NGX_SSL)
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif

        ngx_close_connection(c);
        rd->peer.connection = NULL;

        if (pool) {
            ngx_destroy_pool(pool);
        }
    }

    if (rd->reader) {
        redisReaderFree(rd->reader);
        rd->reader = NULL;
    }
}


/*
 * A reply checked against the command that asked for it: NGX_OK, with
 * the integers in values (n of them, MGET's; a key not there is 0), or
 * NGX_DECLINED for an error reply, NGX_ERROR for anything unexpected.
 */

ngx_int_t
ngx_http_foundry_redis_check(ngx_uint_t type, void *reply, int64_t *values,
    ngx_uint_t n)
{
    size_t       i;
    redisReply  *r, *e;

    r = reply;

    if (r->type == REDIS_REPLY_ERROR) {
        return NGX_DECLINED;
    }

    switch (type) {

    case NGX_HTTP_FOUNDRY_REDIS_PING:
        return (r->type == REDIS_REPLY_STATUS) ? NGX_OK : NGX_ERROR;

    case NGX_HTTP_FOUNDRY_REDIS_INCRBY:
    case NGX_HTTP_FOUNDRY_REDIS_EXPIRE:
    case NGX_HTTP_FOUNDRY_REDIS_ZADD:
    case NGX_HTTP_FOUNDRY_REDIS_ZREM:

        if (r->type != REDIS_REPLY_INTEGER) {
            return NGX_ERROR;
        }

        if (n) {
            values[0] = r->integer;
        }

        return NGX_OK;

    case NGX_HTTP_FOUNDRY_REDIS_MGET:

        if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
            return NGX_ERROR;
        }

        for (i = 0; i < n; i++) {
            e = r->element[i];

            if (e->type == REDIS_REPLY_NIL) {
                values[i] = 0;
                continue;
            }

            if (e->type != REDIS_REPLY_STRING
                || ngx_http_foundry_redis_integer((u_char *) e->str, e->len,
                                                  &values[i])
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;

    default:
        return NGX_ERROR;
    }
}


/* an array of strings (ZRANGEBYSCORE's), copied: NGX_OK, or NGX_ERROR */

ngx_int_t
ngx_http_foundry_redis_strings(void *reply, ngx_pool_t *pool,
    ngx_array_t **out)
{
    size_t        i;
    ngx_str_t    *s;
    redisReply   *r, *e;
    ngx_array_t  *a;

    r = reply;

    if (r->type != REDIS_REPLY_ARRAY) {
        return NGX_ERROR;
    }

    a = ngx_array_create(pool, r->elements ? r->elements : 1,
                         sizeof(ngx_str_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < r->elements; i++) {
        e = r->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            return NGX_ERROR;
        }

        s = ngx_array_push(a);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->len = e->len;
        s->data = ngx_pnalloc(pool, e->len + 1);
        if (s->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(s->data, e->str, e->len);
    }

    *out = a;

    return NGX_OK;
}


/* a counter's value: an optional '-', at most 18 digits */

static ngx_int_t
ngx_http_foundry_redis_integer(u_char *p, size_t len, int64_t *value)
{
    off_t    v;
    int64_t  sign;

    sign = 1;

    if (len && p[0] == '-') {
        sign = -1;
        p++;
        len--;
    }

    v = (len > 18) ? NGX_ERROR : ngx_atoof(p, len);

    if (v == NGX_ERROR) {
        return NGX_ERROR;
    }

    *value = sign * (int64_t) v;

    return NGX_OK;
}


/* a command's argument in RESP: $len CRLF data CRLF */

size_t
ngx_http_foundry_redis_arg_size(size_t len)
{
    return 1 + NGX_SIZE_T_LEN + 2 + len + 2;
}


u_char *
ngx_http_foundry_redis_arg(u_char *p, u_char *data, size_t len)
{
    p = ngx_sprintf(p, "$%uz\r\n", len);
    p = ngx_cpymem(p, data, len);
    *p++ = '\r';
    *p++ = '\n';

    return p;
}
