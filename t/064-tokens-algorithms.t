# Bearer tokens (JWTs): the signature algorithms, each verified with its
# key (RS*, PS*, ES*, EdDSA from a JWKS file, HS* from a secret); "alg":
# "none" in every spelling, unknown algorithms, algorithm confusion and
# alg/key mismatches; which key of a set verifies a token (kid, no kid,
# another key under a published kid); JWK members that limit a key
# ("alg", "use", "key_ops").
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



=== TEST 16: "alg": "none" without a signature
--- token eval: main::raw_jwt({alg => 'none', typ => 'JWT'}, main::claims(), '')
--- refused: malformed token



=== TEST 17: "alg": "none" with a signature
--- token eval: main::raw_jwt({alg => 'none'}, main::claims(), 'sig')
--- refused: unsupported algorithm



=== TEST 18: "alg": "None"
--- token eval: main::raw_jwt({alg => 'None', kid => 'rsa-1'}, main::claims(), 'sig')
--- refused: unsupported algorithm



=== TEST 19: "alg": "NONE"
--- token eval: main::raw_jwt({alg => 'NONE'}, main::claims(), 'sig')
--- refused: unsupported algorithm



=== TEST 20: "alg": "nOnE"
--- token eval: main::raw_jwt({alg => 'nOnE'}, main::claims(), 'sig')
--- refused: unsupported algorithm



=== TEST 21: algorithm names are case-sensitive: "rs256"
--- token eval
my $h = {alg => 'rs256', kid => 'rsa-1'};
my $in = main::b64u(main::json($h)) . '.' . main::b64u(main::claims());
$in . '.' . main::b64u(main::sign('RS256', 'rsa', $in))
--- refused: unsupported algorithm



=== TEST 22: an unknown algorithm (ES256K)
--- token eval: main::raw_jwt({alg => 'ES256K', kid => 'ec-256'}, main::claims(), 'x' x 64)
--- refused: unsupported algorithm



=== TEST 23: no "alg"
--- token eval: main::raw_jwt({kid => 'rsa-1', typ => 'JWT'}, main::claims(), 'x' x 256)
--- refused: malformed token



=== TEST 24: algorithm confusion: HS256 with the RSA public key PEM as the secret (PEM issuer)
--- token eval
open my $fh, '<', "$ENV{TEST_NGINX_TOKENS_DIR}/rsa.pem" or die $!;
my $pem = do { local $/; <$fh> };
main::jwt(alg => 'HS256', key => $pem, iss => 'https://pem-rsa.test/')
--- refused: unknown key



=== TEST 25: algorithm confusion: HS256 with the JWK's PEM, naming the RSA kid
--- token eval
main::jwt(alg => 'HS256', kid => 'rsa-1',
          key => $main::Key{rsa}->export_key_pem('public_x509'))
--- refused: unknown key



=== TEST 26: alg/key mismatch: ES256 naming an RSA key
--- token eval: main::jwt(alg => 'ES256', kid => 'rsa-1')
--- refused: unknown key



=== TEST 27: alg/key mismatch: ES384 naming the P-256 key (curve)
--- token eval: main::jwt(alg => 'ES384', key => 'ec256')
--- refused: unknown key



=== TEST 28: alg/key mismatch: RS256 naming the Ed25519 key
--- token eval: main::jwt(alg => 'RS256', kid => 'ed-1')
--- refused: unknown key



=== TEST 29: alg/key mismatch: EdDSA for an EC PEM issuer
--- token eval: main::jwt(alg => 'EdDSA', iss => 'https://pem-ec.test/')
--- refused: unknown key



=== TEST 30: alg/key mismatch: an HMAC token for an RSA PEM issuer, signed with the secret
--- token eval: main::jwt(alg => 'HS256', iss => 'https://pem-rsa.test/')
--- refused: unknown key



=== TEST 31: a kid the set does not have
--- token eval: main::jwt(kid => 'rsa-9')
--- refused: unknown key



=== TEST 32: no kid, and two RSA keys in the set: ambiguous
--- token eval: main::jwt(kid => undef)
--- refused: unknown key



=== TEST 33: no kid, and one Ed25519 key in the set
--- token eval: main::jwt(alg => 'EdDSA', kid => undef, claims => {sub => 'ed-nokid'})
--- accepted: ed-nokid https://file.test/



=== TEST 34: signed by another key under a published kid
--- token eval: main::jwt(key => $main::Other{rsa}, kid => 'rsa-1')
--- refused: invalid signature



=== TEST 35: signed by another key under a published kid (Ed25519)
--- token eval: main::jwt(alg => 'EdDSA', key => $main::Other{ed}, kid => 'ed-1')
--- refused: invalid signature



=== TEST 36: signed by the second RSA key, naming the first
--- token eval: main::jwt(key => 'rsa2', kid => 'rsa-1')
--- refused: invalid signature



=== TEST 37: a JWK with "alg": "RS256" verifies RS256
--- token eval: main::jwt(iss => 'https://pinned.test/', claims => {sub => 'pinned'})
--- accepted: pinned https://pinned.test/



=== TEST 38: alg/key mismatch: a JWK with "alg": "RS256" does not verify PS256
--- token eval: main::jwt(alg => 'PS256', iss => 'https://pinned.test/')
--- refused: unknown key



=== TEST 39: a JWK with "use": "enc" is skipped
--- token eval: main::jwt(alg => 'ES256', iss => 'https://pinned.test/')
--- refused: unknown key



=== TEST 40: a JWK whose key_ops lack "verify" is skipped
--- token eval: main::jwt(alg => 'EdDSA', iss => 'https://pinned.test/')
--- refused: unknown key
