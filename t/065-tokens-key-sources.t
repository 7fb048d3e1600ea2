# Bearer tokens (JWTs): where an issuer's keys come from -- PEM files
# (SubjectPublicKeyInfo, PKCS#1, a certificate, EC, Ed25519), a JWKS from a
# location (the alias of a file, a proxy to the identity provider) and
# what happens when that location fails or has no usable key -- and the
# keys and issuers refused by nginx -t (RSA under 2048 bits, a private key,
# a short secret, jwks= without foundry_jwt_zone, no audience).
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

=== TEST 1: a PEM public key (SubjectPublicKeyInfo), a token without kid
--- token eval: main::jwt(iss => 'https://pem-rsa.test/', kid => undef, claims => {sub => 'agent-pem'})
--- accepted: agent-pem https://pem-rsa.test/



=== TEST 2: a PEM key has no kid: a token naming one is verified with it
--- token eval: main::jwt(alg => 'PS256', iss => 'https://pem-rsa.test/', kid => 'any-kid', claims => {sub => 'agent-pem-kid'})
--- accepted: agent-pem-kid https://pem-rsa.test/



=== TEST 3: a PEM "RSA PUBLIC KEY" (PKCS#1)
--- token eval: main::jwt(alg => 'RS512', iss => 'https://pem-pkcs1.test/', claims => {sub => 'agent-pkcs1'})
--- accepted: agent-pkcs1 https://pem-pkcs1.test/



=== TEST 4: a PEM certificate
--- token eval: main::jwt(iss => 'https://pem-cert.test/', claims => {sub => 'agent-cert'})
--- accepted: agent-cert https://pem-cert.test/



=== TEST 5: a PEM EC key (P-384)
--- token eval: main::jwt(alg => 'ES384', iss => 'https://pem-ec.test/', kid => undef, claims => {sub => 'agent-pem-ec'})
--- accepted: agent-pem-ec https://pem-ec.test/



=== TEST 6: a PEM Ed25519 key
--- token eval: main::jwt(alg => 'EdDSA', iss => 'https://pem-ed.test/', claims => {sub => 'agent-pem-ed'})
--- accepted: agent-pem-ed https://pem-ed.test/



=== TEST 7: JWKS from a location (alias of a file), fetched with a subrequest
--- token eval: main::jwt(alg => 'ES512', iss => 'https://url.test/', claims => {sub => 'agent-url'})
--- accepted: agent-url https://url.test/



=== TEST 8: JWKS from a location proxying to the identity provider (the mock)
--- token eval: main::jwt(alg => 'ES256', iss => 'https://mock.test/', claims => {sub => 'agent-mock'})
--- accepted: agent-mock https://mock.test/



=== TEST 9: the provider's set has no key of this kid
--- token eval: main::jwt(iss => 'https://mock.test/')
--- refused: unknown key



=== TEST 10: a JWKS location that fails: no keys, logged
--- token eval: main::jwt(iss => 'https://broken.test/')
--- refused: unknown key
--- error_log
foundry: the key set of "https://broken.test/" from "/_jwks/broken" failed: the key set location did not answer 200, no token of the issuer can be verified



=== TEST 11: a JWKS location with only a 1024-bit RSA key: no usable key
--- token eval: main::jwt(iss => 'https://weak.test/', key => 'rsa1024')
--- refused: unknown key
--- error_log
foundry: the key set of "https://weak.test/" from "/_jwks/weak" failed: the key set has no usable key, no token of the issuer can be verified



=== TEST 12: a JWKS location answering broken JSON
--- token eval: main::jwt(iss => 'https://garbage.test/')
--- refused: unknown key
--- error_log eval
qr/foundry: the key set of "https:\/\/garbage\.test\/" from "\/_jwks\/garbage" failed: .+, no token of the issuer can be verified/



=== TEST 13: an RSA key of 1024 bits in the JWKS is skipped
--- token eval: main::jwt(key => 'rsa1024')
--- refused: unknown key



=== TEST 14: an RSA key of 1024 bits as a PEM: nginx -t fails
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://weak.test/ audience=api://foundry-gateway
                           pem=$TEST_NGINX_TOKENS_DIR/rsa1024.pem;
})
--- must_die
--- error_log eval
qr/invalid PEM key file "[^"]+rsa1024\.pem": RSA key shorter than 2048 bits/



=== TEST 15: a JWKS file with only a 1024-bit key: nginx -t fails
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://weak.test/ audience=api://foundry-gateway
                           jwks_file=$TEST_NGINX_TOKENS_DIR/jwks-1024.json;
})
--- must_die
--- error_log eval
qr/JWKS file "[^"]+jwks-1024\.json" has no usable key \(1 skipped\)/



=== TEST 16: a private key as the PEM: nginx -t fails
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://x.test/ audience=api://foundry-gateway
                           pem=$TEST_NGINX_TOKENS_DIR/rsa-private.pem;
})
--- must_die
--- error_log eval
qr/invalid PEM key file "[^"]+rsa-private\.pem": a private key, not a public key/



=== TEST 17: a secret under 32 bytes: nginx -t fails
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://x.test/ audience=api://foundry-gateway
                           secret=0123456789abcdef0123456789abcde;
})
--- must_die
--- error_log
invalid "secret=" in "foundry_jwt_issuer" directive: secret shorter than 32 bytes



=== TEST 18: jwks= needs foundry_jwt_zone
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



=== TEST 19: an issuer needs an audience
--- config eval
main::gateway(auth => q{
        foundry_jwt_issuer https://x.test/ secret=$TEST_NGINX_TOKENS_SECRET;
})
--- must_die
--- error_log
"foundry_jwt_issuer" directive needs "audience="
