
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_limit.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_deployments.h"


/*
 * Prometheus metrics.  Every gateway request adds to a few series in a
 * shared zone, once, in the log phase, under the zone's mutex and without
 * any I/O; "foundry_metrics" serves them as Prometheus text.  A series is
 * a metric and its labels; the zone bounds their number: when it is full,
 * new series are not recorded (foundry_metrics_dropped_total says so).
 */


#define NGX_HTTP_FOUNDRY_BUCKETS  11


typedef struct {
    const char                     *name;
    const char                     *type;
    const char                     *help;
} ngx_http_foundry_metric_t;


static ngx_http_foundry_metric_t  ngx_http_foundry_metric_defs[] = {
    { "foundry_requests_total", "counter",
      "Gateway requests by target, deployment and status." },
    { "foundry_tokens_total", "counter",
      "Tokens the upstreams reported, by deployment, key and kind." },
    { "foundry_upstream_response_seconds", "histogram",
      "Time to the end of the upstream's answer." },
    { "foundry_upstream_first_byte_seconds", "histogram",
      "Time to the upstream's response header (first byte of a stream)." },
    { "foundry_auth_failures_total", "counter",
      "Requests refused by the key check, by reason." },
    { "foundry_limit_rejections_total", "counter",
      "Requests refused by a limit, by limit." },
    { "foundry_discovery_refreshes_total", "counter",
      "Discovery refreshes from upstreams, by source and outcome." },
    { "foundry_jwks_refreshes_total", "counter",
      "Key set refreshes, by issuer and outcome." },
    { "foundry_keys_reloads_total", "counter",
      "Loads of keys files, by zone and outcome." },
    { "foundry_content_checks_total", "counter",
      "Prompt content checks, by checker and outcome." },
    { "foundry_upstream_credential_fetches_total", "counter",
      "Token fetches of upstream credentials, by credential and outcome." },
    { "foundry_upstream_credential_expiry_seconds", "gauge",
      "Seconds until the upstream credential's token expires (0: expired)." },
    { "foundry_token_introspections_total", "counter",
      "Opaque tokens decided by introspection, by location and outcome." },
    { "foundry_content_answer_checks_total", "counter",
      "Content checks of the model's answers, by checker and outcome." }
};


/* the metrics of the running configuration, for events outside requests */

static ngx_http_foundry_main_conf_t  *ngx_http_foundry_metrics_running;


static double  ngx_http_foundry_bounds[NGX_HTTP_FOUNDRY_BUCKETS] = {
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120
};


/* a series: the key is the metric's number, then its labels */

typedef struct {
    ngx_str_node_t                  sn;
    ngx_queue_t                     queue;
    uint64_t                        value;
    uint64_t                        sum;
    uint64_t                        buckets[NGX_HTTP_FOUNDRY_BUCKETS];
    u_char                          key[1];
} ngx_http_foundry_series_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     series[NGX_HTTP_FOUNDRY_METRICS];
    uint64_t                        dropped;

    /* the caller's identities seen as labels, by label: never printed */
    ngx_queue_t                     values;
    ngx_uint_t                      nvalues[2];
} ngx_http_foundry_metrics_shctx_t;


static ngx_int_t ngx_http_foundry_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_foundry_series_t *ngx_http_foundry_series(
    ngx_http_foundry_metrics_zone_t *mz, u_char *key, size_t len,
    ngx_uint_t create);
static ngx_str_t *ngx_http_foundry_metrics_bound(
    ngx_http_foundry_metrics_zone_t *mz, ngx_uint_t label,
    ngx_str_t *value);
static void ngx_http_foundry_metrics_events(
    ngx_http_foundry_metrics_zone_t *mz, ngx_http_foundry_loc_conf_t *flcf,
    ngx_http_foundry_ctx_t *ctx, u_char *buf, u_char *start, u_char *last);
static void ngx_http_foundry_metrics_labels(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_metrics_zone_t *mz,
    ngx_str_t *dep, ngx_str_t *key, ngx_str_t *agent, ngx_str_t *project,
    u_char *status);
static size_t ngx_http_foundry_metrics_size(
    ngx_http_foundry_metrics_shctx_t *sh);
static u_char *ngx_http_foundry_metrics_series(u_char *p, u_char *last,
    ngx_uint_t m, ngx_http_foundry_series_t *s);
static u_char *ngx_http_foundry_label(u_char *p, u_char *start,
    u_char *last, const char *name, ngx_str_t *value);
static void ngx_http_foundry_metrics_add(ngx_http_foundry_metrics_zone_t *mz,
    u_char *key, u_char *last, uint64_t n, ngx_int_t ms);
static void ngx_http_foundry_metrics_one(ngx_http_foundry_main_conf_t *fmcf,
    ngx_uint_t metric, const char *name, ngx_str_t *value,
    const char *outcome, time_t set);
static ngx_int_t ngx_http_foundry_metrics_handler(ngx_http_request_t *r);
static u_char *ngx_http_foundry_metrics_zones(ngx_http_request_t *r,
    u_char *p, u_char *last);
static ngx_shm_zone_t *ngx_http_foundry_metrics_next_zone(
    ngx_list_part_t **part, ngx_uint_t *i);
static size_t ngx_http_foundry_metrics_sync_size(void);
static u_char *ngx_http_foundry_metrics_sync(u_char *p, u_char *last);
static u_char *ngx_http_foundry_metrics_build(u_char *p, u_char *last);


/*
 * foundry_metrics_zone name:size [labels=agent,project] [label_values=n];
 *
 * labels= adds the caller's identity ($foundry_agent_id, $foundry_project)
 * to foundry_requests_total and foundry_tokens_total; each label has at
 * most label_values (100) values in the zone, later ones count as
 * "_other": a caller cannot grow the zone by naming itself anew.
 */

char *
ngx_http_foundry_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_main_conf_t *fmcf = conf;

    u_char                           *p, *end, *comma;
    ngx_int_t                         n;
    ngx_str_t                        *value;
    ngx_uint_t                        i;
    ngx_http_foundry_metrics_zone_t  *mz;

    if (fmcf->metrics) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mz = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_metrics_zone_t));
    if (mz == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "labels=", 7) == 0
            && value[i].len > 7)
        {
            p = value[i].data + 7;
            end = value[i].data + value[i].len;

            while (p < end) {
                comma = ngx_strlchr(p, end, ',');
                if (comma == NULL) {
                    comma = end;
                }

                if (comma - p == 5 && ngx_strncmp(p, "agent", 5) == 0) {
                    mz->labels |= NGX_HTTP_FOUNDRY_LABEL_AGENT;

                } else if (comma - p == 7
                           && ngx_strncmp(p, "project", 7) == 0)
                {
                    mz->labels |= NGX_HTTP_FOUNDRY_LABEL_PROJECT;

                } else {
                    goto invalid;
                }

                p = comma + 1;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "label_values=", 13) == 0) {
            n = ngx_atoi(value[i].data + 13, value[i].len - 13);

            if (n < 1 || n > 100000) {
                goto invalid;
            }

            mz->label_values = n;
            continue;
        }

        goto invalid;
    }

    if (mz->label_values && mz->labels == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"label_values=\" needs \"labels=\" in "
                           "\"%V\" directive", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (mz->label_values == 0) {
        mz->label_values = 100;
    }

    mz->shm_zone = ngx_http_foundry_zone_add(cf, &value[1],
        ngx_http_foundry_metrics_init_zone, mz);
    if (mz->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    fmcf->metrics = mz;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\" directive, "
                       "expected \"labels=\" with \"agent\" and/or "
                       "\"project\" (comma separated), or "
                       "\"label_values=\" from 1 to 100000",
                       &value[i], &value[0]);

    return NGX_CONF_ERROR;
}


/* foundry_metrics; the location serves the metrics page */

char *
ngx_http_foundry_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_foundry_main_conf_t  *fmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_foundry_metrics_handler;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    if (fmcf->metrics_file == NULL) {
        fmcf->metrics_file = cf->conf_file->file.name.data;
        fmcf->metrics_line = cf->conf_file->line;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_foundry_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_int_t                           rc;
    ngx_uint_t                          i;
    ngx_http_foundry_metrics_zone_t    *mz;
    ngx_http_foundry_metrics_shctx_t   *sh;

    mz = shm_zone->data;

    /* a full zone is expected: dropped series are counted instead */

    rc = ngx_http_foundry_shm_init(shm_zone, data,
                                   sizeof(ngx_http_foundry_metrics_shctx_t),
                                   "foundry_metrics_zone", &mz->sh,
                                   &mz->shpool);
    if (rc != NGX_DONE) {
        return rc;
    }

    sh = mz->sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);

    for (i = 0; i < NGX_HTTP_FOUNDRY_METRICS; i++) {
        ngx_queue_init(&sh->series[i]);
    }

    ngx_queue_init(&sh->values);

    return NGX_OK;
}


/*
 * The series of a key (the metric's number and the labels), created when
 * new (and "create"); NULL when the zone is full.  Called with the mutex
 * held.  Keys from NGX_HTTP_FOUNDRY_METRICS on are label values seen.
 */

static ngx_http_foundry_series_t *
ngx_http_foundry_series(ngx_http_foundry_metrics_zone_t *mz, u_char *key,
    size_t len, ngx_uint_t create)
{
    uint32_t                           hash;
    ngx_str_t                          name;
    ngx_http_foundry_series_t         *s;
    ngx_http_foundry_metrics_shctx_t  *sh;

    sh = mz->sh;
    hash = ngx_crc32_short(key, len);

    name.len = len;
    name.data = key;

    s = (ngx_http_foundry_series_t *)
            ngx_str_rbtree_lookup(&sh->rbtree, &name, hash);

    if (s || !create) {
        return s;
    }

    s = ngx_slab_alloc_locked(mz->shpool,
                              offsetof(ngx_http_foundry_series_t, key) + len);
    if (s == NULL) {
        sh->dropped++;
        return NULL;
    }

    ngx_memzero(s, offsetof(ngx_http_foundry_series_t, key));

    s->sn.node.key = hash;
    s->sn.str.len = len;
    s->sn.str.data = s->key;
    ngx_memcpy(s->key, key, len);

    ngx_rbtree_insert(&sh->rbtree, &s->sn.node);
    ngx_queue_insert_tail(key[0] < NGX_HTTP_FOUNDRY_METRICS
                          ? &sh->series[key[0]] : &sh->values,
                          &s->queue);

    return s;
}


/*
 * A caller's identity as a label value: itself when the zone has seen
 * it, or has seen fewer than label_values values of the label; else
 * "_other".  Called with the mutex held.
 */

static ngx_str_t *
ngx_http_foundry_metrics_bound(ngx_http_foundry_metrics_zone_t *mz,
    ngx_uint_t label, ngx_str_t *value)
{
    u_char                             key[1 + 256];
    ngx_http_foundry_metrics_shctx_t  *sh;

    static ngx_str_t  other = ngx_string("_other");

    if (value->len == 0) {
        return value;
    }

    if (value->len > 256) {
        return &other;
    }

    sh = mz->sh;

    key[0] = (u_char) (NGX_HTTP_FOUNDRY_METRICS + label);
    ngx_memcpy(key + 1, value->data, value->len);

    if (ngx_http_foundry_series(mz, key, 1 + value->len, 0) != NULL) {
        return value;
    }

    if (sh->nvalues[label] >= mz->label_values
        || ngx_http_foundry_series(mz, key, 1 + value->len, 1) == NULL)
    {
        return &other;
    }

    sh->nvalues[label]++;

    return value;
}


/* name="value", escaped as the text format wants */

static u_char *
ngx_http_foundry_label(u_char *p, u_char *start, u_char *last,
    const char *name, ngx_str_t *value)
{
    size_t   n;
    u_char  *v;

    n = ngx_strlen(name);

    if (p + n + 4 + 2 * value->len > last) {
        return p;
    }

    if (p != start) {
        *p++ = ',';
    }

    p = ngx_cpymem(p, name, n);
    *p++ = '=';
    *p++ = '"';

    for (v = value->data; v < value->data + value->len; v++) {
        if (*v == '"' || *v == '\\') {
            *p++ = '\\';
            *p++ = *v;

        } else if (*v == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = *v;
        }
    }

    *p++ = '"';

    return p;
}


/* adds to a counter or a histogram (value in ms) */

static void
ngx_http_foundry_metrics_add(ngx_http_foundry_metrics_zone_t *mz,
    u_char *key, u_char *last, uint64_t n, ngx_int_t ms)
{
    ngx_uint_t                  i;
    ngx_http_foundry_series_t  *s;

    s = ngx_http_foundry_series(mz, key, last - key, 1);

    if (s == NULL) {
        return;
    }

    /* a counter stays at its greatest value rather than wrap */

    if (ms < 0) {
        s->value = (s->value > (uint64_t) -1 - n) ? (uint64_t) -1
                                                  : s->value + n;
        return;
    }

    s->value++;
    s->sum += ms;

    for (i = 0; i < NGX_HTTP_FOUNDRY_BUCKETS; i++) {
        if (ms <= ngx_http_foundry_bounds[i] * 1000) {
            s->buckets[i]++;
        }
    }
}


/*
 * The log phase: what the request did, added to the zone.  The keys of
 * the series are built first, outside the mutex.
 */

void
ngx_http_foundry_metrics_record(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    u_char                            *p, *start, *last, status[4];
    u_char                             buf[1024];
    int64_t                            tokens[4];
    ngx_str_t                          v, dep, key, agent, project;
    ngx_str_t                         *ba, *bp;
    ngx_int_t                          ms, first;
    ngx_uint_t                         i, n;
    ngx_http_upstream_state_t         *state;
    ngx_http_foundry_main_conf_t      *fmcf;
    ngx_http_foundry_metrics_zone_t   *mz;

    static const char  *kinds[] = { "prompt", "completion", "cached",
                                    "reasoning" };

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);
    mz = fmcf->metrics;

    if (mz == NULL || mz->sh == NULL) {
        return;
    }

    ngx_http_foundry_metrics_labels(r, ctx, mz, &dep, &key, &agent,
                                    &project, status);

    start = buf + 1;
    last = buf + sizeof(buf);

#define ngx_http_foundry_metric_key(metric)                                   \
    buf[0] = (u_char) (metric);                                               \
    p = ngx_http_foundry_label(start, start, last, "target", &flcf->prefix)

#define ngx_http_foundry_caller_labels()                                      \
    if (mz->labels & NGX_HTTP_FOUNDRY_LABEL_AGENT) {                          \
        p = ngx_http_foundry_label(p, start, last, "agent", ba);              \
    }                                                                         \
    if (mz->labels & NGX_HTTP_FOUNDRY_LABEL_PROJECT) {                        \
        p = ngx_http_foundry_label(p, start, last, "project", bp);            \
    }

    ngx_shmtx_lock(&mz->shpool->mutex);

    ba = ngx_http_foundry_metrics_bound(mz, 0, &agent);
    bp = ngx_http_foundry_metrics_bound(mz, 1, &project);

    ngx_http_foundry_metric_key(NGX_HTTP_FOUNDRY_M_REQUESTS);
    p = ngx_http_foundry_label(p, start, last, "deployment", &dep);
    v.data = status;
    v.len = 3;
    p = ngx_http_foundry_label(p, start, last, "status", &v);
    ngx_http_foundry_caller_labels();
    ngx_http_foundry_metrics_add(mz, buf, p, 1, -1);

    if (ctx->usage.found) {
        tokens[0] = ctx->usage.tokens.prompt;
        tokens[1] = ctx->usage.tokens.completion;
        tokens[2] = ctx->usage.tokens.cached;
        tokens[3] = ctx->usage.tokens.reasoning;

        for (i = 0; i < 4; i++) {
            if (tokens[i] <= 0) {
                continue;
            }

            ngx_http_foundry_metric_key(NGX_HTTP_FOUNDRY_M_TOKENS);
            p = ngx_http_foundry_label(p, start, last, "deployment", &dep);
            p = ngx_http_foundry_label(p, start, last, "key", &key);
            v.data = (u_char *) kinds[i];
            v.len = ngx_strlen(kinds[i]);
            p = ngx_http_foundry_label(p, start, last, "kind", &v);
            ngx_http_foundry_caller_labels();
            ngx_http_foundry_metrics_add(mz, buf, p, tokens[i], -1);
        }
    }

    /* upstream times, of the last upstream tried */

    if (r->upstream_states && r->upstream_states->nelts) {
        state = r->upstream_states->elts;
        n = r->upstream_states->nelts - 1;

        ms = (ngx_int_t) state[n].response_time;
        first = (ngx_int_t) state[n].header_time;

        /* an answer: a header came (not a failed connect) */

        if (state[n].status && ms >= 0 && first >= 0) {
            ngx_http_foundry_metric_key(NGX_HTTP_FOUNDRY_M_RESPONSE);
            p = ngx_http_foundry_label(p, start, last, "deployment", &dep);
            ngx_http_foundry_metrics_add(mz, buf, p, 0, ms);

            buf[0] = NGX_HTTP_FOUNDRY_M_FIRST_BYTE;
            ngx_http_foundry_metrics_add(mz, buf, p, 0, first);
        }
    }

    ngx_http_foundry_metrics_events(mz, flcf, ctx, buf, start, last);

    ngx_shmtx_unlock(&mz->shpool->mutex);
}


/* the request's refusals: a credential, a limit */

static void
ngx_http_foundry_metrics_events(ngx_http_foundry_metrics_zone_t *mz,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    u_char *buf, u_char *start, u_char *last)
{
    u_char     *p;
    ngx_str_t   v;

    if (ctx->auth_failure) {
        ngx_http_foundry_metric_key(NGX_HTTP_FOUNDRY_M_AUTH);
        v.data = (u_char *) ctx->auth_failure;
        v.len = ngx_strlen(ctx->auth_failure);
        p = ngx_http_foundry_label(p, start, last, "reason", &v);
        ngx_http_foundry_metrics_add(mz, buf, p, 1, -1);
    }

    if (ctx->limited) {
        ngx_http_foundry_metric_key(NGX_HTTP_FOUNDRY_M_LIMIT);

        if (ctx->limited->quota) {
            ngx_str_set(&v, "quota");

        } else {
            v.data = (u_char *) ctx->limited->kind;
            v.len = ngx_strlen(ctx->limited->kind);
        }

        p = ngx_http_foundry_label(p, start, last, "limit", &v);
        ngx_http_foundry_metrics_add(mz, buf, p, 1, -1);
    }
}


#undef ngx_http_foundry_metric_key
#undef ngx_http_foundry_caller_labels


/* the labels of a request's series */

static void
ngx_http_foundry_metrics_labels(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_metrics_zone_t *mz,
    ngx_str_t *dep, ngx_str_t *key, ngx_str_t *agent, ngx_str_t *project,
    u_char *status)
{
    ngx_uint_t  code;

    if (ctx->deployment) {
        *dep = ctx->deployment->name;

    } else {
        ngx_str_set(dep, "");
    }

    if (ctx->key) {
        *key = ctx->key->name;

    } else {
        ngx_str_set(key, "");
    }

    ngx_str_set(agent, "");
    ngx_str_set(project, "");

    if (mz->labels & NGX_HTTP_FOUNDRY_LABEL_AGENT
        && ngx_http_foundry_caller_id(r, NGX_HTTP_FOUNDRY_CALLER_AGENT, agent)
           != NGX_OK)
    {
        ngx_str_set(agent, "");
    }

    if (mz->labels & NGX_HTTP_FOUNDRY_LABEL_PROJECT
        && ngx_http_foundry_caller_project(r, project) != NGX_OK)
    {
        ngx_str_set(project, "");
    }

    code = r->err_status ? r->err_status : r->headers_out.status;

    if (code == 0 && r->connection->error) {
        code = 499;
    }

    ngx_sprintf(status, "%03ui", code % 1000);
}


/* counts an event that is not a request: refreshes of discovery, JWKS */

void
ngx_http_foundry_metrics_event(ngx_http_foundry_main_conf_t *fmcf,
    ngx_uint_t metric, const char *name, ngx_str_t *value,
    const char *outcome)
{
    ngx_http_foundry_metrics_one(fmcf, metric, name, value, outcome, -1);
}


/*
 * sets a gauge of a time (seconds since the epoch): "foundry_metrics"
 * shows the seconds left until it
 */

void
ngx_http_foundry_metrics_expiry(ngx_http_foundry_main_conf_t *fmcf,
    ngx_uint_t metric, const char *name, ngx_str_t *value, time_t expires)
{
    ngx_http_foundry_metrics_one(fmcf, metric, name, value, NULL,
                                 ngx_max(expires, 0));
}


/* a series of one label (and an outcome): counted, or set when "set" >= 0 */

static void
ngx_http_foundry_metrics_one(ngx_http_foundry_main_conf_t *fmcf,
    ngx_uint_t metric, const char *name, ngx_str_t *value,
    const char *outcome, time_t set)
{
    u_char                           *p, *start, *last, buf[512];
    ngx_str_t                         v;
    ngx_http_foundry_series_t        *s;
    ngx_http_foundry_metrics_zone_t  *mz;

    mz = fmcf->metrics;

    if (mz == NULL || mz->sh == NULL) {
        return;
    }

    buf[0] = (u_char) metric;
    start = buf + 1;
    last = buf + sizeof(buf);

    p = ngx_http_foundry_label(start, start, last, name, value);

    if (outcome) {
        v.data = (u_char *) outcome;
        v.len = ngx_strlen(outcome);
        p = ngx_http_foundry_label(p, start, last, "outcome", &v);
    }

    ngx_shmtx_lock(&mz->shpool->mutex);

    if (set < 0) {
        ngx_http_foundry_metrics_add(mz, buf, p, 1, -1);

    } else {
        s = ngx_http_foundry_series(mz, buf, p - buf, 1);

        if (s) {
            s->value = (uint64_t) set;
        }
    }

    ngx_shmtx_unlock(&mz->shpool->mutex);
}


/*
 * The configuration that runs: set in the master once a configuration is
 * loaded (the workers inherit it).  While a new configuration is being
 * read, the one before is still the running one.
 */

void
ngx_http_foundry_metrics_commit(ngx_http_foundry_main_conf_t *fmcf)
{
    ngx_http_foundry_metrics_running = fmcf;
}


/* counts an event in the running configuration's metrics, if any */

void
ngx_http_foundry_metrics_count(ngx_uint_t metric, const char *name,
    ngx_str_t *value, const char *outcome)
{
    if (ngx_http_foundry_metrics_running == NULL) {
        return;
    }

    ngx_http_foundry_metrics_event(ngx_http_foundry_metrics_running, metric,
                                   name, value, outcome);
}


static ngx_int_t
ngx_http_foundry_metrics_handler(ngx_http_request_t *r)
{
    u_char                            *p, *last;
    size_t                             size;
    ngx_int_t                          rc;
    ngx_buf_t                         *b;
    ngx_uint_t                         m;
    ngx_chain_t                        out;
    ngx_queue_t                       *q;
    ngx_http_foundry_series_t         *s;
    ngx_http_foundry_main_conf_t      *fmcf;
    ngx_http_foundry_metrics_zone_t   *mz;
    ngx_http_foundry_metrics_shctx_t  *sh;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);
    mz = fmcf->metrics;

    if (mz == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry_metrics needs a foundry_metrics_zone");
        return NGX_HTTP_NOT_FOUND;
    }

    sh = mz->sh;

    ngx_shmtx_lock(&mz->shpool->mutex);

    size = ngx_http_foundry_metrics_size(sh)
           + ngx_http_foundry_metrics_sync_size();

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        ngx_shmtx_unlock(&mz->shpool->mutex);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;
    last = b->end;

    for (m = 0; m < NGX_HTTP_FOUNDRY_METRICS; m++) {

        p = ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                         ngx_http_foundry_metric_defs[m].name,
                         ngx_http_foundry_metric_defs[m].help,
                         ngx_http_foundry_metric_defs[m].name,
                         ngx_http_foundry_metric_defs[m].type);

        for (q = ngx_queue_head(&sh->series[m]);
             q != ngx_queue_sentinel(&sh->series[m]);
             q = ngx_queue_next(q))
        {
            s = ngx_queue_data(q, ngx_http_foundry_series_t, queue);

            p = ngx_http_foundry_metrics_series(p, last, m, s);
        }
    }

    p = ngx_slprintf(p, last,
                     "# HELP foundry_metrics_dropped_total Series not "
                     "recorded: the metrics zone is full.\n"
                     "# TYPE foundry_metrics_dropped_total counter\n"
                     "foundry_metrics_dropped_total %uL\n", sh->dropped);

    ngx_shmtx_unlock(&mz->shpool->mutex);

    p = ngx_http_foundry_metrics_zones(r, p, last);
    p = ngx_http_foundry_metrics_sync(p, last);
    p = ngx_http_foundry_metrics_build(p, last);

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the size of the page: every series with its buckets, at most */

static size_t
ngx_http_foundry_metrics_size(ngx_http_foundry_metrics_shctx_t *sh)
{
    size_t                      size;
    ngx_uint_t                  m;
    ngx_queue_t                *q;
    ngx_http_foundry_series_t  *s;

    size = 4096 + 512;  /* and the zones' and the build's series */

    for (m = 0; m < NGX_HTTP_FOUNDRY_METRICS; m++) {
        size += 256;

        for (q = ngx_queue_head(&sh->series[m]);
             q != ngx_queue_sentinel(&sh->series[m]);
             q = ngx_queue_next(q))
        {
            s = ngx_queue_data(q, ngx_http_foundry_series_t, queue);
            size += (NGX_HTTP_FOUNDRY_BUCKETS + 3)
                    * (s->sn.str.len + 64 + 2 * NGX_INT64_LEN);
        }
    }

    return size;
}


/* a series: a gauge, a counter, or a histogram's buckets, sum and count */

static u_char *
ngx_http_foundry_metrics_series(u_char *p, u_char *last, ngx_uint_t m,
    ngx_http_foundry_series_t *s)
{
    u_char      *labels;
    size_t       lsize;
    ngx_uint_t   i, count;

    labels = s->key + 1;
    lsize = s->sn.str.len - 1;

    /* a gauge holds a time: the seconds until it */

    if (ngx_strcmp(ngx_http_foundry_metric_defs[m].type, "gauge") == 0) {
        p = ngx_slprintf(p, last, "%s{%*s} %uL\n",
                         ngx_http_foundry_metric_defs[m].name,
                         lsize, labels,
                         (s->value > (uint64_t) ngx_time())
                         ? s->value - (uint64_t) ngx_time() : 0);
        return p;
    }

    if (ngx_strcmp(ngx_http_foundry_metric_defs[m].type, "counter") == 0) {
        p = ngx_slprintf(p, last, "%s{%*s} %uL\n",
                         ngx_http_foundry_metric_defs[m].name,
                         lsize, labels, s->value);
        return p;
    }

    count = 0;

    for (i = 0; i < NGX_HTTP_FOUNDRY_BUCKETS; i++) {
        p = ngx_slprintf(p, last, "%s_bucket{%*s,le=\"%.3f\"} %uL\n",
                         ngx_http_foundry_metric_defs[m].name,
                         lsize, labels,
                         ngx_http_foundry_bounds[i], s->buckets[i]);
        count++;
    }

    p = ngx_slprintf(p, last,
                     "%s_bucket{%*s,le=\"+Inf\"} %uL\n"
                     "%s_sum{%*s} %uL.%03uL\n"
                     "%s_count{%*s} %uL\n",
                     ngx_http_foundry_metric_defs[m].name,
                     lsize, labels, s->value,
                     ngx_http_foundry_metric_defs[m].name,
                     lsize, labels, s->sum / 1000, s->sum % 1000,
                     ngx_http_foundry_metric_defs[m].name,
                     lsize, labels, s->value);

    return p;
}


/* the module's shared zones: size and pages in use */

static u_char *
ngx_http_foundry_metrics_zones(ngx_http_request_t *r, u_char *p,
    u_char *last)
{
    size_t            total, used;
    ngx_uint_t        i, pass;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *zone;
    ngx_slab_pool_t  *shpool;

    static const char  *help[] = {
        "# HELP foundry_zone_size_bytes Size of the module's shared memory "
        "zones.\n# TYPE foundry_zone_size_bytes gauge\n",
        "# HELP foundry_zone_used_bytes Pages in use in the module's shared "
        "memory zones.\n# TYPE foundry_zone_used_bytes gauge\n"
    };

    /* a metric's samples together: sizes, then pages in use */

    for (pass = 0; pass < 2; pass++) {

        p = ngx_slprintf(p, last, "%s", help[pass]);

        part = NULL;

        while ((zone = ngx_http_foundry_metrics_next_zone(&part, &i))) {

            total = zone->shm.size;

            if (pass == 0) {
                p = ngx_slprintf(p, last,
                                 "foundry_zone_size_bytes{zone=\"%V\"} %uz\n",
                                 &zone->shm.name, total);
                continue;
            }

            shpool = (ngx_slab_pool_t *) zone->shm.addr;

            ngx_shmtx_lock(&shpool->mutex);
            used = total - shpool->pfree * ngx_pagesize;
            ngx_shmtx_unlock(&shpool->mutex);

            p = ngx_slprintf(p, last,
                             "foundry_zone_used_bytes{zone=\"%V\"} %uz\n",
                             &zone->shm.name, used);
        }
    }

    return p;
}


/*
 * The running cycle's zones of the module, one after the other: *part
 * NULL for the first; NULL after the last
 */

static ngx_shm_zone_t *
ngx_http_foundry_metrics_next_zone(ngx_list_part_t **part, ngx_uint_t *i)
{
    ngx_shm_zone_t  *zone;

    if (*part == NULL) {
        *part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
        *i = 0;

    } else {
        (*i)++;
    }

    for ( ;; ) {

        if (*i >= (*part)->nelts) {
            if ((*part)->next == NULL) {
                return NULL;
            }

            *part = (*part)->next;
            *i = 0;
            continue;
        }

        zone = (ngx_shm_zone_t *) (*part)->elts + *i;

        if (zone->tag == &ngx_http_foundry_module && zone->shm.addr != NULL) {
            return zone;
        }

        (*i)++;
    }
}


/* the fleet's sync of each zone that has one, for /metrics */

static size_t
ngx_http_foundry_metrics_sync_size(void)
{
    size_t            size;
    ngx_uint_t        i;
    ngx_shm_zone_t   *zone;
    ngx_list_part_t  *part;

    size = 1024;
    part = NULL;

    while ((zone = ngx_http_foundry_metrics_next_zone(&part, &i))) {
        size += 4 * (zone->shm.name.len + 128);
    }

    return size;
}


static u_char *
ngx_http_foundry_metrics_sync(u_char *p, u_char *last)
{
    ngx_uint_t                      i, pass, seen;
    ngx_msec_t                      lag;
    ngx_shm_zone_t                 *zone;
    ngx_list_part_t                *part;
    ngx_http_foundry_limit_zone_t  *lz;
    ngx_http_foundry_limit_sync_t   sync;

    static char  *help[] = {
        "# HELP foundry_limit_sync_up Whether a limit zone's last sync with "
        "the fleet's Redis succeeded.\n# TYPE foundry_limit_sync_up gauge\n",
        "# HELP foundry_limit_sync_lag_seconds Seconds since a limit zone's "
        "last sync with the fleet succeeded.\n"
        "# TYPE foundry_limit_sync_lag_seconds gauge\n",
        "# HELP foundry_limit_syncs_total Syncs of a limit zone with the "
        "fleet, done.\n# TYPE foundry_limit_syncs_total counter\n",
        "# HELP foundry_limit_sync_failures_total Syncs of a limit zone with "
        "the fleet that failed.\n"
        "# TYPE foundry_limit_sync_failures_total counter\n"
    };

    for (pass = 0; pass < 4; pass++) {
        seen = 0;
        part = NULL;

        while ((zone = ngx_http_foundry_metrics_next_zone(&part, &i))) {

            if (!ngx_http_foundry_limit_is_zone(zone)) {
                continue;
            }

            lz = zone->data;

            if (lz->fleet == NULL || !lz->fleet->redis || lz->sh == NULL) {
                continue;
            }

            ngx_shmtx_lock(&lz->shpool->mutex);
            sync = ((ngx_http_foundry_limit_shctx_t *) lz->sh)->sync;
            ngx_shmtx_unlock(&lz->shpool->mutex);

            if (!seen) {
                p = ngx_slprintf(p, last, "%s", help[pass]);
                seen = 1;
            }

            switch (pass) {

            case 0:
                p = ngx_slprintf(p, last,
                                 "foundry_limit_sync_up{zone=\"%V\"} %d\n",
                                 &zone->shm.name,
                                 sync.state == NGX_HTTP_FOUNDRY_SYNC_UP);
                break;

            case 1:
                lag = ngx_current_msec - (sync.last_ok ? sync.last_ok
                                                       : sync.started);
                p = ngx_slprintf(p, last,
                                 "foundry_limit_sync_lag_seconds"
                                 "{zone=\"%V\"} %M.%03M\n",
                                 &zone->shm.name, lag / 1000, lag % 1000);
                break;

            case 2:
                p = ngx_slprintf(p, last,
                                 "foundry_limit_syncs_total{zone=\"%V\"} "
                                 "%uL\n", &zone->shm.name, sync.syncs);
                break;

            default:
                p = ngx_slprintf(p, last,
                                 "foundry_limit_sync_failures_total"
                                 "{zone=\"%V\"} %uL\n",
                                 &zone->shm.name, sync.failures);
            }
        }
    }

    return p;
}


/* the module's version and those of nginx and the libraries, as labels */

static u_char *
ngx_http_foundry_metrics_build(u_char *p, u_char *last)
{
    ngx_http_foundry_versions_t  v;

    ngx_http_foundry_versions(&v);

    return ngx_slprintf(p, last,
                        "# HELP foundry_build_info The module's version, "
                        "the nginx it was built for, the yajl and OpenSSL "
                        "it runs with.\n"
                        "# TYPE foundry_build_info gauge\n"
                        "foundry_build_info{version=\"%V\",nginx=\"%V\","
                        "openssl=\"%V\",yajl=\"%V\"} 1\n",
                        &v.module, &v.nginx, &v.openssl, &v.yajl);
}
