#!/usr/bin/env perl
# The client credentials of tools/bench, made at every run in DIR (never
# committed, never reused):
#
#   perl bench/credentials.pl DIR NKEYS
#
#   DIR/keys.json    NKEYS subscription keys for foundry_keys_zone (only
#                    their SHA-256, as tools/foundry-keygen writes them);
#                    every fourth has an allow-list, all have metadata
#   DIR/key.txt      the key the benchmark sends (api-key), the entry in the
#                    middle of the file ("bench-NNNNNN", NKEYS / 2)
#   DIR/one.json     a keys file with that key alone (case a1)
#   DIR/issuer.pem   an RSA 2048 private key (0600)
#   DIR/jwks.json    its public key as a JWKS (kid "bench-1", RS256), for
#                    foundry_jwt_issuer ... jwks_file=
#   DIR/token.txt    one RS256 token of that key, valid for a day: issuer
#                    https://bench-issuer.foundry.local/, audience
#                    api://foundry-bench, the claims of an Entra ID app
#                    token
#   DIR/clients.json the clients of the gateway's own token service (case
#                    b-issued): the client "bench-client", by the SHA-256
#                    of its secret
#   DIR/client-secret.txt  that client's secret
#   DIR/service.pem  the token service's signing key, RSA 2048 (0600)
#   DIR/mi-token.txt the access token the fixed upstream's managed identity
#                    endpoint (IMDS form) hands out (case a-mi): an RS256
#                    JWT with the claims of an Entra ID managed identity
#                    token for https://cognitiveservices.azure.com, as
#                    long as a real one
#
# Keys are made from a fresh random seed, so no two runs share them.

use strict;
use warnings;

use Crypt::JWT qw(encode_jwt);
use Crypt::PK::RSA;
use Digest::SHA qw(sha256 sha256_hex);
use JSON::PP;
use MIME::Base64 qw(encode_base64url);

my ($dir, $nkeys) = @ARGV;

die "usage: $0 DIR NKEYS\n"
    unless defined $nkeys && $nkeys =~ /^[1-9][0-9]*$/ && -d $dir;

sub spew {
    my ($name, $text, $mode) = @_;
    my $path = "$dir/$name";

    open my $fh, '>:raw', $path or die "$path: $!\n";
    chmod $mode, $path if defined $mode;
    print $fh $text or die "$path: $!\n";
    close $fh or die "$path: $!\n";
}

open my $rnd, '<:raw', '/dev/urandom' or die "/dev/urandom: $!\n";
read($rnd, my $seed, 32) == 32 or die "/dev/urandom: short read\n";
close $rnd;

# keys.json, written by hand: JSON::PP takes seconds for 100,000 entries

my $bench = int($nkeys / 2) || 1;
my ($bench_key, $bench_entry);

open my $fh, '>:raw', "$dir/keys.json" or die "$dir/keys.json: $!\n";
print $fh "{\"keys\": [\n";

for my $i (1 .. $nkeys) {
    my $key = 'fk-' . encode_base64url(sha256($seed . $i));
    my $entry = sprintf '{"name":"bench-%06d","sha256":"%s"', $i,
                        sha256_hex($key);

    if ($i == $bench || $i % 4 == 0) {
        $entry .= ',"deployments":["gpt-4o","~^dep-"]';
    }

    $entry .= sprintf ',"metadata":{"team":"team-%02d","tpm":100000}}',
                      $i % 100;

    print $fh $entry, ($i < $nkeys ? ",\n" : "\n");

    if ($i == $bench) {
        ($bench_key, $bench_entry) = ($key, $entry);
    }
}

print $fh "]}\n";
close $fh or die "$dir/keys.json: $!\n";

spew('key.txt', "$bench_key\n", 0600);
spew('one.json', "{\"keys\": [\n$bench_entry\n]}\n");

# the issuer's key pair, its JWKS, and a token

my $pk = Crypt::PK::RSA->new;
$pk->generate_key(256, 65537);
spew('issuer.pem', $pk->export_key_pem('private'), 0600);

my $jwk = $pk->export_key_jwk('public', 1);
$jwk->{kid} = 'bench-1';
$jwk->{use} = 'sig';
$jwk->{alg} = 'RS256';
spew('jwks.json', JSON::PP->new->canonical->encode({ keys => [$jwk] }) . "\n");

my $now = time;

my $token = encode_jwt(
    payload => {
        iss   => 'https://bench-issuer.foundry.local/',
        aud   => 'api://foundry-bench',
        sub   => '7d0b4c1e-93c2-4b7e-a0b1-bench0000001',
        oid   => '7d0b4c1e-93c2-4b7e-a0b1-bench0000001',
        tid   => '72f988bf-86f1-41af-91ab-2d7cd011db47',
        appid => '11111111-2222-3333-4444-555555555555',
        azp   => '11111111-2222-3333-4444-555555555555',
        roles => ['Foundry.Invoke'],
        ver   => '2.0',
        iat   => $now,
        nbf   => $now - 60,
        exp   => $now + 86400,
    },
    alg => 'RS256',
    key => $pk,
    extra_headers => { kid => 'bench-1', typ => 'JWT' },
);

spew('token.txt', "$token\n", 0600);

# the gateway's own token service (case b-issued): one client, its secret
# (only its SHA-256 in clients.json), the service's signing key

my $secret = 'cs-' . encode_base64url(sha256($seed . 'client'));
spew('client-secret.txt', "$secret\n", 0600);
spew('clients.json', '{"keys": [' . "\n"
     . sprintf('{"name":"bench-client","sha256":"%s"}', sha256_hex($secret))
     . "\n]}\n");

my $service = Crypt::PK::RSA->new;
$service->generate_key(256, 65537);
spew('service.pem', $service->export_key_pem('private'), 0600);

# the upstream token of a managed identity (case a-mi), signed by the
# issuer's key (nobody verifies it: the fixed upstream does not look)

my $mi_token = encode_jwt(
    payload => {
        aud   => 'https://cognitiveservices.azure.com',
        iss   => 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/',
        iat   => $now,
        nbf   => $now - 60,
        exp   => $now + 86400,
        aio   => 'k2BgYJjW9fX3c8vN+bench+7Jl4uVxbZ8fK1w0PqRtS2yTnHwA=',
        appid => 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
        appidacr => '2',
        idp   => 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/',
        idtyp => 'app',
        oid   => '0f0e0d0c-0b0a-0908-0706-050403020100',
        rh    => '0.AXEAv4j5cvGGr0GRqy180BHbR5ALdOJuZAAAAAAAAAAAAAAAAAAA.',
        sub   => '0f0e0d0c-0b0a-0908-0706-050403020100',
        tid   => '72f988bf-86f1-41af-91ab-2d7cd011db47',
        uti   => 'bench-uti-0000000000001',
        ver   => '1.0',
        xms_mirid => '/subscriptions/00000000-0000-0000-0000-000000000000/'
                     . 'resourcegroups/rg-bench/providers/'
                     . 'Microsoft.Compute/virtualMachines/vm-gateway',
        xms_az_rid => '/subscriptions/00000000-0000-0000-0000-000000000000/'
                      . 'resourcegroups/rg-bench/providers/'
                      . 'Microsoft.Compute/virtualMachines/vm-gateway',
    },
    alg => 'RS256',
    key => $pk,
    extra_headers => { kid => 'bench-1', typ => 'JWT', x5t => 'bench-x5t' },
);

spew('mi-token.txt', "$mi_token\n", 0600);
