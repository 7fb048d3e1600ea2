# Bearer tokens of issuers whose keys are found by OpenID Connect
# discovery ("oidc=" of foundry_jwt_issuer): the discovery document is
# fetched from the "oidc=" location, its "issuer" must be the configured
# one, and its "jwks_uri" is where the "jwks=" location fetches the key
# set from ($foundry_jwks_uri).  Every bad document is a failed fetch of
# the set: logged, tokens of the issuer refused ("unknown key").
#
# The identity provider is served by the nginx of the block
# (/idp/.well-known/openid-configuration and /idp/keys) or by the mock
# model upstream (FoundryMock answers any body it is told to).  Keys and
# tokens are made when the file runs (t/lib/FoundryTokens.pm).

use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryTokens;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();

# a discovery document over the 64 KB the module reads

main::tokens_write('oidc-70k.json', '{"issuer":"http://idp.test/",'
    . '"jwks_uri":"http://127.0.0.1/idp/keys","pad":"' . ('x' x 70000)
    . '"}');

our $Tenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';

our $Unauthorized = '{"error":{"code":"Unauthorized","message":'
    . '"access denied: the token is not valid",'
    . '"type":"authentication_error"}}';

our $Http = "    foundry_jwt_zone tokens:1m;\n\n"
    . FoundryConf::mock_http({keepalive => undef},
                             oai => {bearer => 'upstream-token'})
    . <<'_EOC_';

    # an Entra-like jwks_uri, served here by the local identity provider
    map_hash_bucket_size 256;

    map $foundry_jwks_uri $jwks_backend {
        default  $foundry_jwks_uri;
        "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/discovery/v2.0/keys"
                 http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys;
    }
_EOC_

# the discovery document of the local identity provider, as nginx config

sub main::doc {
    my ($json) = @_;

    $json =~ s/'/\\'/g;

    return "default_type application/json;\n"
           . "            return 200 '$json';";
}

# the server{} of a block: the identity provider's answers ("doc": the
# discovery document; "keys": what /idp/keys answers), the oidc= and jwks=
# locations, and /v1/ with "auth" (by default http://idp.test/ through
# /_oidc and /_jwks)

sub main::gateway {
    my (%o) = @_;

    my $doc = $o{doc} // main::doc('{"issuer":"http://idp.test/",'
        . '"authorization_endpoint":"http://idp.test/authorize",'
        . '"jwks_uri":"http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys",'
        . '"response_types_supported":["code","id_token"],'
        . '"subject_types_supported":["public"],'
        . '"id_token_signing_alg_values_supported":["RS256"]}');
    my $keys = $o{keys}
        // "default_type application/json;\n"
         . '            alias $TEST_NGINX_TOKENS_DIR/jwks.json;';
    my $auth = $o{auth} // <<'_EOC_';
        foundry_jwt_issuer http://idp.test/ audience=api://foundry-gateway
                           oidc=/_oidc jwks=/_jwks;
_EOC_

    return <<"_EOC_" . <<'_EOC_' . <<"_EOC_" . <<'_EOC_';
    location = /idp/.well-known/openid-configuration {
            $doc
    }

    location = /idp/keys {
            $keys
    }
_EOC_

    location = /_oidc {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/.well-known/openid-configuration;
        proxy_pass_request_headers off;
        proxy_pass_request_body off;
    }

    location = /_jwks {
        internal;
        proxy_pass $jwks_backend;
        proxy_pass_request_headers off;
        proxy_pass_request_body off;
    }

    location /v1/ {
        foundry_gateway on;
        proxy_pass \$foundry_upstream_url;
_EOC_
$auth
_EOC_
        foundry_model gpt-4o created=1 upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;

        add_header X-Sub $foundry_jwt_sub always;
        add_header X-Iss $foundry_jwt_iss always;
        add_header X-Jwks-Uri $foundry_jwks_uri always;
    }
_EOC_
}

sub main::idp { main::jwt(iss => 'http://idp.test/', @_) }

# --- token: sent as a bearer token; --- accepted: the subject;
# --- refused: the error_description, and the line of the log saying why

sub main::expand {
    my ($block) = @_;

    $block->set_value('http_config', $Http)
        unless defined $block->http_config;

    $block->set_value('config', main::gateway())
        unless defined $block->config;

    $block->set_value('request', "GET /v1/models\n")
        unless defined $block->request || defined $block->pipelined_requests;

    if (defined(my $t = $block->token)) {
        $block->set_value('more_headers', "Authorization: Bearer $t");
    }

    if (defined(my $s = $block->accepted)) {
        $s =~ s/^\s+|\s+$//g;
        $block->set_value('response_headers', "X-Sub: $s\n")
            unless defined $block->response_headers;
        $block->set_value('response_body_like',
                          '^\{"object":"list","data":\[\{"id":"gpt-4o",')
            unless defined $block->response_body_like
                   || defined $block->response_body;
    }

    # a block's own sections win over the shorthand's, or are added to

    if (defined(my $r = $block->refused)) {
        my ($desc, $why) = split /\n/, $r, 2;
        $why =~ s/^\s+|\s+$//g;
        $block->set_value('error_code', 401)
            unless defined $block->error_code;
        $block->set_value('response_headers',
            "WWW-Authenticate: Bearer error=\"invalid_token\", "
            . "error_description=\"$desc\"\n!X-Sub\n"
            . ($block->response_headers // ''));
        $block->set_value('response_body', $Unauthorized)
            unless defined $block->response_body
                   || defined $block->response_body_like;

        my $own = $block->error_log;
        $block->set_value('error_log',
            !defined $own ? "$why\n"
            : ref $own eq 'ARRAY' ? [@$own, $why]
            : ref $own ? [$own, $why]
            : $own . "\n$why\n");
    }

    if (!defined $block->must_die && !defined $block->no_error_log) {
        $block->set_value('no_error_log', "[alert]\n[crit]\n");
    }
}

# the TAP tests a block makes (the same under Test::Nginx and t/runner/):
# with pipelined requests, a section that is an array has one entry per
# request, and the error log is checked after each request

sub main::lines {
    my ($v, $i) = @_;

    return 0 unless defined $v;

    $v = $v->[$i] if ref $v eq 'ARRAY';

    return scalar grep { /\S/ } split /\n/, $v;
}

sub main::count {
    my $n = 0;

    for my $b (@_) {
        my $reqs = $b->pipelined_requests ? @{ $b->pipelined_requests } : 1;

        for my $i (0 .. $reqs - 1) {
            $n++;

            if (!defined $b->must_die) {
                $n++ if defined $b->response_body
                        || defined $b->response_body_like;
                $n += main::lines(scalar $b->response_headers, $i);
                $n += main::lines(scalar $b->response_headers_like, $i);
            }

            $n += main::lines(scalar $b->error_log, 0);
            $n += main::lines(scalar $b->no_error_log, 0);
        }
    }

    return $n;
}

my @blocks = blocks();
main::expand($_) for @blocks;

repeat_each(1);

plan tests => main::count(@blocks);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: discovery, then the key set from its jwks_uri: the token is accepted
--- token eval: main::idp(claims => {sub => 'agent-oidc'})
--- accepted: agent-oidc
--- error_log eval
qr{foundry: discovery of "http://idp\.test/" from "/_oidc": jwks_uri "http://127\.0\.0\.1:\d+/idp/keys"}



=== TEST 2: every algorithm of the discovered set
--- pipelined_requests eval
["GET /v1/models\n", "GET /v1/models\n", "GET /v1/models\n", "GET /v1/models\n"]
--- more_headers eval
["Authorization: Bearer " . main::idp(alg => 'PS256', claims => {sub => 'ps'}),
 "Authorization: Bearer " . main::idp(alg => 'ES256', claims => {sub => 'es'}),
 "Authorization: Bearer " . main::idp(alg => 'ES512', claims => {sub => 'es5'}),
 "Authorization: Bearer " . main::idp(alg => 'EdDSA', claims => {sub => 'ed'})]
--- response_headers eval
["X-Sub: ps", "X-Sub: es", "X-Sub: es5", "X-Sub: ed"]
--- no_error_log
[error]



=== TEST 3: the discovery document and the key set are fetched once, not per request
--- pipelined_requests eval
["GET /v1/models\n", "GET /v1/models\n", "GET /v1/models\n"]
--- more_headers eval
["Authorization: Bearer " . main::idp(claims => {sub => 'one'}),
 "Authorization: Bearer " . main::idp(claims => {sub => 'two'}),
 "Authorization: Bearer " . main::idp(alg => 'ES384', claims => {sub => 'three'})]
--- response_headers eval
["X-Sub: one", "X-Sub: two\n!X-Jwks-Uri", "X-Sub: three\n!X-Jwks-Uri"]



=== TEST 4: the jwks_uri of the request is $foundry_jwks_uri
--- token eval: main::idp(claims => {sub => 'agent-oidc'})
--- response_headers_like
X-Jwks-Uri: http://127\.0\.0\.1:\d+/idp/keys
X-Sub: agent-oidc
--- error_code: 200



=== TEST 5: an Entra ID v2 discovery document served by the mock, an https jwks_uri
--- config eval
main::gateway(auth => qq{
        foundry_jwt_issuer https://login.microsoftonline.com/$main::Tenant/v2.0
                           audience=https://cognitiveservices.azure.com
                           oidc=/_oidc_mock jwks=/_jwks;
}) . qq{
    location = /_oidc_mock {
        internal;
        proxy_pass http://mock/$main::Tenant/v2.0/.well-known/openid-configuration;
        proxy_pass_request_headers off;
        proxy_pass_request_body off;
        proxy_set_header x-mock-status 200;
        proxy_set_header x-mock-body '{"token_endpoint":"https://login.microsoftonline.com/$main::Tenant/oauth2/v2.0/token","jwks_uri":"https://login.microsoftonline.com/$main::Tenant/discovery/v2.0/keys","issuer":"https://login.microsoftonline.com/$main::Tenant/v2.0","tenant_region_scope":"WW","cloud_instance_name":"microsoftonline.com"}';
    }
}
--- token eval
main::jwt(iss => "https://login.microsoftonline.com/$main::Tenant/v2.0",
          claims => {sub => 'mi-oid', aud => 'https://cognitiveservices.azure.com'})
--- accepted: mi-oid
--- error_log eval
qr{jwks_uri "https://login\.microsoftonline\.com/72f988bf-86f1-41af-91ab-2d7cd011db47/discovery/v2\.0/keys"}



=== TEST 6: a token signed by a key the discovered set does not have
--- token eval: main::idp(key => $main::Other{rsa}, kid => 'rsa-1')
--- refused
invalid signature
foundry: token refused: invalid signature



=== TEST 7: the discovery document names another issuer
--- config eval
main::gateway(doc => main::doc('{"issuer":"http://other.test/","jwks_uri":"http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys"}'))
--- token eval: main::idp()
--- refused
unknown key
foundry: the key set of "http://idp.test/" from "/_oidc" failed: the discovery document names another issuer, no token of the issuer can be verified



=== TEST 8: the issuer differs only in a trailing slash: another issuer
--- config eval
main::gateway(doc => main::doc('{"issuer":"http://idp.test","jwks_uri":"http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys"}'))
--- token eval: main::idp()
--- refused
unknown key
the discovery document names another issuer



=== TEST 9: an https issuer whose document gives an http jwks_uri
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://idp.test/ audience=api://foundry-gateway
                           oidc=/_oidc jwks=/_jwks;
}, doc => main::doc('{"issuer":"https://idp.test/","jwks_uri":"http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys"}'))
--- token eval: main::jwt(iss => 'https://idp.test/')
--- refused
unknown key
foundry: the key set of "https://idp.test/" from "/_oidc" failed: the "jwks_uri" of the discovery document is not an https URL



=== TEST 10: no jwks_uri
--- config eval
main::gateway(doc => main::doc('{"issuer":"http://idp.test/"}'))
--- token eval: main::idp()
--- refused
unknown key
the discovery document has no "jwks_uri"



=== TEST 11: no issuer
--- config eval
main::gateway(doc => main::doc('{"jwks_uri":"http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys"}'))
--- token eval: main::idp()
--- refused
unknown key
the discovery document has no "issuer"



=== TEST 12: an issuer that is not a string
--- config eval
main::gateway(doc => main::doc('{"issuer":["http://idp.test/"],"jwks_uri":"http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys"}'))
--- token eval: main::idp()
--- refused
unknown key
"issuer" and "jwks_uri" of the discovery document must be strings



=== TEST 13: a jwks_uri that is not a string
--- config eval
main::gateway(doc => main::doc('{"issuer":"http://idp.test/","jwks_uri":null}'))
--- token eval: main::idp()
--- refused
unknown key
"issuer" and "jwks_uri" of the discovery document must be strings



=== TEST 14: "issuer" twice: the document is refused, whichever comes first
--- config eval
main::gateway(doc => main::doc('{"issuer":"http://idp.test/","jwks_uri":"http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys","issuer":"http://evil.test/"}'))
--- token eval: main::idp()
--- refused
unknown key
a member of the discovery document appears twice



=== TEST 15: members of nested objects do not count
--- config eval
main::gateway(doc => main::doc('{"mtls_endpoint_aliases":{"issuer":"http://evil.test/","jwks_uri":"http://evil.test/keys"},"issuer":"http://idp.test/","jwks_uri":"http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys","x":[{"jwks_uri":"http://evil.test/"}]}'))
--- token eval: main::idp(claims => {sub => 'nested'})
--- accepted: nested



=== TEST 16: a document that is not JSON
--- config eval
main::gateway(doc => main::doc('<html>sign in</html>'))
--- token eval: main::idp()
--- refused
unknown key
the discovery document is not valid JSON



=== TEST 17: a document that is not an object
--- config eval
main::gateway(doc => main::doc('["http://idp.test/"]'))
--- token eval: main::idp()
--- refused
unknown key
the discovery document is not a JSON object



=== TEST 18: a truncated document
--- config eval
main::gateway(doc => main::doc('{"issuer":"http://idp.test/","jwks_uri":"http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys"'))
--- token eval: main::idp()
--- refused
unknown key
the discovery document is not valid JSON



=== TEST 19: a jwks_uri with a blank (it goes to proxy_pass)
--- config eval
main::gateway(doc => main::doc('{"issuer":"http://idp.test/","jwks_uri":"http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys x"}'))
--- token eval: main::idp()
--- refused
unknown key
the "jwks_uri" of the discovery document is not a valid URL



=== TEST 20: a jwks_uri that is not absolute, or has no host
--- config eval
main::gateway(doc => main::doc('{"issuer":"http://idp.test/","jwks_uri":"/idp/keys"}'))
--- token eval: main::idp()
--- refused
unknown key
the "jwks_uri" of the discovery document is not an https URL



=== TEST 21: a jwks_uri without a host
--- config eval
main::gateway(doc => main::doc('{"issuer":"http://idp.test/","jwks_uri":"http:///idp/keys"}'))
--- token eval: main::idp()
--- refused
unknown key
the "jwks_uri" of the discovery document has no host



=== TEST 22: the discovery location answers 404
--- config eval
main::gateway(doc => 'return 404;')
--- token eval: main::idp()
--- refused
unknown key
foundry: the key set of "http://idp.test/" from "/_oidc" failed: the discovery location did not answer 200, no token of the issuer can be verified



=== TEST 23: the discovery location answers an empty 200
--- config eval
main::gateway(doc => 'return 200;')
--- token eval: main::idp()
--- refused
unknown key
the discovery document is empty



=== TEST 24: a discovery document over 64 KB
--- config eval
main::gateway(doc => "default_type application/json;\n"
                      . 'alias $TEST_NGINX_TOKENS_DIR/oidc-70k.json;')
--- http_config eval: $main::Http . "subrequest_output_buffer_size 128k;\n"
--- token eval: main::idp()
--- refused
unknown key
the discovery document is too large



=== TEST 25: the discovered jwks_uri answers 404: the failure names the jwks= location
--- config eval
main::gateway(keys => 'return 404;')
--- token eval: main::idp()
--- refused
unknown key
foundry: the key set of "http://idp.test/" from "/_jwks" failed: the key set location did not answer 200, no token of the issuer can be verified



=== TEST 26: the discovery upstream is down
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer http://idp.test/ audience=api://foundry-gateway
                           oidc=/_oidc_down jwks=/_jwks;
}) . q{
    location = /_oidc_down {
        internal;
        proxy_pass http://127.0.0.1:1/.well-known/openid-configuration;
    }
}
--- token eval: main::idp()
--- refused
unknown key
foundry: the key set of "http://idp.test/" from "/_oidc_down" failed: the discovery location did not answer 200, no token of the issuer can be verified



=== TEST 27: a token of another issuer does not fetch the discovery document
--- token eval: main::jwt(iss => 'http://stranger.test/')
--- refused
wrong issuer
foundry: token refused: wrong issuer
--- no_error_log
foundry: discovery of



=== TEST 28: oidc= needs jwks=
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer http://idp.test/ audience=api://foundry-gateway
                           oidc=/_oidc secret=$TEST_NGINX_TOKENS_SECRET;
})
--- must_die
--- error_log
"oidc=" in "foundry_jwt_issuer" directive needs "jwks=", a location that proxies to $foundry_jwks_uri



=== TEST 29: oidc= must be a location
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer http://idp.test/ audience=api://foundry-gateway
                           oidc=https://idp.test/.well-known/openid-configuration
                           jwks=/_jwks;
})
--- must_die
--- error_log
invalid value "oidc=https://idp.test/.well-known/openid-configuration" in "foundry_jwt_issuer" directive



=== TEST 30: oidc= needs foundry_jwt_zone
--- http_config
    upstream mock {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT;
    }

    foundry_upstream oai kind=openai url=http://mock bearer=upstream-token;
    map $foundry_jwks_uri $jwks_backend {
        default  $foundry_jwks_uri;
    }
--- must_die
--- error_log
issuer "http://idp.test/" fetches its keys from "/_jwks": "foundry_jwt_zone" is needed
