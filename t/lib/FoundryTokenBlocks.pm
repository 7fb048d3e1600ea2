package FoundryTokenBlocks;

# The blocks of the bearer-token tests t/064-tokens-algorithms.t ..
# t/069-tokens-variables-logs.t: their http{} and server{} and the
# shorthands of their sections ("use FoundryTokens; use FoundryTokenBlocks;"
# in the test file, then main::expand on every block and main::count for
# the plan).  The keys and tokens are FoundryTokens'.
#
# Shorthands of the blocks (expanded before the plan is counted, see
# main::expand below):
#
#   no --- request       GET /v1/models
#   no --- http_config   $main::Http: foundry_jwt_zone, the mock, "oai"
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
# log, nginx's own debug lines ("http header:") included.
#
# The functions are in main:: (the blocks' eval sections name them), and
# so are $main::Tenant, $main::Project, $main::Unauthorized, $main::Http.

use strict;
use warnings;

use FoundryConf;
use FoundryTokens;

our $Tenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
our $Project = '/subscriptions/00000000-0000-0000-0000-000000000000/'
    . 'resourceGroups/RG-Agents/providers/Microsoft.CognitiveServices/'
    . 'accounts/contoso/projects/agents';

our $Unauthorized = '{"error":{"code":"Unauthorized","message":'
    . '"access denied: the token is not valid",'
    . '"type":"authentication_error"}}';

# the http{} level of every block

our $Http = "    foundry_jwt_zone tokens:1m;\n\n"
    . FoundryConf::mock_http(oai => {bearer => 'upstream-token'});

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

    # no token in the log, nginx's own "http header:" debug lines included

    if (!defined $block->must_die) {
        my $pat = qr/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]/;

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

# the names the blocks use, in main::

{
    no warnings 'once';

    *main::Tenant = \$Tenant;
    *main::Project = \$Project;
    *main::Unauthorized = \$Unauthorized;
    *main::Http = \$Http;
}


1;
