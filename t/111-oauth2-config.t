# The OAuth2 token service's configuration: what nginx -t refuses, with
# its message, and the endpoints' answers that need no token flow (the
# methods, the key set, errors in the token request's form).

use lib 't/lib';
use FoundryKeys;
use Test::Nginx::Socket;

my $dir = $FoundryKeys::DIR;

for my $k (['es', 'EC -pkeyopt ec_paramgen_curve:P-256'],
           ['p384', 'EC -pkeyopt ec_paramgen_curve:P-384'],
           ['rsa1024', 'RSA -pkeyopt rsa_keygen_bits:1024'])
{
    system("openssl genpkey -algorithm $k->[1] -out $dir/$k->[0].pem "
           . "2>/dev/null") == 0 or die "openssl genpkey: $?";
    chmod 0644, "$dir/$k->[0].pem";
}

system("openssl pkey -in $dir/es.pem -pubout -out $dir/es-public.pem")
    == 0 or die "openssl pkey: $?";
chmod 0644, "$dir/es-public.pem";

FoundryKeys::write_file('clients.json', { keys => [
    FoundryKeys::entry('app', 'app-secret-1234'),
] });

repeat_each(1);

plan tests => repeat_each() * (2 * blocks() + 2);

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config',
            "    foundry_keys_zone clients:1m file=$dir/clients.json;\n"
            . "    foundry_token_service gw issuer=https://gw.test/\n"
            . "        clients=clients zone=oauth2:1m key=$dir/es.pem\n"
            . "        scope=api://gw/.default;\n");
    }
});

run_tests();

__DATA__

=== TEST 1: the key set: the public key, no private part
--- config
    location = /oauth2/jwks { foundry_token_jwks gw; }
--- request
GET /oauth2/jwks
--- response_headers
Content-Type: application/json
--- response_body_like chomp
^\{"keys":\[\{"crv":"P-256","kty":"EC","x":"[\w-]{43}","y":"[\w-]{43}","use":"sig","alg":"ES256","kid":"[\w-]{43}"\}\]\}$



=== TEST 2: the key set takes GET only
--- config
    location = /oauth2/jwks { foundry_token_jwks gw; }
--- request
POST /oauth2/jwks
x
--- error_code: 405



=== TEST 3: the token endpoint takes POST only
--- config
    location = /oauth2/token { foundry_token_endpoint gw; }
--- request
GET /oauth2/token
--- error_code: 405
--- response_headers
Allow: POST
Cache-Control: no-store
--- response_body chomp
{"error":"invalid_request","error_description":"the token endpoint takes POST"}



=== TEST 4: a badly encoded form
--- config
    location = /oauth2/token { foundry_token_endpoint gw; }
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /oauth2/token
grant_type=client_credentials&client_id=app&client_secret=%zz
--- error_code: 400
--- response_body chomp
{"error":"invalid_request","error_description":"the form is badly encoded"}



=== TEST 5: no client credentials
--- config
    location = /oauth2/token { foundry_token_endpoint gw; }
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /oauth2/token
grant_type=client_credentials
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="foundry"
--- response_body chomp
{"error":"invalid_client","error_description":"no client credentials"}



=== TEST 6: a bearer Authorization is not client authentication
--- config
    location = /oauth2/token { foundry_token_endpoint gw; }
--- more_headers
Content-Type: application/x-www-form-urlencoded
Authorization: Bearer abc
--- request
POST /oauth2/token
grant_type=client_credentials
--- error_code: 401
--- response_body chomp
{"error":"invalid_client","error_description":"the Authorization header is not Basic"}



=== TEST 7: a body too large
--- config
    location = /oauth2/token { foundry_token_endpoint gw; }
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request eval
"POST /oauth2/token\n" . ('a' x 9000)
--- error_code: 413



=== TEST 8: an unknown service
--- http_config
--- config
    location = /oauth2/token { foundry_token_endpoint nope; }
--- request
GET /
--- must_die
--- error_log
unknown foundry_token_service "nope" (declare it first, in the http block)



=== TEST 9: a service needs its parameters
--- http_config eval
"    foundry_keys_zone clients:1m file=$FoundryKeys::DIR/clients.json;
    foundry_token_service gw issuer=https://gw.test/ clients=clients
        key=$FoundryKeys::DIR/es.pem scope=api://gw/.default;"
--- config
--- request
GET /
--- must_die
--- error_log
"foundry_token_service" directive needs "issuer=", "clients=", "zone=", "key=" and "scope="



=== TEST 10: clients= names a keys zone
--- http_config eval
"    foundry_token_service gw issuer=https://gw.test/ clients=none
        zone=oauth2:1m key=$FoundryKeys::DIR/es.pem scope=api://gw/.default;"
--- config
--- request
GET /
--- must_die
--- error_log
unknown foundry_keys_zone "none"



=== TEST 11: a public key does not sign
--- http_config eval
"    foundry_keys_zone clients:1m file=$FoundryKeys::DIR/clients.json;
    foundry_token_service gw issuer=https://gw.test/ clients=clients
        zone=oauth2:1m key=$FoundryKeys::DIR/es-public.pem
        scope=api://gw/.default;"
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/"\S+es-public.pem" holds no PEM private key/



=== TEST 12: EC keys are P-256
--- http_config eval
"    foundry_keys_zone clients:1m file=$FoundryKeys::DIR/clients.json;
    foundry_token_service gw issuer=https://gw.test/ clients=clients
        zone=oauth2:1m key=$FoundryKeys::DIR/p384.pem
        scope=api://gw/.default;"
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/EC key "\S+p384.pem" is not on P-256 \(ES256\)/



=== TEST 13: RSA keys have 2048 bits at least
--- http_config eval
"    foundry_keys_zone clients:1m file=$FoundryKeys::DIR/clients.json;
    foundry_token_service gw issuer=https://gw.test/ clients=clients
        zone=oauth2:1m key=$FoundryKeys::DIR/rsa1024.pem
        scope=api://gw/.default;"
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/RSA key "\S+rsa1024.pem" has 1024 bits, 2048 to 8192 are accepted/



=== TEST 14: the lifetime is bounded
--- http_config eval
"    foundry_keys_zone clients:1m file=$FoundryKeys::DIR/clients.json;
    foundry_token_service gw issuer=https://gw.test/ clients=clients
        zone=oauth2:1m key=$FoundryKeys::DIR/es.pem
        scope=api://gw/.default lifetime=2d;"
--- config
--- request
GET /
--- must_die
--- error_log
"lifetime=" must be between 10s and 1d



=== TEST 15: the same key twice
--- http_config eval
"    foundry_keys_zone clients:1m file=$FoundryKeys::DIR/clients.json;
    foundry_token_service gw issuer=https://gw.test/ clients=clients
        zone=oauth2:1m key=$FoundryKeys::DIR/es.pem
        key=$FoundryKeys::DIR/es.pem scope=api://gw/.default;"
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/key "\S+es.pem" is listed twice/



=== TEST 16: a scope with a quote
--- http_config eval
"    foundry_keys_zone clients:1m file=$FoundryKeys::DIR/clients.json;
    foundry_token_service gw issuer=https://gw.test/ clients=clients
        zone=oauth2:1m key=$FoundryKeys::DIR/es.pem scope=a\\\"b;"
--- config
--- request
GET /
--- must_die
--- error_log
invalid value "scope=a"b" in "foundry_token_service" directive



=== TEST 17: the token issuer makes the location take tokens
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_token_issuer gw;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
        proxy_pass $foundry_upstream_url;
    }
--- request
GET /v1/models
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
