# A client that leaves before the usage event: the upstream's answer is
# read on after the client closed the connection (foundry_usage_drain_timeout,
# foundry_usage_drain_size), and the usage it reports is what the token
# limits are charged; when no usage ever comes (the upstream cut the
# stream, or a bound was reached first), the estimate of what was read of
# the answer is charged when it is more than the reservation.
#
# Part 1 (plain Perl, before run_tests): an nginx of our own (FoundryNginx)
# in front of an upstream of this file (below), whose stream stops after
# its content events until the test lets it go on, through a file: the
# client reads the content events and closes the connection, the test
# waits for nginx to log that the client left, then lets the upstream send
# the rest (its usage event, or a cut, or more events, or nothing at all).
# What was charged is read from x-ratelimit-remaining-tokens of a next
# request with the same key: tpm=600 refills 10 tokens a second, so the
# value is compared with a margin of 10 tokens for each second the test
# took since the stream began, plus 5.
#
# Part 2: Test::Nginx blocks, the directives' configuration.

use strict;
use warnings;

use Cwd qw(cwd);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';


#--------------------------------------------------------------------------
# the upstream: a stream that waits for the test between its parts
#--------------------------------------------------------------------------

our $GoDir = tempdir('foundry-abort-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub event {
    my ($json) = @_;
    my $e = "data: $json\n\n";
    return sprintf("%x\r\n%s\r\n", length $e, $e);
}

sub content_event {
    return event('{"id":"chatcmpl-abort","object":"chat.completion.chunk",'
                 . '"model":"gpt-4o","choices":[{"index":0,"delta":'
                 . '{"content":"tok"},"finish_reason":null}],"usage":null}');
}

sub usage_event {
    my ($total) = @_;
    return event('{"id":"chatcmpl-abort","object":"chat.completion.chunk",'
                 . '"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":'
                 . '10,"completion_tokens":' . ($total - 10)
                 . ',"total_tokens":' . $total . '}}');
}

# waits for the file "go-NAME" (30 s at most); 1 when it came
sub wait_go {
    my ($name) = @_;
    for (1 .. 1500) {
        return 1 if -e "$GoDir/go-$name";
        sleep 0.02;
    }
    return 0;
}

# until the peer closes the connection (30 s at most)
sub hold {
    my ($c) = @_;
    my $sel = IO::Select->new($c);
    my $end = time + 30;
    while (time < $end) {
        next unless $sel->can_read(0.2);
        my $n = sysread($c, my $buf, 4096);
        return if !$n;
    }
}

# x-scenario: "usage" (then the usage event and the end), "cut" (the
# connection closed), "open" (nothing more, held open), "flood" (3000 more
# content events, then held open); x-events: the content events first;
# x-go: the name of the file to wait for; x-total: the usage's total
sub serve {
    my ($c) = @_;

    my $req = '';
    while ($req !~ /\r\n\r\n/) {
        my $n = sysread($c, $req, 4096, length $req);
        return if !$n;
    }

    my ($head, $body) = split /\r\n\r\n/, $req, 2;
    my %h;
    for my $line (split /\r\n/, $head) {
        $h{lc $1} = $2 if $line =~ /^([^:]+):\s*(.*)$/;
    }

    my $len = $h{'content-length'} // 0;
    while (length $body < $len) {
        my $n = sysread($c, $body, 4096, length $body);
        return if !$n;
    }

    my $scenario = $h{'x-scenario'} // 'usage';
    my $events = $h{'x-events'} // 5;

    syswrite($c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");

    syswrite($c, content_event()) for 1 .. $events;

    wait_go($h{'x-go'} // 'none') or return;

    if ($scenario eq 'usage') {
        syswrite($c, usage_event($h{'x-total'} // 400)
                     . event('[DONE]') . "0\r\n\r\n");
        hold($c);

    } elsif ($scenario eq 'open') {
        hold($c);

    } elsif ($scenario eq 'flood') {
        for (1 .. 3000) {
            last unless defined syswrite($c, content_event());
        }
        hold($c);
    }

    # "cut": closed
}

sub start_upstream {
    my $l = IO::Socket::INET->new(Listen => 32, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp',
                                  ReuseAddr => 1)
        or die "upstream: $!";

    my $port = $l->sockport;
    my $parent = $$;
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        $SIG{PIPE} = 'IGNORE';
        $SIG{CHLD} = 'IGNORE';
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';

        my $sel = IO::Select->new($l);

        while (getppid() == $parent) {
            next unless $sel->can_read(0.2);
            my $c = $l->accept or next;
            my $k = fork;
            if (defined $k && $k == 0) {
                serve($c);
                POSIX::_exit(0);
            }
            close $c;
        }

        POSIX::_exit(0);
    }

    close $l;

    return ($port, $pid);
}

our ($UpstreamPort, $UpstreamPid) = start_upstream();

END {
    kill 'TERM', $UpstreamPid if $UpstreamPid;
}


#--------------------------------------------------------------------------
# 1. an nginx of our own
#--------------------------------------------------------------------------

our $OwnTests = 27;

# the requests' bodies and their reservations (Content-Length / 4 +
# reserve=20): the stream's 47 bytes reserve 31, the next request's 28

our $Stream = '{"model":"abort","stream":true,"messages":[{}]}';
our $Next = '{"model":"gpt-4o","messages":[]}';

die "bodies changed" unless length($Stream) == 47 && length($Next) == 32;

our $StreamReserved = 11 + 20;
our $NextReserved = 8 + 20;

sub own_conf {
    my $params = "include $ENV{TEST_NGINX_CONF_D}/foundry_proxy_params;";

    # foundry_proxy_params without proxy_buffering off
    my $buffered = <<"_EOC_";
            proxy_pass \$foundry_upstream_url;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$foundry_upstream_host;
            proxy_set_header api-key \$foundry_upstream_api_key;
            proxy_set_header Authorization \$foundry_upstream_authorization;
            proxy_buffering on;
_EOC_

    my $loc = sub {
        my ($path, $more, $proxy) = @_;
        return <<"_EOC_";
        location /$path/ {
            foundry_gateway on;
            foundry_model abort upstream=abort;
            foundry_model gpt-4o upstream=oai;
            foundry_limit zone=limits key=\$http_x_tenant tpm=600 reserve=20;
            access_log logs/usage.log usage;
$more
            ${\($proxy // $params)}
        }
_EOC_
    };

    return <<"_EOC_"
    upstream mock {
        server 127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT};
    }

    upstream abortup {
        server 127.0.0.1:$UpstreamPort;
    }

    foundry_upstream oai kind=openai url=http://mock;
    foundry_upstream abort kind=openai url=http://abortup;
    foundry_limit_zone limits:1m;

    log_format usage '\$http_x_tenant|\$status|\$foundry_total_tokens';

    server {
        listen 127.0.0.1:\$PORT;
_EOC_
    . $loc->('v1', '')
    . $loc->('su', 'foundry_stream_usage on;')
    . $loc->('buf', '', $buffered)
    . $loc->('bufsu', 'foundry_stream_usage on;', $buffered)
    . $loc->('short', 'foundry_usage_drain_timeout 1s;')
    . $loc->('small', 'foundry_usage_drain_size 64k;')
    . $loc->('off', 'foundry_usage_drain_timeout 0;')
    . "    }\n";
}

our $Ngx;

# the clients that left so far
our $Left = 0;

# waits (20 s at most) until the error or access log matches $n times;
# 1 when it did
sub wait_log {
    my ($re, $what, $n) = @_;
    my $end = time + 20;
    while (time < $end) {
        my $log = $what eq 'error' ? $Ngx->error_log
                                   : $Ngx->file('logs/usage.log');
        return 1 if (() = $log =~ /$re/g) >= $n;
        sleep 0.02;
    }
    return 0;
}

# a stream read up to its $events content events, then left (or read to
# its end with "stay"); once the client left, the upstream is let go on
sub stream_start {
    my (%a) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$Ngx->{port}",
                                  Timeout => 5)
        or die "connect: $!";

    my $events = $a{events} // 5;
    my $req = "POST /$a{path}/chat/completions HTTP/1.1\r\n"
              . "Host: localhost\r\nConnection: close\r\n"
              . "x-tenant: $a{tenant}\r\nx-scenario: $a{scenario}\r\n"
              . "x-events: $events\r\nx-go: $a{tenant}\r\n"
              . "x-total: " . ($a{total} // 400) . "\r\n"
              . "Content-Length: " . length($Stream) . "\r\n\r\n$Stream";

    syswrite($s, $req);

    my $resp = '';
    my $sel = IO::Select->new($s);
    my $end = time + 10;

    while (time < $end && (() = $resp =~ /"content":"tok"/g) < $events) {
        next unless $sel->can_read(0.1);
        my $n = sysread($s, $resp, 65536, length $resp);
        last if !$n;
    }

    my $got = () = $resp =~ /"content":"tok"/g;

    if ($a{stay}) {
        go($a{tenant});

        $end = time + 10;

        while (time < $end && $sel->can_read(1)) {
            last if !sysread($s, $resp, 65536, length $resp);
        }

        close $s;

    } else {
        close $s;

        # nginx saw the client leave (ours, or nginx's own line)
        wait_log(qr/client (?:closed the connection|prematurely closed)/,
                 'error', ++$Left);

        go($a{tenant});
    }

    return $got;
}

sub go {
    my ($name) = @_;
    open my $fh, '>', "$GoDir/go-$name" or die "go: $!";
    close $fh;
}

# the request's access log line, once it is written
sub stream_end {
    my ($tenant) = @_;
    my $done = wait_log(qr/^\Q$tenant\E\|/m, 'access', 1);
    my ($line) = $Ngx->file('logs/usage.log') =~ /^(\Q$tenant\E\|.*)$/m;
    return $done ? $line : 'no log line';
}

sub stream {
    my (%a) = @_;
    my $got = stream_start(%a);
    return ($got, stream_end($a{tenant}));
}

# x-ratelimit-remaining-tokens of a next request of the key
sub remaining {
    my ($tenant) = @_;
    my ($status, $h) = $Ngx->request('POST', '/v1/chat/completions',
                                     ['x-tenant' => $tenant,
                                      'x-mock-usage' => '1,1'], $Next);
    return "$status " . ($h->{'x-ratelimit-remaining-tokens'} // 'none');
}

# the remaining tokens after $charged, with the refill since $t0
sub charged_ok {
    my ($tenant, $t0, $charged, $name) = @_;
    my $want = 600 - $charged - $NextReserved;
    my $margin = int((time - $t0) * 10) + 5;
    my $got = remaining($tenant);
    my ($n) = $got =~ /^200 (\d+)$/;
    Test::More::ok(defined $n && $n >= $want && $n <= $want + $margin,
                   "own: $name ($got, want $want to " . ($want + $margin)
                   . ")");
}

sub own_tests {
    $Ngx = FoundryNginx->new(http => own_conf());

    my ($t0, $got, $line);

    # the usage event after the client left: 400 charged, not the
    # reservation of 31 (a baseline nginx closes the upstream connection)

    for my $path (qw(v1 su buf bufsu)) {
        $t0 = time;
        ($got, $line) = stream(path => $path, tenant => "usage-$path",
                               scenario => 'usage', events => 5);
        Test::More::is("$got $line", "5 usage-$path|200|400",
                       "own: /$path/: the client left after 5 events, "
                       . "the usage that came after is read");
        charged_ok("usage-$path", $t0, 400,
                   "/$path/: the usage of 400 is charged");
    }

    Test::More::like($Ngx->error_log,
                     qr/the client closed the connection, the upstream's answer is read on for its token usage/,
                     'own: the client leaving is logged at info');

    # a large usage: more than the minute's tokens, the bucket is below 0

    ($got, $line) = stream(path => 'v1', tenant => 'large',
                           scenario => 'usage', total => 8000);
    Test::More::is("$got $line", '5 large|200|8000',
                   'own: a usage of 8000 after the client left');
    Test::More::is(remaining('large'), '429 0',
                   'own: 8000 charged, nothing remains: the next one waits');

    # the upstream cuts the stream after 100 events, the client gone: no
    # usage, the estimate (11 for the prompt, 100 events) is charged

    $t0 = time;
    ($got, $line) = stream(path => 'v1', tenant => 'cut', scenario => 'cut',
                           events => 100);
    Test::More::is("$got $line", '100 cut|200|-',
                   'own: the upstream cut the stream after the client left');
    charged_ok('cut', $t0, 111, 'cut: the estimate of 111 is charged');

    # the same, the client still there

    $t0 = time;
    ($got, $line) = stream(path => 'v1', tenant => 'cut-stay',
                           scenario => 'cut', events => 100, stay => 1);
    Test::More::is("$got $line", '100 cut-stay|200|-',
                   'own: the upstream cut the stream, the client stayed');
    charged_ok('cut-stay', $t0, 111,
               'cut, the client there: the estimate of 111 is charged');

    # a short stream cut: the reservation (31) is more than the estimate

    $t0 = time;
    ($got, $line) = stream(path => 'v1', tenant => 'cut-short',
                           scenario => 'cut', events => 5);
    Test::More::is("$got $line", '5 cut-short|200|-',
                   'own: a short stream cut');
    charged_ok('cut-short', $t0, $StreamReserved,
               'a short stream cut: the reservation stays');

    # the drain turned off: nginx closes the upstream connection when the
    # client leaves, the estimate of what was read is charged

    $t0 = time;
    ($got, $line) = stream(path => 'off', tenant => 'off',
                           scenario => 'usage', events => 100);
    Test::More::is("$got $line", '100 off|200|-',
                   'own: foundry_usage_drain_timeout 0: not read on');
    charged_ok('off', $t0, 111, 'drain off: the estimate of 111 is charged');

    # an upstream that sends no usage and keeps the connection open: the
    # request ends after foundry_usage_drain_timeout (1s), not after
    # proxy_read_timeout (300s); meanwhile the worker serves others

    $t0 = time;
    $got = stream_start(path => 'short', tenant => 'open', scenario => 'open',
                        events => 100);
    Test::More::like(remaining('other'), qr/^200 \d+$/,
                     'own: another request is served during a drain');
    $line = stream_end('open');
    Test::More::is("$got $line", '100 open|200|-',
                   'own: an upstream that never sends the usage: the request '
                   . 'ends after the drain timeout');
    Test::More::like($Ngx->error_log,
                     qr/no usage in the answer within foundry_usage_drain_timeout after the client left: the upstream connection is closed/,
                     'own: the drain timeout is logged');
    charged_ok('open', $t0, 111, 'open: the estimate of 111 is charged');

    # an upstream that floods: the request ends after 64k read, the
    # estimate of what was read charged: 64k of events of 142 bytes are
    # over 400 tokens

    $t0 = time;
    ($got, $line) = stream(path => 'small', tenant => 'flood',
                           scenario => 'flood', events => 5);
    Test::More::is("$got $line", '5 flood|200|-',
                   'own: an upstream that goes on without usage');
    Test::More::like($Ngx->error_log,
                     qr/\d+ bytes of the answer read after the client left, no usage yet: the upstream connection is closed/,
                     'own: the drain size is logged');
    my ($n) = remaining('flood') =~ /^200 (\d+)$/;
    Test::More::ok(defined $n && $n < 600 - 400 - $NextReserved
                                      + int((time - $t0) * 10) + 5,
                   'own: the estimate of what was read is charged ('
                   . ($n // 'none') . ' left)');

    # the upstream's cuts are nginx's own errors
    Test::More::unlike($Ngx->error_log,
                       qr/\[(?:alert|crit|emerg)\]|\[error\](?!.*upstream prematurely closed connection while reading upstream)/,
                       'own: no error but the cuts');

    $Ngx->stop;
}


#--------------------------------------------------------------------------
# 2. Test::Nginx blocks
#--------------------------------------------------------------------------

repeat_each(1);

no_shuffle();

Test::Nginx::Socket::plan(tests => $OwnTests + 3 * blocks());

own_tests();

run_tests();

__DATA__

=== TEST 1: the directives, in http, server and location
--- http_config
    foundry_usage_drain_timeout 30s;
    foundry_usage_drain_size 512k;
--- config
    foundry_usage_drain_timeout 0;
    location /t {
        foundry_usage_drain_timeout 2m;
        foundry_usage_drain_size 2m;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[emerg]



=== TEST 2: config: a timeout that is not a time
--- config
    foundry_usage_drain_timeout soon;
--- must_die
--- error_log
"foundry_usage_drain_timeout" directive invalid value
--- no_error_log
unknown directive



=== TEST 3: config: a size that is not a size
--- config
    foundry_usage_drain_size lots;
--- must_die
--- error_log
"foundry_usage_drain_size" directive invalid value
--- no_error_log
unknown directive
