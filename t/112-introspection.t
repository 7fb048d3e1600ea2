# Opaque bearer tokens checked by OAuth 2.0 token introspection (RFC 7662,
# foundry_token_introspection, issue 19 item 2).  The introspection
# endpoint is t/lib/FoundryIntrospect.pm on 127.0.0.1, which records each
# call (token, Basic credentials, form) and answers what the section tells
# it; the model upstream is the bundled mock.  Each section runs its own
# nginx (two workers), so answers kept in the zone do not mix.
#
# Sections: an active token on inference and discovery calls (the call,
# its credentials and form, the claims in variables, kept), an inactive
# token (kept briefly), one call for concurrent requests, the time kept
# bounded by "exp" and by "cache=", the endpoint down / slow / not 200 /
# garbage / oversized (503; kept tokens go on), audience and issuer
# checks, deployments allowed by claims, a JWT of an unknown issuer,
# nothing secret in a debug log, configuration errors.
# Takes about 20 s (cache times of a few seconds are waited out).

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use File::Temp qw(tempdir);
use MIME::Base64 ();
use POSIX ();
use Time::HiRes qw(sleep time);
use IO::Socket::INET ();
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use FoundryIntrospect;

plan tests => 117;

my $Dir = tempdir('foundry-introspection-XXXXXX', TMPDIR => 1,
                  CLEANUP => 1);
my $SecretFile = "$Dir/introspection-secret";
my $Secret = 'gateway-secret&+x';

{
    open my $fh, '>', $SecretFile or die "$SecretFile: $!";
    print $fh "$Secret\n";
    close $fh;
}

# RFC 6749 2.3.1: the id and secret form-encoded, then base64
my $Basic = 'Basic ' . MIME::Base64::encode_base64(
    'gateway-1:gateway-secret%26%2Bx', '');

my $Mock = FoundryMock::start();
my $Body = '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}';

sub active {
    my (%claims) = @_;
    return { json => { active => JSON::PP::true, iss => 'https://idp.test/',
                       aud => ['api://foundry'], exp => int(time) + 3600,
                       client_id => 'agent-a', scope => 'models.read chat',
                       sub => 'user-1', %claims } };
}

# a gateway whose /v1/ takes tokens introspected at $srv
sub gateway {
    my ($port, %o) = @_;

    my $params = $o{params} // 'issuer=https://idp.test/ '
                               . 'audience=api://foundry cache=1h '
                               . 'inactive_cache=2s';
    my $timeout = $o{timeout} // '5s';
    my $extra = $o{extra} // '';
    my $server = $o{server} // '';

    return FoundryNginx->new(workers => 2, http => <<"CONF");
    foundry_jwt_zone tokens:1m;

    $extra

    upstream mock {
        server 127.0.0.1:$Mock;
    }

    foundry_upstream oai kind=openai url=http://mock bearer=sk-oai;

    server {
        listen 127.0.0.1:\$PORT;

        location = /_introspect {
            internal;
            proxy_pass http://127.0.0.1:$port/oauth2/introspect;
            proxy_connect_timeout 2s;
            proxy_read_timeout $timeout;
        }

        location /v1/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;

            foundry_model gpt-4o created=1 upstream=oai;
            foundry_model gpt-4o-mini created=1 upstream=oai;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}"
                                    provider=OpenAI;

            foundry_token_introspection /_introspect client_id=gateway-1
                                        secret_file=$SecretFile
                                        $params;

            foundry_jwt_deployments claim=client_id value=agent-a
                                    deployments=~.;
            foundry_jwt_deployments claim=client_id value=agent-limited
                                    deployments=gpt-4o-mini;

            add_header X-Sub \$foundry_jwt_sub always;
            add_header X-Iss \$foundry_jwt_iss always;
            add_header X-Scope \$foundry_jwt_claim_scope always;
        }

        $server
    }
CONF
}

sub chat {
    my ($ngx, $token, $model) = @_;
    my $body = $Body;
    $body =~ s/gpt-4o/$model/ if $model;
    return $ngx->request('POST', '/v1/chat/completions',
                         ['Content-Type' => 'application/json',
                          'Cookie' => 'session=client-cookie',
                          (defined $token
                           ? ('Authorization' => "Bearer $token") : ())],
                         $body);
}

sub models {
    my ($ngx, $token) = @_;
    return $ngx->request('GET', '/v1/models',
                         ['Authorization' => "Bearer $token"]);
}

sub code_of {
    my ($b) = @_;
    my $j = eval { JSON::PP::decode_json($b) } || {};
    return $j->{error}{code} // '';
}

# N requests at once, from N processes: how many got 200
sub together {
    my ($ngx, $token, $n) = @_;
    my @pids;
    for (1 .. $n) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($s) = chat($ngx, $token);
            POSIX::_exit($s == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $ok = 0;
    for (@pids) { waitpid $_, 0; $ok++ unless $? }
    return $ok;
}


# 1. an active token: inference and discovery, one call, its form and the
#    gateway's credentials, the claims in the variables

{
    my $srv = FoundryIntrospect->new;
    my $tok = 'opaque+/=&token-1';
    $srv->answer($tok => active());
    my $ngx = gateway($srv->port);

    my ($st, $h, $b) = chat($ngx, $tok);
    is($st, 200, 'active: inference passes');
    is($h->{'x-sub'}, 'user-1', 'active: $foundry_jwt_sub is "sub"');
    is($h->{'x-iss'}, 'https://idp.test/', 'active: $foundry_jwt_iss');
    is($h->{'x-scope'}, 'models.read chat',
       'active: $foundry_jwt_claim_scope');

    my $calls = $srv->calls;
    is(scalar @$calls, 1, 'active: one introspection call');
    my $c = $calls->[0] // {};
    is($c->{method}, 'POST', 'active: a POST');
    is($c->{path}, '/oauth2/introspect', 'active: to the endpoint');
    is($c->{token}, $tok, 'active: the token, form-encoded, arrives whole');
    is($c->{hint}, 'access_token', 'active: token_type_hint=access_token');
    is($c->{authorization}, $Basic,
       'active: the gateway\'s client credentials in HTTP Basic');
    is($c->{content_type}, 'application/x-www-form-urlencoded',
       'active: a form');
    is($c->{accept}, 'application/json', 'active: Accept: JSON');
    is($c->{cookie}, undef, 'active: none of the client\'s headers');

    ($st) = chat($ngx, $tok);
    is($st, 200, 'active: the next request passes');
    ($st, $h, $b) = models($ngx, $tok);
    is($st, 200, 'active: a discovery call passes');
    like($b, qr/"id":"gpt-4o"/, 'active: the list');
    ($st) = chat($ngx, $tok);
    is($srv->calls_for($tok), 1, 'active: kept, no second call');

    ($st, $h, $b) = chat($ngx, undef);
    is($st, 401, 'no token: 401');

    # a token without "sub": $foundry_jwt_sub is the client
    $srv->answer('opaque-nosub' => active(sub => undef));
    my $a = active(); delete $a->{json}{sub};
    $srv->answer('opaque-nosub' => $a);
    ($st, $h) = chat($ngx, 'opaque-nosub');
    is($st, 200, 'no sub: passes');
    is($h->{'x-sub'}, 'agent-a', 'no sub: $foundry_jwt_sub is "client_id"');
}


# 2. an inactive token: 401, kept for inactive_cache=

{
    my $srv = FoundryIntrospect->new;
    $srv->answer('opaque-revoked' => { json => { active => JSON::PP::false }
                                     });
    my $ngx = gateway($srv->port);
    my $t0 = time;

    my ($st, $h, $b) = chat($ngx, 'opaque-revoked');
    is($st, 401, 'inactive: 401');
    is(code_of($b), 'Unauthorized', 'inactive: the JSON code');
    like($h->{'www-authenticate'} // '',
         qr/error="invalid_token", error_description="token not active"/,
         'inactive: the challenge says why');

    ($st) = models($ngx, 'opaque-revoked');
    is($st, 401, 'inactive: discovery 401 too');
    is($srv->calls_for('opaque-revoked'), 1, 'inactive: kept, one call');

    sleep 3.2 - (time - $t0) if time - $t0 < 3.2;
    ($st) = chat($ngx, 'opaque-revoked');
    is($srv->calls_for('opaque-revoked'), 2,
       'inactive: asked again after inactive_cache=');

    like($ngx->error_log, qr/token refused: token not active/,
         'inactive: logged');
}


# 3. concurrent requests for a token not kept yet: one call

{
    my $srv = FoundryIntrospect->new;
    my $a = active();
    $a->{delay_ms} = 500;
    $srv->answer('opaque-busy' => $a);
    my $ngx = gateway($srv->port);

    is(together($ngx, 'opaque-busy', 8), 8,
       'together: 8 concurrent requests pass');
    is($srv->calls_for('opaque-busy'), 1, 'together: one call for them all');
}


# 3b. a client that leaves while its token is introspected: the next
#     request with the token does not wait for the lost call

{
    my $srv = FoundryIntrospect->new;
    my $a = active();
    $a->{delay_ms} = 1500;
    $srv->answer('opaque-left' => $a);
    my $ngx = gateway($srv->port);

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $ngx->{port})
        or die "connect: $!";
    print $s "GET /v1/models HTTP/1.1\r\nHost: x\r\n"
             . "Authorization: Bearer opaque-left\r\n\r\n";
    sleep 0.5;
    close $s;
    sleep 0.3;

    my $t0 = time;
    my ($st) = models($ngx, 'opaque-left');
    is($st, 200, 'left: the next request passes');
    cmp_ok(time - $t0, '<', 5, 'left: without waiting for the lost call');
    is($srv->calls_for('opaque-left'), 2, 'left: it made a call of its own');
}


# 4. the time kept: until the token's "exp", at most cache=

{
    my $srv = FoundryIntrospect->new;
    $srv->answer('opaque-short' => active(exp => int(time) + 2),
                 'opaque-long' => active());
    my $ngx = gateway($srv->port, params => 'cache=2s');
    my $t0 = time;

    my ($st) = chat($ngx, 'opaque-short');
    is($st, 200, 'exp: passes');
    ($st) = chat($ngx, 'opaque-long');
    is($st, 200, 'cache=: passes');
    chat($ngx, 'opaque-short');
    chat($ngx, 'opaque-long');
    is($srv->calls_for('opaque-short'), 1, 'exp: kept');
    is($srv->calls_for('opaque-long'), 1, 'cache=: kept');

    sleep 3.5 - (time - $t0) if time - $t0 < 3.5;

    $srv->answer('opaque-short' => { json => { active => JSON::PP::false }
                                   });
    ($st) = chat($ngx, 'opaque-short');
    is($st, 401, 'exp: asked again once expired, now inactive');
    is($srv->calls_for('opaque-short'), 2, 'exp: a second call');
    ($st) = chat($ngx, 'opaque-long');
    is($st, 200, 'cache=: passes again');
    is($srv->calls_for('opaque-long'), 2,
       'cache=: asked again after 2 s, although "exp" is in an hour');
}


# 5. the endpoint down: kept tokens go on, others get 503

{
    my $srv = FoundryIntrospect->new;
    $srv->answer('opaque-kept' => active());
    my $ngx = gateway($srv->port);

    my ($st, $h, $b) = chat($ngx, 'opaque-kept');
    is($st, 200, 'down: a token kept before');

    $srv->stop;

    ($st) = chat($ngx, 'opaque-kept');
    is($st, 200, 'down: the kept token goes on');
    ($st) = models($ngx, 'opaque-kept');
    is($st, 200, 'down: on discovery too');

    ($st, $h, $b) = chat($ngx, 'opaque-new');
    is($st, 503, 'down: a new token: 503');
    is(code_of($b), 'TokenIntrospectionUnavailable', 'down: the JSON code');
    like($h->{'content-type'} // '', qr{application/json}, 'down: JSON');
    like($b, qr/introspection endpoint failed, try again later/,
         'down: the message');

    my $log = $ngx->error_log;
    like($log, qr/token introspection at "\/_introspect" failed: the introspection endpoint did not answer 200/,
         'down: logged');
    unlike($log, qr/opaque-new|opaque-kept/, 'down: no token in the log');
    unlike($log, qr/\[(?:alert|crit|emerg)\]/, 'down: no alert');
}


# 6. slow, not 200, garbage, oversized: 503 and why in the log

{
    my $srv = FoundryIntrospect->new;
    my $slow = active();
    $slow->{delay_ms} = 3000;
    $srv->answer('opaque-slow' => $slow,
                 'opaque-500' => { status => 500, raw => '{"error":"x"}' },
                 'opaque-garbage' => { raw => 'not json at all' },
                 'opaque-array' => { raw => '[{"active":true}]' },
                 'opaque-noactive' => { json => { exp => int(time) + 60 } },
                 'opaque-activestr' => { json => { active => 'true' } },
                 'opaque-badscope' => active(scope => ['a', 'b']),
                 'opaque-badexp' => active(exp => 'tomorrow'),
                 'opaque-dup' => { raw => '{"active":true,"active":true}' },
                 'opaque-big' => active(pad => 'x' x 20000));
    my $ngx = gateway($srv->port, timeout => '1s');

    my %why = (
        'opaque-slow' => qr/timed out/,
        'opaque-500' => qr/did not answer 200 \(status 500\)/,
        'opaque-garbage' => qr/not a JSON object of valid claims/,
        'opaque-array' => qr/not a JSON object of valid claims/,
        'opaque-noactive' => qr/has no boolean "active"/,
        'opaque-activestr' => qr/has no boolean "active"/,
        'opaque-badscope' => qr/a claim of a wrong type/,
        'opaque-badexp' => qr/not a JSON object of valid claims/,
        'opaque-dup' => qr/not a JSON object of valid claims/,
        'opaque-big' => qr/the answer is too large/,
    );

    for my $t (sort keys %why) {
        my ($st, $h, $b) = chat($ngx, $t);
        is($st, 503, "$t: 503");
        like($ngx->error_log, $why{$t}, "$t: logged");
    }

    # a failure is kept a second: the same token at once is not asked again
    $srv->answer('opaque-502' => { status => 502, raw => '' });
    my ($st) = chat($ngx, 'opaque-502');
    is($st, 503, 'failure: 503');
    ($st) = chat($ngx, 'opaque-502');
    is($st, 503, 'failure kept: 503');
    is($srv->calls_for('opaque-502'), 1, 'failure kept: no second call');
    sleep 1.2;
    ($st) = chat($ngx, 'opaque-502');
    is($srv->calls_for('opaque-502'), 2, 'failure kept: a second only');
}


# 7. audience and issuer, as configured

{
    my $srv = FoundryIntrospect->new;
    $srv->answer('opaque-aud' => active(aud => 'api://other'),
                 'opaque-noaud' => active(aud => undef),
                 'opaque-iss' => active(iss => 'https://evil.test/'),
                 'opaque-audlist' => active(aud => ['x', 'api://foundry']),
                 'opaque-noiss' => active(iss => undef));
    my $a = active(); delete $a->{json}{iss};
    $srv->answer('opaque-noiss' => $a);
    $a = active(); delete $a->{json}{aud};
    $srv->answer('opaque-noaud' => $a);
    my $ngx = gateway($srv->port);

    my ($st, $h) = chat($ngx, 'opaque-aud');
    is($st, 401, 'audience: another one refused');
    like($h->{'www-authenticate'} // '', qr/wrong audience/,
         'audience: why');
    ($st) = chat($ngx, 'opaque-noaud');
    is($st, 401, 'audience: none refused');
    ($st) = chat($ngx, 'opaque-audlist');
    is($st, 200, 'audience: one of a list');
    ($st, $h) = chat($ngx, 'opaque-iss');
    is($st, 401, 'issuer: another one refused');
    like($h->{'www-authenticate'} // '', qr/wrong issuer/, 'issuer: why');
    ($st, $h) = chat($ngx, 'opaque-noiss');
    is($st, 200, 'issuer: an answer without "iss" is the endpoint\'s');
    is($h->{'x-iss'}, 'https://idp.test/', 'issuer: the configured one');
}


# 8. deployments allowed by the claims; a JWT of no configured issuer is
#    introspected too

{
    my $srv = FoundryIntrospect->new;
    my $jwt = join '.', map { MIME::Base64::encode_base64url($_) }
        '{"alg":"RS256","typ":"JWT"}', '{"iss":"https://elsewhere/"}', 'sig';
    $srv->answer('opaque-limited' => active(client_id => 'agent-limited'),
                 $jwt => active());
    my $ngx = gateway($srv->port);

    my ($st, $h, $b) = chat($ngx, 'opaque-limited', 'gpt-4o-mini');
    is($st, 200, 'allowed: gpt-4o-mini');
    ($st, $h, $b) = chat($ngx, 'opaque-limited', 'gpt-4o');
    is($st, 403, 'allowed: not gpt-4o');
    ($st, $h, $b) = models($ngx, 'opaque-limited');
    unlike($b, qr/"id":"gpt-4o"/, 'allowed: discovery lists its own only');
    like($b, qr/"id":"gpt-4o-mini"/, 'allowed: gpt-4o-mini listed');

    ($st) = chat($ngx, $jwt);
    is($st, 200, 'JWT of another issuer: introspected, passes');
    is($srv->calls_for($jwt), 1, 'JWT of another issuer: one call');
}


# 9. nothing secret in a debug log

{
    local $ENV{FOUNDRY_NGINX_LOG_LEVEL} = 'debug';

    my $srv = FoundryIntrospect->new;
    $srv->answer('opaque-secret-token-42' => active());
    my $ngx = gateway($srv->port);

    my ($st) = chat($ngx, 'opaque-secret-token-42');
    is($st, 200, 'debug log: passes');
    ($st) = chat($ngx, 'opaque-unknown-token-43');
    is($st, 401, 'debug log: an inactive one');

    my $log = $ngx->error_log;
    like($log, qr/foundry: token introspected at "\/_introspect"/,
         'debug log: the introspection is logged');
    unlike($log, qr/opaque-secret-token-42|opaque-unknown-token-43/,
           'debug log: no token');
    unlike($log, qr/gateway-secret/, 'debug log: no client secret');
    my $b64 = substr($Basic, 6);
    unlike($log, qr/\Q$b64\E/, 'debug log: no Basic credentials');
}


# 9b. the metric: foundry_token_introspections_total{location,outcome},
#     each request counted once by how its token was decided

{
    my $srv = FoundryIntrospect->new;
    $srv->answer('opaque-good' => active());
    $srv->answer('opaque-off' => { json => { active => JSON::PP::false } });
    $srv->answer('opaque-bad' => { raw => 'not json', status => 200 });
    my $ngx = gateway($srv->port,
                      extra => 'foundry_metrics_zone metrics:1m;',
                      server => 'location = /metrics { foundry_metrics; }');

    my $count = sub {
        my ($outcome) = @_;
        my (undef, undef, $page) = $ngx->request('GET', '/metrics');
        my ($n) = $page =~ /^foundry_token_introspections_total\{location="\/_introspect",outcome="$outcome"\} (\d+)$/m;
        return $n // 0;
    };

    my (undef, undef, $page) = $ngx->request('GET', '/metrics');
    like($page, qr/^# TYPE foundry_token_introspections_total counter$/m,
         'metric: its TYPE line');

    my ($st) = chat($ngx, 'opaque-good');
    is($st, 200, 'metric: an active token');
    is($count->('active'), 1, 'metric: outcome "active"');

    chat($ngx, 'opaque-good') for 1 .. 3;
    is($count->('cached'), 3, 'metric: three kept answers, "cached"');
    is($count->('active'), 1, 'metric: still one "active"');

    ($st) = chat($ngx, 'opaque-off');
    is($st, 401, 'metric: an inactive token');
    is($count->('inactive'), 1, 'metric: outcome "inactive"');

    ($st) = chat($ngx, 'opaque-bad');
    is($st, 503, 'metric: a garbage answer');
    is($count->('failed'), 1, 'metric: outcome "failed"');
    is(scalar @{ $srv->calls }, 3, 'metric: three calls to the endpoint');

    (undef, undef, $page) = $ngx->request('GET', '/metrics');
    unlike($page, qr/opaque-/, 'metric: no token in a label');
}


# 10. configuration errors

# nginx -t on an http{} of the test's own: what it prints
sub conf_test {
    my ($http) = @_;

    my $prefix = tempdir('foundry-introspection-conf-XXXXXX', TMPDIR => 1,
                         CLEANUP => 1);
    my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    my $text = join('', map { "load_module $_;\n" } @modules)
               . "error_log stderr;\nevents {}\nhttp {\n$http\n}\n";

    mkdir "$prefix/logs";
    open my $out, '>', "$prefix/nginx.conf" or die "$prefix: $!";
    print $out $text;
    close $out;

    my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';

    return scalar qx{$nginx -t -p $prefix -c $prefix/nginx.conf 2>&1};
}

sub loc {
    my ($directive, %o) = @_;
    my $zone = exists $o{zone} ? $o{zone} : "foundry_jwt_zone t:1m;\n";
    my $more = $o{more} // '';
    return "$zone"
        . "foundry_upstream oai kind=openai url=http://127.0.0.1:9 "
        . "bearer=x;\n"
        . "server { listen 127.0.0.1:9; location /v1/ { foundry_gateway on;"
        . " proxy_pass \$foundry_upstream_url;"
        . " foundry_model m upstream=oai; $more\n$directive\n} }";
}

my $Ok = "foundry_token_introspection /_i client_id=g "
         . "secret_file=$SecretFile;";

like(conf_test(loc($Ok)), qr/test is successful/,
     'conf: a valid directive');
like(conf_test(loc($Ok, more => 'foundry_auth token;')),
     qr/test is successful/, 'conf: foundry_auth token with it alone');
like(conf_test(loc($Ok, zone => '')),
     qr/"foundry_token_introspection" keeps its answers in "foundry_jwt_zone": the zone is needed/,
     'conf: the zone is needed');
like(conf_test(loc('foundry_token_introspection /_i client_id=g;')),
     qr/needs "client_id=" and "secret_file="/,
     'conf: the secret is needed');
like(conf_test(loc("foundry_token_introspection _i client_id=g "
                   . "secret_file=$SecretFile;")),
     qr/invalid location "_i" in "foundry_token_introspection" directive/,
     'conf: a location');
like(conf_test(loc("foundry_token_introspection /_i client_id=g "
                   . "secret_file=$SecretFile cache=0;")),
     qr/invalid value "cache=0"/, 'conf: cache=0');
like(conf_test(loc("foundry_token_introspection /_i client_id=g "
                   . "secret_file=$SecretFile inactive_cache=soon;")),
     qr/invalid value "inactive_cache=soon"/, 'conf: a bad time');
like(conf_test(loc("foundry_token_introspection /_i client_id=g "
                   . "secret_file=$SecretFile colour=blue;")),
     qr/invalid parameter "colour=blue"/, 'conf: an unknown parameter');
like(conf_test(loc("foundry_token_introspection /_i client_id=g "
                   . "secret_file=$Dir/missing;")),
     qr/missing/, 'conf: a missing secret file');
{
    open my $fh, '>', "$Dir/empty" or die;
    close $fh;
}
like(conf_test(loc("foundry_token_introspection /_i client_id=g "
                   . "secret_file=$Dir/empty;")),
     qr/the client secret file ".*empty" is empty/, 'conf: an empty secret');
my $keys = "$Dir/keys.json";
{
    open my $fh, '>', $keys or die;
    print $fh '{"keys":[{"name":"a","sha256":"'
              . ('0' x 64) . '"}]}';
    close $fh;
}
like(conf_test("foundry_keys_zone k:1m file=$keys;\n"
               . loc($Ok, more => "foundry_keys k; "
                                  . 'foundry_auth key_or_token; '
                                  . 'foundry_key_source bearer;')),
     qr/cannot be used where keys come in the Authorization header/,
     'conf: keys in the bearer');
like(conf_test(loc("$Ok\n$Ok")), qr/"foundry_token_introspection" directive is duplicate/,
     'conf: duplicate');
