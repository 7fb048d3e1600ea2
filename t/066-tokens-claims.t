# Bearer tokens (JWTs): the registered claims -- exp, nbf and
# foundry_jwt_leeway, iat and foundry_jwt_max_age, iss compared exactly,
# aud (a string, an array, the issuer's audiences) -- and foundry_jwt_claim
# (equals, one_of, contains, nocase, every rule must hold, a duplicate
# claim); a NumericDate with a fraction.
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

=== TEST 1: expired
--- token eval: main::jwt(claims => {iat => time - 7200, nbf => time - 7200, exp => time - 3600})
--- refused: token expired



=== TEST 2: expired 10 minutes ago: beyond the default leeway (60s)
--- token eval: main::jwt(claims => {iat => time - 3600, nbf => time - 3600, exp => time - 600})
--- refused: token expired



=== TEST 3: expired 10 minutes ago, within foundry_jwt_leeway 15m
--- config eval: main::gateway(extra => 'foundry_jwt_leeway 15m;')
--- token eval: main::jwt(claims => {sub => 'late', iat => time - 3600, nbf => time - 3600, exp => time - 600})
--- accepted: late https://file.test/



=== TEST 4: expired 30 s ago, with foundry_jwt_leeway 0
--- config eval: main::gateway(extra => 'foundry_jwt_leeway 0s;')
--- token eval: main::jwt(claims => {iat => time - 3600, nbf => time - 3600, exp => time - 30})
--- refused: token expired



=== TEST 5: not yet valid (nbf in an hour)
--- token eval: main::jwt(claims => {nbf => time + 3600})
--- refused: token not valid yet



=== TEST 6: nbf 30 s ahead: within the default leeway
--- token eval: main::jwt(claims => {sub => 'early', nbf => time + 30})
--- accepted: early https://file.test/



=== TEST 7: nbf 10 minutes ahead, with foundry_jwt_leeway 0
--- config eval: main::gateway(extra => 'foundry_jwt_leeway 0s;')
--- token eval: main::jwt(claims => {nbf => time + 600})
--- refused: token not valid yet



=== TEST 8: nbf 10 minutes ahead, within foundry_jwt_leeway 15m
--- config eval: main::gateway(extra => 'foundry_jwt_leeway 15m;')
--- token eval: main::jwt(claims => {sub => 'early', nbf => time + 600})
--- accepted: early https://file.test/



=== TEST 9: no exp
--- token eval: main::jwt(claims => {exp => undef})
--- refused: token without expiry



=== TEST 10: foundry_jwt_max_age: issued an hour ago
--- config eval: main::gateway(extra => 'foundry_jwt_max_age 10m;')
--- token eval: main::jwt(claims => {iat => time - 3600})
--- refused: token too old



=== TEST 11: foundry_jwt_max_age: issued just now
--- config eval: main::gateway(extra => 'foundry_jwt_max_age 10m;')
--- token eval: main::jwt(claims => {sub => 'fresh', iat => time})
--- accepted: fresh https://file.test/



=== TEST 12: foundry_jwt_max_age: no iat
--- config eval: main::gateway(extra => 'foundry_jwt_max_age 10m;')
--- token eval: main::jwt(claims => {iat => undef})
--- refused: token too old



=== TEST 13: an issuer not configured
--- token eval: main::jwt(iss => 'https://other.test/')
--- refused: wrong issuer



=== TEST 14: the issuer is compared exactly (no trailing slash)
--- token eval: main::jwt(iss => 'https://file.test')
--- refused: wrong issuer



=== TEST 15: the issuer is compared exactly (case)
--- token eval: main::jwt(iss => 'https://FILE.test/')
--- refused: wrong issuer



=== TEST 16: no iss
--- token eval: main::jwt(claims => {iss => undef})
--- refused: wrong issuer



=== TEST 17: a wrong audience (string)
--- token eval: main::jwt(claims => {aud => 'api://another'})
--- refused: wrong audience



=== TEST 18: a wrong audience (array)
--- token eval: main::jwt(claims => {aud => ['api://another', 'api://third']})
--- refused: wrong audience



=== TEST 19: an array with the right audience
--- token eval: main::jwt(claims => {sub => 'aud-array', aud => ['api://another', 'api://foundry-gateway']})
--- accepted: aud-array https://file.test/



=== TEST 20: the issuer's second audience=
--- token eval: main::jwt(claims => {sub => 'aud-second', aud => 'api://second'})
--- accepted: aud-second https://file.test/



=== TEST 21: no aud
--- token eval: main::jwt(claims => {aud => undef})
--- refused: wrong audience



=== TEST 22: audiences are compared exactly (case)
--- token eval: main::jwt(claims => {aud => 'API://foundry-gateway'})
--- refused: wrong audience



=== TEST 23: an audience of another issuer does not count
--- token eval: main::jwt(claims => {aud => 'api://second'}, alg => 'HS256', iss => 'https://hmac.test/')
--- refused: wrong audience



=== TEST 24: foundry_jwt_claim equals: the claim is there
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval: main::jwt(claims => {sub => 'tid-ok', tid => 'tenant-1'})
--- accepted: tid-ok https://file.test/
--- response_headers
X-Sub: tid-ok
X-Tid: tenant-1



=== TEST 25: foundry_jwt_claim equals: another value
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval: main::jwt(claims => {tid => 'tenant-2'})
--- refused: wrong claim



=== TEST 26: foundry_jwt_claim equals: missing
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval: main::jwt()
--- refused: missing claim



=== TEST 27: foundry_jwt_claim equals: case matters
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval: main::jwt(claims => {tid => 'TENANT-1'})
--- refused: wrong claim



=== TEST 28: foundry_jwt_claim equals nocase
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1 nocase;')
--- token eval: main::jwt(claims => {sub => 'nocase', tid => 'TENANT-1'})
--- accepted: nocase https://file.test/



=== TEST 29: foundry_jwt_claim equals: a number claim
--- config eval: main::gateway(extra => 'foundry_jwt_claim ver equals=2;')
--- token eval: main::jwt(claims => {sub => 'ver2', ver => 2})
--- accepted: ver2 https://file.test/



=== TEST 30: foundry_jwt_claim equals: a boolean claim
--- config eval: main::gateway(extra => 'foundry_jwt_claim trusted equals=true;')
--- token eval: main::jwt(claims => {sub => 'bool', trusted => JSON::PP::true})
--- accepted: bool https://file.test/



=== TEST 31: foundry_jwt_claim equals: the boolean false
--- config eval: main::gateway(extra => 'foundry_jwt_claim trusted equals=true;')
--- token eval: main::jwt(claims => {trusted => JSON::PP::false})
--- refused: wrong claim



=== TEST 32: foundry_jwt_claim equals: an array claim is not a string
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval: main::jwt(claims => {tid => ['tenant-1']})
--- refused: wrong claim



=== TEST 33: foundry_jwt_claim one_of: one of them
--- config eval: main::gateway(extra => 'foundry_jwt_claim appid one_of=app-a,app-b,app-c;')
--- token eval: main::jwt(claims => {sub => 'app-b', appid => 'app-b'})
--- accepted: app-b https://file.test/



=== TEST 34: foundry_jwt_claim one_of: none of them
--- config eval: main::gateway(extra => 'foundry_jwt_claim appid one_of=app-a,app-b,app-c;')
--- token eval: main::jwt(claims => {appid => 'app-d'})
--- refused: wrong claim



=== TEST 35: foundry_jwt_claim one_of: not a prefix of the list
--- config eval: main::gateway(extra => 'foundry_jwt_claim appid one_of=app-a,app-b,app-c;')
--- token eval: main::jwt(claims => {appid => 'app-a,app-b'})
--- refused: wrong claim



=== TEST 36: foundry_jwt_claim one_of nocase
--- config eval: main::gateway(extra => 'foundry_jwt_claim appid one_of=app-a,app-b nocase;')
--- token eval: main::jwt(claims => {sub => 'APP-B', appid => 'APP-B'})
--- accepted: APP-B https://file.test/



=== TEST 37: foundry_jwt_claim contains: the role is in the array
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke;')
--- token eval: main::jwt(claims => {sub => 'invoker', roles => ['Reader', 'Models.Invoke']})
--- accepted: invoker https://file.test/
--- response_headers
X-Sub: invoker
X-Roles: Reader,Models.Invoke



=== TEST 38: foundry_jwt_claim contains: not in the array
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke;')
--- token eval: main::jwt(claims => {roles => ['Reader', 'Models.Invoke.All']})
--- refused: wrong claim



=== TEST 39: foundry_jwt_claim contains: case matters
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke;')
--- token eval: main::jwt(claims => {roles => ['models.invoke']})
--- refused: wrong claim



=== TEST 40: foundry_jwt_claim contains nocase
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke nocase;')
--- token eval: main::jwt(claims => {sub => 'lower', roles => ['models.invoke']})
--- accepted: lower https://file.test/



=== TEST 41: foundry_jwt_claim contains: a string claim is not an array
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke;')
--- token eval: main::jwt(claims => {roles => 'Models.Invoke'})
--- refused: wrong claim



=== TEST 42: foundry_jwt_claim contains: missing
--- config eval: main::gateway(extra => 'foundry_jwt_claim roles contains=Models.Invoke;')
--- token eval: main::jwt()
--- refused: missing claim



=== TEST 43: every foundry_jwt_claim must hold
--- config eval
main::gateway(extra => q{
        foundry_jwt_claim tid equals=tenant-1;
        foundry_jwt_claim roles contains=Models.Invoke;
})
--- token eval: main::jwt(claims => {tid => 'tenant-1', roles => ['Reader']})
--- refused: wrong claim



=== TEST 44: a duplicate claim checked by foundry_jwt_claim ("tid")
--- config eval: main::gateway(extra => 'foundry_jwt_claim tid equals=tenant-1;')
--- token eval
(my $p = main::claims(tid => 'tenant-1')) =~ s/^\{/{"tid":"tenant-2",/;
main::signed_jwt('RS256', 'rsa', {alg => 'RS256', kid => 'rsa-1'}, $p)
--- refused: malformed token



=== TEST 45: a NumericDate with a fraction
--- token eval: main::jwt(claims => {sub => 'fraction', exp => $main::Now + 3600.5, iat => $main::Now + 0.25})
--- accepted: fraction https://file.test/
