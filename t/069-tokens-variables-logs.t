# Bearer tokens (JWTs): the variables ($foundry_jwt_sub, $foundry_jwt_iss,
# $foundry_jwt_claim_*), that a client's token never reaches the upstream
# nor the error log (accepted or refused), the same token twice on one
# connection (refused twice; accepted twice), and that without
# foundry_jwt_zone a token is verified again each time.
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

=== TEST 1: variables: sub, iss, and an array claim joined by ","
--- token eval: main::jwt(alg => 'ES384', claims => {sub => 'var-agent', roles => ['reader', 'writer', 'Models.Invoke'], tid => 'tenant-x'})
--- response_headers
X-Sub: var-agent
X-Iss: https://file.test/
X-Roles: reader,writer,Models.Invoke
X-Tid: tenant-x



=== TEST 2: variables: a token without sub, a number claim, a missing claim
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



=== TEST 3: the client's token never reaches the upstream, nor the error log
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
[qr/\Q$sig\E/]



=== TEST 4: a refused token is not in the error log either
--- token eval: main::tok('refused-log', claims => {aud => 'api://another'})
--- refused: wrong audience
--- no_error_log eval
my ($h, $p, $s) = split /\./, main::tok('refused-log');
[qr/\Q$p\E/, qr/\Q$s\E/]



=== TEST 5: the same bad token twice: refused twice, for the same reason
--- pipelined_requests eval
["GET /v1/models", "GET /v1/models"]
--- more_headers eval
"Authorization: Bearer " . main::tok('twice', key => $main::Other{rsa}, kid => 'rsa-1')
--- error_code eval
[401, 401]
--- response_headers eval
[("WWW-Authenticate: Bearer error=\"invalid_token\", error_description=\"invalid signature\"\n!X-Sub\n") x 2]



=== TEST 6: the same good token twice on one connection (remembered: t/061)
--- pipelined_requests eval
["GET /v1/models", "GET /v1/models"]
--- more_headers eval
"Authorization: Bearer " . main::tok('twice-good', claims => {sub => 'twice'})
--- response_headers eval
[("X-Sub: twice\nX-Iss: https://file.test/\n") x 2]



=== TEST 7: variables: an object claim is its JSON, an array of other values their text
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



=== TEST 8: without foundry_jwt_zone no token is remembered: the same token again is verified again
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
