
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/err.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_identity.h"


/*
 * Client assertions (RFC 7523) for the client credentials grant:
 *
 *   certificate: a JWT signed per fetch with the credential's RSA key,
 *   its header naming the certificate by its SHA-256 thumbprint
 *   ("x5t#S256"), as Entra ID wants;
 *
 *   workload identity: the federated token a file holds (projected by
 *   Kubernetes, AZURE_FEDERATED_TOKEN_FILE), read again when it changes.
 *
 * The key and the certificate are read at configuration time; a fetch
 * only signs, or looks at the file's inode, size and time (one stat, and
 * a read of a few KB when it changed).
 */


static int ngx_http_foundry_id_no_passphrase(char *buf, int size, int rwflag,
    void *u);
static void ngx_http_foundry_id_pkey_cleanup(void *data);
static X509 *ngx_http_foundry_id_certificate(ngx_conf_t *cf,
    ngx_str_t *cpath, u_char *digest);
static EVP_PKEY *ngx_http_foundry_id_certificate_key(ngx_conf_t *cf, X509 *x,
    ngx_str_t *kpath, ngx_str_t *cpath);
static ngx_int_t ngx_http_foundry_id_json_safe(ngx_str_t *s);
static ngx_int_t ngx_http_foundry_id_sign(ngx_http_request_t *r,
    ngx_http_foundry_id_credential_t *cred, ngx_str_t *jwt, const char **err);
static ngx_int_t ngx_http_foundry_id_file_read(ngx_pool_t *pool,
    ngx_log_t *log, ngx_http_foundry_id_file_t *f, const char **err);


/*
 * source=certificate: certificate=path certificate_key=path [alg=RS256 |
 * PS256] token_url=url client_id=id
 */

ngx_int_t
ngx_http_foundry_identity_certificate(ngx_conf_t *cf,
    ngx_http_foundry_id_credential_t *cred, ngx_str_t *cert, ngx_str_t *key,
    ngx_str_t *alg, ngx_str_t *token_url, ngx_str_t *client_id)
{
    X509       *x;
    u_char     *p, digest[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    u_char      thumb[64], header[160];
    EVP_PKEY   *pkey;
    ngx_str_t   cpath, kpath, src, dst;

    if (alg->data == NULL
        || (alg->len == 5 && ngx_strncmp(alg->data, "RS256", 5) == 0))
    {
        cred->pss = 0;

    } else if (alg->len == 5 && ngx_strncmp(alg->data, "PS256", 5) == 0) {
        cred->pss = 1;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"alg=%V\", it must be \"RS256\" or "
                           "\"PS256\"", alg);
        return NGX_ERROR;
    }

    if (ngx_http_foundry_id_json_safe(token_url) != NGX_OK
        || ngx_http_foundry_id_json_safe(client_id) != NGX_OK
        || (ngx_strncmp(token_url->data, "https://", 8) != 0
            && ngx_strncmp(token_url->data, "http://", 7) != 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"token_url=%V\" or \"client_id=%V\": "
                           "an http(s) URL and an id without quotes, "
                           "backslashes or control characters",
                           token_url, client_id);
        return NGX_ERROR;
    }

    cred->audience_url = *token_url;
    cred->client_id = *client_id;

    cpath = *cert;
    kpath = *key;

    if (ngx_conf_full_name(cf->cycle, &cpath, 1) != NGX_OK
        || ngx_conf_full_name(cf->cycle, &kpath, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    x = ngx_http_foundry_id_certificate(cf, &cpath, digest);
    if (x == NULL) {
        return NGX_ERROR;
    }

    pkey = ngx_http_foundry_id_certificate_key(cf, x, &kpath, &cpath);

    X509_free(x);

    if (pkey == NULL) {
        return NGX_ERROR;
    }

    cred->pkey = pkey;

    /* the header, the same for every assertion */

    src.data = digest;
    src.len = NGX_HTTP_FOUNDRY_DIGEST_LEN;
    dst.data = thumb;
    ngx_encode_base64url(&dst, &src);

    p = ngx_sprintf(header, "{\"alg\":\"%s\",\"typ\":\"JWT\","
                    "\"x5t#S256\":\"%V\"}", cred->pss ? "PS256" : "RS256",
                    &dst);

    src.data = header;
    src.len = p - header;

    cred->jwt_header.data = ngx_pnalloc(cf->pool,
                                        ngx_base64_encoded_length(src.len));
    if (cred->jwt_header.data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64url(&cred->jwt_header, &src);

    return NGX_OK;
}


/* the certificate: its DER's SHA-256 names it to Entra ID */

static X509 *
ngx_http_foundry_id_certificate(ngx_conf_t *cf, ngx_str_t *cpath,
    u_char *digest)
{
    int         len;
    BIO        *bio;
    X509       *x;
    u_char     *der, *p;
    ngx_str_t   src;

    bio = BIO_new_file((char *) cpath->data, "r");
    if (bio == NULL) {
        ERR_clear_error();
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read the certificate \"%V\"", cpath);
        return NULL;
    }

    x = PEM_read_bio_X509(bio, NULL, ngx_http_foundry_id_no_passphrase, NULL);
    BIO_free(bio);

    if (x == NULL) {
        ERR_clear_error();
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds no PEM certificate", cpath);
        return NULL;
    }

    len = i2d_X509(x, NULL);

    der = (len > 0) ? ngx_pnalloc(cf->temp_pool, len) : NULL;
    if (der == NULL) {
        X509_free(x);
        return NULL;
    }

    p = der;
    (void) i2d_X509(x, &p);

    src.data = der;
    src.len = len;

    if (ngx_http_foundry_sha256(&src, 1, digest) != NGX_OK) {
        X509_free(x);
        return NULL;
    }

    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "the certificate \"%V\" has expired: Entra ID "
                           "refuses assertions it signs", cpath);
    }

    return x;
}


/* the key: RSA, unencrypted, of this certificate */

static EVP_PKEY *
ngx_http_foundry_id_certificate_key(ngx_conf_t *cf, X509 *x, ngx_str_t *kpath,
    ngx_str_t *cpath)
{
    BIO                 *bio;
    EVP_PKEY            *pkey;
    ngx_pool_cleanup_t  *cln;

    bio = BIO_new_file((char *) kpath->data, "r");
    if (bio == NULL) {
        ERR_clear_error();
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read the certificate key \"%V\"", kpath);
        return NULL;
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL,
                                   ngx_http_foundry_id_no_passphrase, NULL);
    BIO_free(bio);

    if (pkey == NULL) {
        ERR_clear_error();
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds no PEM private key (an encrypted "
                           "key is not supported)", kpath);
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        EVP_PKEY_free(pkey);
        return NULL;
    }

    cln->handler = ngx_http_foundry_id_pkey_cleanup;
    cln->data = pkey;

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA
        || EVP_PKEY_get_bits(pkey) < 2048)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the key \"%V\" is not an RSA key of 2048 bits "
                           "or more, as RS256 and PS256 need", kpath);
        return NULL;
    }

    if (X509_check_private_key(x, pkey) != 1) {
        ERR_clear_error();
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the key \"%V\" is not the key of the "
                           "certificate \"%V\"", kpath, cpath);
        return NULL;
    }

    return pkey;
}


/* an encrypted key is refused, never asked for on a terminal */

static int
ngx_http_foundry_id_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}


static void
ngx_http_foundry_id_pkey_cleanup(void *data)
{
    EVP_PKEY_free(data);
}


/* a value put in JSON as it is: no quote, backslash or control character */

static ngx_int_t
ngx_http_foundry_id_json_safe(ngx_str_t *s)
{
    u_char  *p;

    for (p = s->data; p < s->data + s->len; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\') {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * source=workload-identity: token_file=path, or the file that
 * AZURE_FEDERATED_TOKEN_FILE names; read now, so "nginx -t" tells a
 * missing file
 */

ngx_int_t
ngx_http_foundry_identity_token_file(ngx_conf_t *cf,
    ngx_http_foundry_id_credential_t *cred, ngx_str_t *path)
{
    char                        *env;
    ngx_str_t                    name;
    const char                  *err;
    ngx_http_foundry_id_file_t  *f;

    if (path->data) {
        name = *path;

    } else {
        env = getenv("AZURE_FEDERATED_TOKEN_FILE");

        if (env == NULL || *env == '\0') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "source \"workload-identity\" needs "
                               "\"token_file=\" or the environment variable "
                               "AZURE_FEDERATED_TOKEN_FILE (nginx's \"env\" "
                               "directive keeps it for the workers)");
            return NGX_ERROR;
        }

        name.data = (u_char *) env;
        name.len = ngx_strlen(env);
    }

    f = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_id_file_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    f->path = name.data;

    f->data = ngx_pnalloc(cf->pool, NGX_HTTP_FOUNDRY_ID_TOKEN_MAX);
    if (f->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_id_file_read(cf->temp_pool, cf->log, f, &err)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the federated token file \"%s\": %s",
                           f->path, err);
        return NGX_ERROR;
    }

    cred->file = f;

    return NGX_OK;
}


/*
 * The form body of a fetch with a client assertion: the precomputed
 * start (grant, client, scope, assertion type) and the assertion.
 * NGX_DECLINED with *err when none can be made now.
 */

ngx_int_t
ngx_http_foundry_identity_assertion(ngx_http_request_t *r,
    ngx_http_foundry_id_credential_t *cred, ngx_str_t *body, const char **err)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   jwt;

    if (cred->file) {
        rc = ngx_http_foundry_id_file_read(r->pool, r->connection->log,
                                           cred->file, err);
        jwt.data = cred->file->data;
        jwt.len = cred->file->len;

    } else {
        rc = ngx_http_foundry_id_sign(r, cred, &jwt, err);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    p = ngx_pnalloc(r->pool, cred->body.len + jwt.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    p = ngx_cpymem(p, cred->body.data, cred->body.len);
    p = ngx_cpymem(p, jwt.data, jwt.len);
    body->len = p - body->data;

    return NGX_OK;
}


/* header.claims.signature, the claims fresh: a new jti, a short life */

static ngx_int_t
ngx_http_foundry_id_sign(ngx_http_request_t *r,
    ngx_http_foundry_id_credential_t *cred, ngx_str_t *jwt, const char **err)
{
    u_char        *p, *claims, rnd[16], jti[32];
    size_t         len, siglen;
    time_t         now;
    ngx_int_t      rc;
    ngx_str_t      src, dst;
    EVP_MD_CTX    *mctx;
    EVP_PKEY_CTX  *pctx;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ERR_clear_error();
        *err = "no random bytes for the assertion's jti";
        return NGX_DECLINED;
    }

    ngx_hex_dump(jti, rnd, sizeof(rnd));

    now = ngx_time();

    len = sizeof("{\"aud\":\"\",\"iss\":\"\",\"sub\":\"\",\"jti\":\"\","
                 "\"nbf\":,\"iat\":,\"exp\":}") - 1
          + cred->audience_url.len + 2 * cred->client_id.len + sizeof(jti)
          + 3 * NGX_TIME_T_LEN;

    claims = ngx_pnalloc(r->pool, len);
    if (claims == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(claims, "{\"aud\":\"%V\",\"iss\":\"%V\",\"sub\":\"%V\","
                    "\"jti\":\"%*s\",\"nbf\":%T,\"iat\":%T,\"exp\":%T}",
                    &cred->audience_url, &cred->client_id, &cred->client_id,
                    sizeof(jti), jti, now, now,
                    now + NGX_HTTP_FOUNDRY_ID_ASSERTION_LIFE);

    siglen = EVP_PKEY_get_size(cred->pkey);

    len = cred->jwt_header.len + 2 + ngx_base64_encoded_length(p - claims)
          + ngx_base64_encoded_length(siglen);

    jwt->data = ngx_pnalloc(r->pool, len + siglen);
    if (jwt->data == NULL) {
        return NGX_ERROR;
    }

    /* the signature's bytes after the JWT's room */

    dst.data = ngx_cpymem(jwt->data, cred->jwt_header.data,
                          cred->jwt_header.len);
    *dst.data++ = '.';

    src.data = claims;
    src.len = p - claims;
    ngx_encode_base64url(&dst, &src);

    jwt->len = dst.data + dst.len - jwt->data;

    mctx = EVP_MD_CTX_new();
    if (mctx == NULL) {
        *err = "no memory to sign the assertion";
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;
    src.data = jwt->data + len;

    if (EVP_DigestSignInit(mctx, &pctx, EVP_sha256(), NULL, cred->pkey) == 1
        && (!cred->pss
            || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
                && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                    RSA_PSS_SALTLEN_DIGEST)
                   > 0))
        && EVP_DigestSign(mctx, src.data, &siglen, jwt->data, jwt->len) == 1)
    {
        rc = NGX_OK;
    }

    EVP_MD_CTX_free(mctx);

    if (rc != NGX_OK) {
        ERR_clear_error();
        *err = "the assertion could not be signed";
        return rc;
    }

    src.len = siglen;

    dst.data = jwt->data + jwt->len;
    *dst.data++ = '.';
    ngx_encode_base64url(&dst, &src);

    jwt->len = dst.data + dst.len - jwt->data;

    return NGX_OK;
}


/*
 * The federated token file: read again when its inode, size or time
 * changed (Kubernetes replaces it through a symbolic link), else the
 * copy in hand.  A token is a JWT: base64url and dots only.
 */

static ngx_int_t
ngx_http_foundry_id_file_read(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_foundry_id_file_t *f, const char **err)
{
    u_char           *buf, *p, *end;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    if (ngx_file_info(f->path, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_file_info_n " \"%s\" failed", f->path);
        *err = "the federated token file cannot be read";
        f->len = 0;
        return NGX_DECLINED;
    }

    if (f->len
        && f->uniq == ngx_file_uniq(&fi)
        && f->size == ngx_file_size(&fi)
        && f->mtime == ngx_file_mtime(&fi))
    {
        return NGX_OK;
    }

    f->len = 0;

    if (ngx_file_size(&fi) > NGX_HTTP_FOUNDRY_ID_TOKEN_MAX) {
        *err = "the federated token file is larger than 16 KB";
        return NGX_DECLINED;
    }

    buf = ngx_pnalloc(pool, NGX_HTTP_FOUNDRY_ID_TOKEN_MAX + 1);
    if (buf == NULL) {
        *err = "no memory";
        return NGX_DECLINED;
    }

    fd = ngx_open_file(f->path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", f->path);
        *err = "the federated token file cannot be read";
        return NGX_DECLINED;
    }

    n = ngx_read_fd(fd, buf, NGX_HTTP_FOUNDRY_ID_TOKEN_MAX + 1);

    if (n == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_read_fd_n " \"%s\" failed", f->path);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", f->path);
    }

    if (n == -1) {
        *err = "the federated token file cannot be read";
        return NGX_DECLINED;
    }

    if (n > NGX_HTTP_FOUNDRY_ID_TOKEN_MAX) {
        *err = "the federated token file is larger than 16 KB";
        return NGX_DECLINED;
    }

    end = buf + n;

    while (end > buf && (end[-1] == '\n' || end[-1] == '\r'
                         || end[-1] == ' '))
    {
        end--;
    }

    if (end == buf) {
        *err = "the federated token file is empty";
        return NGX_DECLINED;
    }

    for (p = buf; p < end; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
              || *p == '.'))
        {
            *err = "the federated token file does not hold a JWT";
            return NGX_DECLINED;
        }
    }

    ngx_memcpy(f->data, buf, end - buf);

    f->len = end - buf;
    f->uniq = ngx_file_uniq(&fi);
    f->size = ngx_file_size(&fi);
    f->mtime = ngx_file_mtime(&fi);

    return NGX_OK;
}
