# Streaming: "stream": true answers are Server-Sent Events that go through
# the gateway unchanged and without delay.
#
# Two parts:
#
# 1. Timing, in plain Perl before run_tests: an nginx of our own (random
#    port, temporary prefix, stopped at the end) in front of the mock,
#    whose events are 400 ms apart.  The first "data:" line must reach the
#    client long before the stream ends, and every event on its own; a
#    stream the upstream breaks must reach the client broken, not ended.
#
# 2. Content, with Test::Nginx: the exact SSE bodies for chat
#    completions (with include_usage), completions and responses, through
#    each upstream kind.  Ids carry a global counter, so main::mask_ids
#    turns "chatcmpl-mock-17" into "chatcmpl-mock-N" before comparing.

use Cwd qw(cwd);
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryRouting;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_DATA_DIR} = cwd() . '/t/data';
$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();

our $Upstreams = FoundryConf::mock_http(
    {port => $ENV{TEST_NGINX_MOCK_PORT}},
    aoai => {url => 'http://mock', api_version => '2024-10-21'},
    v1 => {url => 'http://mock'}, 'oai', 'compat');

sub main::mask_ids {
    my ($s) = @_;
    $s =~ s/\b(chatcmpl-mock-|cmpl-mock-|resp_mock_|msg_mock_)\d+/${1}N/g;
    return $s;
}

# an SSE body ends with a blank line, which a --- response_body section
# cannot show: mark the end

sub main::sse {
    my ($s) = @_;
    return $s unless $s =~ /\A(?:data|event): /;
    return main::mask_ids($s) . "<end of stream>\n";
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $Upstreams);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters',
                          [\&main::echo, \&main::sse]);
    }
});


#--------------------------------------------------------------------------
# 1. timing, against an nginx of our own
#--------------------------------------------------------------------------

our $TimingTests = 9;

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
        or die "cannot find a free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub start_own_nginx {
    my $dir = File::Temp::tempdir('foundry-stream-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    my $port = free_port();
    my $load = join '', map { "load_module $_;\n" }
                        split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';

    mkdir "$dir/logs";

    open my $conf, '>', "$dir/nginx.conf" or die "$dir/nginx.conf: $!";
    print $conf <<"_EOC_";
$load
daemon off;
master_process off;
worker_processes 1;
pid $dir/logs/nginx.pid;
error_log $dir/logs/error.log info;

events {
    worker_connections 64;
}

http {
    access_log off;
    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;

$Upstreams

    server {
        listen 127.0.0.1:$port;

        location /gw/ {
            foundry_gateway on;
            foundry_model gpt-4o model=gpt-4o-mini upstream=oai;
            include $ENV{TEST_NGINX_DATA_DIR}/routing-proxy.conf;
        }
    }
}
_EOC_
    close $conf;

    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/logs/stdout";
        open STDERR, '>&', \*STDOUT;
        { exec $bin, '-p', "$dir/", '-c', "$dir/nginx.conf"; }
        POSIX::_exit(127);
    }

    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        if ($s) {
            close $s;
            return ($pid, $port, $dir);
        }

        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            last;
        }

        Time::HiRes::sleep(0.05);
    }

    my $log = '';
    for my $f ("$dir/logs/stdout", "$dir/logs/error.log") {
        open my $fh, '<', $f or next;
        local $/;
        $log .= <$fh>;
    }

    kill 'TERM', $pid;
    waitpid $pid, 0;
    die "our nginx did not start: $log";
}

sub stop_own_nginx {
    my ($pid) = @_;

    kill 'QUIT', $pid;

    for (1 .. 100) {
        return if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }

    kill 'KILL', $pid;
    waitpid $pid, 0;
}

# sends a request, reads the answer as it comes: returns the raw bytes,
# the arrival time of each "data:" line relative to the request, the time
# the answer ended (EOF) and whether the chunked body was terminated

sub timed_request {
    my ($port, $headers, $body, $timeout) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp')
        or die "connect: $!";

    my $req = "POST /gw/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\nContent-Length: " . length($body)
              . "\r\n$headers\r\n$body";

    my $t0 = Time::HiRes::time();
    print $s $req;

    my $sel = IO::Select->new($s);
    my ($raw, $eof, $lines, @events) = ('', undef, 0);

    while (Time::HiRes::time() - $t0 < $timeout) {
        next unless $sel->can_read(0.05);

        my $n = sysread $s, my $buf, 65536;
        last unless defined $n;

        if ($n == 0) {
            $eof = Time::HiRes::time() - $t0;
            last;
        }

        $raw .= $buf;

        my $count = () = $raw =~ /^data: /mg;

        while ($lines < $count) {
            push @events, Time::HiRes::time() - $t0;
            $lines++;
        }
    }

    close $s;

    return {
        raw => $raw,
        events => \@events,
        eof => $eof,
        terminated => scalar($raw =~ /\r\n0\r\n\r\n\z/),
    };
}

sub timing_tests {
    my ($pid, $port, $dir) = start_own_nginx();

    # 6 events (role, 3 pieces, finish, [DONE]), 400 ms apart: 2 s in all

    my $r = timed_request($port,
                          "x-mock-chunks: 3\r\nx-mock-chunk-delay-ms: 400\r\n",
                          '{"model":"gpt-4o","stream":true}', 10);

    my @t = @{ $r->{events} };

    Test::More::like($r->{raw}, qr{\AHTTP/1\.1 200 .*\r\nContent-Type: text/event-stream\r\n}s,
                     'stream timing: 200 text/event-stream');

    Test::More::is(scalar @t, 6, 'stream timing: six events arrived')
        or Test::More::diag($r->{raw});

    Test::More::ok(@t && $t[0] < 1,
                   sprintf('stream timing: the first data: line came at '
                           . '%.3f s, at once',
                           $t[0] // -1));

    Test::More::ok(defined $r->{eof} && $r->{eof} > 1.6,
                   sprintf('stream timing: the stream ended at %.3f s',
                           $r->{eof} // -1));

    Test::More::ok(@t == 6 && $r->{eof} - $t[0] > 1.4,
                   'stream timing: the first event came well before the end');

    my @gaps = map { $t[$_] - $t[$_ - 1] } 1 .. $#t;

    # a stalled machine may join two events now and then; a buffering
    # gateway joins them all

    Test::More::ok(@gaps == 5 && grep({ $_ > 0.2 } @gaps) >= 4,
                   'stream timing: the events came one by one, gaps '
                   . CORE::join(' ', map { sprintf '%.3f', $_ } @gaps));

    Test::More::ok($r->{terminated} && $r->{raw} =~ /data: \[DONE\]\n\n\r\n0\r\n\r\n\z/,
                   'stream timing: the stream ended properly with [DONE]');

    # the upstream breaks the stream after 2 events: the client must see a
    # broken stream (no last chunk), not a stream that ended well

    $r = timed_request($port, "x-mock-chunks: 3\r\nx-mock-reset-after: 2\r\n",
                       '{"model":"gpt-4o","stream":true}', 10);

    Test::More::ok(@{ $r->{events} } == 2 && defined $r->{eof}
                   && !$r->{terminated},
                   'broken upstream stream: 2 events, then the connection '
                   . 'closes without the last chunk')
        or Test::More::diag($r->{raw});

    Time::HiRes::sleep(0.1);

    my $log = do {
        local $/;
        open my $fh, '<', "$dir/logs/error.log" or die "error.log: $!";
        <$fh>;
    };

    Test::More::like($log, qr/upstream prematurely closed connection/,
                     'broken upstream stream: logged');

    stop_own_nginx($pid);
}


repeat_each(2);

plan tests => repeat_each() * main::count_tests(blocks()) + $TimingTests;

timing_tests();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: chat completions stream through openai, exactly as the upstream sent it
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
        add_header X-Stream $foundry_stream always;
    }
--- request
POST /gw/chat/completions
{"model":"fast","stream":true,"messages":[{"role":"user","content":"Hi"}]}
--- more_headers
x-mock-chunks: 2
--- response_headers
Content-Type: text/event-stream
Cache-Control: no-cache
X-Stream: 1
--- response_body
data: {"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"created":1700000000,"id":"chatcmpl-mock-N","model":"gpt-4o-mini","object":"chat.completion.chunk"}

data: {"choices":[{"delta":{"content":"Hello from the"},"finish_reason":null,"index":0}],"created":1700000000,"id":"chatcmpl-mock-N","model":"gpt-4o-mini","object":"chat.completion.chunk"}

data: {"choices":[{"delta":{"content":" mock upstream."},"finish_reason":null,"index":0}],"created":1700000000,"id":"chatcmpl-mock-N","model":"gpt-4o-mini","object":"chat.completion.chunk"}

data: {"choices":[{"delta":{},"finish_reason":"stop","index":0}],"created":1700000000,"id":"chatcmpl-mock-N","model":"gpt-4o-mini","object":"chat.completion.chunk"}

data: [DONE]

<end of stream>
--- no_error_log
[error]



=== TEST 2: with stream_options.include_usage the usage chunk passes through (azure-openai-v1)
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=v1;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o","messages":[],"stream":true,"stream_options":{"include_usage":true}}
--- more_headers
x-mock-chunks: 1
x-mock-usage: 1234, 56, 7, 8
--- response_headers
Content-Type: text/event-stream
--- response_body
data: {"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"created":1700000000,"id":"chatcmpl-mock-N","model":"gpt-4o","object":"chat.completion.chunk","usage":null}

data: {"choices":[{"delta":{"content":"Hello from the mock upstream."},"finish_reason":null,"index":0}],"created":1700000000,"id":"chatcmpl-mock-N","model":"gpt-4o","object":"chat.completion.chunk","usage":null}

data: {"choices":[{"delta":{},"finish_reason":"stop","index":0}],"created":1700000000,"id":"chatcmpl-mock-N","model":"gpt-4o","object":"chat.completion.chunk","usage":null}

data: {"choices":[],"created":1700000000,"id":"chatcmpl-mock-N","model":"gpt-4o","object":"chat.completion.chunk","usage":{"completion_tokens":56,"completion_tokens_details":{"reasoning_tokens":8},"prompt_tokens":1234,"prompt_tokens_details":{"cached_tokens":7},"total_tokens":1290}}

data: [DONE]

<end of stream>
--- no_error_log
[error]



=== TEST 3: completions stream through azure-openai, deployment in the path
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/gpt-4o/completions
{"prompt":"Say hi","stream":true}
--- more_headers
x-mock-chunks: 2
--- response_headers
Content-Type: text/event-stream
x-mock-route: classic
--- response_body
data: {"choices":[{"finish_reason":null,"index":0,"logprobs":null,"text":"Hello from the"}],"created":1700000000,"id":"cmpl-mock-N","model":"gpt-4o","object":"text_completion"}

data: {"choices":[{"finish_reason":null,"index":0,"logprobs":null,"text":" mock upstream."}],"created":1700000000,"id":"cmpl-mock-N","model":"gpt-4o","object":"text_completion"}

data: {"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"text":""}],"created":1700000000,"id":"cmpl-mock-N","model":"gpt-4o","object":"text_completion"}

data: [DONE]

<end of stream>
--- no_error_log
[error]



=== TEST 4: responses API stream with event: lines, openai-compatible, deployment in the path
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o model=qwen2.5 upstream=compat;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
        add_header X-Stream $foundry_stream always;
    }
--- request
POST /gw/deployments/gpt-4o/responses
{"input":"Hi","stream":true}
--- more_headers
x-mock-chunks: 2
--- response_headers
Content-Type: text/event-stream
X-Stream: 1
--- response_body
event: response.created
data: {"response":{"created_at":1700000000,"id":"resp_mock_N","model":"qwen2.5","object":"response","output":[],"status":"in_progress","usage":null},"sequence_number":0,"type":"response.created"}

event: response.output_text.delta
data: {"content_index":0,"delta":"Hello from the","item_id":"msg_mock_N","output_index":0,"sequence_number":1,"type":"response.output_text.delta"}

event: response.output_text.delta
data: {"content_index":0,"delta":" mock upstream.","item_id":"msg_mock_N","output_index":0,"sequence_number":2,"type":"response.output_text.delta"}

event: response.completed
data: {"response":{"created_at":1700000000,"id":"resp_mock_N","model":"qwen2.5","object":"response","output":[{"content":[{"text":"Hello from the mock upstream.","type":"output_text"}],"role":"assistant","type":"message"}],"status":"completed","usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":0},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":17}},"sequence_number":3,"type":"response.completed"}

<end of stream>
--- no_error_log
[error]



=== TEST 5: a stream with no content events, delayed between events
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"stream":true,"model":"fast"}
--- more_headers
x-mock-chunks: 0
x-mock-chunk-delay-ms: 100
--- response_body
data: {"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"created":1700000000,"id":"chatcmpl-mock-N","model":"gpt-4o-mini","object":"chat.completion.chunk"}

data: {"choices":[{"delta":{},"finish_reason":"stop","index":0}],"created":1700000000,"id":"chatcmpl-mock-N","model":"gpt-4o-mini","object":"chat.completion.chunk"}

data: [DONE]

<end of stream>
--- no_error_log
[error]



=== TEST 6: the streaming request reaches the upstream as sent, "stream" untouched
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"fast","stream":true,"stream_options":{"include_usage":true}}
--- more_headers
x-mock-echo: 1
Accept: text/event-stream
--- response_body
POST /v1/chat/completions
accept: text/event-stream
authorization: Bearer sk-oai
content-length: 77
host: mock

{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true}}
--- no_error_log
[error]



=== TEST 7: an upstream error before the stream starts passes through as JSON
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"fast","stream":true}
--- more_headers
x-mock-status: 429
x-mock-retry-after: 3
--- error_code: 429
--- response_headers
Content-Type: application/json
Retry-After: 3
--- response_body chomp
{"error":{"code":"MockError","message":"mock status 429"}}
--- no_error_log
[error]



=== TEST 8: many small events in one stream
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"fast","stream":true}
--- more_headers
x-mock-chunks: 2000
--- response_body_filters eval
[\&main::mask_ids, sub {
    my ($s) = @_;
    my $n = () = $s =~ /^data: \{"choices":\[\{"delta":/mg;
    my $done = $s =~ /\n\ndata: \[DONE\]\n\n\z/ ? 'ends with [DONE]' : 'no [DONE]';
    my $text = CORE::join '', $s =~ /"content":"([^"]*)"/g;
    "$n chunks, $done, text \"$text\"\n";
}]
--- response_body
2002 chunks, ends with [DONE], text "Hello from the mock upstream."
--- no_error_log
[error]
