package FoundryTokens;

# Key material and bearer tokens for the token tests (t/06*-tokens*.t,
# t/014-operations.t, t/081-faults.t): "use FoundryTokens;".  Nothing here
# is committed key material: every key is made when the module is loaded,
# into a temporary directory exported as TEST_NGINX_TOKENS_DIR (removed at
# exit).  The functions below are in main::, and so are the variables
# $main::TokDir, $main::Aud, %main::Key, %main::Other, %main::Kid,
# $main::Secret, $main::Secret32 and $main::Now.
#
#   $TEST_NGINX_TOKENS_DIR/
#     jwks.json          the public keys of %main::Key with kids: rsa-1,
#                        rsa-2, ec-256, ec-384, ec-521, ed-1, and rsa-1024
#                        (which the module skips: under 2048 bits)
#     jwks-1024.json     only the 1024-bit key (no usable key)
#     jwks-pinned.json   rsa-1 with "alg": "RS256", ec-256 with "use":
#                        "enc", ed-1 with "key_ops": ["sign"]
#     rsa.pem ec256.pem ec384.pem ec521.pem ed25519.pem rsa1024.pem
#                        SubjectPublicKeyInfo PEM files
#     rsa-pkcs1.pem      the RSA key as "BEGIN RSA PUBLIC KEY"
#     rsa-cert.pem       a self-signed certificate of the RSA key (openssl)
#     rsa-private.pem    the RSA private key (refused as a key file)
#
#   TEST_NGINX_TOKENS_SECRET     a 64-byte HMAC secret (HS256/384/512)
#   TEST_NGINX_TOKENS_SECRET32   a 32-byte one (HS256 only: RFC 7518 3.2)
#   TEST_NGINX_TOKENS_EC_JWKS    the JWKS of ec-256 alone, one line (what
#                                the mock answers for /_jwks/mock)
#
#   main::tok($name, %spec)   a signed token, made once per name (the same
#                             string for every section of a block)
#   main::jwt(%spec)          a new signed token
#   main::raw_jwt($hdr, $payload, $sig)   a token put together by hand
#   main::sign($alg, $key, $input)        a JWS signature by hand
#   main::b64u($bytes), main::json($ref)

use strict;
use warnings;

use Crypt::JWT qw(encode_jwt);
use Crypt::PK::RSA;
use Crypt::PK::ECC;
use Crypt::PK::Ed25519;
use Crypt::Mac::HMAC ();
use File::Temp qw(tempdir);
use JSON::PP ();
use MIME::Base64 ();

our $TokDir = tempdir('foundry-tokens-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# nginx's workers may run as another user than the tests
chmod 0755, $TokDir;

$ENV{TEST_NGINX_TOKENS_DIR} = $TokDir;

our $Aud = 'api://foundry-gateway';

# the keys: RSA sizes are given in bytes

our %Key = (
    rsa     => Crypt::PK::RSA->new->generate_key(256, 65537),
    rsa2    => Crypt::PK::RSA->new->generate_key(256, 65537),
    rsa1024 => Crypt::PK::RSA->new->generate_key(128, 65537),
    ec256   => Crypt::PK::ECC->new->generate_key('secp256r1'),
    ec384   => Crypt::PK::ECC->new->generate_key('secp384r1'),
    ec521   => Crypt::PK::ECC->new->generate_key('secp521r1'),
    ed      => Crypt::PK::Ed25519->new->generate_key,
);

# another key of each kind, never published: a token signed with it under
# a published kid has a signature that does not verify

our %Other = (
    rsa   => Crypt::PK::RSA->new->generate_key(256, 65537),
    ec256 => Crypt::PK::ECC->new->generate_key('secp256r1'),
    ed    => Crypt::PK::Ed25519->new->generate_key,
);

our %Kid = (
    rsa => 'rsa-1', rsa2 => 'rsa-2', rsa1024 => 'rsa-1024',
    ec256 => 'ec-256', ec384 => 'ec-384', ec521 => 'ec-521', ed => 'ed-1',
);

our $Secret = join '', map { ('a' .. 'z', 'A' .. 'Z', 0 .. 9)[rand 62] }
                       1 .. 64;
our $Secret32 = substr $Secret, 0, 32;

$ENV{TEST_NGINX_TOKENS_SECRET} = $Secret;
$ENV{TEST_NGINX_TOKENS_SECRET32} = $Secret32;

sub main::json {
    return JSON::PP->new->canonical->encode($_[0]);
}

sub main::b64u {
    my $s = MIME::Base64::encode_base64url($_[0]);
    $s =~ s/=+$//;
    return $s;
}

sub main::tokens_write {
    my ($name, $content) = @_;

    my $path = "$TokDir/$name";

    open my $fh, '>', "$path.tmp" or die "$path.tmp: $!";
    binmode $fh;
    print $fh $content;
    close $fh;
    chmod 0644, "$path.tmp";
    rename "$path.tmp", $path or die "rename $path: $!";

    return $path;
}

sub main::jwk {
    my ($name, %extra) = @_;

    my $jwk = $Key{$name}->export_key_jwk('public', 1);
    $jwk->{kid} = $Kid{$name};

    return { %$jwk, %extra };
}

sub main::jwks {
    return main::json({ keys => [ map { ref $_ ? $_ : main::jwk($_) } @_ ] });
}

main::tokens_write('jwks.json',
    main::jwks(qw(rsa1024 rsa rsa2 ec256 ec384 ec521 ed)));
main::tokens_write('jwks-1024.json', main::jwks('rsa1024'));

# keys limited by their members: RS256 only, for encryption, for signing
main::tokens_write('jwks-pinned.json', main::jwks(
    main::jwk('rsa', alg => 'RS256', use => 'sig'),
    main::jwk('ec256', use => 'enc'),
    main::jwk('ed', key_ops => ['sign'])));

$ENV{TEST_NGINX_TOKENS_EC_JWKS} = main::jwks('ec256');

main::tokens_write('rsa.pem', $Key{rsa}->export_key_pem('public_x509'));
main::tokens_write('rsa1024.pem',
                   $Key{rsa1024}->export_key_pem('public_x509'));
main::tokens_write('rsa-private.pem', $Key{rsa}->export_key_pem('private'));
main::tokens_write("$_.pem", $Key{$_}->export_key_pem('public'))
    for qw(ec256 ec384 ec521);
main::tokens_write('ed25519.pem', $Key{ed}->export_key_pem('public'));

# the RSA key as PKCS#1 "RSA PUBLIC KEY" (CryptX's "public" PEM is a
# SubjectPublicKeyInfo under that label), and a self-signed certificate

system("openssl rsa -pubin -in '$TokDir/rsa.pem' -RSAPublicKey_out "
       . "-out '$TokDir/rsa-pkcs1.pem' 2>/dev/null") == 0
    or die "openssl rsa failed";
chmod 0644, "$TokDir/rsa-pkcs1.pem";

system('openssl', 'req', '-x509', '-new', '-key', "$TokDir/rsa-private.pem",
       '-subj', '/CN=foundry-tokens-test', '-days', '2', '-sha256',
       '-out', "$TokDir/rsa-cert.pem") == 0
    or die "openssl req failed";
chmod 0644, "$TokDir/rsa-cert.pem";

our $Now = time;

# the names the test files use, in main:: as when this was a "do" file

{
    no warnings 'once';

    *main::TokDir = \$TokDir;
    *main::Aud = \$Aud;
    *main::Key = \%Key;
    *main::Other = \%Other;
    *main::Kid = \%Kid;
    *main::Secret = \$Secret;
    *main::Secret32 = \$Secret32;
    *main::Now = \$Now;
}

# the key of each algorithm by default

my %DefaultKey = (
    RS256 => 'rsa', RS384 => 'rsa', RS512 => 'rsa',
    PS256 => 'rsa', PS384 => 'rsa', PS512 => 'rsa',
    ES256 => 'ec256', ES384 => 'ec384', ES512 => 'ec521',
    EdDSA => 'ed',
);

my $Seq = 0;

# A signed token.
#
#   alg     RS256 by default; HS* use the 64-byte secret
#   key     a name of %Key (default: the algorithm's), a Crypt::PK object,
#           or for HS* the secret itself
#   kid     the kid header; default the key's kid (none for HS* and for
#           keys given as objects); undef: no kid
#   iss     default https://file.test/ (the issuer of jwks.json)
#   claims  a hash merged over the defaults: iss, aud, sub, iat, nbf, exp,
#           jti; a claim set to undef is left out
#   headers extra header members

sub main::jwt {
    my (%o) = @_;

    my $alg = $o{alg} // 'RS256';
    my $key = $o{key};
    my $kid;

    if ($alg =~ /^HS/) {
        $key //= $Secret;
        $kid = exists $o{kid} ? $o{kid} : undef;

    } else {
        $key //= $DefaultKey{$alg};

        if (!ref $key) {
            $kid = exists $o{kid} ? $o{kid} : $Kid{$key};
            $key = $Key{$key} // die "no key \"$key\"";

        } else {
            $kid = $o{kid};
        }
    }

    my %claims = (
        iss => $o{iss} // 'https://file.test/',
        aud => $Aud,
        sub => 'agent-1',
        iat => $Now,
        nbf => $Now - 10,
        exp => $Now + 3600,
        jti => 'jti-' . $$ . '-' . ++$Seq,
        %{ $o{claims} || {} },
    );

    for (keys %claims) {
        delete $claims{$_} unless defined $claims{$_};
    }

    return encode_jwt(
        payload => \%claims,
        alg => $alg,
        key => $key,
        extra_headers => { typ => 'JWT', (defined $kid ? (kid => $kid) : ()),
                           %{ $o{headers} || {} } },
    );
}

my %Tokens;

sub main::tok {
    my ($name, %o) = @_;

    return $Tokens{$name} if exists $Tokens{$name};

    die "token \"$name\" used before it is made" unless %o;

    return $Tokens{$name} = main::jwt(%o);
}

# the claims every hand-made token has, as JSON

sub main::claims {
    my (%c) = @_;

    my %claims = (iss => 'https://file.test/', aud => $Aud, sub => 'agent-1',
                  iat => $Now, nbf => $Now - 10, exp => $Now + 3600, %c);

    for (keys %claims) {
        delete $claims{$_} unless defined $claims{$_};
    }

    return main::json(\%claims);
}

sub main::raw_jwt {
    my ($hdr, $payload, $sig) = @_;

    $hdr = main::json($hdr) if ref $hdr;
    $payload = main::json($payload) if ref $payload;

    return main::b64u($hdr) . '.' . main::b64u($payload) . '.'
           . main::b64u($sig // '');
}

# a JWS signature of "input": raw R||S for ES* unless $der

sub main::sign {
    my ($alg, $key, $input, $der) = @_;

    $key = $Key{$key} if !ref $key && $alg !~ /^HS/;

    my ($kind, $bits) = $alg =~ /^(..)(\d+)$/ ? ($1, $2) : ($alg, 0);
    my $hash = "SHA$bits";

    return Crypt::Mac::HMAC::hmac($hash, $key, $input) if $kind eq 'HS';
    return $key->sign_message($input, $hash, 'v1.5') if $kind eq 'RS';
    return $key->sign_message($input, $hash, 'pss', $bits / 8)
        if $kind eq 'PS';
    return $der ? $key->sign_message($input, $hash)
                : $key->sign_message_rfc7518($input, $hash)
        if $kind eq 'ES';
    return $key->sign($input) if $alg eq 'EdDSA';

    die "no algorithm $alg";
}

# a token with the header and claims given, signed by hand

sub main::signed_jwt {
    my ($alg, $key, $hdr, $payload, $der) = @_;

    $hdr = main::json($hdr) if ref $hdr;
    $payload = main::json($payload) if ref $payload;

    my $input = main::b64u($hdr) . '.' . main::b64u($payload);

    return $input . '.' . main::b64u(main::sign($alg, $key, $input, $der));
}


1;
