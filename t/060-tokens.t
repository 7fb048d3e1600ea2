# Bearer tokens (JWTs): every algorithm with its key, every refusal with
# its RFC 6750 challenge, the key sources (JWKS file, PEM, secret, a JWKS
# location aliasing a file or proxying to the mock), Entra ID, key or
# token, token deployment allow-lists, the variables, and that a token is
# never logged nor passed on.
#
# Keys and tokens are made when the file runs (t/lib/FoundryTokens.pm); no
# key material is committed.  Rotation, the refetch cooldown, keep-last-
# good and the verified-token cache need one nginx across requests: they
# are in t/061-tokens-jwks.t.
#
# Shorthands of the blocks (expanded before the plan is counted, see
# main::expand below):
#
#   no --- request       GET /v1/models
#   no --- config        main::gateway(): /v1/ with the issuers of
#                        main::issuers() and the variables as headers
#   --- token eval       the token, sent as "Authorization: Bearer ..."
#   --- accepted: S I    200, X-Sub: S, X-Iss: I, the model list
#   --- refused: D       401, WWW-Authenticate: Bearer
#                        error="invalid_token", error_description="D",
#                        no X-Sub, the JSON 401 body, "foundry: token
#                        refused: D" in the error log
#
# and every block that starts nginx checks that no JWT is in the error
# log but on nginx's own debug lines "http header:".

use Cwd qw(cwd);
use lib 't/lib';
use FoundryMock;
use FoundryKeys;
use FoundryTokens;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';

our $Tenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
our $Project = '/subscriptions/00000000-0000-0000-0000-000000000000/'
    . 'resourceGroups/RG-Agents/providers/Microsoft.CognitiveServices/'
    . 'accounts/contoso/projects/agents';

our $Unauthorized = '{"error":{"code":"Unauthorized","message":'
    . '"access denied: the token is not valid",'
    . '"type":"authentication_error"}}';

# the http{} level of every block

our $Http = <<'_EOC_';
    foundry_jwt_zone tokens:1m;

    upstream mock {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT;
        keepalive 4;
    }

    foundry_upstream oai kind=openai url=http://mock bearer=upstream-token;
_EOC_

# the issuers of the standard location, one per kind of key

sub main::issuers {
    return <<'_EOC_';
        foundry_jwt_issuer https://file.test/ audience=api://foundry-gateway
                           audience=api://second
                           jwks_file=$TEST_NGINX_TOKENS_DIR/jwks.json;
        foundry_jwt_issuer https://pinned.test/
                           audience=api://foundry-gateway
                           jwks_file=$TEST_NGINX_TOKENS_DIR/jwks-pinned.json;
        foundry_jwt_issuer https://pem-rsa.test/
                           audience=api://foundry-gateway
                           pem=$TEST_NGINX_TOKENS_DIR/rsa.pem;
        foundry_jwt_issuer https://pem-pkcs1.test/
                           audience=api://foundry-gateway
                           pem=$TEST_NGINX_TOKENS_DIR/rsa-pkcs1.pem;
        foundry_jwt_issuer https://pem-cert.test/
                           audience=api://foundry-gateway
                           pem=$TEST_NGINX_TOKENS_DIR/rsa-cert.pem;
        foundry_jwt_issuer https://pem-ec.test/
                           audience=api://foundry-gateway
                           pem=$TEST_NGINX_TOKENS_DIR/ec384.pem;
        foundry_jwt_issuer https://pem-ed.test/
                           audience=api://foundry-gateway
                           pem=$TEST_NGINX_TOKENS_DIR/ed25519.pem;
        foundry_jwt_issuer https://hmac.test/ audience=api://foundry-gateway
                           secret=$TEST_NGINX_TOKENS_SECRET;
        foundry_jwt_issuer https://hmac32.test/
                           audience=api://foundry-gateway
                           secret=$TEST_NGINX_TOKENS_SECRET32;
        foundry_jwt_issuer https://url.test/ audience=api://foundry-gateway
                           jwks=/_jwks/file;
        foundry_jwt_issuer https://mock.test/ audience=api://foundry-gateway
                           jwks=/_jwks/mock;
        foundry_jwt_issuer https://broken.test/
                           audience=api://foundry-gateway
                           jwks=/_jwks/broken;
        foundry_jwt_issuer https://weak.test/ audience=api://foundry-gateway
                           jwks=/_jwks/weak;
        foundry_jwt_issuer https://garbage.test/
                           audience=api://foundry-gateway
                           jwks=/_jwks/garbage;
_EOC_
}

# the server{} of a block: the JWKS locations and /v1/ with "auth" (the
# issuers above unless given) and "extra" directives

sub main::gateway {
    my (%o) = @_;

    my $auth = $o{auth} // main::issuers();
    my $extra = $o{extra} // '';

    return <<'_EOC_' . <<"_EOC2_" . <<'_EOC_';
    large_client_header_buffers 4 32k;

    # a JWKS file served by nginx
    location = /_jwks/file {
        internal;
        default_type application/json;
        alias $TEST_NGINX_TOKENS_DIR/jwks.json;
    }

    # an identity provider's jwks_uri, here the mock answering the JWKS
    location = /_jwks/mock {
        internal;
        proxy_pass http://mock/idp/discovery/keys;
        proxy_pass_request_headers off;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header x-mock-status 200;
        proxy_set_header x-mock-body '$TEST_NGINX_TOKENS_EC_JWKS';
        subrequest_output_buffer_size 64k;
    }

    location = /_jwks/broken {
        internal;
        return 404;
    }

    location = /_jwks/weak {
        internal;
        default_type application/json;
        alias $TEST_NGINX_TOKENS_DIR/jwks-1024.json;
    }

    location = /_jwks/garbage {
        internal;
        default_type application/json;
        return 200 '{"keys": [';
    }

    location /v1/ {
        foundry_gateway on;
_EOC_
$auth
$extra
_EOC2_
        foundry_model gpt-4o created=1 upstream=oai;
        foundry_model gpt-4o-mini created=1 upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;

        add_header X-Sub $foundry_jwt_sub always;
        add_header X-Iss $foundry_jwt_iss always;
        add_header X-Roles $foundry_jwt_claim_roles always;
        add_header X-Tid $foundry_jwt_claim_tid always;
        add_header X-Key $foundry_key_name always;

        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
_EOC_
}

# Entra ID tokens, as a Foundry project's managed identity has them

sub main::entra {
    my (%c) = @_;

    return main::jwt(claims => {
        iss => "https://sts.windows.net/$Tenant/",
        aud => 'https://cognitiveservices.azure.com',
        tid => $Tenant, oid => 'mi-oid', sub => 'mi-oid', appid => 'mi-app',
        idtyp => 'app', xms_mirid => $Project, %c });
}

# a token of exactly $size bytes (RS256, a "pad" claim filling it; a
# filler in the header when the base64 steps of the payload skip the size)

sub main::sized {
    my ($size) = @_;

    for my $fill (0 .. 5) {
        my $h = { alg => 'RS256', kid => 'rsa-1', typ => 'JWT',
                  ($fill ? (x => 'y' x $fill) : ()) };
        my $hlen = length main::b64u(main::json($h));

        my $from = int(($size - $hlen - 344) * 3 / 4) - 300;

        for my $pad (($from > 1 ? $from : 1) .. $size) {
            my $payload = main::claims(pad => 'x' x $pad,
                                       sub => "size-$size");
            my $len = $hlen + 1 + length(main::b64u($payload)) + 1 + 342;

            next if $len < $size;
            last if $len > $size;

            my $t = main::signed_jwt('RS256', 'rsa', $h, $payload);
            die "a token of " . length($t) . " bytes" if length $t != $size;

            return $t;
        }
    }

    die "no token of $size bytes";
}


# the shorthands of a block (see the top)

sub main::expand {
    my ($block) = @_;

    $block->set_value('http_config', $Http)
        unless defined $block->http_config;

    $block->set_value('config', main::gateway())
        unless defined $block->config;

    $block->set_value('request', "GET /v1/models\n")
        unless defined $block->request || defined $block->pipelined_requests;

    if (defined(my $t = $block->token)) {
        my $h = "Authorization: Bearer $t";
        $h .= "\n" . $block->more_headers if defined $block->more_headers;
        $block->set_value('more_headers', $h);
    }

    # a block's own sections win over the shorthands': what the shorthand
    # checks is added to the block's own header and log patterns

    if (defined(my $a = $block->accepted)) {
        my ($sub, $iss) = split ' ', $a;
        $block->set_value('response_headers', "X-Sub: $sub\nX-Iss: $iss\n")
            unless defined $block->response_headers;
        $block->set_value('response_body_like',
            '^\{"object":"list","data":\[\{"id":"gpt-4o",.*'
            . '\{"id":"gpt-4o-mini",')
            unless defined $block->response_body_like
                   || defined $block->response_body;
    }

    if (defined(my $r = $block->refused)) {
        $r =~ s/^\s+|\s+$//g;
        $block->set_value('error_code', 401)
            unless defined $block->error_code;
        $block->set_value('response_headers',
            "WWW-Authenticate: Bearer error=\"invalid_token\", "
            . "error_description=\"$r\"\n!X-Sub\n"
            . ($block->response_headers // ''));
        $block->set_value('response_body', $Unauthorized)
            unless defined $block->response_body
                   || defined $block->response_body_like;
        $block->set_value('error_log',
            [main::patterns($block->error_log),
             "foundry: token refused: $r"]);
    }

    # no token in the log: nginx's own "http header:" debug lines aside

    if (!defined $block->must_die) {
        my $pat = qr/^(?!.*http header: ).*eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]/;

        $block->set_value('no_error_log',
                          [main::patterns($block->no_error_log), $pat]);
    }
}

# the patterns of an error_log or no_error_log section, as a list

sub main::patterns {
    my ($v) = @_;

    return !defined $v ? ()
         : ref $v eq 'ARRAY' ? @$v
         : ref $v ? ($v)
         : grep { /\S/ } split /\n/, $v;
}

# the TAP tests a block makes (the same under Test::Nginx and t/runner/)

sub main::count {
    my $n = 0;

    for my $b (@_) {
        my $reqs = $b->pipelined_requests ? @{ $b->pipelined_requests }
                 : ref $b->request eq 'ARRAY' ? @{ $b->request }
                 : 1;
        my $per = 1;

        if (!defined $b->must_die) {
            $per++ if defined $b->response_body
                      || defined $b->response_body_like
                      || defined $b->response_body_unlike;

            if (defined(my $h = $b->response_headers)) {
                $h = $h->[0] if ref $h;
                $per += grep { /\S/ } split /\n/, $h;
            }
        }

        for my $sec (qw(error_log no_error_log)) {
            my $v = $b->$sec;
            next unless defined $v;
            $per += ref $v eq 'ARRAY' ? @$v
                  : ref $v ? 1
                  : grep { /\S/ } split /\n/, $v;
        }

        $n += $per * $reqs;
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

=== TEST 1: RS256 (jwks_file)
--- token eval: main::tok('RS256', alg => 'RS256', claims => {sub => 'agent-RS256'})
--- accepted: agent-RS256 https://file.test/



=== TEST 2: RS384
--- token eval: main::jwt(alg => 'RS384', claims => {sub => 'agent-RS384'})
--- accepted: agent-RS384 https://file.test/



=== TEST 3: RS512
--- token eval: main::jwt(alg => 'RS512', claims => {sub => 'agent-RS512'})
--- accepted: agent-RS512 https://file.test/



=== TEST 4: PS256
--- token eval: main::jwt(alg => 'PS256', claims => {sub => 'agent-PS256'})
--- accepted: agent-PS256 https://file.test/



=== TEST 5: PS384
--- token eval: main::jwt(alg => 'PS384', claims => {sub => 'agent-PS384'})
--- accepted: agent-PS384 https://file.test/



=== TEST 6: PS512
--- token eval: main::jwt(alg => 'PS512', claims => {sub => 'agent-PS512'})
--- accepted: agent-PS512 https://file.test/



=== TEST 7: ES256 (raw R||S, P-256)
--- token eval: main::jwt(alg => 'ES256', claims => {sub => 'agent-ES256'})
--- accepted: agent-ES256 https://file.test/



=== TEST 8: ES384 (P-384)
--- token eval: main::jwt(alg => 'ES384', claims => {sub => 'agent-ES384'})
--- accepted: agent-ES384 https://file.test/



=== TEST 9: ES512 (P-521, 132-byte signature)
--- token eval: main::jwt(alg => 'ES512', claims => {sub => 'agent-ES512'})
--- accepted: agent-ES512 https://file.test/



=== TEST 10: EdDSA (Ed25519)
--- token eval: main::jwt(alg => 'EdDSA', claims => {sub => 'agent-EdDSA'})
--- accepted: agent-EdDSA https://file.test/



=== TEST 11: HS256 (secret=)
--- token eval: main::jwt(alg => 'HS256', iss => 'https://hmac.test/', claims => {sub => 'agent-HS256'})
--- accepted: agent-HS256 https://hmac.test/



=== TEST 12: HS384
--- token eval: main::jwt(alg => 'HS384', iss => 'https://hmac.test/', claims => {sub => 'agent-HS384'})
--- accepted: agent-HS384 https://hmac.test/



=== TEST 13: HS512 (a 64-byte secret)
--- token eval: main::jwt(alg => 'HS512', iss => 'https://hmac.test/', claims => {sub => 'agent-HS512'})
--- accepted: agent-HS512 https://hmac.test/



=== TEST 14: a 32-byte secret verifies HS256
--- token eval: main::jwt(alg => 'HS256', key => $main::Secret32, iss => 'https://hmac32.test/', claims => {sub => 'agent-hs32'})
--- accepted: agent-hs32 https://hmac32.test/



=== TEST 15: a 32-byte secret does not verify HS384 (RFC 7518 3.2: at least the hash's size)
--- token eval: main::jwt(alg => 'HS384', key => $main::Secret32, iss => 'https://hmac32.test/')
--- refused: unknown key



=== TEST 16: a PEM public key (SubjectPublicKeyInfo), a token without kid
--- token eval: main::jwt(iss => 'https://pem-rsa.test/', kid => undef, claims => {sub => 'agent-pem'})
--- accepted: agent-pem https://pem-rsa.test/



=== TEST 17: a PEM key has no kid: a token naming one is verified with it
--- token eval: main::jwt(alg => 'PS256', iss => 'https://pem-rsa.test/', kid => 'any-kid', claims => {sub => 'agent-pem-kid'})
--- accepted: agent-pem-kid https://pem-rsa.test/



=== TEST 18: a PEM "RSA PUBLIC KEY" (PKCS#1)
--- token eval: main::jwt(alg => 'RS512', iss => 'https://pem-pkcs1.test/', claims => {sub => 'agent-pkcs1'})
--- accepted: agent-pkcs1 https://pem-pkcs1.test/



=== TEST 19: a PEM certificate
--- token eval: main::jwt(iss => 'https://pem-cert.test/', claims => {sub => 'agent-cert'})
--- accepted: agent-cert https://pem-cert.test/



=== TEST 20: a PEM EC key (P-384)
--- token eval: main::jwt(alg => 'ES384', iss => 'https://pem-ec.test/', kid => undef, claims => {sub => 'agent-pem-ec'})
--- accepted: agent-pem-ec https://pem-ec.test/



=== TEST 21: a PEM Ed25519 key
--- token eval: main::jwt(alg => 'EdDSA', iss => 'https://pem-ed.test/', claims => {sub => 'agent-pem-ed'})
--- accepted: agent-pem-ed https://pem-ed.test/



=== TEST 22: JWKS from a location (alias of a file), fetched with a subrequest
--- token eval: main::jwt(alg => 'ES512', iss => 'https://url.test/', claims => {sub => 'agent-url'})
--- accepted: agent-url https://url.test/



=== TEST 23: JWKS from a location proxying to the identity provider (the mock)
--- token eval: main::jwt(alg => 'ES256', iss => 'https://mock.test/', claims => {sub => 'agent-mock'})
--- accepted: agent-mock https://mock.test/



=== TEST 24: the provider's set has no key of this kid
--- token eval: main::jwt(iss => 'https://mock.test/')
--- refused: unknown key



=== TEST 25: a JWKS location that fails: no keys, logged
--- token eval: main::jwt(iss => 'https://broken.test/')
--- refused: unknown key
--- error_log
foundry: the key set of "https://broken.test/" from "/_jwks/broken" failed: the key set location did not answer 200, no token of the issuer can be verified



=== TEST 26: a JWKS location with only a 1024-bit RSA key: no usable key
--- token eval: main::jwt(iss => 'https://weak.test/', key => 'rsa1024')
--- refused: unknown key
--- error_log
foundry: the key set of "https://weak.test/" from "/_jwks/weak" failed: the key set has no usable key, no token of the issuer can be verified



=== TEST 27: a JWKS location answering broken JSON
--- token eval: main::jwt(iss => 'https://garbage.test/')
--- refused: unknown key
--- error_log eval
qr/foundry: the key set of "https:\/\/garbage\.test\/" from "\/_jwks\/garbage" failed: .+, no token of the issuer can be verified/



=== TEST 28: "alg": "none" without a signature
--- token eval: main::raw_jwt({alg => 'none', typ => 'JWT'}, main::claims(), '')
--- refused: malformed token



=== TEST 29: "alg": "none" with a signature
--- token eval: main::raw_jwt({alg => 'none'}, main::claims(), 'sig')
--- refused: unsupported algorithm



=== TEST 30: "alg": "None"
--- token eval: main::raw_jwt({alg => 'None', kid => 'rsa-1'}, main::claims(), 'sig')
--- refused: unsupported algorithm



=== TEST 31: "alg": "NONE"
--- token eval: main::raw_jwt({alg => 'NONE'}, main::claims(), 'sig')
--- refused: unsupported algorithm



=== TEST 32: "alg": "nOnE"
--- token eval: main::raw_jwt({alg => 'nOnE'}, main::claims(), 'sig')
--- refused: unsupported algorithm



=== TEST 33: algorithm names are case-sensitive: "rs256"
--- token eval
my $h = {alg => 'rs256', kid => 'rsa-1'};
my $in = main::b64u(main::json($h)) . '.' . main::b64u(main::claims());
$in . '.' . main::b64u(main::sign('RS256', 'rsa', $in))
--- refused: unsupported algorithm



=== TEST 34: an unknown algorithm (ES256K)
--- token eval: main::raw_jwt({alg => 'ES256K', kid => 'ec-256'}, main::claims(), 'x' x 64)
--- refused: unsupported algorithm



=== TEST 35: no "alg"
--- token eval: main::raw_jwt({kid => 'rsa-1', typ => 'JWT'}, main::claims(), 'x' x 256)
--- refused: malformed token



=== TEST 36: algorithm confusion: HS256 with the RSA public key PEM as the secret (PEM issuer)
--- token eval
open my $fh, '<', "$ENV{TEST_NGINX_TOKENS_DIR}/rsa.pem" or die $!;
my $pem = do { local $/; <$fh> };
main::jwt(alg => 'HS256', key => $pem, iss => 'https://pem-rsa.test/')
--- refused: unknown key



=== TEST 37: algorithm confusion: HS256 with the JWK's PEM, naming the RSA kid
--- token eval
main::jwt(alg => 'HS256', kid => 'rsa-1',
          key => $main::Key{rsa}->export_key_pem('public_x509'))
--- refused: unknown key



=== TEST 38: alg/key mismatch: ES256 naming an RSA key
--- token eval: main::jwt(alg => 'ES256', kid => 'rsa-1')
--- refused: unknown key



=== TEST 39: alg/key mismatch: ES384 naming the P-256 key (curve)
--- token eval: main::jwt(alg => 'ES384', key => 'ec256')
--- refused: unknown key



=== TEST 40: alg/key mismatch: RS256 naming the Ed25519 key
--- token eval: main::jwt(alg => 'RS256', kid => 'ed-1')
--- refused: unknown key



=== TEST 41: alg/key mismatch: EdDSA for an EC PEM issuer
--- token eval: main::jwt(alg => 'EdDSA', iss => 'https://pem-ec.test/')
--- refused: unknown key



=== TEST 42: alg/key mismatch: an HMAC token for an RSA PEM issuer, signed with the secret
--- token eval: main::jwt(alg => 'HS256', iss => 'https://pem-rsa.test/')
--- refused: unknown key



=== TEST 43: an RSA key of 1024 bits in the JWKS is skipped
--- token eval: main::jwt(key => 'rsa1024')
--- refused: unknown key



=== TEST 44: an RSA key of 1024 bits as a PEM: nginx -t fails
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://weak.test/ audience=api://foundry-gateway
                           pem=$TEST_NGINX_TOKENS_DIR/rsa1024.pem;
})
--- must_die
--- error_log eval
qr/invalid PEM key file "[^"]+rsa1024\.pem": RSA key shorter than 2048 bits/



=== TEST 45: a JWKS file with only a 1024-bit key: nginx -t fails
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://weak.test/ audience=api://foundry-gateway
                           jwks_file=$TEST_NGINX_TOKENS_DIR/jwks-1024.json;
})
--- must_die
--- error_log eval
qr/JWKS file "[^"]+jwks-1024\.json" has no usable key \(1 skipped\)/



=== TEST 46: a private key as the PEM: nginx -t fails
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://x.test/ audience=api://foundry-gateway
                           pem=$TEST_NGINX_TOKENS_DIR/rsa-private.pem;
})
--- must_die
--- error_log eval
qr/invalid PEM key file "[^"]+rsa-private\.pem": a private key, not a public key/



=== TEST 47: a secret under 32 bytes: nginx -t fails
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://x.test/ audience=api://foundry-gateway
                           secret=0123456789abcdef0123456789abcde;
})
--- must_die
--- error_log
invalid "secret=" in "foundry_jwt_issuer" directive: secret shorter than 32 bytes



=== TEST 48: jwks= needs foundry_jwt_zone
--- http_config
    upstream mock {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT;
    }

    foundry_upstream oai kind=openai url=http://mock bearer=upstream-token;
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://url.test/ audience=api://foundry-gateway
                           jwks=/_jwks/file;
})
--- must_die
--- error_log
issuer "https://url.test/" fetches its keys from "/_jwks/file": "foundry_jwt_zone" is needed



=== TEST 49: an issuer needs an audience
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://x.test/ secret=$TEST_NGINX_TOKENS_SECRET;
})
--- must_die
--- error_log
"foundry_jwt_issuer" directive needs "audience="



=== TEST 50: expired
--- token eval: main::jwt(claims => {iat => time - 7200, nbf => time - 7200, exp => time - 3600})
--- refused: token expired



=== TEST 51: expired 10 minutes ago: beyond the default leeway (60s)
--- token eval: main::jwt(claims => {iat => time - 3600, nbf => time - 3600, exp => time - 600})
--- refused: token expired



=== TEST 52: expired 10 minutes ago, within foundry_jwt_leeway 15m
--- config eval: main::gateway(extra => 'foundry_jwt_leeway 15m;')
--- token eval: main::jwt(claims => {sub => 'late', iat => time - 3600, nbf => time - 3600, exp => time - 600})
--- accepted: late https://file.test/



=== TEST 53: expired 30 s ago, with foundry_jwt_leeway 0
--- config eval: main::gateway(extra => 'foundry_jwt_leeway 0s;')
--- token eval: main::jwt(claims => {iat => time - 3600, nbf => time - 3600, exp => time - 30})
--- refused: token expired



=== TEST 54: not yet valid (nbf in an hour)
--- token eval: main::jwt(claims => {nbf => time + 3600})
--- refused: token not valid yet



=== TEST 55: nbf 30 s ahead: within the default leeway
--- token eval: main::jwt(claims => {sub => 'early', nbf => time + 30})
--- accepted: early https://file.test/



=== TEST 56: nbf 10 minutes ahead, with foundry_jwt_leeway 0
--- config eval: main::gateway(extra => 'foundry_jwt_leeway 0s;')
--- token eval: main::jwt(claims => {nbf => time + 600})
--- refused: token not valid yet



=== TEST 57: nbf 10 minutes ahead, within foundry_jwt_leeway 15m
--- config eval: main::gateway(extra => 'foundry_jwt_leeway 15m;')
--- token eval: main::jwt(claims => {sub => 'early', nbf => time + 600})
--- accepted: early https://file.test/



=== TEST 58: no exp
--- token eval: main::jwt(claims => {exp => undef})
--- refused: token without expiry



=== TEST 59: foundry_jwt_max_age: issued an hour ago
--- config eval: main::gateway(extra => 'foundry_jwt_max_age 10m;')
--- token eval: main::jwt(claims => {iat => time - 3600})
--- refused: token too old



=== TEST 60: foundry_jwt_max_age: issued just now
--- config eval: main::gateway(extra => 'foundry_jwt_max_age 10m;')
--- token eval: main::jwt(claims => {sub => 'fresh', iat => time})
--- accepted: fresh https://file.test/



=== TEST 61: foundry_jwt_max_age: no iat
--- config eval: main::gateway(extra => 'foundry_jwt_max_age 10m;')
--- token eval: main::jwt(claims => {iat => undef})
--- refused: token too old



=== TEST 62: an issuer not configured
--- token eval: main::jwt(iss => 'https://other.test/')
--- refused: wrong issuer



=== TEST 63: the issuer is compared exactly (no trailing slash)
--- token eval: main::jwt(iss => 'https://file.test')
--- refused: wrong issuer



=== TEST 64: the issuer is compared exactly (case)
--- token eval: main::jwt(iss => 'https://FILE.test/')
--- refused: wrong issuer



=== TEST 65: no iss
--- token eval: main::jwt(claims => {iss => undef})
--- refused: wrong issuer



=== TEST 66: a wrong audience (string)
--- token eval: main::jwt(claims => {aud => 'api://another'})
--- refused: wrong audience



=== TEST 67: a wrong audience (array)
--- token eval: main::jwt(claims => {aud => ['api://another', 'api://third']})
--- refused: wrong audience



=== TEST 68: an array with the right audience
--- token eval: main::jwt(claims => {sub => 'aud-array', aud => ['api://another', 'api://foundry-gateway']})
--- accepted: aud-array https://file.test/



=== TEST 69: the issuer's second audience=
--- token eval: main::jwt(claims => {sub => 'aud-second', aud => 'api://second'})
--- accepted: aud-second https://file.test/



=== TEST 70: no aud
--- token eval: main::jwt(claims => {aud => undef})
--- refused: wrong audience



=== TEST 71: audiences are compared exactly (case)
--- token eval: main::jwt(claims => {aud => 'API://foundry-gateway'})
--- refused: wrong audience



=== TEST 72: an audience of another issuer does not count
--- token eval: main::jwt(claims => {aud => 'api://second'}, alg => 'HS256', iss => 'https://hmac.test/')
--- refused: wrong audience



=== TEST 73: foundry_jwt_claim equals: the claim is there
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval: main::jwt(claims => {sub => 'tid-ok', tid => 'tenant-1'})
--- accepted: tid-ok https://file.test/
--- response_headers
X-Sub: tid-ok
X-Tid: tenant-1



=== TEST 74: foundry_jwt_claim equals: another value
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval: main::jwt(claims => {tid => 'tenant-2'})
--- refused: wrong claim



=== TEST 75: foundry_jwt_claim equals: missing
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval: main::jwt()
--- refused: missing claim



=== TEST 76: foundry_jwt_claim equals: case matters
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval: main::jwt(claims => {tid => 'TENANT-1'})
--- refused: wrong claim



=== TEST 77: foundry_jwt_claim equals nocase
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1 nocase;')
--- token eval: main::jwt(claims => {sub => 'nocase', tid => 'TENANT-1'})
--- accepted: nocase https://file.test/



=== TEST 78: foundry_jwt_claim equals: a number claim
--- config eval: main::gateway(extra => 'foundry_jwt_claim ver equals=2;')
--- token eval: main::jwt(claims => {sub => 'ver2', ver => 2})
--- accepted: ver2 https://file.test/



=== TEST 79: foundry_jwt_claim equals: a boolean claim
--- config eval: main::gateway(extra => 'foundry_jwt_claim trusted equals=true;')
--- token eval: main::jwt(claims => {sub => 'bool', trusted => JSON::PP::true})
--- accepted: bool https://file.test/



=== TEST 80: foundry_jwt_claim equals: the boolean false
--- config eval: main::gateway(extra => 'foundry_jwt_claim trusted equals=true;')
--- token eval: main::jwt(claims => {trusted => JSON::PP::false})
--- refused: wrong claim



=== TEST 81: foundry_jwt_claim equals: an array claim is not a string
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval: main::jwt(claims => {tid => ['tenant-1']})
--- refused: wrong claim



=== TEST 82: foundry_jwt_claim one_of: one of them
--- config eval: main::gateway(extra => 'foundry_jwt_claim appid one_of=app-a,app-b,app-c;')
--- token eval: main::jwt(claims => {sub => 'app-b', appid => 'app-b'})
--- accepted: app-b https://file.test/



=== TEST 83: foundry_jwt_claim one_of: none of them
--- config eval: main::gateway(extra => 'foundry_jwt_claim appid one_of=app-a,app-b,app-c;')
--- token eval: main::jwt(claims => {appid => 'app-d'})
--- refused: wrong claim



=== TEST 84: foundry_jwt_claim one_of: not a prefix of the list
--- config eval: main::gateway(extra => 'foundry_jwt_claim appid one_of=app-a,app-b,app-c;')
--- token eval: main::jwt(claims => {appid => 'app-a,app-b'})
--- refused: wrong claim



=== TEST 85: foundry_jwt_claim one_of nocase
--- config eval: main::gateway(extra => 'foundry_jwt_claim appid one_of=app-a,app-b nocase;')
--- token eval: main::jwt(claims => {sub => 'APP-B', appid => 'APP-B'})
--- accepted: APP-B https://file.test/



=== TEST 86: foundry_jwt_claim contains: the role is in the array
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke;')
--- token eval: main::jwt(claims => {sub => 'invoker', roles => ['Reader', 'Models.Invoke']})
--- accepted: invoker https://file.test/
--- response_headers
X-Sub: invoker
X-Roles: Reader,Models.Invoke



=== TEST 87: foundry_jwt_claim contains: not in the array
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke;')
--- token eval: main::jwt(claims => {roles => ['Reader', 'Models.Invoke.All']})
--- refused: wrong claim



=== TEST 88: foundry_jwt_claim contains: case matters
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke;')
--- token eval: main::jwt(claims => {roles => ['models.invoke']})
--- refused: wrong claim



=== TEST 89: foundry_jwt_claim contains nocase
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke nocase;')
--- token eval: main::jwt(claims => {sub => 'lower', roles => ['models.invoke']})
--- accepted: lower https://file.test/



=== TEST 90: foundry_jwt_claim contains: a string claim is not an array
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke;')
--- token eval: main::jwt(claims => {roles => 'Models.Invoke'})
--- refused: wrong claim



=== TEST 91: foundry_jwt_claim contains: missing
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke;')
--- token eval: main::jwt()
--- refused: missing claim



=== TEST 92: every foundry_jwt_claim must hold
--- config eval
main::gateway(extra => q{
        foundry_jwt_claim tid equals=tenant-1;
        foundry_jwt_claim roles contains=Models.Invoke;
})
--- token eval: main::jwt(claims => {tid => 'tenant-1', roles => ['Reader']})
--- refused: wrong claim



=== TEST 93: a kid the set does not have
--- token eval: main::jwt(kid => 'rsa-9')
--- refused: unknown key



=== TEST 94: no kid, and two RSA keys in the set: ambiguous
--- token eval: main::jwt(kid => undef)
--- refused: unknown key



=== TEST 95: no kid, and one Ed25519 key in the set
--- token eval: main::jwt(alg => 'EdDSA', kid => undef, claims => {sub => 'ed-nokid'})
--- accepted: ed-nokid https://file.test/



=== TEST 96: signed by another key under a published kid
--- token eval: main::jwt(key => $main::Other{rsa}, kid => 'rsa-1')
--- refused: invalid signature



=== TEST 97: signed by another key under a published kid (Ed25519)
--- token eval: main::jwt(alg => 'EdDSA', key => $main::Other{ed}, kid => 'ed-1')
--- refused: invalid signature



=== TEST 98: signed by the second RSA key, naming the first
--- token eval: main::jwt(key => 'rsa2', kid => 'rsa-1')
--- refused: invalid signature



=== TEST 99: a tampered payload (another sub)
--- token eval
my ($h, $p, $s) = split /\./, main::jwt(claims => {sub => 'agent-1'});
"$h." . main::b64u(main::claims(sub => 'admin')) . ".$s"
--- refused: invalid signature



=== TEST 100: a tampered payload (ES256)
--- token eval
my ($h, $p, $s) = split /\./, main::jwt(alg => 'ES256');
"$h." . main::b64u(main::claims(exp => $main::Now + 86400 * 365)) . ".$s"
--- refused: invalid signature



=== TEST 101: a tampered header (RS256 changed to PS256)
--- token eval
my ($h, $p, $s) = split /\./, main::jwt(alg => 'RS256');
main::b64u(main::json({alg => 'PS256', kid => 'rsa-1', typ => 'JWT'})) . ".$p.$s"
--- refused: invalid signature



=== TEST 102: a truncated signature (4 bytes less)
--- token eval
my $t = main::jwt();
substr $t, 0, -6
--- refused: invalid signature



=== TEST 103: a truncated token (header and payload only)
--- token eval
my ($h, $p) = split /\./, main::jwt();
"$h.$p"
--- refused: malformed token



=== TEST 104: a truncated token (empty signature)
--- token eval
my ($h, $p) = split /\./, main::jwt();
"$h.$p."
--- refused: malformed token



=== TEST 105: a truncated token (cut in the payload)
--- token eval
my $t = main::jwt();
substr $t, 0, index($t, '.') + 40
--- refused: malformed token



=== TEST 106: a token of exactly 16 KB is accepted
--- token eval: main::sized(16384)
--- accepted: size-16384 https://file.test/



=== TEST 107: a token of 16 KB and one byte is refused
--- token eval: main::sized(16385)
--- refused: token too large



=== TEST 108: a 20 KB token
--- token eval: main::jwt(claims => {pad => 'x' x 15000})
--- refused: token too large



=== TEST 109: base64 padding ("=") in the header
--- token eval
my ($h, $p, $s) = split /\./, main::jwt();
$h .= '=' x (4 - length($h) % 4) if length($h) % 4;
"$h.$p.$s"
--- refused: malformed token



=== TEST 110: standard base64 ("+") in the signature
--- token eval
my ($h, $p, $s) = split /\./, main::jwt();
$s =~ s/^./+/;
"$h.$p.$s"
--- refused: malformed token



=== TEST 111: standard base64 ("/") in the payload
--- token eval
my ($h, $p, $s) = split /\./, main::jwt();
substr($p, 10, 1) = '/';
"$h.$p.$s"
--- refused: malformed token



=== TEST 112: a non-canonical base64url end (unused bits set)
--- token eval
my $t = main::jwt(alg => 'EdDSA');
my ($h, $p, $s) = split /\./, $t;
# 64 bytes: 86 characters, the last one carrying 4 unused bits
my $last = substr $s, -1;
my $alpha = CORE::join '', 'A' .. 'Z', 'a' .. 'z', 0 .. 9, '-', '_';
my $i = index $alpha, $last;
substr($s, -1) = substr $alpha, $i | 1, 1;
"$h.$p.$s"
--- refused: malformed token



=== TEST 113: ES256 with a DER signature
--- token eval
my $h = {alg => 'ES256', kid => 'ec-256', typ => 'JWT'};
main::signed_jwt('ES256', 'ec256', $h, main::claims(), 1)
--- refused: invalid signature



=== TEST 114: ES256 with the raw signature made by hand (the DER test's control)
--- token eval
my $h = {alg => 'ES256', kid => 'ec-256', typ => 'JWT'};
main::signed_jwt('ES256', 'ec256', $h, main::claims(sub => 'raw-es'))
--- accepted: raw-es https://file.test/



=== TEST 115: a "crit" header
--- token eval
my $h = {alg => 'RS256', kid => 'rsa-1', crit => ['exp'], typ => 'JWT'};
main::signed_jwt('RS256', 'rsa', $h, main::claims())
--- refused: unsupported header parameter



=== TEST 116: "b64": false (RFC 7797)
--- token eval
my $h = {alg => 'RS256', kid => 'rsa-1', b64 => JSON::PP::false, crit => ['b64']};
main::signed_jwt('RS256', 'rsa', $h, main::claims())
--- refused: unsupported header parameter



=== TEST 117: a JWE-shaped token (5 parts)
--- token eval
CORE::join '.', main::b64u(main::json({alg => 'RSA-OAEP', enc => 'A256GCM', kid => 'rsa-1'})),
          main::b64u('k' x 256), main::b64u('iv' x 6), main::b64u('ciphertext'),
          main::b64u('t' x 16)
--- refused: malformed token



=== TEST 118: a header that is not JSON
--- token eval: main::raw_jwt('{"alg":"RS256",', main::claims(), 'x' x 256)
--- refused: malformed token



=== TEST 119: a payload that is not a JSON object
--- token eval
my $h = {alg => 'RS256', kid => 'rsa-1'};
main::signed_jwt('RS256', 'rsa', $h, '["iss"]')
--- refused: malformed token



=== TEST 120: exp as a string
--- token eval
my $h = {alg => 'RS256', kid => 'rsa-1'};
main::signed_jwt('RS256', 'rsa', $h, main::claims(exp => '9999999999'))
--- refused: malformed token



=== TEST 121: no token at all
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: no credential was sent","type":"authentication_error"}}



=== TEST 122: another scheme (Basic) is no token
--- more_headers
Authorization: Basic YWdlbnQ6c2VjcmV0
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: no credential was sent","type":"authentication_error"}}



=== TEST 123: "Bearer" with nothing after it
--- more_headers
Authorization: Bearer
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: no credential was sent","type":"authentication_error"}}



=== TEST 124: a bearer value that is no JWT
--- more_headers
Authorization: Bearer not-a-jwt
--- refused: malformed token



=== TEST 125: the scheme is case-insensitive
--- more_headers eval
"Authorization: bearer " . main::jwt(claims => {sub => 'lower-scheme'})
--- accepted: lower-scheme https://file.test/



=== TEST 126: Entra ID: a v1 token of the project's managed identity
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra()
--- response_headers eval
"X-Sub: mi-oid\nX-Iss: https://sts.windows.net/$main::Tenant/\nX-Tid: $main::Tenant\n"
--- response_body_like: "id":"gpt-4o-mini"



=== TEST 127: Entra ID: a v2 token
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(iss => "https://login.microsoftonline.com/$main::Tenant/v2.0")
--- response_headers eval
"X-Sub: mi-oid\nX-Iss: https://login.microsoftonline.com/$main::Tenant/v2.0\n"
--- response_body_like: "id":"gpt-4o-mini"



=== TEST 128: Entra ID: xms_mirid in another case
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(xms_mirid => lc $main::Project, sub => 'lower-mirid')
--- response_headers
X-Sub: lower-mirid
--- response_body_like: "id":"gpt-4o-mini"



=== TEST 129: Entra ID: another project of the tenant
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval
(my $other = $main::Project) =~ s/agents$/other/;
main::entra(xms_mirid => $other)
--- refused: wrong claim



=== TEST 130: Entra ID: no xms_mirid
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(xms_mirid => undef)
--- refused: missing claim



=== TEST 131: Entra ID: another tenant (v1)
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(iss => 'https://sts.windows.net/99999999-2222-3333-4444-555555555555/')
--- refused: wrong issuer



=== TEST 132: Entra ID: another tenant (v2)
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(iss => 'https://login.microsoftonline.com/99999999-2222-3333-4444-555555555555/v2.0')
--- refused: wrong issuer



=== TEST 133: Entra ID: a token for another resource
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra(aud => 'https://management.azure.com')
--- refused: wrong audience



=== TEST 134: Entra ID: audience= replaces Azure AI services'
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      audience=api://my-gateway;
})
--- token eval: main::entra(aud => 'api://my-gateway', sub => 'custom-aud', xms_mirid => undef)
--- response_headers
X-Sub: custom-aud
--- response_body_like: "id":"gpt-4o-mini"



=== TEST 135: Entra ID: audience= replaces it: the default one is refused
--- config eval
main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      audience=api://my-gateway;
})
--- token eval: main::entra()
--- refused: wrong audience



=== TEST 136: key or token: a key wins when present, even with a bad token
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



=== TEST 137: key or token: a token when no key is present
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



=== TEST 138: key or token: a key as a bearer (not a JWT) is a key
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



=== TEST 139: key or token: a bad key with a good token is judged by the key
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



=== TEST 140: key or token: neither
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



=== TEST 141: key or token: a bad token and no key
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



=== TEST 142: foundry_auth token: a key is not looked at
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



=== TEST 143: token deployments: another deployment is a 403
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



=== TEST 144: token deployments: an allowed deployment
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



=== TEST 145: token deployments: discovery lists only the allowed ones
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



=== TEST 146: token deployments: another deployment does not exist for it
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



=== TEST 147: token deployments: a regex rule
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



=== TEST 148: token deployments: a string claim
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



=== TEST 149: token deployments: a token of no rule may use nothing
--- config eval
main::gateway(extra => q{
        foundry_jwt_deployments claim=roles value=mini-users
                                deployments=gpt-4o-mini;
})
--- token eval: main::jwt(claims => {roles => ['Mini-Users']})
--- response_body chomp
{"object":"list","data":[]}



=== TEST 150: variables: sub, iss, and an array claim joined by ","
--- token eval: main::jwt(alg => 'ES384', claims => {sub => 'var-agent', roles => ['reader', 'writer', 'Models.Invoke'], tid => 'tenant-x'})
--- response_headers
X-Sub: var-agent
X-Iss: https://file.test/
X-Roles: reader,writer,Models.Invoke
X-Tid: tenant-x



=== TEST 151: variables: a token without sub, a number claim, a missing claim
--- config eval
main::gateway(extra => q{
        add_header X-Ver "[$foundry_jwt_claim_ver]" always;
        add_header X-Missing "[$foundry_jwt_claim_nothing]" always;
})
--- token eval: main::jwt(claims => {sub => undef, ver => 2})
--- response_headers
!X-Sub
X-Iss: https://file.test/
X-Ver: [2]
X-Missing: []



=== TEST 152: the client's token never reaches the upstream, nor the error log
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers eval
"Authorization: Bearer " . main::tok('echoed', claims => {sub => 'echo'}) . "\nx-mock-echo: 1"
--- response_headers
X-Sub: echo
--- response_body_like eval
my $sig = (split /\./, main::tok('echoed'))[2];
'\A(?!.*' . quotemeta($sig) . ').*"authorization":"Bearer upstream-token"'
--- no_error_log eval
my $sig = (split /\./, main::tok('echoed'))[2];
[qr/^(?!.*http header: ).*\Q$sig\E/]



=== TEST 153: a refused token is not in the error log either
--- token eval: main::tok('refused-log', claims => {aud => 'api://another'})
--- refused: wrong audience
--- no_error_log eval
my ($h, $p, $s) = split /\./, main::tok('refused-log');
[qr/^(?!.*http header: ).*\Q$p\E/, qr/^(?!.*http header: ).*\Q$s\E/]



=== TEST 154: the same bad token twice: refused twice, for the same reason
--- pipelined_requests eval
["GET /v1/models", "GET /v1/models"]
--- more_headers eval
"Authorization: Bearer " . main::tok('twice', key => $main::Other{rsa}, kid => 'rsa-1')
--- error_code eval
[401, 401]
--- response_headers eval
[("WWW-Authenticate: Bearer error=\"invalid_token\", error_description=\"invalid signature\"\n!X-Sub\n") x 2]



=== TEST 155: the same good token twice on one connection (remembered: t/061)
--- pipelined_requests eval
["GET /v1/models", "GET /v1/models"]
--- more_headers eval
"Authorization: Bearer " . main::tok('twice-good', claims => {sub => 'twice'})
--- response_headers eval
[("X-Sub: twice\nX-Iss: https://file.test/\n") x 2]



=== TEST 156: a JWK with "alg": "RS256" verifies RS256
--- token eval: main::jwt(iss => 'https://pinned.test/', claims => {sub => 'pinned'})
--- accepted: pinned https://pinned.test/



=== TEST 157: alg/key mismatch: a JWK with "alg": "RS256" does not verify PS256
--- token eval: main::jwt(alg => 'PS256', iss => 'https://pinned.test/')
--- refused: unknown key



=== TEST 158: a JWK with "use": "enc" is skipped
--- token eval: main::jwt(alg => 'ES256', iss => 'https://pinned.test/')
--- refused: unknown key



=== TEST 159: a JWK whose key_ops lack "verify" is skipped
--- token eval: main::jwt(alg => 'EdDSA', iss => 'https://pinned.test/')
--- refused: unknown key



=== TEST 160: a duplicate header member ("alg")
--- token eval
my $in = main::b64u('{"alg":"RS256","kid":"rsa-1","alg":"none"}') . '.'
         . main::b64u(main::claims());
$in . '.' . main::b64u(main::sign('RS256', 'rsa', $in))
--- refused: malformed token



=== TEST 161: a duplicate claim ("aud")
--- token eval
(my $p = main::claims()) =~ s/^\{/{"aud":"api:\/\/another",/;
main::signed_jwt('RS256', 'rsa', {alg => 'RS256', kid => 'rsa-1'}, $p)
--- refused: malformed token



=== TEST 162: a duplicate claim checked by foundry_jwt_claim ("tid")
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval
(my $p = main::claims(tid => 'tenant-1')) =~ s/^\{/{"tid":"tenant-2",/;
main::signed_jwt('RS256', 'rsa', {alg => 'RS256', kid => 'rsa-1'}, $p)
--- refused: malformed token



=== TEST 163: "typ": "at+jwt" (RFC 9068 access tokens)
--- token eval: main::jwt(headers => {typ => 'at+jwt'}, claims => {sub => 'at-jwt'})
--- accepted: at-jwt https://file.test/



=== TEST 164: a NumericDate with a fraction
--- token eval: main::jwt(claims => {sub => 'fraction', exp => $main::Now + 3600.5, iat => $main::Now + 0.25})
--- accepted: fraction https://file.test/



=== TEST 165: variables: an object claim is its JSON, an array of other values their text
--- config eval
main::gateway(extra => q{
        add_header X-Obj $foundry_jwt_claim_obj always;
        add_header X-Mixed $foundry_jwt_claim_mixed always;
        add_header X-Nested $foundry_jwt_claim_nested always;
})
--- token eval
my $p = main::claims(sub => 'vars');
$p =~ s/^\{/{"obj":{"a":1,"b":[true,"x"]},"mixed":[1,2.5,true,null,"s"],"nested":[[1,2],{"k":"v"}],/;
main::signed_jwt('RS256', 'rsa', {alg => 'RS256', kid => 'rsa-1'}, $p)
--- response_headers
X-Sub: vars
X-Obj: {"a":1,"b":[true,"x"]}
X-Mixed: 1,2.5,true,null,s
X-Nested: [1,2],{"k":"v"}



=== TEST 166: a server-level foundry_jwt_claim holds in a location with foundry_entra
--- config eval
"    foundry_jwt_claim roles contains=Gateway.Invoke;\n"
. main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file;
})
--- token eval: main::entra()
--- refused: missing claim



=== TEST 167: ... and with foundry_entra project=: the project's rule is the issuers', the inherited claims still hold
--- config eval
"    foundry_jwt_claim roles contains=Gateway.Invoke;\n"
. main::gateway(auth => qq{
        foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                      "project=$main::Project";
})
--- token eval: main::entra()
--- refused: missing claim



=== TEST 167b: foundry_entra project= at server level, foundry_jwt_claim in the location: the project still holds
--- config eval
qq{    foundry_entra tenant=$main::Tenant jwks=/_jwks/file
                  "project=$main::Project/other";
} . main::gateway(auth => q{
        foundry_jwt_claim roles contains=Gateway.Invoke;
})
--- token eval: main::entra(roles => ['Gateway.Invoke'])
--- refused: wrong claim



=== TEST 168: a server-level claim and foundry_entra project=, with the role
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



=== TEST 169: without foundry_jwt_zone no token is remembered: the same token again is verified again
--- http_config
    upstream mock {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT;
        keepalive 4;
    }

    foundry_upstream oai kind=openai url=http://mock bearer=upstream-token;
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://file.test/ audience=api://foundry-gateway
                           jwks_file=$TEST_NGINX_TOKENS_DIR/jwks.json;
})
--- request eval
["GET /v1/models", "GET /v1/models", "GET /v1/models"]
--- more_headers eval
"Authorization: Bearer " . main::tok('unremembered', claims => {sub => 'no-zone'})
--- error_code eval
[200, 200, 200]
--- response_headers eval
[("X-Sub: no-zone\n") x 3]
--- error_log
foundry: token of "https://file.test/" accepted
--- no_error_log
accepted (remembered)
