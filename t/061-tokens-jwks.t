# Key sets fetched from a jwks= location, over time, in one nginx (two
# workers): keys rotate without a reload (a token naming a new kid makes
# the set be fetched again), at most one such fetch per 30 s, a failing
# location keeps the last good set (logged once), and verified tokens are
# remembered (claims checked again on every request; refusals never
# remembered).  Takes about 35 s: the cooldown is waited out once.
#
# Section 8 holds what once were bugs: a failing jwks= location with no
# good set yet was fetched on every request, a token verified in one
# location was remembered for another trusting the same "iss" with other
# keys, and two locations trusting one "iss" through different jwks=
# locations shared one key set.
#
# The identity provider is a server of the same nginx serving the key
# sets from files the test rewrites; its access log counts the fetches.

use strict;
use warnings;

use Test::More;
use MIME::Base64 ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use FoundryTokens;

our ($TokDir, $Secret, %Other);

plan tests => 84;

# debug: the "accepted (remembered)" lines

local $ENV{FOUNDRY_NGINX_LOG_LEVEL} = 'debug';

my $mock = FoundryMock::start();
my $idp = FoundryNginx::free_port();
my $started = time;

my $SecretA = $Secret;
my $SecretB = join '', map { ('a' .. 'z')[rand 26] } 1 .. 48;

main::tokens_write('rot.json', main::jwks('rsa'));
main::tokens_write('klg.json', main::jwks('ec256'));
main::tokens_write('seta.json', main::jwks('rsa'));
main::tokens_write('setb.json', main::jwks('rsa2'));

sub oidc_doc {
    my ($keys) = @_;
    return qq({"issuer":"http://oidc.test/","jwks_uri":)
         . qq("http://127.0.0.1:$idp/$keys","id_token_signing_alg_values_)
         . qq(supported":["RS256","ES256"]});
}

main::tokens_write('oidc.json', oidc_doc('oidc-a.json'));
main::tokens_write('oidc-a.json', main::jwks('rsa'));
main::tokens_write('oidc-b.json', main::jwks('ec256'));

my $ngx = FoundryNginx->new(workers => 2, http => <<"CONF");
    foundry_jwt_zone tokens:1m;

    upstream mock {
        server 127.0.0.1:$mock;
    }

    foundry_upstream oai kind=openai url=http://mock bearer=upstream-token;

    log_format fetches '\$request_uri \$status "\$http_authorization"';

    # the identity provider
    server {
        listen 127.0.0.1:$idp;
        access_log logs/idp.log fetches;
        default_type application/json;
        root $TokDir;
    }

    server {
        listen 127.0.0.1:\$PORT;

        location = /_jwks/rot {
            internal;
            proxy_pass http://127.0.0.1:$idp/rot.json;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }

        location = /_jwks/down {
            internal;
            proxy_pass http://127.0.0.1:$idp/missing.json;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }

        location = /_jwks/klg {
            internal;
            proxy_pass http://127.0.0.1:$idp/klg.json;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }

        # OpenID Connect discovery, then the set from its jwks_uri
        location = /_oidc {
            internal;
            proxy_pass http://127.0.0.1:$idp/oidc.json;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
        }

        location = /_jwks/oidc {
            internal;
            proxy_pass \$foundry_jwks_uri;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
        }

        location /v1/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;
            foundry_jwt_issuer http://oidc.test/ audience=api://foundry-gateway
                               oidc=/_oidc jwks=/_jwks/oidc ttl=2s;
            foundry_jwt_issuer https://rot.test/ audience=api://foundry-gateway
                               jwks=/_jwks/rot;
            foundry_jwt_issuer https://klg.test/ audience=api://foundry-gateway
                               jwks=/_jwks/klg ttl=2s;
            foundry_jwt_issuer https://down.test/ audience=api://foundry-gateway
                               jwks=/_jwks/down;
            foundry_model gpt-4o created=1 upstream=oai;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
            add_header X-Sub \$foundry_jwt_sub always;
        }

        location = /_jwks/seta {
            internal;
            proxy_pass http://127.0.0.1:$idp/seta.json;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
        }

        location = /_jwks/setb {
            internal;
            proxy_pass http://127.0.0.1:$idp/setb.json;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
        }

        # one issuer name, other keys in each location
        location /set-a/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;
            foundry_jwt_issuer https://sameset.test/
                               audience=api://foundry-gateway
                               jwks=/_jwks/seta;
            foundry_model gpt-4o created=1 upstream=oai;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
            add_header X-Sub \$foundry_jwt_sub always;
        }

        location /set-b/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;
            foundry_jwt_issuer https://sameset.test/
                               audience=api://foundry-gateway
                               jwks=/_jwks/setb;
            foundry_model gpt-4o created=1 upstream=oai;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
            add_header X-Sub \$foundry_jwt_sub always;
        }

        location /scope-a/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;
            foundry_jwt_issuer https://shared.test/
                               audience=api://foundry-gateway
                               secret=$SecretA;
            foundry_model gpt-4o created=1 upstream=oai;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
            add_header X-Sub \$foundry_jwt_sub always;
        }

        location /scope-b/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;
            foundry_jwt_issuer https://shared.test/
                               audience=api://foundry-gateway
                               secret=$SecretB;
            foundry_model gpt-4o created=1 upstream=oai;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
            add_header X-Sub \$foundry_jwt_sub always;
        }

        location /strict/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;
            foundry_jwt_issuer https://rot.test/ audience=api://foundry-gateway
                               jwks=/_jwks/rot;
            foundry_jwt_claim tid equals=tenant-1;
            foundry_model gpt-4o created=1 upstream=oai;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
            add_header X-Sub \$foundry_jwt_sub always;
        }
    }
CONF

# a call: "status description" ("200 sub" when accepted)

sub call {
    my ($token, $path) = @_;

    my ($status, $h) = $ngx->request('GET', $path || '/v1/models',
                                     ['Authorization' => "Bearer $token"]);

    return "$status " . ($status == 200
        ? $h->{'x-sub'} // ''
        : (($h->{'www-authenticate'} // '') =~ /error_description="([^"]*)"/)[0]
          // '');
}

# the fetches of a key set so far (the access log is written once the
# answer is sent: wait a little for the count to settle)

sub fetches {
    my ($file) = @_;

    my $n = -1;

    for (1 .. 10) {
        my $now = () = $ngx->file('logs/idp.log') =~ m{^/\Q$file\E }mg;
        last if $now == $n;
        $n = $now;
        sleep 0.1;
    }

    return $n;
}

sub count {
    my ($re) = @_;
    return scalar(() = $ngx->error_log =~ /$re/g);
}

sub rot { main::jwt(iss => 'https://rot.test/', @_) }
sub klg { main::jwt(iss => 'https://klg.test/', alg => 'ES256', @_) }

my $accepted = qr/foundry: token of "https:\/\/rot\.test\/" accepted$/m;
my $remembered =
    qr/foundry: token of "https:\/\/rot\.test\/" accepted \(remembered\)$/m;


# 1. the first token fetches the set; the same token again is remembered

my $a1 = rot(claims => { sub => 'a1' });

is(call($a1), '200 a1', 'a token of the fetched set');
is(fetches('rot.json'), 1, 'the set was fetched once');
is(count($accepted), 1, 'its signature was verified');
is(count($remembered), 0, 'nothing remembered yet');

is(call($a1), '200 a1', 'the same token again');
is(count($remembered), 1, 'remembered: "accepted (remembered)"');
is(count($accepted), 1, 'not verified again');

my $a2 = rot(claims => { sub => 'a2' });

is(call($a2), '200 a2', 'another token of the same key');
is(call($a2), '200 a2', 'and again, by whichever worker');
is(fetches('rot.json'), 1, 'no fetch: the set is shared by the workers');
is(count($accepted), 2, 'the new token was verified once');
is(count($remembered), 2, 'and then remembered');


# 1b. OpenID Connect discovery: the set comes from the jwks_uri of the
#     discovery document, which is fetched again with the set (ttl=2s):
#     a new jwks_uri is followed; a failing discovery keeps the last good
#     set, and the issuer recovers by itself once it answers again

sub oidc { main::jwt(iss => 'http://oidc.test/', @_) }

is(call(oidc(claims => { sub => 'o1' })), '200 o1', 'oidc: a token');
is(fetches('oidc.json'), 1, 'oidc: the discovery document was fetched');
is(fetches('oidc-a.json'), 1, 'oidc: then the set of its jwks_uri');
is(call(oidc(claims => { sub => 'o2' })), '200 o2', 'oidc: another token');
is(fetches('oidc.json') + fetches('oidc-a.json'), 2, 'oidc: no fetch');

main::tokens_write('oidc.json', oidc_doc('oidc-b.json'));
sleep 2.5;

is(call(oidc(alg => 'ES256', claims => { sub => 'o3' })), '200 o3',
   'oidc: the set expired: the new jwks_uri is followed');
is(fetches('oidc.json'), 2, 'oidc: the document fetched again');
is(fetches('oidc-b.json'), 1, 'oidc: the new set fetched');

unlink "$TokDir/oidc.json" or die "oidc.json: $!";
sleep 2.5;

is(call(oidc(alg => 'ES256', claims => { sub => 'o4' })), '200 o4',
   'oidc: discovery fails: the last good set is kept');

my $oidc_failed = time;

is(fetches('oidc.json'), 3, 'oidc: the failed discovery');
is(fetches('oidc-b.json'), 1, 'oidc: no set fetched without a document');
is(call(oidc(claims => { sub => 'o5' })), '401 unknown key',
   'oidc: a key of the old set is refused');
is(count(qr/\[error\].*foundry: the key set of "http:\/\/oidc\.test\/" from "\/_oidc" failed: the discovery location did not answer 200, the last good set is kept/),
   1, 'oidc: the failure is logged once');

main::tokens_write('oidc.json', oidc_doc('oidc-a.json'));


# 2. rotation: a new kid is fetched without a reload

main::tokens_write('rot.json', main::jwks('rsa', 'rsa2'));

my $rotated = time;
my $b1 = rot(key => 'rsa2', claims => { sub => 'b1' });

is(call($b1), '200 b1', 'rotation: a token of the new key is accepted');
is(fetches('rot.json'), 2, 'rotation: after one more fetch');
is(call(rot(claims => { sub => 'a3' })), '200 a3',
   'rotation: the old key still works');
is(fetches('rot.json'), 2, 'rotation: no fetch for a known kid');


# 3. the cooldown: another unknown kid within 30 s is refused unfetched

main::tokens_write('rot.json', main::jwks('rsa', 'rsa2', 'ec256'));

my $c1 = rot(alg => 'ES256', claims => { sub => 'c1' });

is(call($c1), '401 unknown key', 'cooldown: a newer kid is refused');
is(call(rot(kid => 'garbage-1')), '401 unknown key',
   'cooldown: a garbage kid too');
is(call(rot(kid => 'garbage-2')), '401 unknown key',
   'cooldown: and another one');
is(fetches('rot.json'), 2, 'cooldown: without a fetch');


# 4. ttl=2s: the set is fetched again when it expires; a key taken out
#    of it stops working (but for tokens already remembered)

my $k1 = klg(claims => { sub => 'k1' });

is(call($k1), '200 k1', 'ttl: a token of the set');
is(fetches('klg.json'), 1, 'ttl: fetched');

main::tokens_write('klg.json', main::jwks('ed'));
sleep 2.5;

is(call(klg(claims => { sub => 'k2' })), '401 unknown key',
   'ttl: a key no longer in the set is refused');
is(fetches('klg.json'), 2, 'ttl: after one fetch');
is(call(klg(alg => 'EdDSA', claims => { sub => 'e1' })), '200 e1',
   'ttl: the new key works');
is(call($k1), '200 k1', 'ttl: a remembered token of the old key still works');
is(fetches('klg.json'), 2, 'ttl: no more fetches');


# 5. keep-last-good: the location fails, known keys still work; the
#    failure is logged once

unlink "$TokDir/klg.json" or die "klg.json: $!";
sleep 2.5;

is(call(klg(alg => 'EdDSA', claims => { sub => 'e2' })), '200 e2',
   'keep-last-good: the set expired, the fetch fails, the token passes');
is(fetches('klg.json'), 3, 'keep-last-good: the failed fetch');
like($ngx->file('logs/idp.log'), qr{^/klg\.json 404 }m,
     'keep-last-good: the location answered 404');

is(call(klg(alg => 'EdDSA', claims => { sub => 'e3' })), '200 e3',
   'keep-last-good: another token of a known kid');
is(call(klg(alg => 'EdDSA', claims => { sub => 'e4' })), '200 e4',
   'keep-last-good: and another');
is(fetches('klg.json'), 3,
   'keep-last-good: no new fetch within 30 s of the failure');

is(call(klg(alg => 'EdDSA', kid => 'new-kid')), '401 unknown key',
   'keep-last-good: an unknown kid is refused');
is(fetches('klg.json'), 4, 'keep-last-good: after one fetch for it');

my $failed = qr/\[error\].*foundry: the key set of "https:\/\/klg\.test\/" from "\/_jwks\/klg" failed: the key set location did not answer 200, the last good set is kept/;

is(count($failed), 1, 'keep-last-good: the failure is logged once');


# 6. claims are checked on every request, remembered or not; refused
#    tokens are never remembered

my $s = rot(claims => { sub => 's' });
my $before = count($accepted) + count($remembered);

is(call($s, '/strict/models'), '401 missing claim', 'claims: refused');
is(call($s, '/strict/models'), '401 missing claim',
   'claims: refused again, for the same reason');
is(count($accepted) + count($remembered), $before,
   'claims: the refused token was neither accepted nor remembered');

is(call($s, '/v1/models'), '200 s', 'claims: accepted without the claim');
is(call($s, '/strict/models'), '401 missing claim',
   'claims: refused again although remembered');

my $bad = rot(key => $Other{rsa}, kid => 'rsa-1');
my $rem = count($remembered);

is(call($bad), '401 invalid signature', 'a bad signature: refused');
is(call($bad), '401 invalid signature', 'and again, for the same reason');
is(count($remembered), $rem, 'a refused token is not remembered');


# 6b. the workers' tables of accepted tokens are found by the token's
#     end: a token with the signature of a remembered one and another
#     payload of the same length lands in its slot, and is refused

my $slot = rot(claims => { sub => 'slot-1' });

is(call($slot), '200 slot-1', 'slot: a token') for 1 .. 4;

my ($sh, $sp, $ss) = split /\./, $slot;
my $payload = MIME::Base64::decode_base64url($sp);
$payload =~ s/"slot-1"/"slot-2"/ or die "no sub in $payload";
my $forged = join '.', $sh, main::b64u($payload), $ss;

is(length $forged, length $slot, 'slot: the forged token has its length');
is(call($forged), '401 invalid signature',
   'slot: its payload changed, the same signature: refused') for 1 .. 4;


# 7. after the cooldown, an unknown kid is fetched again

my $wait = $rotated + 31 - time;
sleep $wait if $wait > 0;

is(call($c1), '200 c1', 'after the cooldown: the newer kid is fetched');
is(fetches('rot.json'), 3, 'after the cooldown: with one fetch');


# 7b. oidc: the discovery answers again, the issuer recovers by itself

$wait = $oidc_failed + 32 - time;
sleep $wait if $wait > 0;

is(call(oidc(claims => { sub => 'o6' })), '200 o6',
   'oidc: recovered: a token of the set of the jwks_uri now given');
is(fetches('oidc-a.json'), 2, 'oidc: recovered: the set fetched again');


# 8. once bugs

# 8a. with no good set yet (the location fails from the start), the
#     set is fetched again only after the cooldown, whatever the tokens

for my $i (1 .. 5) {
    call(main::jwt(iss => 'https://down.test/', kid => "garbage-$i"));
}

my $down = fetches('missing.json');

# the first token's fetch, then its unknown kid's, then none for 30 s
is($down, 2, 'no good set: 5 garbage tokens, two fetches within 30 s');

is(call(main::jwt(iss => 'https://down.test/')), '401 unknown key',
   'no good set: a token is refused');

# 8b. the verified-token cache is scoped to the issuer's keys: a token
#     verified with the secret of one location is not taken for verified
#     by another whose issuer of the same name has another secret (fixed
#     by 05abd9c)

my $sa = main::jwt(alg => 'HS256', key => $SecretA,
                   iss => 'https://shared.test/', claims => { sub => 'sa' });

is(call($sa, '/scope-b/models'), '401 invalid signature',
   'scope: B refuses a token of A\'s secret');
is(call($sa, '/scope-a/models'), '200 sa', 'scope: A accepts it');
is(call($sa, '/scope-b/models'), '401 invalid signature',
   'scope: B still refuses it once A has remembered it');

# 8c. the key sets of jwks= are kept in the zone by issuer and location:
#     two locations trusting the same "iss" through other jwks= locations
#     have a set each

sub same { main::jwt(iss => 'https://sameset.test/', @_) }

is(call(same(key => 'rsa2', claims => { sub => 'b1' }), '/set-b/models'),
   '200 b1', 'same iss: B accepts a token of its key');
is(call(same(key => 'rsa', claims => { sub => 'a1' }), '/set-a/models'),
   '200 a1', 'same iss: A accepts a token of its key');

is(call(same(key => 'rsa', claims => { sub => 'a2' }), '/set-b/models'),
   '401 unknown key', 'same iss: B refuses a token of A\'s key');
is(call(same(key => 'rsa2', claims => { sub => 'b2' }), '/set-b/models'),
   '200 b2', 'same iss: B still accepts a token of its own key');


# 9. what was logged and fetched

my @lines = grep { /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]/ }
            split /\n/, $ngx->error_log;

is(scalar @lines, 0, 'no token in the error log, nginx\'s own lines too')
    or diag(join "\n", @lines[0 .. ($#lines < 4 ? $#lines : 4)]);

like($ngx->error_log, qr/http header: "Authorization: Bearer \*+"/,
     'the debug log was on, the token masked in nginx\'s header line');

is(scalar(grep { !/ "-"$/ } split /\n/, $ngx->file('logs/idp.log')), 0,
   'the fetches carry no Authorization');

is(scalar(() = $ngx->error_log =~ /\[(?:alert|crit|emerg)\]/g), 0,
   'no alert');

is(count(qr/\[error\].*foundry: the key set of "https:\/\/rot\.test\/"/), 0,
   'the rotating set never failed');

note(sprintf 'took %.1f s', time - $started);

$ngx->stop;
