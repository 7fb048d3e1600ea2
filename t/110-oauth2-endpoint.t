# The gateway's own OAuth2 token service: the client credentials grant
# (form and Basic client authentication), every RFC 6749 error, scopes,
# the lifetime, the key set and key rotation, the clients file reloaded,
# failed attempts locked out, and the issued tokens used on inference and
# discovery calls of the module's bearer path.  No secret and no token in
# the error log, at debug.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use Crypt::JWT qw(decode_jwt encode_jwt);
use Crypt::PK::ECC;
use Crypt::PK::Ed25519;
use lib 't/lib';
use FoundryConf;
use FoundryKeys;
use FoundryMock;
use FoundryNginx;

plan tests => 68;

# the log checks below are of every level
$ENV{FOUNDRY_NGINX_LOG_LEVEL} = 'debug';

my $dir = $FoundryKeys::DIR;
my $mock = FoundryMock::start();

# the signing keys: the new one signs, the old one still verifies

for my $k (['new', 'EC -pkeyopt ec_paramgen_curve:P-256'],
           ['old', 'ED25519'], ['rsa', 'RSA -pkeyopt rsa_keygen_bits:2048'])
{
    system("openssl genpkey -algorithm $k->[1] -out $dir/$k->[0].pem "
           . "2>/dev/null") == 0 or die "openssl genpkey: $?";
    chmod 0644, "$dir/$k->[0].pem";
}

FoundryKeys::write_file('clients.json', { keys => [
    FoundryKeys::entry('app', 'app-secret-1234',
                       metadata => { team => 'blue', tpm => 100 }),
    FoundryKeys::entry('narrow', 'narrow-secret-1234',
                       deployments => ['gpt-4o-mini'],
                       operations => ['embeddings'],
                       metadata => { scope => 'api://gw/.default' }),
    FoundryKeys::entry('off', 'off-secret-1234', disabled => JSON::PP::true),
] });

my $ngx = FoundryNginx->new(workers => 2, main => '', http => <<"CONF");
    @{[ FoundryConf::mock(port => $mock) ]}
    @{[ FoundryConf::upstreams('oai') ]}
    foundry_jwt_zone jwt:1m;
    foundry_keys_zone clients:1m file=$dir/clients.json interval=200ms;
    foundry_token_service gw issuer=https://gw.test/ clients=clients
        zone=oauth2:1m key=$dir/new.pem key=$dir/old.pem
        scope=api://gw/.default scope=extra lifetime=30s max_failures=3
        lockout=3s;

    server {
        listen 127.0.0.1:\$PORT;

        location = /oauth2/token { foundry_token_endpoint gw; }
        location = /oauth2/jwks { foundry_token_jwks gw; }

        location /v1/ {
            foundry_gateway on;
            foundry_token_issuer gw;
            foundry_model gpt-4o upstream=oai;
            foundry_model gpt-4o-mini upstream=oai;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
            add_header X-Client \$foundry_key_name always;
            add_header X-Team \$foundry_key_meta_team always;
            include @{[ Cwd::cwd() ]}/conf.d/foundry_proxy_params;
        }
    }
CONF

my $form = ['Content-Type' => 'application/x-www-form-urlencoded'];

sub token_req {
    my ($body, @h) = @_;
    return $ngx->request('POST', '/oauth2/token', [@$form, @h], $body);
}

sub basic {
    my ($id, $secret) = @_;
    return (Authorization => 'Basic ' . encode_base64("$id:$secret", ''));
}

sub jwks { decode_json(($ngx->request('GET', '/oauth2/jwks'))[2]) }

# the key set: both keys, the signing one first

my $set = jwks();
is(scalar @{ $set->{keys} }, 2, 'JWKS: both keys');
is($set->{keys}[0]{kty} . '/' . $set->{keys}[0]{alg}, 'EC/ES256',
   'JWKS: the signing key first');
is($set->{keys}[1]{alg}, 'EdDSA', 'JWKS: the old Ed25519 key');
is($set->{keys}[0]{kid},
   Crypt::PK::ECC->new("$dir/new.pem")->export_key_jwk_thumbprint('SHA256'),
   'kid: the RFC 7638 thumbprint');

# the grant, form authentication

my ($st, $h, $b) = token_req('grant_type=client_credentials&client_id=app'
                             . '&client_secret=app-secret-1234'
                             . '&scope=api%3A%2F%2Fgw%2F.default');
is($st, 200, 'form: 200');
is($h->{'cache-control'}, 'no-store', 'form: Cache-Control no-store');
is($h->{pragma}, 'no-cache', 'form: Pragma no-cache');
like($h->{'content-type'}, qr{^application/json}, 'form: JSON');

my $r = decode_json($b);
is($r->{token_type}, 'Bearer', 'token_type');
is($r->{expires_in}, 30, 'expires_in: the lifetime');
is($r->{scope}, 'api://gw/.default', 'scope');

my $token = $r->{access_token};
my ($hdr, $claims) = decode_jwt(token => $token, kid_keys => $set,
                                decode_header => 1);
is($hdr->{kid}, $set->{keys}[0]{kid}, 'signed by the first key');
is($claims->{iss}, 'https://gw.test/', 'iss');
is($claims->{sub} . ',' . $claims->{client_id}, 'app,app', 'sub, client_id');
is_deeply($claims->{aud}, ['api://gw'], 'aud: the scope without /.default');
is($claims->{exp} - $claims->{iat}, 30, 'exp: iat + lifetime');
like($claims->{jti}, qr/^[A-Za-z0-9_-]{22}$/, 'jti');
is($claims->{'meta.team'}, 'blue', 'the metadata');

# Basic authentication, no scope: every scope of the client

($st, $h, $b) = token_req('grant_type=client_credentials', basic('app',
                          'app-secret-1234'));
is($st, 200, 'Basic: 200');
$r = decode_json($b);
is($r->{scope}, 'api://gw/.default extra', 'no scope: all of the client');
(undef, $claims) = decode_jwt(token => $r->{access_token}, kid_keys => $set,
                              decode_header => 1);
is_deeply($claims->{aud}, ['api://gw', 'extra'], 'aud of each scope');

# the token on inference and discovery calls

my @bearer = (Authorization => "Bearer $token");

($st, $h, $b) = $ngx->request('GET', '/v1/models', [@bearer]);
is($st, 200, 'discovery with the token');
is($h->{'x-client'}, 'app', '$foundry_key_name is the client');
is($h->{'x-team'}, 'blue', '$foundry_key_meta_team');

($st) = $ngx->request('POST', '/v1/chat/completions',
                      [@bearer, 'Content-Type' => 'application/json'],
                      '{"model":"gpt-4o","messages":[{"role":"user",'
                      . '"content":"hi"}]}');
is($st, 200, 'inference with the token');

($st) = $ngx->request('GET', '/v1/models',
                      ['Authorization' => 'Bearer ' . $token . 'x']);
is($st, 401, 'a changed token is refused');

# a narrow client: its deployments and operations ride in the token

($st, $h, $b) = token_req('grant_type=client_credentials&client_id=narrow'
                          . '&client_secret=narrow-secret-1234');
is($st, 200, 'narrow: 200');
my $narrow = decode_json($b);
is($narrow->{scope}, 'api://gw/.default', 'narrow: its metadata scope');
my @nb = (Authorization => "Bearer $narrow->{access_token}",
          'Content-Type' => 'application/json');

($st, $h, $b) = $ngx->request('GET', '/v1/models', [@nb]);
like($b, qr/gpt-4o-mini/, 'narrow: discovery lists its deployment');
unlike($b, qr/"gpt-4o"/, 'narrow: and not the others');
($st) = $ngx->request('POST', '/v1/chat/completions', [@nb],
                      '{"model":"gpt-4o-mini","messages":[]}');
is($st, 403, 'narrow: an operation it may not use');
($st) = $ngx->request('POST', '/v1/embeddings', [@nb],
                      '{"model":"gpt-4o","input":"x"}');
is($st, 403, 'narrow: a deployment it may not use');

# errors

($st, $h, $b) = $ngx->request('GET', '/oauth2/token');
is($st, 405, 'GET: 405');
like($b, qr/"error":"invalid_request"/, '405: invalid_request');

($st, $h, $b) = token_req('grant_type=password&client_id=app'
                          . '&client_secret=app-secret-1234');
is($st, 400, 'unsupported_grant_type: 400');
like($b, qr/"error":"unsupported_grant_type"/, 'unsupported_grant_type');

($st, $h, $b) = token_req('client_id=app&client_secret=app-secret-1234');
like($b, qr/"error":"invalid_request"/, 'no grant_type: invalid_request');

($st, $h, $b) = token_req('grant_type=client_credentials&grant_type=x'
                          . '&client_id=app&client_secret=app-secret-1234');
like($b, qr/"error":"invalid_request".*repeated/, 'a repeated parameter');

($st, $h, $b) = token_req('grant_type=client_credentials&client_id=app'
                          . '&client_secret=app-secret-1234',
                          basic('app', 'app-secret-1234'));
is($st, 400, 'two ways of client authentication: 400');

($st, $h, $b) = token_req('grant_type=client_credentials&client_id=app'
                          . '&client_secret=app-secret-1234&scope=nope');
is($st, 400, 'an unknown scope: 400');
like($b, qr/"error":"invalid_scope"/, 'invalid_scope');

($st, $h, $b) = token_req('grant_type=client_credentials&client_id=narrow'
                          . '&client_secret=narrow-secret-1234&scope=extra');
like($b, qr/"error":"invalid_scope"/, 'a scope the client may not have');

($st, $h, $b) = $ngx->request('POST', '/oauth2/token',
                              ['Content-Type' => 'application/json'],
                              '{"grant_type":"client_credentials"}');
like($b, qr/"error":"invalid_request"/, 'a JSON body: invalid_request');

($st, $h, $b) = token_req('grant_type=client_credentials&client_id=off'
                          . '&client_secret=off-secret-1234');
is($st, 401, 'a disabled client: 401');

($st, $h, $b) = token_req('grant_type=client_credentials&client_id=app'
                          . '&client_secret=wrong-secret');
is($st, 401, 'a wrong secret: 401');
is($h->{'www-authenticate'}, 'Basic realm="foundry"',
   'invalid_client: WWW-Authenticate Basic');
like($b, qr/"error":"invalid_client"/, 'invalid_client');

($st, $h, $b) = token_req('grant_type=client_credentials&client_id=narrow'
                          . '&client_secret=app-secret-1234');
is($st, 401, 'another client\'s secret: 401');

# brute force: locked out past max_failures, even with the right secret

token_req('grant_type=client_credentials&client_id=app'
          . "&client_secret=guess-$_") for 1 .. 3;

($st, $h, $b) = token_req('grant_type=client_credentials&client_id=app'
                          . '&client_secret=app-secret-1234');
is($st, 429, 'locked out: 429');
like($b, qr/"error":"temporarily_unavailable"/, 'temporarily_unavailable');
ok($h->{'retry-after'}, 'Retry-After');

sleep 3.5;

($st) = token_req('grant_type=client_credentials&client_id=app'
                  . '&client_secret=app-secret-1234');
is($st, 200, 'after the lockout: 200');

# rotation: a token of the old key stays valid until it expires

my $oldpk = Crypt::PK::Ed25519->new("$dir/old.pem");
my $now = time;
my $old = encode_jwt(alg => 'EdDSA', key => $oldpk,
                     extra_headers => { kid => $set->{keys}[1]{kid} },
                     payload => { iss => 'https://gw.test/', sub => 'app',
                                  client_id => 'app', aud => ['api://gw'],
                                  iat => $now - 10, exp => $now + 20 });
($st) = $ngx->request('GET', '/v1/models', [Authorization => "Bearer $old"]);
is($st, 200, 'rotation: a token of the old key is accepted');

my $expired = encode_jwt(alg => 'EdDSA', key => $oldpk,
                         extra_headers => { kid => $set->{keys}[1]{kid} },
                         payload => { iss => 'https://gw.test/',
                                      client_id => 'app', aud => 'api://gw',
                                      iat => $now - 900, exp => $now - 600 });
($st) = $ngx->request('GET', '/v1/models',
                      [Authorization => "Bearer $expired"]);
is($st, 401, 'an expired token is refused');

# the clients file changes: a new client, the old one gone

FoundryKeys::write_file('clients.json', { keys => [
    FoundryKeys::entry('fresh', 'fresh-secret-1234'),
] });

my $ok = 0;

for (1 .. 50) {
    ($st) = token_req('grant_type=client_credentials&client_id=fresh'
                      . '&client_secret=fresh-secret-1234');
    last if $st == 200 && ++$ok;
    sleep 0.1;
}

ok($ok, 'reload: the new client gets a token');
($st) = token_req('grant_type=client_credentials&client_id=narrow'
                  . '&client_secret=narrow-secret-1234');
is($st, 401, 'reload: the removed client does not');

$ngx->stop;

# logs: no secret, no token

my $log = $ngx->error_log;
unlike($log, qr/app-secret-1234|narrow-secret|guess-1/, 'no secret logged');
unlike($log, qr/\Q$token\E|\Q$narrow->{access_token}\E/, 'no token logged');
unlike($log, qr/YXBwOmFwcC1zZWNyZXQtMTIzNA/, 'no Basic credentials logged');
like($log, qr/issued a token to client "app"/, 'the issue is logged');
like($log, qr/client "app" refused: too many failed attempts/,
     'the lockout is logged');

# an RSA key signs RS256 tokens the bearer path accepts

my $rsa = FoundryNginx->new(http => <<"CONF");
    foundry_keys_zone clients:1m file=$dir/clients.json;
    foundry_token_service gw issuer=https://gw.test/ clients=clients
        zone=oauth2:1m key=$dir/rsa.pem scope=api://gw/.default;

    server {
        listen 127.0.0.1:\$PORT;

        location = /oauth2/token { foundry_token_endpoint gw; }
        location = /export { foundry_export base_url=https://gw.test; }

        location /v1/ {
            foundry_gateway on;
            foundry_token_issuer gw;
            foundry_model gpt-4o;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
            proxy_pass \$foundry_upstream_url;
        }
    }
CONF

($st, $h, $b) = $rsa->request('POST', '/oauth2/token', [@$form,
                              basic('fresh', 'fresh-secret-1234')],
                              'grant_type=client_credentials');
$r = decode_json($b);
($hdr) = decode_jwt(token => $r->{access_token}, ignore_signature => 1,
                    decode_header => 1);
is($hdr->{alg}, 'RS256', 'RSA: RS256');
($st) = $rsa->request('GET', '/v1/models',
                      [Authorization => "Bearer $r->{access_token}"]);
is($st, 200, 'RSA: the token is accepted');

# rotation by configuration: the old key now second, a new one first;
# the token issued before the reload is accepted after it

my $rot = FoundryNginx->new(http => <<"CONF");
    foundry_keys_zone clients:1m file=$dir/clients.json;
    foundry_token_service gw issuer=https://gw.test/ clients=clients
        zone=oauth2:1m key=$dir/rsa.pem key=$dir/new.pem
        scope=api://gw/.default;

    server {
        listen 127.0.0.1:\$PORT;

        location = /oauth2/token { foundry_token_endpoint gw; }

        location /v1/ {
            foundry_gateway on;
            foundry_token_issuer gw;
            foundry_model gpt-4o;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
            proxy_pass \$foundry_upstream_url;
        }
    }
CONF

($st) = $rot->request('GET', '/v1/models', [Authorization => "Bearer $token"]);
is($st, 200, 'rotation: a token of the now second key is accepted');
($st, $h, $b) = $rot->request('POST', '/oauth2/token', [@$form,
                              basic('fresh', 'fresh-secret-1234')],
                              'grant_type=client_credentials');
($hdr) = decode_jwt(token => decode_json($b)->{access_token},
                    ignore_signature => 1, decode_header => 1);
is($hdr->{alg}, 'RS256', 'rotation: the first key signs');
$rot->stop;

# foundry_export: the OAuth2 connection, never a secret

($st, $h, $b) = $rsa->request('GET', '/export?target=/v1&client_id=fresh');
$r = decode_json($b);
is($r->{properties}{authType}, 'OAuth2', 'export: authType OAuth2');
is_deeply($r->{properties}{credentials},
          { clientId => 'fresh', tokenUrl => '/oauth2/token',
            scopes => ['api://gw/.default'] },
          'export: clientId, tokenUrl, scopes');
unlike($b, qr/secret/i, 'export: no secret');
