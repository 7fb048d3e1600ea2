# Bearer tokens (JWTs): Entra ID tokens (foundry_entra: tenant, resource,
# the project's managed identity, audience=, with foundry_jwt_claim at
# server and location level), key or token (foundry_auth key_or_token,
# foundry_auth token) and the token deployment allow-lists (403, discovery
# lists only the allowed deployments, regex rules, string claims).
#
# The blocks' http{} and server{}, and the shorthands of their sections
# (--- token, --- accepted, --- refused; no --- request, --- config or
# --- http_config), are in t/lib/FoundryTokenBlocks.pm.  Keys and tokens
# are made when the file runs (t/lib/FoundryTokens.pm); no key material
# is committed.  Every block that starts nginx checks that no JWT is in
# the error log.  Rotation, the refetch cooldown, keep-last-good and the
# verified-token cache need one nginx across requests: they are in
# t/061-tokens-jwks.t.

use Cwd qw(cwd);
use lib 't/lib';
use FoundryMock;
use FoundryKeys;
use FoundryTokens;
use FoundryTokenBlocks;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';

my @blocks = blocks();
main::expand($_) for @blocks;

repeat_each(1);

plan tests => main::count(@blocks);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Entra ID: a v1 token of the project's managed identity
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra()
--- response_headers eval
"X-Sub: mi-oid\nX-Iss: https://sts.windows.net/$main::Tenant/\nX-Tid: $main::Tenant\n"
--- response_body_like: "id":"gpt-4o-mini"



=== TEST 2: Entra ID: a v2 token
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(iss => "https://login.microsoftonline.com/$main::Tenant/v2.0")
--- response_headers eval
"X-Sub: mi-oid\nX-Iss: https://login.microsoftonline.com/$main::Tenant/v2.0\n"
--- response_body_like: "id":"gpt-4o-mini"



=== TEST 3: Entra ID: xms_mirid in another case
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(xms_mirid => lc $main::Project, sub => 'lower-mirid')
--- response_headers
X-Sub: lower-mirid
--- response_body_like: "id":"gpt-4o-mini"



=== TEST 4: Entra ID: another project of the tenant
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval
(my $other = $main::Project) =~ s/agents$/other/;
main::entra(xms_mirid => $other)
--- refused: wrong claim



=== TEST 5: Entra ID: no xms_mirid
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(xms_mirid => undef)
--- refused: missing claim



=== TEST 6: Entra ID: another tenant (v1)
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(iss => 'https://sts.windows.net/99999999-2222-3333-4444-555555555555/')
--- refused: wrong issuer



=== TEST 7: Entra ID: another tenant (v2)
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(iss => 'https://login.microsoftonline.com/99999999-2222-3333-4444-555555555555/v2.0')
--- refused: wrong issuer



=== TEST 8: Entra ID: a token for another resource
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(aud => 'https://management.azure.com')
--- refused: wrong audience



=== TEST 9: Entra ID: audience= replaces Azure AI services'
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      audience=api://my-gateway;
})
--- token eval: main::entra(aud => 'api://my-gateway', sub => 'custom-aud', xms_mirid => undef)
--- response_headers
X-Sub: custom-aud
--- response_body_like: "id":"gpt-4o-mini"



=== TEST 10: Entra ID: audience= replaces it: the default one is refused
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      audience=api://my-gateway;
})
--- token eval: main::entra()
--- refused: wrong audience



=== TEST 11: key or token: a key wins when present, even with a bad token
--- http_config eval
$main::Http . '    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;'
--- config eval
main::gateway(extra => q{
        foundry_auth key_or_token;
        foundry_keys keys;
        foundry_key_source config bearer;
})
--- more_headers eval
"api-key: demo-key\nAuthorization: Bearer " . main::raw_jwt({alg => 'none'}, main::claims(), 'x')
--- response_headers
X-Key: demo
!X-Sub
--- response_body_like: "id":"gpt-4o-mini"



=== TEST 12: key or token: a token when no key is present
--- http_config eval
$main::Http . '    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;'
--- config eval
main::gateway(extra => q{
        foundry_auth key_or_token;
        foundry_keys keys;
        foundry_key_source config bearer;
})
--- token eval: main::jwt(claims => {sub => 'kot-token'})
--- response_headers
X-Sub: kot-token
!X-Key
--- response_body_like: "id":"gpt-4o-mini"



=== TEST 13: key or token: a key as a bearer (not a JWT) is a key
--- http_config eval
$main::Http . '    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;'
--- config eval
main::gateway(extra => q{
        foundry_auth key_or_token;
        foundry_keys keys;
        foundry_key_source config bearer;
})
--- more_headers
Authorization: Bearer demo-key
--- response_headers
X-Key: demo
!X-Sub
--- response_body_like: "id":"gpt-4o-mini"



=== TEST 14: key or token: a bad key with a good token is judged by the key
--- http_config eval
$main::Http . '    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;'
--- config eval
main::gateway(extra => q{
        foundry_auth key_or_token;
        foundry_keys keys;
        foundry_key_source config bearer;
})
--- more_headers eval
"api-key: wrong-key\nAuthorization: Bearer " . main::jwt()
--- error_code: 401
--- response_headers
!X-Sub
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: the key is not valid","type":"authentication_error"}}
--- error_log
foundry: unknown key



=== TEST 15: key or token: neither
--- http_config eval
$main::Http . '    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;'
--- config eval
main::gateway(extra => q{
        foundry_auth key_or_token;
        foundry_keys keys;
        foundry_key_source config bearer;
})
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: no credential was sent","type":"authentication_error"}}



=== TEST 16: key or token: a bad token and no key
--- http_config eval
$main::Http . '    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;'
--- config eval
main::gateway(extra => q{
        foundry_auth key_or_token;
        foundry_keys keys;
        foundry_key_source config bearer;
})
--- token eval: main::jwt(claims => {exp => time - 3600})
--- refused: token expired



=== TEST 17: foundry_auth token: a key is not looked at
--- http_config eval
$main::Http . '    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;'
--- config eval
main::gateway(extra => q{
        foundry_auth token;
        foundry_keys keys;
})
--- more_headers
api-key: demo-key
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
!X-Key
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: no credential was sent","type":"authentication_error"}}



=== TEST 18: token deployments: another deployment is a 403
--- config eval
main::gateway(extra => q{
        foundry_jwt_deployments claim=roles value=mini-users
                                deployments=gpt-4o-mini;
        foundry_jwt_deployments claim=roles value=all-users
                                deployments=~^gpt-4o;
})
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- token eval: main::jwt(claims => {roles => ['reader', 'mini-users']})
--- error_code: 403
--- response_body chomp
{"error":{"code":"Forbidden","message":"the token may not use the deployment \"gpt-4o\"","type":"permission_error"}}
--- error_log
foundry: the token may not use deployment "gpt-4o"



=== TEST 19: token deployments: an allowed deployment
--- config eval
main::gateway(extra => q{
        foundry_jwt_deployments claim=roles value=mini-users
                                deployments=gpt-4o-mini;
        foundry_jwt_deployments claim=roles value=all-users
                                deployments=~^gpt-4o;
})
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini","messages":[]}
--- token eval: main::jwt(claims => {roles => ['reader', 'mini-users']})
--- response_headers
x-mock-route: openai
--- response_body_like: "model":"gpt-4o-mini","object":"chat\.completion"



=== TEST 20: token deployments: discovery lists only the allowed ones
--- config eval
main::gateway(extra => q{
        foundry_jwt_deployments claim=roles value=mini-users
                                deployments=gpt-4o-mini;
        foundry_jwt_deployments claim=roles value=all-users
                                deployments=~^gpt-4o;
})
--- token eval: main::jwt(claims => {roles => ['mini-users']})
--- response_body chomp
{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"system"}]}



=== TEST 21: token deployments: another deployment does not exist for it
--- config eval
main::gateway(extra => q{
        foundry_jwt_deployments claim=roles value=mini-users
                                deployments=gpt-4o-mini;
        foundry_jwt_deployments claim=roles value=all-users
                                deployments=~^gpt-4o;
})
--- request
GET /v1/models/gpt-4o
--- token eval: main::jwt(claims => {roles => ['mini-users']})
--- error_code: 404



=== TEST 22: token deployments: a regex rule
--- config eval
main::gateway(extra => q{
        foundry_jwt_deployments claim=roles value=mini-users
                                deployments=gpt-4o-mini;
        foundry_jwt_deployments claim=roles value=all-users
                                deployments=~^gpt-4o;
})
--- token eval: main::jwt(claims => {roles => ['all-users']})
--- response_body chomp
{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1,"owned_by":"system"},{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"system"}]}



=== TEST 23: token deployments: a string claim
--- config eval
main::gateway(extra => q{
        foundry_jwt_deployments claim=appid value=batch-jobs
                                deployments=gpt-4o;
})
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- token eval: main::jwt(claims => {appid => 'batch-jobs'})
--- response_body_like: "model":"gpt-4o","object":"chat\.completion"



=== TEST 24: token deployments: a token of no rule may use nothing
--- config eval
main::gateway(extra => q{
        foundry_jwt_deployments claim=roles value=mini-users
                                deployments=gpt-4o-mini;
})
--- token eval: main::jwt(claims => {roles => ['Mini-Users']})
--- response_body chomp
{"object":"list","data":[]}



=== TEST 25: a server-level foundry_jwt_claim holds in a location with foundry_entra
--- config eval
"    foundry_jwt_claim roles contains=Gateway.Invoke;\n"
. main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file;
})
--- token eval: main::entra()
--- refused: missing claim



=== TEST 26: ... and with foundry_entra project=: the project's rule is the issuers', the inherited claims still hold
--- config eval
"    foundry_jwt_claim roles contains=Gateway.Invoke;\n"
. main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra()
--- refused: missing claim



=== TEST 27: foundry_entra project= at server level, foundry_jwt_claim in the location: the project still holds
--- config eval
qq{    foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                  "project=$main::Project/other";
} . main::gateway(auth => q{
        foundry_jwt_claim roles contains=Gateway.Invoke;
})
--- token eval: main::entra(roles => ['Gateway.Invoke'])
--- refused: wrong claim



=== TEST 28: a server-level claim and foundry_entra project=, with the role
--- config eval
"    foundry_jwt_claim roles contains=Gateway.Invoke;\n"
. main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(roles => ['Gateway.Invoke'], sub => 'mi-role')
--- response_headers
X-Sub: mi-role
X-Roles: Gateway.Invoke
--- response_body_like: "id":"gpt-4o-mini"
