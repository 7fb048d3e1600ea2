# Bearer tokens (JWTs): the shape of the token -- tampered and truncated
# tokens, the 16 KB size limit, base64url only (no padding, no standard
# alphabet, canonical ends), ES256 signatures raw R||S not DER, "crit",
# "b64", JWE-shaped tokens, headers and payloads that are not JSON objects,
# duplicate members, "typ" -- and the Authorization header itself (no
# token, another scheme, an empty bearer, a bearer that is no JWT, the
# scheme's case).
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

=== TEST 1: a tampered payload (another sub)
--- token eval
my ($h, $p, $s) = split /\./, main::jwt(claims => {sub => 'agent-1'});
"$h." . main::b64u(main::claims(sub => 'admin')) . ".$s"
--- refused: invalid signature



=== TEST 2: a tampered payload (ES256)
--- token eval
my ($h, $p, $s) = split /\./, main::jwt(alg => 'ES256');
"$h." . main::b64u(main::claims(exp => $main::Now + 86400 * 365)) . ".$s"
--- refused: invalid signature



=== TEST 3: a tampered header (RS256 changed to PS256)
--- token eval
my ($h, $p, $s) = split /\./, main::jwt(alg => 'RS256');
main::b64u(main::json({alg => 'PS256', kid => 'rsa-1', typ => 'JWT'})) . ".$p.$s"
--- refused: invalid signature



=== TEST 4: a truncated signature (4 bytes less)
--- token eval
my $t = main::jwt();
substr $t, 0, -6
--- refused: invalid signature



=== TEST 5: a truncated token (header and payload only)
--- token eval
my ($h, $p) = split /\./, main::jwt();
"$h.$p"
--- refused: malformed token



=== TEST 6: a truncated token (empty signature)
--- token eval
my ($h, $p) = split /\./, main::jwt();
"$h.$p."
--- refused: malformed token



=== TEST 7: a truncated token (cut in the payload)
--- token eval
my $t = main::jwt();
substr $t, 0, index($t, '.') + 40
--- refused: malformed token



=== TEST 8: a token of exactly 16 KB is accepted
--- token eval: main::sized(16384)
--- accepted: size-16384 https://file.test/



=== TEST 9: a token of 16 KB and one byte is refused
--- token eval: main::sized(16385)
--- refused: token too large



=== TEST 10: a 20 KB token
--- token eval: main::jwt(claims => {pad => 'x' x 15000})
--- refused: token too large



=== TEST 11: base64 padding ("=") in the header
--- token eval
my ($h, $p, $s) = split /\./, main::jwt();
$h .= '=' x (4 - length($h) % 4) if length($h) % 4;
"$h.$p.$s"
--- refused: malformed token



=== TEST 12: standard base64 ("+") in the signature
--- token eval
my ($h, $p, $s) = split /\./, main::jwt();
$s =~ s/^./+/;
"$h.$p.$s"
--- refused: malformed token



=== TEST 13: standard base64 ("/") in the payload
--- token eval
my ($h, $p, $s) = split /\./, main::jwt();
substr($p, 10, 1) = '/';
"$h.$p.$s"
--- refused: malformed token



=== TEST 14: a non-canonical base64url end (unused bits set)
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



=== TEST 15: ES256 with a DER signature
--- token eval
my $h = {alg => 'ES256', kid => 'ec-256', typ => 'JWT'};
main::signed_jwt('ES256', 'ec256', $h, main::claims(), 1)
--- refused: invalid signature



=== TEST 16: ES256 with the raw signature made by hand (the DER test's control)
--- token eval
my $h = {alg => 'ES256', kid => 'ec-256', typ => 'JWT'};
main::signed_jwt('ES256', 'ec256', $h, main::claims(sub => 'raw-es'))
--- accepted: raw-es https://file.test/



=== TEST 17: a "crit" header
--- token eval
my $h = {alg => 'RS256', kid => 'rsa-1', crit => ['exp'], typ => 'JWT'};
main::signed_jwt('RS256', 'rsa', $h, main::claims())
--- refused: unsupported header parameter



=== TEST 18: "b64": false (RFC 7797)
--- token eval
my $h = {alg => 'RS256', kid => 'rsa-1', b64 => JSON::PP::false, crit => ['b64']};
main::signed_jwt('RS256', 'rsa', $h, main::claims())
--- refused: unsupported header parameter



=== TEST 19: a JWE-shaped token (5 parts)
--- token eval
CORE::join '.', main::b64u(main::json({alg => 'RSA-OAEP', enc => 'A256GCM', kid => 'rsa-1'})),
          main::b64u('k' x 256), main::b64u('iv' x 6), main::b64u('ciphertext'),
          main::b64u('t' x 16)
--- refused: malformed token



=== TEST 20: a header that is not JSON
--- token eval: main::raw_jwt('{"alg":"RS256",', main::claims(), 'x' x 256)
--- refused: malformed token



=== TEST 21: a payload that is not a JSON object
--- token eval
my $h = {alg => 'RS256', kid => 'rsa-1'};
main::signed_jwt('RS256', 'rsa', $h, '["iss"]')
--- refused: malformed token



=== TEST 22: exp as a string
--- token eval
my $h = {alg => 'RS256', kid => 'rsa-1'};
main::signed_jwt('RS256', 'rsa', $h, main::claims(exp => '9999999999'))
--- refused: malformed token



=== TEST 23: no token at all
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: no credential was sent","type":"authentication_error"}}



=== TEST 24: another scheme (Basic) is no token
--- more_headers
Authorization: Basic YWdlbnQ6c2VjcmV0
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: no credential was sent","type":"authentication_error"}}



=== TEST 25: "Bearer" with nothing after it
--- more_headers
Authorization: Bearer
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: no credential was sent","type":"authentication_error"}}



=== TEST 26: a bearer value that is no JWT
--- more_headers
Authorization: Bearer not-a-jwt
--- refused: malformed token



=== TEST 27: the scheme is case-insensitive
--- more_headers eval
"Authorization: bearer " . main::jwt(claims => {sub => 'lower-scheme'})
--- accepted: lower-scheme https://file.test/



=== TEST 28: a duplicate header member ("alg")
--- token eval
my $in = main::b64u('{"alg":"RS256","kid":"rsa-1","alg":"none"}') . '.'
         . main::b64u(main::claims());
$in . '.' . main::b64u(main::sign('RS256', 'rsa', $in))
--- refused: malformed token



=== TEST 29: a duplicate claim ("aud")
--- token eval
(my $p = main::claims()) =~ s/^\{/{"aud":"api:\/\/another",/;
main::signed_jwt('RS256', 'rsa', {alg => 'RS256', kid => 'rsa-1'}, $p)
--- refused: malformed token



=== TEST 30: "typ": "at+jwt" (RFC 9068 access tokens)
--- token eval: main::jwt(headers => {typ => 'at+jwt'}, claims => {sub => 'at-jwt'})
--- accepted: at-jwt https://file.test/
