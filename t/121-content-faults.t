# Content checks when the checker fails (foundry_content_check, issue 21):
# down (500), slow (past timeout=), answering garbage, refusing the
# connection, refusing the key; with fail=closed (503, nothing upstream)
# and fail=open (the request goes on unchecked).  Each failure leaves one
# error log line naming the checker and never the prompt.  Also: the
# checker's credential, a key set in its location or the upstream's own
# token (identity=upstream); a configuration's errors.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use IO::Socket::INET ();
use Time::HiRes qw(time);
use File::Temp qw(tempdir);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;

plan tests => 59;

my $Secret = 'SECRET-PROMPT-WORDS';

my $mock = FoundryMock::start();

sub mock_call { FoundryMock::control($mock, @_) }

sub content_mode {
    my (%set) = @_;
    return mock_call('PUT', '/__mock/content',
                     JSON::PP::encode_json({ reset => 1, %set }));
}

sub calls {
    return mock_call('GET', '/__mock/content')->{calls};
}

sub model_requests {
    my $s = mock_call('GET', '/__mock/stats');
    my $n = 0;
    for my $p (keys %{ $s->{by_path} }) {
        $n += $s->{by_path}{$p} if $p =~ m{\A/v1/};
    }
    return $n;
}

# a closed port: the checker that refuses connections
my $closed = do {
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "listen: $!";
    my $p = $l->sockport;
    close $l;
    $p;
};

my $ngx = FoundryNginx->new(workers => 2, http => <<"CONF");
    foundry_upstream_credential_zone upstream_tokens:1m;
    foundry_upstream_credential cred source=imds token=/_token;

    upstream mock {
        server 127.0.0.1:$mock;
    }

    foundry_upstream u kind=openai url=http://mock;
    foundry_upstream ui kind=openai url=http://mock credential=cred;

    server {
        listen 127.0.0.1:\$PORT;

        location = /_token {
            internal;
            proxy_pass http://127.0.0.1:$mock/metadata/identity/oauth2/token;
        }

        location /_cs/ {
            internal;
            proxy_pass http://127.0.0.1:$mock/;
            proxy_set_header Ocp-Apim-Subscription-Key mock-cs-key;
            proxy_read_timeout 10s;
        }

        location /_nokey/ {
            internal;
            proxy_pass http://127.0.0.1:$mock/;
        }

        location /_gone/ {
            internal;
            proxy_pass http://127.0.0.1:$closed/;
        }

        location /closed/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/ shield=on timeout=500ms;
            proxy_pass \$foundry_upstream_url;
            add_header X-Verdict \$foundry_content_verdict always;
            add_header X-Reason \$foundry_content_reason always;
        }

        location /open/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/ fail=open timeout=500ms;
            proxy_pass \$foundry_upstream_url;
            add_header X-Verdict \$foundry_content_verdict always;
        }

        location /gone-closed/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_gone/;
            proxy_pass \$foundry_upstream_url;
        }

        location /gone-open/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_gone/ fail=open;
            proxy_pass \$foundry_upstream_url;
        }

        location /nokey/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_nokey/;
            proxy_pass \$foundry_upstream_url;
        }

        location /identity/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=ui;
            foundry_content_check /_nokey/ identity=upstream;
            proxy_pass \$foundry_upstream_url;
            proxy_set_header Authorization \$foundry_upstream_authorization;
        }

        location /identity-none/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_nokey/ identity=upstream;
            proxy_pass \$foundry_upstream_url;
        }
    }
CONF

sub chat {
    my ($prefix, $text) = @_;
    my $body = JSON::PP::encode_json({
        model => 'gpt-4o',
        messages => [ { role => 'user', content => "$Secret $text" } ] });
    return $ngx->request('POST', "$prefix/chat/completions",
                         ['Content-Type' => 'application/json'], $body);
}

# the error log's lines since the last call
my $seen = 0;
sub new_log {
    my $log = $ngx->error_log;
    my $new = substr($log, $seen);
    $seen = length $log;
    return $new;
}

# the lines about the content checker
sub checker_lines {
    return grep { /content checker/ } split /\n/, new_log();
}


# 1..3: down, garbage, slow, each with both fail modes

for my $case (['down', 'answered 500', {}],
              ['garbage', 'answered what is not its answer', {}],
              ['slow', 'timed out', { delay_ms => 3000 }])
{
    my ($mode, $why, $extra) = @$case;

    content_mode(mode => $mode, %$extra);
    new_log();

    my $before = model_requests();
    my $t0 = time;
    my ($st, $h, $b) = chat('/closed', 'hello');
    my $took = time - $t0;

    is($st, 503, "$mode, fail=closed: 503");
    like($b, qr/"ContentCheckUnavailable"/, "$mode, fail=closed: the code");
    is($h->{'x-verdict'}, 'refused', "$mode, fail=closed: verdict refused");
    is(model_requests(), $before, "$mode, fail=closed: nothing upstream");

    my @lines = checker_lines();
    is(scalar @lines, 1, "$mode, fail=closed: one log line");
    like($lines[0] // '', qr{\[error\].*content checker "/_cs/" \Q$why\E.*is refused \(fail=closed\)},
         "$mode, fail=closed: it names the checker and why");

    ($st, $h) = chat('/open', 'hello');
    is($st, 200, "$mode, fail=open: the request goes on");
    is($h->{'x-verdict'}, 'unchecked', "$mode, fail=open: verdict unchecked");

    @lines = checker_lines();
    is(scalar @lines, 1, "$mode, fail=open: one log line");
    like($lines[0] // '', qr{content checker "/_cs/" \Q$why\E.*goes on unchecked \(fail=open\)},
         "$mode, fail=open: it says so");

    if ($mode eq 'slow') {
        cmp_ok($took, '<', 2.5,
               'slow: answered at the timeout, the call given up');
    }
}

content_mode(mode => 'ok');


# 4. a flag is a verdict even when the other call failed: not tested by
#    the mock's modes (all calls fail alike); the checker refusing the
#    connection

{
    new_log();
    my ($st, $h, $b) = chat('/gone-closed', 'hello');
    is($st, 503, 'connection refused, fail=closed: 503');
    my @lines = checker_lines();
    like($lines[0] // '', qr{content checker "/_gone/" answered 502},
         'connection refused: the log names the checker');

    ($st) = chat('/gone-open', 'hello');
    is($st, 200, 'connection refused, fail=open: goes on');
}


# 5. the checker's key: set in its location; without it the service
#    refuses (401), which is a failure of the check

{
    content_mode(key => 'mock-cs-key');

    my ($st) = chat('/closed', 'hello');
    is($st, 200, 'key: the location\'s key is accepted');
    is(calls()->[0]{key}, 'mock-cs-key', 'key: sent by the checker location');

    new_log();
    ($st) = chat('/nokey', 'hello');
    is($st, 503, 'key: without it, 401, refused');
    my @lines = checker_lines();
    like($lines[0] // '', qr{content checker "/_nokey/" answered 401},
         'key: logged');
    unlike(join("\n", @lines), qr/mock-cs-key/, 'key: the key is not logged');

    content_mode(key => undef);
}


# 6. identity=upstream: the upstream's fetched token goes to the checker

{
    content_mode();
    my ($st, $h, $b) = chat('/identity', 'hello');
    is($st, 200, 'identity: allowed');
    my $c = calls();
    like($c->[0]{authorization} // '', qr/\ABearer mock-token-\d+\z/,
         'identity: the checker gets the upstream\'s token');

    ($st, $h, $b) = chat('/identity', 'DEMO-UNSAFE');
    is($st, 400, 'identity: flagged');

    new_log();
    ($st) = chat('/identity-none', 'hello');
    is($st, 503, 'identity: an upstream without credential= fails closed');
    like(join("\n", checker_lines()), qr{content checker "/_nokey/" has no token},
         'identity: logged');
}


# 7. after the slow case, a late answer changes nothing; no prompt text in
#    any log line; no alert

{
    content_mode(mode => 'slow', delay_ms => 1500);
    my ($st) = chat('/open', 'DEMO-UNSAFE');
    is($st, 200, 'late: fail=open went on before the (flagging) answer');
    sleep 2;
    content_mode(mode => 'ok');
    ($st) = chat('/open', 'hello');
    is($st, 200, 'late: the next request is fine');

    my $log = $ngx->error_log;
    unlike($log, qr/$Secret|DEMO-/, 'logs: no prompt text');
    unlike($log, qr/\[(?:alert|crit|emerg)\]/, 'logs: no alert');
}


# 8. configuration errors

sub conf_error {
    my ($directive) = @_;
    my $dir = tempdir('foundry-content-conf-XXXXXX', TMPDIR => 1,
                      CLEANUP => 1);
    mkdir "$dir/logs";
    my $load = join '', map { "load_module $_;\n" }
                        split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
    open my $fh, '>', "$dir/nginx.conf" or die;
    print $fh "${load}error_log stderr;\nevents {}\nhttp {\n" . <<"CONF" . "}\n";
    foundry_upstream u kind=openai url=http://127.0.0.1:1;
    server {
        listen 127.0.0.1:1;
        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            $directive
            proxy_pass \$foundry_upstream_url;
        }
    }
CONF
    close $fh;
    my $bin = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
    my $out = `$bin -t -p $dir -c $dir/nginx.conf 2>&1`;
    return $out =~ /test is successful/ ? '' : $out;
}

like(conf_error('foundry_content_check _cs;'),
     qr/must be a location path starting with "\/"/, 'conf: the path');
like(conf_error('foundry_content_check /_cs fail=maybe;'),
     qr/invalid parameter "fail=maybe"/, 'conf: fail=');
like(conf_error('foundry_content_check /_cs Violence=9;'),
     qr/a severity threshold is a number from 0 to 7/, 'conf: threshold');
like(conf_error('foundry_content_check /_cs Anger=2;'),
     qr/invalid parameter "Anger=2"/, 'conf: unknown category');
like(conf_error('foundry_content_check /_cs shape=generic shield=on;'),
     qr/not of "shape=generic"/, 'conf: shield with generic');
like(conf_error('foundry_content_check /_cs blocklists=a,b!;'),
     qr/invalid parameter "blocklists=a,b!"/, 'conf: a blocklist name');
like(conf_error('foundry_content_check /_cs max_text=300000;'),
     qr/max_text is a number of characters from 1 to 200000/,
     'conf: max_text');
like(conf_error('foundry_content_check /_cs timeout=0;'),
     qr/invalid parameter "timeout=0"/, 'conf: timeout');
like(conf_error('foundry_content_check /_cs cache=nowhere;'),
     qr/zero size shared memory zone "nowhere"/, 'conf: an undeclared zone');
like(conf_error("foundry_content_check /_cs;\n foundry_content_check /_cs;"),
     qr/is duplicate/, 'conf: twice');
is(conf_error('foundry_content_check off;'), '', 'conf: off');
