# Upstream credentials with a client assertion (issue 16): Entra ID client
# credentials with a certificate (a JWT signed per fetch, x5t#S256, RS256
# or PS256) and workload identity federation (the federated token a file
# holds, read again when it changes); and generic OAuth2 client
# credentials (source=oauth2).  The token endpoint is the bundled mock on
# 127.0.0.1: it verifies each assertion's signature with the certificate
# registered there, its header's thumbprint, aud, iss, sub, lifetime and a
# new jti, and the model routes refuse a bearer it did not issue.  Keys and
# certificates are made by openssl in a temporary directory.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use File::Temp qw(tempdir);
use Digest::SHA qw(sha256);
use MIME::Base64 qw(encode_base64url decode_base64url);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryMock;
use FoundryIdentity;

system('openssl version >/dev/null 2>&1') == 0
    or plan skip_all => 'needs the openssl command';

plan tests => 76;

my $Dir = tempdir('foundry-identity-certs-XXXXXX', TMPDIR => 1,
                  CLEANUP => 1);

# the workers (user nobody when run as root) read the federated token file
chmod 0755, $Dir;

sub openssl {
    my $cmd = join ' ', @_;
    system("openssl $cmd >/dev/null 2>&1") == 0 or die "openssl $cmd: $?";
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($f, $text) = @_;
    open my $fh, '>:raw', $f or die "$f: $!";
    print $fh $text;
    close $fh;
    chmod 0644, $f;
}

# two RSA certificates and keys, an EC key, an encrypted key
for my $n (1, 2) {
    openssl("req -x509 -newkey rsa:2048 -nodes -keyout $Dir/key$n.pem",
            "-out $Dir/cert$n.pem -days 2 -subj /CN=foundry-test-$n");
}
openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256",
        "-out $Dir/ec.pem");
openssl("req -x509 -key $Dir/ec.pem -out $Dir/ec-cert.pem -days 2",
        "-subj /CN=foundry-test-ec");
openssl("pkey -in $Dir/key1.pem -aes256 -passout pass:secret",
        "-out $Dir/key1-encrypted.pem");
spew("$Dir/garbage.pem", "not a pem file\n");

sub x5t {
    my ($cert) = @_;
    my $der = `openssl x509 -in $cert -outform DER`;
    return encode_base64url(sha256($der));
}

my $TokenUrl = 'https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token';
my $ClientId = '11111111-2222-3333-4444-555555555555';

sub cert_credential {
    my (%o) = @_;
    my $n = $o{n} // 1;
    return "foundry_upstream_credential cred source=certificate "
           . "token=/_token client_id=$ClientId token_url=$TokenUrl "
           . "certificate=$Dir/cert$n.pem certificate_key=$Dir/key$n.pem"
           . ($o{alg} ? " alg=$o{alg}" : '') . ';';
}

sub register_cert {
    my ($mock, $n) = @_;
    token_set($mock, check => 1, certificate => slurp("$Dir/cert$n.pem"),
              x5t => x5t("$Dir/cert$n.pem"), audience => $TokenUrl);
}

sub jwt_part {
    my ($jwt, $i) = @_;
    my @p = split /\./, $jwt // '';
    return eval { JSON::PP::decode_json(decode_base64url($p[$i] // '')) }
           || {};
}


# 1. certificate, RS256: the first request fetches with a signed
#    assertion, the next ones reuse the token

{
    my $mock = FoundryMock::start();
    register_cert($mock, 1);
    my $ngx = gateway($mock, cert_credential());

    my ($st, $h) = chat($ngx);
    is($st, 200, 'certificate: first request passes');
    is($h->{'x-credential'}, 'fetched', 'certificate: state "fetched"');
    is(issued($mock), 1, 'certificate: one fetch');
    is(bearer_seen($ngx), 'Bearer mock-token-1',
       'certificate: the upstream gets the fetched token');
    ($st, $h) = chat($ngx);
    is($h->{'x-credential'}, 'cached', 'certificate: reused');
    is(issued($mock), 1, 'certificate: still one fetch');

    my $t = token_state($mock);
    my $hdr = jwt_part($t->{assertion}, 0);
    my $claims = jwt_part($t->{assertion}, 1);
    is($hdr->{alg}, 'RS256', 'certificate: alg RS256 by default');
    is($hdr->{'x5t#S256'}, x5t("$Dir/cert1.pem"),
       'certificate: x5t#S256 is the SHA-256 of the certificate');
    is($claims->{aud}, $TokenUrl, 'certificate: aud is token_url=');
    is($claims->{iss}, $ClientId, 'certificate: iss is the client');
    is($claims->{sub}, $ClientId, 'certificate: sub is the client');
    like($claims->{jti} // '', qr/\A[0-9a-f]{32}\z/, 'certificate: a jti');
    ok(($claims->{exp} // 0) - ($claims->{nbf} // 0) <= 600
       && $claims->{exp} > time, 'certificate: a short life');
    is($t->{form}{client_assertion_type},
       'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
       'certificate: the assertion type');
    is($t->{form}{scope}, 'https://cognitiveservices.azure.com/.default',
       'certificate: the default scope');
    ok(!exists $t->{form}{client_secret}, 'certificate: no secret sent');

    my $log = $ngx->error_log;
    unlike($log, qr/mock-token|PRIVATE KEY|\Q$t->{assertion}\E/,
           'certificate: no token, key or assertion in the log');
    unlike($log, qr/\[(?:alert|crit|emerg)\]/, 'certificate: no alert');
}


# 2. certificate, PS256; a refresh signs a new assertion (new jti)

{
    my $mock = FoundryMock::start();
    register_cert($mock, 2);
    token_set($mock, expires_in => 3);
    my $ngx = gateway($mock, cert_credential(n => 2, alg => 'PS256'));

    is(bearer_seen($ngx), 'Bearer mock-token-1', 'PS256: first token');
    my $first = token_state($mock)->{assertion};
    is(jwt_part($first, 0)->{alg}, 'PS256', 'PS256: the header says so');
    sleep 1.7;
    is(bearer_seen($ngx), 'Bearer mock-token-2', 'PS256: refreshed');
    my $t = token_state($mock);
    is($t->{assertions}, 2, 'PS256: two assertions');
    isnt(jwt_part($t->{assertion}, 1)->{jti}, jwt_part($first, 1)->{jti},
         'PS256: each fetch signs a new assertion');
}


# 3. the endpoint knows another certificate: 503, logged without secrets;
#    then down, and garbage

{
    my $mock = FoundryMock::start();
    register_cert($mock, 2);
    my $ngx = gateway($mock, cert_credential(n => 1));

    my ($st, $h, $b) = chat($ngx);
    is($st, 503, 'another certificate: 503');
    like($b, qr/"code":"UpstreamCredentialUnavailable"/,
         'another certificate: the JSON code');
    like($ngx->error_log,
         qr/credential "cred" \(certificate\) from "\/_token" failed: the token endpoint did not answer 200/,
         'another certificate: logged, naming the credential');

    my $mock2 = FoundryMock::start();
    register_cert($mock2, 1);
    token_set($mock2, mode => 'down');
    my $ngx2 = gateway($mock2, cert_credential());
    ($st) = chat($ngx2);
    is($st, 503, 'certificate, endpoint down: 503');

    token_set($mock2, mode => 'garbage');
    my $ngx3 = gateway($mock2, cert_credential());
    ($st) = chat($ngx3);
    is($st, 503, 'certificate, garbage answer: 503');
    like($ngx3->error_log, qr/failed: the answer is not JSON/,
         'certificate, garbage answer: logged');
}


# 3b. a reload keeps the token of the same certificate; another
#     certificate is another credential: a new fetch

{
    my $mock = FoundryMock::start();
    register_cert($mock, 1);
    my $ngx = gateway($mock, cert_credential());

    is(bearer_seen($ngx), 'Bearer mock-token-1', 'reload: first token');
    $ngx->reload;
    my ($st, $h) = chat($ngx);
    is($h->{'x-credential'}, 'cached', 'reload: the token kept');
    is(issued($mock), 1, 'reload: no new fetch');

    register_cert($mock, 2);
    $ngx->write_conf(gateway_conf($mock, cert_credential(n => 2)));
    $ngx->reload;
    is(bearer_seen($ngx), 'Bearer mock-token-2',
       'reload with another certificate: a new token');
    is(jwt_part(token_state($mock)->{assertion}, 0)->{'x5t#S256'},
       x5t("$Dir/cert2.pem"), 'reload: the new certificate named');
}


# 4. workload identity: the federated token from token_file=, read again
#    when the file changes

{
    my $file = "$Dir/federated-token";
    my $fed1 = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmZWQtMSJ9.c2lnbmF0dXJlLTE';
    my $fed2 = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmZWQtMi1sb25nZXIifQ.c2lnbmF0dXJlLTI';
    spew($file, "$fed1\n");

    my $mock = FoundryMock::start();
    token_set($mock, check => 1, federated => $fed1, expires_in => 3);
    my $ngx = gateway($mock, 'foundry_upstream_credential cred '
                      . 'source=workload-identity token=/_token '
                      . "client_id=$ClientId token_file=$file;");

    my ($st, $h) = chat($ngx);
    is($st, 200, 'workload identity: first request passes');
    my $t = token_state($mock);
    is($t->{assertion}, $fed1, 'workload identity: the file\'s token sent');
    is($t->{form}{client_id}, $ClientId, 'workload identity: the client');

    # Kubernetes replaces the file: the next fetch sends the new token
    spew("$file.new", "$fed2\n");
    rename "$file.new", $file or die;
    token_set($mock, federated => $fed2);
    sleep 1.7;
    is(bearer_seen($ngx), 'Bearer mock-token-2',
       'workload identity: refreshed with the new file');
    is(token_state($mock)->{assertion}, $fed2,
       'workload identity: the new token was read');

    # the file gone: the refresh fails, the current token goes on, then
    # 503 once it expired
    unlink $file;
    sleep 1.7;
    ($st, $h) = chat($ngx);
    is($st, 200, 'token file gone: the current token goes on');
    is($h->{'x-credential'}, 'stale', 'token file gone: state "stale"');
    my $log = $ngx->error_log;
    like($log, qr/credential "cred" \(workload-identity\) from "\/_token" failed: the federated token file cannot be read, the current token is kept/,
         'token file gone: logged');
    sleep 1.5;
    my $b;
    ($st, $h, $b) = chat($ngx);
    is($st, 503, 'token file gone, token expired: 503');
    like($b, qr/"code":"UpstreamCredentialUnavailable"/,
         'token file gone: the JSON code');

    # the file back, but not a JWT: refused before any fetch
    spew($file, "not a jwt!\n");
    sleep 2.2;
    ($st) = chat($ngx);
    is($st, 503, 'token file not a JWT: 503');
    like($ngx->error_log, qr/the federated token file does not hold a JWT/,
         'token file not a JWT: logged');
    unlike($ngx->error_log, qr/\Q$fed1\E|\Q$fed2\E|mock-token/,
           'workload identity: no federated token nor token in the log');
}


# 5. workload identity from AZURE_FEDERATED_TOKEN_FILE

{
    my $file = "$Dir/federated-env";
    my $fed = 'aaaa.bbbb.cccc';
    spew($file, $fed);
    local $ENV{AZURE_FEDERATED_TOKEN_FILE} = $file;

    my $mock = FoundryMock::start();
    token_set($mock, check => 1, federated => $fed);
    my $ngx = gateway($mock, 'foundry_upstream_credential cred '
                      . 'source=workload-identity token=/_token '
                      . "client_id=$ClientId;");
    my ($st) = chat($ngx);
    is($st, 200, 'AZURE_FEDERATED_TOKEN_FILE: passes');
}


# 6. generic OAuth2 client credentials: scope and audience in the form

{
    my $secret = "$Dir/oauth2-secret";
    spew($secret, "mock-client-secret\n");

    my $mock = FoundryMock::start();
    token_set($mock, check => 1);
    my $cred = 'foundry_upstream_credential cred source=oauth2 '
               . 'token=/_token client_id=gateway-app scope=models.invoke '
               . "audience=https://models.example secret_file=$secret;";
    my $ngx = gateway($mock, $cred, path => '/idp/oauth2/v2.0/token');

    my ($st, $h) = chat($ngx);
    is($st, 200, 'oauth2: first request passes');
    is($h->{'x-credential'}, 'fetched', 'oauth2: state "fetched"');
    is(bearer_seen($ngx), 'Bearer mock-token-1', 'oauth2: the token sent');
    is(issued($mock), 1, 'oauth2: one fetch');
    my $f = token_state($mock)->{form};
    is_deeply($f, { grant_type => 'client_credentials',
                    client_id => 'gateway-app', client_secret => '(set)',
                    scope => 'models.invoke',
                    audience => 'https://models.example' },
              'oauth2: the form');

    token_set($mock, secret => 'another');
    my $ngx2 = gateway($mock, $cred, path => '/idp/oauth2/v2.0/token');
    my $b;
    ($st, $h, $b) = chat($ngx2);
    is($st, 503, 'oauth2, wrong secret: 503');
    like($b, qr/"code":"UpstreamCredentialUnavailable"/,
         'oauth2, wrong secret: the JSON code');
    unlike($ngx2->error_log, qr/mock-client-secret/,
           'oauth2: the secret is not logged');

    token_set($mock, secret => 'mock-client-secret', mode => 'down');
    my $ngx3 = gateway($mock, $cred, path => '/idp/oauth2/v2.0/token');
    ($st) = chat($ngx3);
    is($st, 503, 'oauth2, endpoint down: 503');
}


# 7. metrics: fetches by outcome, seconds until the token expires

{
    my $mock = FoundryMock::start();
    register_cert($mock, 1);
    my $ngx = gateway($mock, cert_credential(),
                      extra => 'foundry_metrics_zone metrics:1m;',
                      server => 'location = /metrics { foundry_metrics; }');

    my ($st) = chat($ngx);
    is($st, 200, 'metrics: a request');
    my (undef, undef, $page) = $ngx->request('GET', '/metrics');
    like($page, qr/^foundry_upstream_credential_fetches_total\{credential="cred",outcome="ok"\} 1$/m,
         'metrics: one fetch counted');
    my ($left) = $page =~ /^foundry_upstream_credential_expiry_seconds\{credential="cred"\} (\d+)$/m;
    ok(defined $left && $left > 3400 && $left <= 3600,
       'metrics: seconds until expiry (' . ($left // 'none') . ')');
    like($page, qr/^# TYPE foundry_upstream_credential_expiry_seconds gauge$/m,
         'metrics: expiry is a gauge');

    token_set($mock, mode => 'down');
    my $ngx2 = gateway($mock, cert_credential(),
                       extra => 'foundry_metrics_zone metrics:1m;',
                       server => 'location = /metrics { foundry_metrics; }');
    ($st) = chat($ngx2);
    (undef, undef, $page) = $ngx2->request('GET', '/metrics');
    like($page, qr/^foundry_upstream_credential_fetches_total\{credential="cred",outcome="failed"\} 1$/m,
         'metrics: a failed fetch counted');
    unlike($page, qr/foundry_upstream_credential_expiry_seconds\{/,
           'metrics: no expiry without a token');
}


# 8. configuration errors

my $Z = "foundry_upstream_credential_zone z:1m;\n";

sub cert_conf {
    my (%o) = @_;
    my $c = $o{cert} // "$Dir/cert1.pem";
    my $k = $o{key} // "$Dir/key1.pem";
    return $Z . 'foundry_upstream_credential c source=certificate token=/t '
           . "client_id=app token_url=$TokenUrl certificate=$c "
           . "certificate_key=$k" . ($o{more} // '') . ';';
}

like(conf_error(cert_conf(cert => "$Dir/missing.pem")),
     qr/cannot read the certificate ".*missing\.pem"/,
     'conf: a missing certificate');
like(conf_error(cert_conf(cert => "$Dir/garbage.pem")),
     qr/garbage\.pem" holds no PEM certificate/,
     'conf: a certificate file without a certificate');
like(conf_error(cert_conf(key => "$Dir/missing-key.pem")),
     qr/cannot read the certificate key ".*missing-key\.pem"/,
     'conf: a missing key');
like(conf_error(cert_conf(key => "$Dir/key1-encrypted.pem")),
     qr/holds no PEM private key \(an encrypted key is not supported\)/,
     'conf: an encrypted key');
like(conf_error(cert_conf(key => "$Dir/key2.pem")),
     qr/the key ".*key2\.pem" is not the key of the certificate/,
     'conf: a key of another certificate');
like(conf_error(cert_conf(cert => "$Dir/ec-cert.pem", key => "$Dir/ec.pem")),
     qr/is not an RSA key of 2048 bits or more/,
     'conf: an EC key');
like(conf_error(cert_conf(more => ' alg=ES256')),
     qr/invalid "alg=ES256", it must be "RS256" or "PS256"/,
     'conf: an unknown alg');
like(conf_error($Z . 'foundry_upstream_credential c source=certificate '
                . "token=/t client_id=app certificate=$Dir/cert1.pem "
                . "certificate_key=$Dir/key1.pem;"),
     qr/source "certificate" needs "certificate=", "certificate_key=" and "token_url="/,
     'conf: certificate needs token_url=');
like(conf_error($Z . 'foundry_upstream_credential c source=certificate '
                . 'token=/t client_id=app;'),
     qr/source "certificate" needs "certificate=", "certificate_key=" and "token_url="/,
     'conf: certificate needs its files');
like(conf_error($Z . 'foundry_upstream_credential c source=imds token=/t '
                . "certificate=$Dir/cert1.pem;"),
     qr/"certificate=", "certificate_key=", "alg=" and "token_url=" are for source "certificate"/,
     'conf: certificate= on another source');
like(conf_error($Z . 'foundry_upstream_credential c source=workload-identity '
                . "token=/t client_id=app token_file=$Dir/no-such-token;"),
     qr/the federated token file ".*no-such-token": the federated token file cannot be read/,
     'conf: a missing federated token file');
{
    local $ENV{AZURE_FEDERATED_TOKEN_FILE};
    delete $ENV{AZURE_FEDERATED_TOKEN_FILE};
    like(conf_error($Z . 'foundry_upstream_credential c '
                    . 'source=workload-identity token=/t client_id=app;'),
         qr/source "workload-identity" needs "token_file=" or the environment variable AZURE_FEDERATED_TOKEN_FILE/,
         'conf: workload identity without a file');
}
like(conf_error($Z . 'foundry_upstream_credential c source=workload-identity '
                . "token=/t token_file=$Dir/cert1.pem;"),
     qr/source "workload-identity" needs "client_id="/,
     'conf: workload identity needs client_id=');
