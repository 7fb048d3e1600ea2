# Token usage wherever the upstream's answer is cut into reads: a tiny
# upstream of this test writes its answer in two writes, split at byte i,
# with a pause in between so that nginx (proxy_buffering off) reads the
# two parts separately, for EVERY i across the usage event of a stream,
# and across the whole of a JSON answer.  Each time, the access log line
# of the request must have the right counts, and the client must receive
# exactly the bytes the upstream sent.
#
# Cases:
#
#   sse        chat completion stream (include_usage), close-delimited;
#              split across the usage event
#   chunked    the same stream, chunked (one chunk an event); split across
#              the raw bytes of the usage event's chunk, size line included
#   responses  Responses API stream; split across the response.completed
#              event ("event:" line included)
#   json       chat completion, Content-Length; split at every byte
#   bytes-*    the stream and the JSON answer written one byte at a time
#   strip-*    sse, chunked and bytes-sse through foundry_stream_usage: the
#              client gets the stream without the usage event, whatever
#              the split
#   cut-*      streams the upstream breaks (no last chunk): before the
#              usage event, after it, and inside it (the counts of an
#              incomplete event are not taken)
#
# The counts change with i (prompt 100000+i ...), with the same number of
# digits, so each log line can only come from its own request.
#
# That the split did split is checked on the client's side: nginx passes
# on at once what it has read, so an answer that reaches the client in
# two parts, the last a pause after the first, was read in two parts.  An
# answer that came whole (a busy machine) is asked again, up to five
# times; FOUNDRY_SPLIT_PAUSE
# (seconds, default 0.004) sets the pause.

use strict;
use warnings;

use Cwd qw(cwd);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More;
use Time::HiRes qw(sleep);
use lib 't/lib';
use FoundryNginx;

my $Pause = $ENV{FOUNDRY_SPLIT_PAUSE} || 0.004;


#--------------------------------------------------------------------------
# the answers
#--------------------------------------------------------------------------

sub counts {
    my ($i) = @_;
    return (100000 + $i, 200000 + $i, 30000 + $i, 40000 + $i);
}

sub chat_usage {
    my ($p, $c, $cached, $r) = @_;
    return qq~{"completion_tokens":$c,"completion_tokens_details":~
        . qq~{"reasoning_tokens":$r},"prompt_tokens":$p,~
        . qq~"prompt_tokens_details":{"cached_tokens":$cached},~
        . qq~"total_tokens":~ . ($p + $c) . '}';
}

sub chat_events {
    my ($i) = @_;
    my $tail = '"created":1700000000,"id":"chatcmpl-1","model":"gpt-4o",'
               . '"object":"chat.completion.chunk"';
    my @e = (
        qq~data: {"choices":[{"delta":{"content":"","role":"assistant"},~
        . qq~"finish_reason":null,"index":0}],$tail,"usage":null}\n\n~,
        (map { qq~data: {"choices":[{"delta":{"content":"$_"},~
               . qq~"finish_reason":null,"index":0}],$tail,"usage":null}\n\n~ }
             'Hello', ' from', ' the', ' upstream.'),
        qq~data: {"choices":[{"delta":{},"finish_reason":"stop","index":0}],~
        . qq~$tail,"usage":null}\n\n~,
        qq~data: {"choices":[],$tail,"usage":~ . chat_usage(counts($i))
        . "}\n\n",
        "data: [DONE]\n\n",
    );
    return (\@e, 6);    # the events, the index of the usage event
}

sub responses_events {
    my ($i) = @_;
    my ($p, $c, $cached, $r) = counts($i);
    my $u = qq~{"input_tokens":$p,"input_tokens_details":~
            . qq~{"cached_tokens":$cached},"output_tokens":$c,~
            . qq~"output_tokens_details":{"reasoning_tokens":$r},~
            . qq~"total_tokens":~ . ($p + $c) . '}';
    my @e = (
        "event: response.created\n"
        . qq~data: {"response":{"id":"resp_1","object":"response",~
        . qq~"output":[],"status":"in_progress","usage":null},~
        . qq~"sequence_number":0,"type":"response.created"}\n\n~,
        "event: response.output_text.delta\n"
        . qq~data: {"delta":"Hello","item_id":"msg_1","sequence_number":1,~
        . qq~"type":"response.output_text.delta"}\n\n~,
        "event: response.completed\n"
        . qq~data: {"response":{"id":"resp_1","object":"response",~
        . qq~"output":[{"content":[{"text":"Hello","type":"output_text"}],~
        . qq~"role":"assistant","type":"message"}],"status":"completed",~
        . qq~"usage":$u},"sequence_number":2,"type":"response.completed"}\n\n~,
    );
    return (\@e, 2);
}

sub chat_json {
    my ($i) = @_;
    return '{"choices":[{"finish_reason":"stop","index":0,"message":'
        . '{"content":"Hello from the upstream.","role":"assistant"}}],'
        . '"created":1700000000,"id":"chatcmpl-1","model":"gpt-4o",'
        . '"object":"chat.completion","usage":' . chat_usage(counts($i)) . '}';
}

sub chunk {
    my ($s) = @_;
    return sprintf("%x\r\n", length $s) . "$s\r\n";
}

# the answer of a case: the response head, the body as the client must
# get it, the writes (and where the split range lies, for the count)

sub answer {
    my ($case, $i) = @_;

    # foundry_stream_usage: the same answers, the client without the usage
    # event (the request asked for no usage; the gateway did)

    if ($case =~ /^strip-(.*)/) {
        my $a = answer($1, $i);
        my ($e, $u) = chat_events($i);
        $a->{body} = join '', @$e[0 .. $u - 1], @$e[$u + 1 .. $#$e];
        return $a;
    }

    my $sse = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
              . "Cache-Control: no-cache\r\n";

    if ($case eq 'sse' || $case eq 'responses') {
        my ($e, $u) = $case eq 'sse' ? chat_events($i) : responses_events($i);
        my $body = join '', @$e;
        my $from = length join '', @$e[0 .. $u - 1];
        return { head => "${sse}Connection: close\r\n\r\n", body => $body,
                 writes => [substr($body, 0, $from + $i),
                            substr($body, $from + $i)],
                 range => length $e->[$u] };
    }

    if ($case eq 'chunked') {
        my ($e, $u) = chat_events($i);
        my $raw = join('', map { chunk($_) } @$e) . "0\r\n\r\n";
        my $from = length join '', map { chunk($_) } @$e[0 .. $u - 1];
        return { head => "${sse}Transfer-Encoding: chunked\r\n\r\n",
                 body => join('', @$e),
                 writes => [substr($raw, 0, $from + $i),
                            substr($raw, $from + $i)],
                 range => length chunk($e->[$u]) };
    }

    if ($case eq 'json') {
        my $body = chat_json($i);
        return { head => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         . "Content-Length: " . length($body) . "\r\n\r\n",
                 body => $body,
                 writes => [substr($body, 0, $i), substr($body, $i)],
                 range => length $body };
    }

    if ($case eq 'bytes-sse') {
        my ($e) = chat_events($i);
        my $raw = join('', map { chunk($_) } @$e) . "0\r\n\r\n";
        return { head => "${sse}Transfer-Encoding: chunked\r\n\r\n",
                 body => join('', @$e), writes => [split //, $raw] };
    }

    if ($case eq 'bytes-json') {
        my $body = chat_json($i);
        return { head => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         . "Content-Length: " . length($body) . "\r\n\r\n",
                 body => $body, writes => [split //, $body] };
    }

    # broken streams: chunked, the connection closed without the last chunk

    if ($case eq 'cut-before' || $case eq 'cut-after'
        || $case eq 'cut-in-usage')
    {
        my ($e, $u) = chat_events($i);
        my @sent = $case eq 'cut-before' ? @$e[0 .. $u - 1]
                 : $case eq 'cut-after' ? @$e[0 .. $u]
                 : (@$e[0 .. $u - 1],
                    substr($e->[$u], 0, index $e->[$u], '"prompt_tokens_details"'));
        return { head => "${sse}Transfer-Encoding: chunked\r\n\r\n",
                 body => join('', @sent),
                 writes => [join '', map { chunk($_) } @sent],
                 cut => 1 };
    }

    die "unknown case $case";
}


#--------------------------------------------------------------------------
# the tiny upstream: one connection at a time, answers as the request's
# arguments say (?case=NAME&split=I)
#--------------------------------------------------------------------------

sub serve {
    my ($c) = @_;

    setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);

    my $req = '';

    while ($req !~ /\r\n\r\n/) {
        my $n = sysread $c, $req, 65536, length $req;
        return unless $n;
    }

    my ($head, $body) = split /\r\n\r\n/, $req, 2;
    my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;

    while (length $body < ($len // 0)) {
        my $n = sysread $c, $body, 65536, length $body;
        return unless $n;
    }

    my ($case) = $head =~ /[?&]case=([\w-]+)/;
    my ($i) = $head =~ /[?&]split=(\d+)/;

    my $a = answer($case // 'json', $i // 0);

    syswrite $c, $a->{head};

    my @w = @{ $a->{writes} };

    while (@w) {
        my $part = shift @w;
        my $off = 0;

        while ($off < length $part) {
            my $n = syswrite $c, $part, length($part) - $off, $off;
            return unless defined $n;
            $off += $n;
        }

        sleep(@{ $a->{writes} } > 2 ? 0.0005 : $Pause) if @w;
    }

    if (!$a->{cut}) {
        shutdown $c, 1;
        # wait for nginx to close, so the close never races the answer
        my $sel = IO::Select->new($c);
        while ($sel->can_read(5)) {
            last unless sysread $c, my $buf, 65536;
        }
    }

    close $c;
}

my $srv = IO::Socket::INET->new(Listen => 128, LocalAddr => '127.0.0.1',
                                LocalPort => 0, Proto => 'tcp',
                                ReuseAddr => 1)
    or die "listen: $!";

my $port = $srv->sockport;
my $parent = $$;
my $upstream = fork // die "fork: $!";

if ($upstream == 0) {
    open STDIN, '<', '/dev/null';
    my $sel = IO::Select->new($srv);

    while (getppid() == $parent) {
        next unless $sel->can_read(0.2);
        my $c = $srv->accept or next;
        serve($c);
    }

    POSIX::_exit(0);
}

close $srv;

our $Ngx;

# nginx is stopped here: at the very end its temporary prefix (and pid
# file) may be gone before FoundryNginx's DESTROY can find the pid

END {
    if ($upstream && $$ == $parent) {
        local $?;
        $Ngx->stop if $Ngx;
        kill 'TERM', $upstream;
        waitpid $upstream, 0;
    }
}

my $params = cwd() . '/conf.d/foundry_proxy_params';

my $ngx = $Ngx = FoundryNginx->new(http => <<"CONF");
    log_format usage 'usage|\$arg_case|\$arg_split|\$status|\$foundry_prompt_tokens|\$foundry_completion_tokens|\$foundry_total_tokens|\$foundry_cached_tokens|\$foundry_reasoning_tokens|';

    foundry_upstream tiny kind=openai-compatible url=http://127.0.0.1:$port;

    server {
        listen 127.0.0.1:\$PORT;

        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=tiny;
            include $params;
            access_log logs/usage.log usage;
        }

        location /strip/ {
            foundry_gateway on;
            foundry_stream_usage on;
            foundry_model gpt-4o upstream=tiny;
            include $params;
            access_log logs/usage.log usage;
        }
    }
CONF


#--------------------------------------------------------------------------
# the requests
#--------------------------------------------------------------------------

sub expected_line {
    my ($case, $i, $status) = @_;
    my ($p, $c, $cached, $r) = counts($i);
    return "usage|$case|$i|$status|$p|$c|" . ($p + $c) . "|$cached|$r|";
}

# a request; the answer is read as it comes, to see that it came in two
# parts: nginx passes on what it has read at once (proxy_buffering off),
# so an answer that reaches the client in pieces, the last one a pause
# after the first, was read by nginx in pieces too

sub call {
    my ($case, $i) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ngx->{port}",
                                  Timeout => 5)
        or die "connect: $!";
    my $b = '{"model":"gpt-4o","stream":true}';

    my $path = $case =~ /^strip/ ? '/strip' : '/v1';

    print $s "POST $path/chat/completions?case=$case&split=$i HTTP/1.1\r\n"
             . "Host: localhost\r\nConnection: close\r\n"
             . "Content-Type: application/json\r\n"
             . "Content-Length: " . length($b) . "\r\n\r\n$b";

    my $sel = IO::Select->new($s);
    my ($raw, @at) = ('');

    while ($sel->can_read(5)) {
        my $n = sysread $s, $raw, 65536, length $raw;
        last unless $n;
        push @at, Time::HiRes::time();
    }

    close $s;

    my ($head, $content) = split /\r\n\r\n/, $raw, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    my $body = '';

    $content //= '';

    if (($head // '') =~ /^Transfer-Encoding: chunked/mi) {
        while ($content =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $body .= substr($content, 0, $n, '');
            $content =~ s/^\r\n//;
        }

    } else {
        $body = $content;
    }

    my $pieces = @at > 1 && $at[-1] - $at[0] >= $Pause / 2;

    return ($status // 0, $body, $pieces);
}

# the log lines of the last N requests: the log phase may come a moment
# after the client has its answer

sub log_lines {
    my ($n) = @_;
    my @lines;

    for (1 .. 100) {
        push @lines, $ngx->new_lines('logs/usage.log');
        last if @lines >= $n;
        sleep 0.01;
    }

    return @lines;
}

# every split of a case: the bodies and the log lines, failures listed

sub every_split {
    my ($case) = @_;

    my $range = answer($case, 0)->{range};
    my (@bad_status, @bad_body, @bad_line, %line);
    my $whole = 0;

    $ngx->new_lines('logs/usage.log');

    my $calls = 0;

    for my $i (0 .. $range) {

        # an answer that came whole (the machine was busy) is asked again

        for my $try (1 .. 5) {
            my ($status, $body, $pieces) = call($case, $i);
            $calls++;
            push @bad_status, "$i:$status" if $status != 200;
            push @bad_body, $i if $body ne answer($case, $i)->{body};
            # (nothing to split when the second write is empty)
            last if $pieces || answer($case, $i)->{writes}[1] eq '';
            $whole++ if $try == 5;
        }
    }

    for (log_lines($calls)) {
        $line{$1} = $_ if /^usage\|\Q$case\E\|(\d+)\|/;
    }

    for my $i (0 .. $range) {
        my $want = expected_line($case, $i, 200);
        push @bad_line, "$i: " . ($line{$i} // 'no line') . " (want $want)"
            if ($line{$i} // '') ne $want;
    }

    is(join(' ', @bad_status), '', "$case: 200 for all " . ($range + 1)
                                    . " splits");
    is(join(' ', @bad_body), '', "$case: the client got the upstream's "
                                 . "bytes unchanged, at every split");
    is(join("\n", @bad_line[0 .. ($#bad_line > 9 ? 9 : $#bad_line)]), '',
       "$case: the usage is logged right at every split ("
       . scalar(@bad_line) . " wrong)");

    # the splits did split: the answers came in two parts
    ok($whole <= ($range + 1) / 100,
       "$case: $whole of " . ($range + 1) . " answers came in one piece");
}

plan tests => 1 + 6 * 4 + 3 * 3 + 3 * 4;

my %range = map { $_ => answer($_, 0)->{range} } qw(sse chunked responses json);

# the answers are fixed: the ranges are exact (the usage event of the
# stream, that event's chunk with its size line and CRLF, 7 bytes more,
# the response.completed event, the whole JSON answer)
is(join(' ', map { "$_ $range{$_}" } qw(sse chunked responses json)),
   'sse 296 chunked 303 responses 425 json 384', 'split ranges, in bytes');

every_split($_) for qw(sse chunked responses json strip-sse strip-chunked);

# one byte a write

for my $case (qw(bytes-sse bytes-json strip-bytes-sse)) {
    $ngx->new_lines('logs/usage.log');

    my ($status, $body) = call($case, 7);
    my @lines = log_lines(1);

    is($status, 200, "$case: 200");
    is($body, answer($case, 7)->{body}, "$case: the bytes unchanged");
    is($lines[0] // '', expected_line($case, 7, 200), "$case: the usage");
}

our $Cuts = 0;

# broken streams: what reached the client, and the usage only when its
# event came whole

for my $t (['cut-before', '-|-|-|-|-'],
           ['cut-after', undef],
           ['cut-in-usage', '-|-|-|-|-'])
{
    my ($case, $counts) = @$t;

    $ngx->new_lines('logs/usage.log');

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ngx->{port}",
                                  Timeout => 5)
        or die "connect: $!";
    my $b = '{"model":"gpt-4o","stream":true}';
    print $s "POST /v1/chat/completions?case=$case&split=3 HTTP/1.1\r\n"
             . "Host: localhost\r\nConnection: close\r\n"
             . "Content-Length: " . length($b) . "\r\n\r\n$b";
    local $/;
    my $raw = <$s> // '';
    close $s;

    my ($head, $chunks) = split /\r\n\r\n/, $raw, 2;
    my $got = '';

    while ($chunks =~ s/^([0-9a-fA-F]+)\r\n//) {
        my $n = hex $1;
        last if $n == 0;
        $got .= substr($chunks, 0, $n, '');
        $chunks =~ s/^\r\n//;
    }

    my @lines = log_lines(1);

    my $want = defined $counts ? "usage|$case|3|200|$counts|"
                               : expected_line($case, 3, 200);

    is($got, answer($case, 3)->{body}, "$case: the bytes sent reached the client");
    unlike($raw, qr/\r\n0\r\n\r\n\z/, "$case: the stream is not ended as complete");

    is($lines[0] // '', $want, $case eq 'cut-in-usage'
       ? "$case: no usage from the incomplete event" : "$case: the usage");

    my $cuts = () = $ngx->error_log =~ /upstream prematurely closed connection/g;
    is($cuts, ++$Cuts, "$case: the cut is logged");
}
