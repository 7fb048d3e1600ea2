#!/usr/bin/env perl
# Test vectors for fuzz/test_jwt.c and seeds for the fuzzers, made with an
# independent JOSE implementation (Crypt::JWT, Debian libcrypt-jwt-perl)
# and the openssl CLI from the TEST-ONLY keys in fuzz/keys/.
#
#   gen-vectors.pl --vectors DIR   unit test vectors (tools/fuzz --test,
#                                  at every run: PS and ES signatures are
#                                  randomized, so each run checks new ones)
#   gen-vectors.pl --jwks FILE     the public JWKS the jwt fuzzer trusts
#                                  (committed as fuzz/keys/test.jwks)
#   gen-vectors.pl --seeds DIR     seed corpora DIR/jwt and DIR/jwks
#                                  (committed as fuzz/corpus/)

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Path qw(make_path);
use JSON::PP;
use Crypt::JWT qw(encode_jwt);
use Crypt::PK::RSA;
use Crypt::PK::ECC;
use Crypt::PK::Ed25519;
use Crypt::Misc qw(encode_b64u decode_b64u);

my $keys = dirname(__FILE__) . '/keys';
my $json = JSON::PP->new->canonical;

my $mode = shift // '';
my $out = shift // die "usage: $0 --vectors DIR | --jwks FILE | --seeds DIR\n";

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or die "$f: $!\n";
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s;
}

sub spew {
    my ($f, $s) = @_;
    open my $fh, '>', $f or die "$f: $!\n";
    print $fh $s;
    close $fh;
}

sub openssl {
    my ($cmd) = @_;
    my $s = `openssl $cmd`;
    die "openssl $cmd failed\n" if $?;
    return $s;
}

my %rsa = map { $_ => Crypt::PK::RSA->new("$keys/test-only-$_.key.pem") }
    qw(rsa2048-a rsa2048-b rsa1024);
my %ecc = map { $_ => Crypt::PK::ECC->new("$keys/test-only-$_.key.pem") }
    qw(p256-a p256-b p384 p521);
my %ed = map { $_ => Crypt::PK::Ed25519->new("$keys/test-only-$_.key.pem") }
    qw(ed25519-a ed25519-b);

my $secret = decode_b64u(do {
    my $s = slurp("$keys/test-only-hmac.b64u");
    $s =~ s/\s+//g;
    $s;
});

sub pub_pem {
    my ($name, $extra) = @_;
    return openssl("pkey -in $keys/test-only-$name.key.pem -pubout "
                   . ($extra // '') . " 2>/dev/null");
}

sub jwk {
    my ($kid, $pk, %extra) = @_;
    my $h = $pk->export_key_jwk('public', 1);
    return { %$h, kid => $kid, %extra };
}

# the set the fuzz target trusts: one key of each type, plus a pinned one

sub trusted_jwks {
    return {
        keys => [
            jwk('rsa-a', $rsa{'rsa2048-a'}, use => 'sig'),
            jwk('rsa-b-ps256', $rsa{'rsa2048-b'}, alg => 'PS256'),
            jwk('p256-a', $ecc{'p256-a'}),
            jwk('p384', $ecc{p384}),
            jwk('p521', $ecc{p521}),
            jwk('ed25519-a', $ed{'ed25519-a'}),
            { kty => 'oct', kid => 'hmac', k => encode_b64u($secret) },
        ],
    };
}

my %signer = (
    RS256 => [$rsa{'rsa2048-a'}, 'rsa-a'],
    RS384 => [$rsa{'rsa2048-a'}, 'rsa-a'],
    RS512 => [$rsa{'rsa2048-a'}, 'rsa-a'],
    PS256 => [$rsa{'rsa2048-b'}, 'rsa-b-ps256'],
    PS384 => [$rsa{'rsa2048-a'}, 'rsa-a'],
    PS512 => [$rsa{'rsa2048-a'}, 'rsa-a'],
    ES256 => [$ecc{'p256-a'}, 'p256-a'],
    ES384 => [$ecc{p384}, 'p384'],
    ES512 => [$ecc{p521}, 'p521'],
    EdDSA => [$ed{'ed25519-a'}, 'ed25519-a'],
    HS256 => [$secret, 'hmac'],
    HS384 => [$secret, 'hmac'],
    HS512 => [$secret, 'hmac'],
);

my %claims = (
    iss => 'https://login.example.test/tenant/v2.0',
    sub => 'agent-0001',
    aud => ['api://foundry-gateway', 'https://ai.example.test'],
    iat => 1700000000,
    nbf => 1700000000,
    exp => 4102444800,
    roles => ['Models.Invoke', 'Models.Read'],
    scp => 'user_impersonation',
    oid => '00000000-0000-0000-0000-000000000001',
    tid => '00000000-0000-0000-0000-0000000000aa',
    azp => 'client-app',
    xms => { nested => [1, 2.5, 'three', JSON::PP::true, undef] },
);

sub token {
    my ($alg, %o) = @_;
    my ($key, $kid) = @{ $signer{$alg} };
    return encode_jwt(
        payload => $o{payload} // {%claims},
        alg => $alg,
        key => $o{key} // $key,
        extra_headers => { typ => 'JWT', kid => $o{kid} // $kid },
    );
}

# header and payload given as JSON text, signed as they are

sub raw {
    my ($alg, $header, $payload, $key) = @_;
    my ($h, $p) = (encode_b64u($header), encode_b64u($payload));
    $key //= $signer{$alg}[0];
    return "$h.$p." . Crypt::JWT::_sign_jws($h, $p, $alg, $key);
}

sub tamper {
    my ($t) = @_;
    my ($h, $p, $s) = split /\./, $t;
    my $c = decode_b64u($p);
    $c =~ s/agent-0001/agent-0002/ or die "tamper\n";
    return join '.', $h, encode_b64u($c), $s;
}

make_path($out) if $mode eq q(--vectors);

if ($mode eq '--jwks') {
    spew($out, $json->pretty->encode(trusted_jwks()));
    exit 0;
}

my %v;

for my $alg (sort keys %signer) {
    $v{lc $alg} = token($alg);
    $v{lc($alg) . '-tampered'} = tamper($v{lc $alg});
}

# keys of the right type that did not sign
$v{'rs256-wrongkey'} = token('RS256', key => $rsa{'rsa2048-b'});
$v{'es256-wrongkey'} = token('ES256', key => $ecc{'p256-b'});
$v{'eddsa-wrongkey'} = token('EdDSA', key => $ed{'ed25519-b'});
$v{'hs256-wrongkey'} = token('HS256', key => 'x' x 64);

# a DER ECDSA signature instead of R || S
{
    my $t = token('ES256');
    my ($h, $p) = split /\./, $t;
    my $der = $ecc{'p256-a'}->sign_message("$h.$p", 'SHA256');
    $v{'es256-der'} = "$h.$p." . encode_b64u($der);
}

# algorithm confusion: HMAC keyed with the RSA public key's PEM text
{
    my $pem = pub_pem('rsa2048-a');
    spew("$out/rsa-a.pub.pem", $pem) if $mode eq '--vectors';
    $v{'hs256-confusion'} = token('HS256', key => $pem, kid => 'rsa-a');
}

my $hdr = sub { $json->encode({ typ => 'JWT', @_ }) };
my $body = $json->encode({%claims});

$v{'none'} = encode_b64u($hdr->(alg => 'none')) . '.'
             . encode_b64u($body) . '.';
$v{'none-sig'} = encode_b64u($hdr->(alg => 'none')) . '.'
                 . encode_b64u($body) . '.c2ln';
$v{'none-caps'} = encode_b64u($hdr->(alg => 'NONE')) . '.'
                  . encode_b64u($body) . '.c2ln';
$v{'none-mixed'} = encode_b64u($hdr->(alg => 'nOnE')) . '.'
                   . encode_b64u($body) . '.c2ln';
$v{'unknown-alg'} = raw('HS256', $hdr->(alg => 'HS1'), $body);
$v{'lowercase-alg'} = raw('HS256', $hdr->(alg => 'hs256'), $body);

$v{'crit'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac',
                                 crit => ['exp'], exp => 1), $body);
$v{'b64-false'} = raw('HS256', '{"alg":"HS256","kid":"hmac","b64":false,'
                      . '"crit":["b64"]}', $body);
$v{'b64-false-nocrit'} = raw('HS256', '{"alg":"HS256","kid":"hmac",'
                             . '"b64":false}', $body);
$v{'b64-true'} = raw('HS256', '{"alg":"HS256","kid":"hmac","b64":true}',
                     $body);
$v{'dup-header'} = raw('HS256', '{"alg":"HS256","kid":"hmac",'
                       . '"alg":"HS256"}', $body);
$v{'dup-claim'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                      '{"sub":"a","exp":4102444800,"sub":"b"}');
$v{'header-array'} = raw('HS256', '["HS256"]', $body);
$v{'payload-string'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                           '"claims"');
$v{'payload-trailing'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                             '{"sub":"a"} {}');
$v{'aud-number'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                       '{"sub":"a","aud":42}');
$v{'aud-mixed'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                      '{"sub":"a","aud":["x",1]}');
$v{'aud-string'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                       '{"sub":"a","aud":"api://one"}');
$v{'exp-string'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                       '{"sub":"a","exp":"4102444800"}');
$v{'exp-fraction'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                         '{"sub":"a","exp":1700000000.75,"nbf":-1.5,'
                         . '"iat":1.7e9}');
$v{'exp-huge'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                     '{"exp":100000000000000000000}');
$v{'iss-nul'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                    '{"iss":"a\u0000b"}');
$v{'deep-ok'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                    '{"d":' . ('[' x 30) . (']' x 30) . '}');
$v{'deep-bad'} = raw('HS256', $hdr->(alg => 'HS256', kid => 'hmac'),
                     '{"d":' . ('[' x 40) . (']' x 40) . '}');
$v{'no-kid'} = raw('HS256', $hdr->(alg => 'HS256'), $body);
$v{'rs256-nokid'} = raw('RS256', $hdr->(alg => 'RS256'), $body);
$v{'es256-as-es384'} = raw('ES256', $hdr->(alg => 'ES384', kid => 'p384'),
                           $body);
$v{'ps256-as-rs256'} = raw('PS256', $hdr->(alg => 'RS256',
                                          kid => 'rsa-b-ps256'), $body);

# RSA padding: PKCS#1 v1.5 under a PS256 header, PSS with other salts
{
    my $h = encode_b64u($hdr->(alg => 'PS256', kid => 'rsa-a'));
    my $p = encode_b64u($body);
    my $k = $rsa{'rsa2048-a'};
    $v{'rs256-as-ps256'} = "$h.$p."
        . encode_b64u($k->sign_message("$h.$p", 'SHA256', 'v1.5'));
    $v{'ps256-salt0'} = "$h.$p."
        . encode_b64u($k->sign_message("$h.$p", 'SHA256', 'pss', 0));
    $v{'ps256-salt64'} = "$h.$p."
        . encode_b64u($k->sign_message("$h.$p", 'SHA256', 'pss', 64));
    $v{'ps256-salt32'} = "$h.$p."
        . encode_b64u($k->sign_message("$h.$p", 'SHA256', 'pss', 32));
    $h = encode_b64u($hdr->(alg => 'RS256', kid => 'rsa-a'));
    $v{'ps256-as-rs256-a'} = "$h.$p."
        . encode_b64u($k->sign_message("$h.$p", 'SHA256', 'pss', 32));
}

{
    my ($h, $p, $s) = split /\./, $v{hs256};
    $v{'jwe'} = "$h.$p.$s.$s.$s";
    $v{'two-parts'} = "$h.$p";
    $v{'empty-sig'} = "$h.$p.";
    $v{'empty-payload'} = "$h..$s";
    $v{'padded'} = "$h.$p.$s=";
    $v{'space'} = "$h.$p .$s";
    (my $std = $s) =~ tr/-_/+\//;
    $v{'std-b64'} = $std eq $s ? "$h.$p.$s+" : "$h.$p.$std";
    # non-canonical: the last character carries nonzero unused bits
    my $last = substr($s, -1);
    my $i = index('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
                  . '0123456789-_', $last);
    my $alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
                   . '0123456789-_';
    $v{'noncanonical'} = "$h.$p." . substr($s, 0, -1)
                         . substr($alphabet, $i | 1, 1);
}

# key sets

my $weak = jwk('rsa1024', $rsa{rsa1024});
my $k1 = openssl("pkey -in $keys/test-only-secp256k1.key.pem -pubout "
                 . "-outform DER 2>/dev/null");
my $e448 = openssl("pkey -in $keys/test-only-ed448.key.pem -pubout "
                   . "-outform DER 2>/dev/null");

my %sets = (
    'jwks' => trusted_jwks(),
    'jwks-weak' => { keys => [$weak] },
    'jwks-mixed' => {
        keys => [
            @{ trusted_jwks()->{keys} },
            $weak,
            { kty => 'EC', crv => 'secp256k1', kid => 'k1',
              x => encode_b64u("" . substr($k1, -64, 32)),
              y => encode_b64u("" . substr($k1, -32)) },
            { kty => 'OKP', crv => 'Ed448', kid => 'ed448',
              x => encode_b64u("" . substr($e448, -57)) },
            jwk('enc', $rsa{'rsa2048-b'}, use => 'enc'),
            jwk('ops', $rsa{'rsa2048-b'}, key_ops => ['encrypt']),
            jwk('ops-verify', $rsa{'rsa2048-b'},
                key_ops => ['sign', 'verify']),
            jwk('rsa-oaep', $rsa{'rsa2048-b'}, alg => 'RSA-OAEP'),
            jwk('rsa-as-es', $rsa{'rsa2048-b'}, alg => 'ES256'),
            { kty => 'oct', kid => 'short', k => encode_b64u('s' x 16) },
            { kty => 'oct', kid => 'hs512-short', alg => 'HS512',
              k => encode_b64u('s' x 32) },
            { kty => 'foo', kid => 'unknown' },
            { kty => 'EC', crv => 'P-384', kid => 'p384-as-es256',
              alg => 'ES256',
              %{ $ecc{p384}->export_key_jwk('public', 1) } },
        ],
        other => { ignored => [1, { deep => [] }] },
    },
);

if ($mode eq '--vectors') {
    make_path($out);

    for my $name (keys %v) {
        spew("$out/$name.jwt", $v{$name});
    }

    for my $name (keys %sets) {
        spew("$out/$name.json", $json->encode($sets{$name}));
    }

    spew("$out/p256-a.pub.pem", pub_pem('p256-a'));
    spew("$out/p384.pub.pem", pub_pem('p384'));
    spew("$out/p521.pub.pem", pub_pem('p521'));
    spew("$out/ed25519-a.pub.pem", pub_pem('ed25519-a'));
    spew("$out/rsa1024.pub.pem", pub_pem('rsa1024'));
    spew("$out/secp256k1.pub.pem", pub_pem('secp256k1'));
    spew("$out/ed448.pub.pem", pub_pem('ed448'));
    spew("$out/rsa-a.pkcs1.pem",
         openssl("rsa -in $keys/test-only-rsa2048-a.key.pem "
                 . "-RSAPublicKey_out 2>/dev/null"));
    spew("$out/rsa-a.crt.pem",
         openssl("req -x509 -key $keys/test-only-rsa2048-a.key.pem "
                 . "-subj /CN=test-only -days 3650 2>/dev/null"));
    spew("$out/p256-a.key.pem", slurp("$keys/test-only-p256-a.key.pem"));
    spew("$out/hmac.secret", $secret);

    exit 0;
}

if ($mode eq '--seeds') {
    make_path("$out/jwt", "$out/jwks");

    for my $name (keys %v) {
        spew("$out/jwt/$name", $v{$name});
    }

    # header and payload JSON, made into a token by the fuzz target
    spew("$out/jwt/json-claims", $hdr->(alg => 'HS256', kid => 'hmac')
                                 . "\n" . $body);
    spew("$out/jwt/json-deep", '{"alg":"ES256","x":[[{"a":[]}]]}' . "\n"
                               . '{"aud":[],"exp":1e3,"x":{"y":[null]}}');
    spew("$out/jwt/json-escapes", '{"alg":"EdDSA","kid":"\u00e9\ud83d\ude00"}'
                                  . "\n" . '{"sub":"a\"b\\\\c","iat":-0.5}');

    # truncated and damaged forms of a good token
    my $t = $v{rs256};
    spew("$out/jwt/trunc-header", substr($t, 0, 10));
    spew("$out/jwt/trunc-sig", substr($t, 0, length($t) - 7));
    spew("$out/jwt/garbage", "eyJ\x00\xff...\n");
    spew("$out/jwt/dots", "...");

    for my $name (keys %sets) {
        spew("$out/jwks/$name", $json->encode($sets{$name}));
    }

    spew("$out/jwks/empty", '{"keys":[]}');
    spew("$out/jwks/no-keys", '{"k":[]}');
    spew("$out/jwks/rsa-a.pub.pem", pub_pem('rsa2048-a'));
    spew("$out/jwks/p384.pub.pem", pub_pem('p384'));
    spew("$out/jwks/ed25519-a.pub.pem", pub_pem('ed25519-a'));

    exit 0;
}

die "usage: $0 --vectors DIR | --jwks FILE | --seeds DIR\n";
