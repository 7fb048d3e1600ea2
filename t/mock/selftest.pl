#!/usr/bin/env perl
# Self-test of the mock model upstream (t/lib/FoundryMock.pm, tools/foundry-mock).
#
#   perl t/mock/selftest.pl
#
# Core Perl only.  Every behaviour documented in t/mock/README.md is exercised
# here over raw sockets (so framing, keep-alive, pipelining and timing are
# checked exactly as a proxy would see them).

use strict;
use warnings;

use FindBin ();
use lib "$FindBin::RealBin/../lib";

use File::Temp qw(tempdir);
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use FoundryMock;

$SIG{PIPE} = 'IGNORE';

my $PORT = FoundryMock::start();
my $JSON = JSON::PP->new->utf8->canonical;
my $API  = 'api-version=2024-10-21';

# ---------------------------------------------------------------------------
# tiny raw HTTP client
# ---------------------------------------------------------------------------
{
    package Client;

    sub new {
        my ($class, $port) = @_;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 5)
            or die "connect 127.0.0.1:$port: $!";
        binmode $s;
        return bless { s => $s, buf => '', eof => 0 }, $class;
    }

    sub send {
        my ($self, $data) = @_;
        my $off = 0;
        while ($off < length $data) {
            my $n = syswrite($self->{s}, $data, length($data) - $off, $off);
            die "write: $!" unless defined $n;
            $off += $n;
        }
        return $self;
    }

    # read more bytes; false on EOF or deadline
    sub fill {
        my ($self, $deadline) = @_;
        return 0 if $self->{eof};
        my $left = $deadline - Time::HiRes::time();
        return 0 if $left <= 0;
        my $rin = '';
        vec($rin, fileno $self->{s}, 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, $left);
        return 0 if $n <= 0;
        my $r = sysread($self->{s}, $self->{buf}, 65536, length $self->{buf});
        if (!$r) { $self->{eof} = 1; return 0 }
        return 1;
    }

    sub take_line {
        my ($self, $deadline) = @_;
        while ((my $i = index($self->{buf}, "\r\n")) < 0) {
            $self->fill($deadline) or return;
        }
        my $i = index($self->{buf}, "\r\n");
        my $line = substr($self->{buf}, 0, $i + 2, '');
        $line =~ s/\r\n\z//;
        return $line;
    }

    sub take_bytes {
        my ($self, $n, $deadline) = @_;
        while (length $self->{buf} < $n) {
            $self->fill($deadline) or return;
        }
        return substr($self->{buf}, 0, $n, '');
    }

    # Read one response.  Returns a hash: status, headers (lc name => last
    # value), hlist, body, chunks (chunked: one entry per chunk), times
    # (arrival time per chunk), complete (framing terminated properly), eof.
    sub response {
        my ($self, %o) = @_;
        my $t0 = Time::HiRes::time();
        my $deadline = $t0 + ($o{timeout} // 10);
        my $r = { complete => 0, chunks => [], times => [], body => '', t0 => $t0 };
        while (index($self->{buf}, "\r\n\r\n") < 0) {
            $self->fill($deadline) or do { $r->{eof} = $self->{eof}; $r->{status} = 0; return $r };
        }
        my $i = index($self->{buf}, "\r\n\r\n");
        my $head = substr($self->{buf}, 0, $i + 4, '');
        my @lines = split /\r\n/, $head;
        my $sl = shift @lines;
        ($r->{version}, $r->{status}, $r->{reason}) = $sl =~ m{^(HTTP/\d\.\d) (\d{3}) ?(.*)$};
        $r->{status} //= -1;
        for (@lines) {
            my ($n, $v) = /^([^:]+):\s*(.*)$/ or next;
            push @{ $r->{hlist} }, [ $n, $v ];
            $r->{headers}{ lc $n } = $v;
        }
        $r->{t_head} = Time::HiRes::time();
        return $r if $r->{status} == 100 || $o{head};
        if ($r->{status} == 204 || $r->{status} == 304) {
            $r->{complete} = 1;
            return $r;
        }
        my $h = $r->{headers};
        if (lc($h->{'transfer-encoding'} // '') eq 'chunked') {
            while (1) {
                my $line = $self->take_line($deadline) // last;
                my ($size) = $line =~ /^([0-9a-fA-F]+)/ or last;
                $size = hex $size;
                if ($size == 0) {
                    my $t = $self->take_line($deadline);
                    $r->{complete} = 1 if defined $t && $t eq '';
                    last;
                }
                my $data = $self->take_bytes($size, $deadline) // last;
                my $crlf = $self->take_bytes(2, $deadline) // last;
                push @{ $r->{chunks} }, $data;
                push @{ $r->{times} }, Time::HiRes::time();
                $r->{body} .= $data;
            }
        } elsif (defined $h->{'content-length'}) {
            my $b = $self->take_bytes($h->{'content-length'}, $deadline);
            if (defined $b) { $r->{body} = $b; $r->{complete} = 1 }
            else { $r->{body} = substr($self->{buf}, 0, length $self->{buf}, '') }
        } else {
            # close-delimited
            while (1) {
                if (length $self->{buf}) {
                    push @{ $r->{chunks} }, $self->{buf};
                    push @{ $r->{times} }, Time::HiRes::time();
                    $r->{body} .= $self->{buf};
                    $self->{buf} = '';
                }
                $self->fill($deadline) or last;
            }
            $r->{complete} = $self->{eof} ? 1 : 0;
        }
        $r->{t_end} = Time::HiRes::time();
        $r->{eof} = $self->{eof};
        return $r;
    }

    # true when the server closes the connection (no further bytes) in time
    sub closed_within {
        my ($self, $sec) = @_;
        my $deadline = Time::HiRes::time() + $sec;
        while (!$self->{eof}) {
            $self->fill($deadline) or last;
        }
        return $self->{eof} && !length $self->{buf};
    }

    sub close { close $_[0]{s} }
}

sub build_request {
    my ($method, $path, %o) = @_;
    my $version = $o{version} // '1.1';
    my @h = @{ $o{headers} || [] };
    my $body = $o{body};
    $body = $JSON->encode($body) if ref $body;
    my $req = "$method $path HTTP/$version\r\nHost: 127.0.0.1:$PORT\r\n";
    for (my $i = 0; $i < @h; $i += 2) { $req .= "$h[$i]: $h[$i+1]\r\n" }
    $req .= 'Content-Length: ' . length($body) . "\r\n" if defined $body;
    $req .= "\r\n";
    $req .= $body if defined $body;
    return $req;
}

# one request on a fresh connection
sub req {
    my ($method, $path, %o) = @_;
    my $c = Client->new($o{port} // $PORT);
    $c->send(build_request($method, $path, %o));
    my $r = $c->response(%o);
    $r->{client} = $c;
    $r->{json} = eval { $JSON->decode($r->{body}) } if ($r->{headers}{'content-type'} // '') =~ /json/;
    return $r;
}

sub sse_events {
    my ($body) = @_;
    return map { my $e = $_; my %e; for (split /\n/, $e) { /^(\w+): ?(.*)$/ and $e{$1} = $2 } \%e }
           grep { length } split /\n\n/, $body;
}

sub sse_json { map { $_->{data} eq '[DONE]' ? '[DONE]' : $JSON->decode($_->{data}) } sse_events($_[0]) }

my $chat_path = "/openai/deployments/gpt-4o/chat/completions?$API";

# ---------------------------------------------------------------------------
subtest 'classic chat completion' => sub {
    my $r = req(POST => $chat_path, body => { messages => [ { role => 'user', content => 'hi' } ] });
    is $r->{status}, 200, 'status 200';
    is $r->{headers}{'content-type'}, 'application/json', 'json content type';
    is $r->{headers}{'x-mock-route'}, 'classic', 'route header';
    like $r->{headers}{'x-mock-request-id'}, qr/^\d+$/, 'request id header';
    my $j = $r->{json};
    is $j->{model}, 'gpt-4o', 'model from deployment';
    is $j->{id}, "chatcmpl-mock-$r->{headers}{'x-mock-request-id'}", 'id carries request id';
    is $j->{object}, 'chat.completion';
    is $j->{created}, 1700000000;
    is $j->{choices}[0]{message}{content}, 'Hello from the mock upstream.';
    is $j->{choices}[0]{message}{role}, 'assistant';
    is $j->{choices}[0]{finish_reason}, 'stop';
    is_deeply $j->{usage}, { prompt_tokens => 10, completion_tokens => 7, total_tokens => 17,
                             prompt_tokens_details => { cached_tokens => 0 },
                             completion_tokens_details => { reasoning_tokens => 0 } }, 'default usage';
    like $r->{body}, qr/"total_tokens":17/, 'numbers are JSON numbers';

    my $m = req(POST => '/openai/deployments/gpt-4o-mini/chat/completions?api-version=x',
                body => { model => 'ignored' });
    is $m->{json}{model}, 'gpt-4o-mini', 'classic ignores body model';

    my $e = req(POST => '/openai/deployments/text-embedding-3-small/embeddings?api-version=1',
                body => { input => 'hi' });
    is $e->{json}{model}, 'text-embedding-3-small', 'classic embeddings';
};

subtest 'classic errors' => sub {
    my $r = req(POST => '/openai/deployments/gpt-4o/chat/completions', body => {});
    is $r->{status}, 400, 'missing api-version -> 400';
    is $r->{json}{error}{code}, 'BadRequest';
    like $r->{json}{error}{message}, qr/api-version/;
    is $r->{headers}{'x-mock-route'}, 'classic';

    $r = req(POST => '/openai/deployments/gpt-4o/chat/completions?api-version=', body => {});
    is $r->{status}, 400, 'empty api-version -> 400';

    $r = req(POST => "/openai/deployments/nope/chat/completions?$API", body => {});
    is $r->{status}, 404, 'unknown deployment -> 404';
    is $r->{json}{error}{code}, 'DeploymentNotFound';
    like $r->{json}{error}{message}, qr/^The API deployment for this resource does not exist/;

    $r = req(POST => "/openai/deployments/gpt-4o/images/generations?$API", body => {});
    is $r->{status}, 404, 'unknown op -> 404';
    is $r->{json}{error}{code}, 'NotFound';

    $r = req(GET => $chat_path);
    is $r->{status}, 405, 'GET on inference -> 405';
    is $r->{headers}{allow}, 'POST';

    $r = req(POST => $chat_path, body => 'not json');
    is $r->{status}, 400, 'invalid JSON body -> 400';
    $r = req(POST => $chat_path, body => '[1,2]');
    is $r->{status}, 400, 'non-object JSON body -> 400';
};

subtest 'v1, openai and compat routes' => sub {
    for my $case ([ '/openai/v1/chat/completions', 'v1' ],
                  [ '/v1/chat/completions', 'openai' ],
                  [ '/compat/api/chat/completions', 'compat' ],
                  [ '/chat/completions', 'compat' ]) {
        my ($path, $route) = @$case;
        my $r = req(POST => $path, body => { model => 'some-unknown-model', messages => [] });
        is $r->{status}, 200, "$path 200";
        is $r->{headers}{'x-mock-route'}, $route, "$path route $route";
        is $r->{json}{model}, 'some-unknown-model', "$path model from body";
        is $r->{json}{object}, 'chat.completion';

        $r = req(POST => $path, body => { messages => [] });
        is $r->{status}, 400, "$path without model -> 400";
        is $r->{json}{error}{code}, 'BadRequest';
        $r = req(POST => $path, body => '{"model":42}');
        is $r->{status}, 400, "$path numeric model -> 400";
        $r = req(POST => $path, body => '{"model":["x"]}');
        is $r->{status}, 400, "$path array model -> 400";
    }
    my $r = req(POST => '/openai/v1/images/generations', body => { model => 'x' });
    is $r->{status}, 404, 'unknown v1 op -> 404';
    is $r->{headers}{'x-mock-route'}, 'v1';
    $r = req(POST => '/v1/audio/speech', body => { model => 'x' });
    is $r->{status}, 404, 'unknown openai op -> 404';
    $r = req(POST => '/some/other/path', body => { model => 'x' });
    is $r->{status}, 404, 'other POST path -> 404';
    is $r->{json}{error}{code}, 'NotFound', 'JSON error body';
    is $r->{headers}{'x-mock-route'}, 'compat';
};

subtest 'completions, embeddings, responses' => sub {
    my $r = req(POST => '/v1/completions', body => { model => 'gpt-35-turbo-instruct', prompt => 'x' });
    my $j = $r->{json};
    is $j->{object}, 'text_completion';
    like $j->{id}, qr/^cmpl-mock-\d+$/;
    is $j->{choices}[0]{text}, 'Hello from the mock upstream.';
    is $j->{choices}[0]{finish_reason}, 'stop';
    is $j->{usage}{total_tokens}, 17;

    $r = req(POST => '/v1/embeddings', body => { model => 'text-embedding-3-small', input => 'x' });
    $j = $r->{json};
    is $j->{object}, 'list';
    is scalar @{ $j->{data} }, 1, 'one embedding';
    is $j->{data}[0]{object}, 'embedding';
    is $j->{data}[0]{index}, 0;
    is scalar @{ $j->{data}[0]{embedding} }, 8, '8 floats';
    ok !(grep { abs($_) >= 1 } @{ $j->{data}[0]{embedding} }), 'small floats';
    is_deeply $j->{usage}, { prompt_tokens => 10, total_tokens => 10 };

    $r = req(POST => '/v1/embeddings', body => { model => 'e', input => [ 'a', 'b', 'c' ] });
    is scalar @{ $r->{json}{data} }, 3, 'one embedding per input string';
    is $r->{json}{data}[2]{index}, 2;

    $r = req(POST => '/v1/embeddings', body => { model => 'e', input => 'a', encoding_format => 'base64' });
    my @f = unpack 'f<*', MIME::Base64::decode_base64($r->{json}{data}[0]{embedding});
    is scalar @f, 8, 'base64 encoding_format: 8 float32';

    $r = req(POST => '/openai/v1/responses', body => { model => 'gpt-4o', input => 'hi' });
    $j = $r->{json};
    like $j->{id}, qr/^resp_mock_\d+$/;
    is $j->{object}, 'response';
    is $j->{created_at}, 1700000000;
    is $j->{status}, 'completed';
    is $j->{output}[0]{type}, 'message';
    is $j->{output}[0]{content}[0]{type}, 'output_text';
    is $j->{output}[0]{content}[0]{text}, 'Hello from the mock upstream.';
    is $j->{usage}{input_tokens}, 10;
    is $j->{usage}{output_tokens}, 7;
    is $j->{usage}{total_tokens}, 17;
};

subtest 'x-mock-usage' => sub {
    my $r = req(POST => '/v1/chat/completions', body => { model => 'm' },
                headers => [ 'x-mock-usage' => '100,20' ]);
    is_deeply [ @{ $r->{json}{usage} }{qw(prompt_tokens completion_tokens total_tokens)} ], [ 100, 20, 120 ];
    $r = req(POST => '/v1/chat/completions', body => { model => 'm' },
             headers => [ 'x-mock-usage' => '100, 20, 30, 5' ]);
    is $r->{json}{usage}{prompt_tokens_details}{cached_tokens}, 30, 'cached';
    is $r->{json}{usage}{completion_tokens_details}{reasoning_tokens}, 5, 'reasoning';
    $r = req(POST => '/v1/responses', body => { model => 'm' }, headers => [ 'x-mock-usage' => '3,4,1,2' ]);
    is_deeply $r->{json}{usage}, { input_tokens => 3, output_tokens => 4, total_tokens => 7,
                                   input_tokens_details => { cached_tokens => 1 },
                                   output_tokens_details => { reasoning_tokens => 2 } };
    $r = req(POST => '/v1/embeddings', body => { model => 'm' }, headers => [ 'x-mock-usage' => '42,0' ]);
    is_deeply $r->{json}{usage}, { prompt_tokens => 42, total_tokens => 42 };
    $r = req(POST => '/v1/chat/completions', body => { model => 'm' }, headers => [ 'x-mock-usage' => 'lots' ]);
    is $r->{status}, 400, 'invalid x-mock-usage -> 400';
    is $r->{json}{error}{code}, 'MockError';
};

subtest 'chat streaming' => sub {
    my $r = req(POST => $chat_path, body => { stream => JSON::PP::true, messages => [] });
    is $r->{status}, 200;
    is $r->{headers}{'content-type'}, 'text/event-stream';
    is $r->{headers}{'cache-control'}, 'no-cache';
    is $r->{headers}{'transfer-encoding'}, 'chunked';
    ok !defined $r->{headers}{'content-length'}, 'no content-length';
    ok $r->{complete}, 'terminating chunk received';
    my @ev = sse_events($r->{body});
    is scalar @ev, 6, 'role + 3 content + finish + [DONE]';
    is scalar @{ $r->{chunks} }, scalar @ev, 'each event in its own chunk';
    like $_, qr/\Adata: .*\n\n\z/s for @{ $r->{chunks} };
    my @j = sse_json($r->{body});
    is $j[0]{choices}[0]{delta}{role}, 'assistant', 'first chunk has delta.role';
    is $j[0]{object}, 'chat.completion.chunk';
    is $j[0]{model}, 'gpt-4o';
    is join('', map { $_->{choices}[0]{delta}{content} } @j[1 .. 3]), 'Hello from the mock upstream.',
        'content chunks concatenate to the reply';
    is $j[4]{choices}[0]{finish_reason}, 'stop', 'finish chunk';
    is $j[5], '[DONE]';
    ok !(grep { ref $_ && exists $_->{usage} } @j), 'no usage without include_usage';

    $r = req(POST => '/v1/chat/completions', headers => [ 'x-mock-chunks' => 5, 'x-mock-usage' => '11,22' ],
             body => { model => 'm', stream => JSON::PP::true, stream_options => { include_usage => JSON::PP::true } });
    @j = sse_json($r->{body});
    is scalar @j, 1 + 5 + 1 + 1 + 1, 'x-mock-chunks 5 + usage chunk';
    is_deeply $j[-2]{choices}, [], 'usage chunk has empty choices';
    is $j[-2]{usage}{total_tokens}, 33, 'usage chunk carries usage';
    ok exists $j[0]{usage} && !defined $j[0]{usage}, 'other chunks carry usage:null';
    is $j[-1], '[DONE]';

    $r = req(POST => '/v1/chat/completions', headers => [ 'x-mock-chunks' => 0 ],
             body => { model => 'm', stream => JSON::PP::true });
    is scalar(sse_events($r->{body})), 3, 'x-mock-chunks 0';

    $r = req(POST => '/v1/chat/completions', body => { model => 'm', stream => 'true' });
    is $r->{headers}{'content-type'}, 'application/json', 'only JSON true enables streaming';
};

subtest 'completions and responses streaming' => sub {
    my $r = req(POST => '/v1/completions', body => { model => 'm', stream => JSON::PP::true,
                                                     stream_options => { include_usage => JSON::PP::true } });
    my @j = sse_json($r->{body});
    is scalar @j, 3 + 1 + 1 + 1;
    is $j[0]{object}, 'text_completion';
    is join('', map { $_->{choices}[0]{text} } @j[0 .. 2]), 'Hello from the mock upstream.';
    is $j[3]{choices}[0]{finish_reason}, 'stop';
    is $j[4]{usage}{total_tokens}, 17;
    is $j[5], '[DONE]';

    $r = req(POST => '/v1/responses', body => { model => 'm', stream => JSON::PP::true },
             headers => [ 'x-mock-chunks' => 4 ]);
    my @ev = sse_events($r->{body});
    is_deeply [ map { $_->{event} } @ev ],
        [ 'response.created', ('response.output_text.delta') x 4, 'response.completed' ], 'event names';
    is scalar @{ $r->{chunks} }, 6, 'one chunk per event';
    my @d = map { $JSON->decode($_->{data}) } @ev;
    is $d[0]{type}, 'response.created';
    is $d[0]{response}{status}, 'in_progress';
    is join('', map { $_->{delta} } @d[1 .. 4]), 'Hello from the mock upstream.';
    is $d[-1]{type}, 'response.completed';
    is $d[-1]{response}{usage}{total_tokens}, 17, 'completed event carries usage';
    is_deeply [ map { $_->{sequence_number} } @d ], [ 0 .. 5 ], 'sequence numbers';
    unlike $r->{body}, qr/\[DONE\]/, 'no [DONE] for the responses API';
};

subtest 'chunk delay is non-blocking; concurrency' => sub {
    my $a = Client->new($PORT);
    my $t0 = time;
    $a->send(build_request(POST => '/v1/chat/completions',
                           headers => [ 'x-mock-chunk-delay-ms' => 250 ],
                           body => { model => 'm', stream => JSON::PP::true }));
    # read the head and the first chunk only
    my $line;
    1 until ($line = $a->take_line($t0 + 5)) eq '' || !defined $line;
    my $size = hex $a->take_line($t0 + 5);
    my $first = $a->take_bytes($size + 2, $t0 + 5);
    my $t_first = time - $t0;
    like $first, qr/"role":"assistant"/, 'first event';
    cmp_ok $t_first, '<', 0.2, "first event arrives immediately (${\ sprintf '%.3f', $t_first}s)";

    # while A is streaming, other connections are served at once
    my $t1 = time;
    my $b = req(GET => '/v1/models');
    my $tb = time - $t1;
    is $b->{status}, 200;
    cmp_ok $tb, '<', 0.2, "other request not blocked by slow stream (${\ sprintf '%.3f', $tb}s)";

    # a delayed request does not block another one either
    my $d = Client->new($PORT);
    my $t2 = time;
    $d->send(build_request(GET => '/v1/models', headers => [ 'x-mock-delay-ms' => 600 ]));
    my $e = req(GET => '/v1/models');
    my $te = time - $t2;
    cmp_ok $te, '<', 0.3, 'request not blocked by a delayed one';
    my $dr = $d->response;
    my $td = time - $t2;
    is $dr->{status}, 200;
    cmp_ok $td, '>=', 0.59, "x-mock-delay-ms honoured (${\ sprintf '%.3f', $td}s)";

    # finish A: 6 events, 5 gaps of 250ms
    $a->{buf} = sprintf("%x\r\n", $size) . $first . $a->{buf};   # re-parse from first chunk
    $a->{buf} = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" . $a->{buf};
    my $ar = $a->response;
    my $total = time - $t0;
    ok $ar->{complete}, 'stream complete';
    is scalar @{ $ar->{chunks} }, 6;
    cmp_ok $total, '>=', 1.2, "delays between events (${\ sprintf '%.3f', $total}s)";

    # event timing on an undisturbed stream
    my $r = req(POST => '/v1/chat/completions', headers => [ 'x-mock-chunk-delay-ms' => 150 ],
                body => { model => 'm', stream => JSON::PP::true });
    my @t = @{ $r->{times} };
    cmp_ok $t[0] - $r->{t0}, '<', 0.1, 'first event immediately';
    my @gaps = map { $t[$_] - $t[ $_ - 1 ] } 1 .. $#t;
    is scalar @gaps, 5, '5 gaps';
    ok !(grep { $_ < 0.14 } @gaps), 'events ~150ms apart: ' . join(' ', map { sprintf '%.3f', $_ } @gaps);
};

subtest 'hundreds of concurrent connections' => sub {
    my $n = 300;
    my @c = map { Client->new($PORT) } 1 .. $n;
    my $t0 = time;
    $_->send(build_request(POST => '/v1/chat/completions', headers => [ 'x-mock-delay-ms' => 300 ],
                           body => { model => 'm' })) for @c;
    my $ok = 0;
    for (@c) { my $r = $_->response; $ok++ if $r->{status} == 200; $_->close }
    my $dt = time - $t0;
    is $ok, $n, "$n delayed requests answered";
    cmp_ok $dt, '<', 3, "all served concurrently (${\ sprintf '%.2f', $dt}s)";
};

subtest 'keep-alive and pipelining' => sub {
    my $c = Client->new($PORT);
    my @ids;
    for my $i (1 .. 3) {
        $c->send(build_request(POST => '/v1/chat/completions', body => { model => "m$i" }));
        my $r = $c->response;
        is $r->{status}, 200, "request $i on the same connection";
        ok !defined $r->{headers}{connection}, 'no Connection: close';
        push @ids, $r->{headers}{'x-mock-request-id'};
        is $JSON->decode($r->{body})->{model}, "m$i";
    }
    ok $ids[0] < $ids[1] && $ids[1] < $ids[2], 'request ids increase';

    # streaming response followed by another request on the same connection
    $c->send(build_request(POST => '/v1/chat/completions', body => { model => 'm', stream => JSON::PP::true }));
    my $r = $c->response;
    ok $r->{complete}, 'stream on keep-alive connection';
    $c->send(build_request(GET => '/v1/models'));
    is $c->response->{status}, 200, 'connection reusable after a stream';

    # pipelined: three requests in one write, answered in order
    my $p = Client->new($PORT);
    $p->send(build_request(GET => '/p1', headers => [ 'x-mock-echo' => 1 ])
           . build_request(POST => '/p2', headers => [ 'x-mock-echo' => 1, 'x-mock-delay-ms' => 100 ], body => 'two')
           . build_request(POST => '/v1/chat/completions', body => { model => 'p3', stream => JSON::PP::true })
           . build_request(GET => '/p4', headers => [ 'x-mock-echo' => 1, 'Connection' => 'close' ]));
    my @r = map { $p->response } 1 .. 4;
    is $JSON->decode($r[0]{body})->{path}, '/p1', 'pipelined 1';
    is $JSON->decode($r[1]{body})->{body}, 'two', 'pipelined 2 (delayed) in order';
    like $r[2]{body}, qr/"model":"p3"/, 'pipelined 3 (stream)';
    is $JSON->decode($r[3]{body})->{path}, '/p4', 'pipelined 4';
    is $r[3]{headers}{connection}, 'close', 'Connection: close honoured';
    ok $p->closed_within(2), 'connection closed after Connection: close';
    my @pid = map { $_->{headers}{'x-mock-request-id'} } @r;
    is_deeply [ map { $pid[$_] - $pid[0] } 0 .. 3 ], [ 0 .. 3 ], 'consecutive ids';
};

subtest 'HTTP/1.0' => sub {
    my $r = req(GET => '/v1/models', version => '1.0');
    is $r->{status}, 200;
    is $r->{headers}{connection}, 'close', 'Connection: close';
    ok $r->{client}->closed_within(2), 'closed after response';

    my $c = Client->new($PORT);
    $c->send(build_request(GET => '/v1/models', version => '1.0', headers => [ Connection => 'keep-alive' ]));
    $r = $c->response;
    is $r->{headers}{connection}, 'keep-alive', 'keep-alive honoured';
    $c->send(build_request(GET => '/__mock/health', version => '1.0'));
    $r = $c->response;
    is $r->{status}, 200, 'second request on the 1.0 keep-alive connection';
    ok $c->closed_within(2), 'closed after the non-keep-alive request';

    $r = req(POST => '/v1/chat/completions', version => '1.0',
             headers => [ Connection => 'keep-alive' ],
             body => { model => 'm', stream => JSON::PP::true });
    ok !defined $r->{headers}{'transfer-encoding'}, 'SSE over 1.0 not chunked';
    ok !defined $r->{headers}{'content-length'}, 'SSE over 1.0 has no length';
    is $r->{headers}{connection}, 'close', 'SSE over 1.0 is close-delimited';
    ok $r->{eof}, 'connection closed at the end';
    my @ev = sse_events($r->{body});
    is scalar @ev, 6, 'all events';
    is $ev[-1]{data}, '[DONE]';
};

subtest 'request bodies: chunked, Expect, large' => sub {
    my $c = Client->new($PORT);
    $c->send("POST /echo?x=1 HTTP/1.1\r\nHost: x\r\nx-mock-echo: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
    sleep 0.05;
    $c->send("5;ext=1\r\nhello\r\n");
    sleep 0.05;
    $c->send("1\r\n \r\n6\r\nwo");
    sleep 0.05;
    $c->send("rld!\r\n0\r\nX-Trailer: yes\r\n\r\n");
    my $r = $c->response;
    my $j = $JSON->decode($r->{body});
    is $j->{body}, 'hello world!', 'chunked body reassembled';
    is $j->{body_length}, 12;
    is $j->{headers}{'transfer-encoding'}, 'chunked';
    is $j->{query}, 'x=1';
    # keep-alive after a chunked body
    $c->send(build_request(POST => '/v1/chat/completions', body => { model => 'after-chunked' }));
    like $c->response->{body}, qr/after-chunked/, 'next request after chunked body';

    $c = Client->new($PORT);
    $c->send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           . "a\r\n{\"model\":\r\n" . "7\r\n\"chunk\"\r\n" . "1\r\n}\r\n" . "0\r\n\r\n");
    like $c->response->{body}, qr/"model":"chunk"/, 'chunked JSON body to inference';

    $c = Client->new($PORT);
    $c->send("POST /e HTTP/1.1\r\nHost: x\r\nx-mock-echo: 1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    $r = $c->response;
    is $r->{status}, 100, '100 Continue';
    $c->send('data');
    $r = $c->response;
    is $r->{status}, 200;
    is $JSON->decode($r->{body})->{body}, 'data', 'body after 100-continue';

    # large body in, large body out, slow reader: partial writes + no blocking
    my $big = 'x' x (4 * 1024 * 1024);
    $c = Client->new($PORT);
    $c->send(build_request(POST => '/big', headers => [ 'x-mock-echo' => 1 ], body => $big));
    sleep 0.3;
    my $t0 = time;
    my $o = req(GET => '/v1/models');
    cmp_ok time - $t0, '<', 0.3, 'server responsive while a big response is pending';
    $r = $c->response(timeout => 20);
    ok $r->{complete}, 'big response complete';
    $j = $JSON->decode($r->{body});
    is $j->{body_length}, length $big, 'big body length';
    ok $j->{body} eq $big, 'big body intact';

    $r = req(POST => '/x', headers => [ 'x-mock-echo' => 1 ], body => "\xff\xfe\x00ok");
    $j = $r->{json};
    is $j->{body_encoding}, 'base64', 'non-UTF-8 body is base64';
    is MIME::Base64::decode_base64($j->{body}), "\xff\xfe\x00ok", 'base64 round trip';
    is $j->{body_length}, 5;

    $r = req(POST => '/x', headers => [ 'x-mock-echo' => 1 ], body => "caf\xc3\xa9");
    is $r->{json}{body}, "caf\x{e9}", 'UTF-8 body kept as text';
    ok !exists $r->{json}{body_encoding}, 'no body_encoding for UTF-8';
};

subtest 'echo' => sub {
    my $r = req(PATCH => '/any/where?b=2&a=1', headers => [ 'x-mock-echo' => 1, 'X-Custom' => 'One',
                                                            'x-custom' => 'Two', 'Authorization' => 'Bearer t' ],
                body => '{"k":1}');
    is $r->{status}, 200;
    is $r->{headers}{'x-mock-route'}, 'echo';
    is $r->{headers}{'content-type'}, 'application/json';
    my $j = $r->{json};
    is $j->{method}, 'PATCH';
    is $j->{path}, '/any/where';
    is $j->{query}, 'b=2&a=1';
    is $j->{http_version}, 'HTTP/1.1';
    is_deeply $j->{headers}{'x-custom'}, [ 'One', 'Two' ], 'repeated headers as array';
    is $j->{headers}{authorization}, 'Bearer t';
    is $j->{headers}{host}, "127.0.0.1:$PORT";
    is $j->{body}, '{"k":1}';
    is $j->{body_length}, 7;
    like $r->{body}, qr/^\{"body":.*"body_length":.*"headers":.*"http_version":.*"method":.*"path":.*"query":/,
        'canonical key order';

    $r = req(GET => '/openai/deployments/gpt-4o/chat/completions', headers => [ 'x-mock-echo' => 1 ]);
    is $r->{json}{query}, '', 'empty query';
    is $r->{json}{body}, '', 'empty body';
    is $r->{headers}{'x-mock-route'}, 'echo', 'echo overrides the route';
};

subtest 'faults' => sub {
    my $r = req(POST => $chat_path, body => {}, headers => [ 'x-mock-status' => 429, 'x-mock-retry-after' => 2,
                                                           'x-mock-retry-after-ms' => 1500 ]);
    is $r->{status}, 429;
    is_deeply $r->{json}, { error => { code => 'MockError', message => 'mock status 429' } };
    is $r->{headers}{'retry-after'}, '2';
    is $r->{headers}{'retry-after-ms'}, '1500';
    is $r->{headers}{'x-ms-retry-after-ms'}, '1500';
    is $r->{headers}{'x-mock-route'}, 'classic', 'route still reported';

    $r = req(POST => '/v1/chat/completions', body => {},
             headers => [ 'x-mock-status' => 503, 'x-mock-body' => '{"error":{"code":"Custom","message":"boom"}}' ]);
    is $r->{status}, 503;
    is $r->{body}, '{"error":{"code":"Custom","message":"boom"}}', 'x-mock-body';

    $r = req(GET => '/v1/models', headers => [ 'x-mock-status' => 200, 'x-mock-body' => 'plain',
                                               'x-mock-content-type' => 'text/plain' ]);
    is $r->{headers}{'content-type'}, 'text/plain', 'x-mock-content-type';
    is $r->{body}, 'plain';

    $r = req(GET => '/v1/models', headers => [ 'x-mock-status' => 204 ]);
    is $r->{status}, 204;
    is $r->{body}, '', '204 without body';

    $r = req(GET => '/v1/models', headers => [ 'x-mock-status' => 'abc' ]);
    is $r->{status}, 400, 'invalid x-mock-status';
    is $r->{json}{error}{code}, 'MockError';

    my $t0 = time;
    $r = req(POST => $chat_path, body => {}, headers => [ 'x-mock-delay-ms' => 400 ]);
    my $dt = $r->{t_head} - $t0;
    cmp_ok $dt, '>=', 0.39, "x-mock-delay-ms before headers (${\ sprintf '%.3f', $dt}s)";
    is $r->{status}, 200;

    $r = req(GET => '/v1/models', headers => [ 'x-mock-delay-ms' => 'soon' ]);
    is $r->{status}, 400, 'invalid x-mock-delay-ms';

    $r = req(POST => '/v1/chat/completions', headers => [ 'x-mock-garbage' => 1 ], body => { model => 'm' });
    is $r->{status}, 200;
    is $r->{headers}{'content-type'}, 'application/json';
    is $r->{body}, 'this is not json', 'garbage body';

    # reset after K events
    $r = req(POST => '/v1/chat/completions', headers => [ 'x-mock-reset-after' => 2 ],
             body => { model => 'm', stream => JSON::PP::true });
    is $r->{status}, 200;
    is scalar @{ $r->{chunks} }, 2, 'exactly 2 events';
    ok !$r->{complete}, 'no terminating chunk';
    ok $r->{eof}, 'connection closed';

    $r = req(POST => '/v1/chat/completions', headers => [ 'x-mock-reset-after' => 99 ],
             body => { model => 'm', stream => JSON::PP::true });
    is scalar @{ $r->{chunks} }, 6, 'K beyond the event count: all events';
    ok !$r->{complete}, 'still no terminating chunk';

    $r = req(POST => '/v1/chat/completions', headers => [ 'x-mock-reset-after' => 0 ],
             body => { model => 'm', stream => JSON::PP::true });
    is $r->{status}, 200, 'K=0: headers only';
    is scalar @{ $r->{chunks} }, 0;
    ok $r->{eof};

    $r = req(POST => '/v1/chat/completions', headers => [ 'x-mock-reset-after' => 10 ], body => { model => 'm' });
    ok !$r->{complete}, 'non-SSE: truncated body';
    is length $r->{body}, 10, 'non-SSE: first K body bytes';
    ok $r->{eof};

    $t0 = time;
    $r = req(POST => '/v1/chat/completions',
             headers => [ 'x-mock-reset-after' => 3, 'x-mock-chunk-delay-ms' => 100 ],
             body => { model => 'm', stream => JSON::PP::true });
    is scalar @{ $r->{chunks} }, 3, 'reset with delays';
    cmp_ok time - $t0, '<', 1, 'closed right after the K-th event';

    # HEAD gets headers only
    my $c = Client->new($PORT);
    $c->send(build_request(HEAD => '/v1/models'));
    $r = $c->response(head => 1);
    is $r->{status}, 200;
    ok $r->{headers}{'content-length'} > 0, 'HEAD: Content-Length of the GET body';
    $c->send(build_request(GET => '/__mock/health'));
    is $c->response->{body}, '{"status":"ok"}', 'no body bytes after HEAD';
};

subtest 'discovery' => sub {
    my $r = req(GET => "/openai/deployments?$API");
    is $r->{status}, 200;
    is $r->{headers}{'x-mock-route'}, 'discovery';
    my $j = $r->{json};
    is $j->{object}, 'list';
    is_deeply [ map { $_->{id} } @{ $j->{data} } ], [ 'gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small' ];
    is_deeply $j->{data}[0], { id => 'gpt-4o', model => 'gpt-4o', owner => 'organization-owner',
                               object => 'deployment', status => 'succeeded', created_at => 1700000000,
                               updated_at => 1700000000, scale_settings => { scale_type => 'standard' } };

    $r = req(GET => '/openai/deployments');
    is $r->{status}, 400, 'list requires api-version';
    $r = req(GET => "/openai/deployments/gpt-4o-mini?$API");
    is $r->{json}{model}, 'gpt-4o-mini', 'one deployment';
    $r = req(GET => "/openai/deployments/missing?$API");
    is $r->{status}, 404;
    is $r->{json}{error}{code}, 'DeploymentNotFound';
    $r = req(POST => "/openai/deployments?$API", body => {});
    is $r->{status}, 405;

    for my $p ('/v1/models', '/openai/v1/models') {
        $r = req(GET => $p);
        is $r->{status}, 200, $p;
        is $r->{headers}{'x-mock-route'}, 'discovery';
        is $r->{json}{object}, 'list';
        is_deeply $r->{json}{data}[1], { id => 'gpt-4o-mini', object => 'model', created => 1700000000,
                                         owned_by => 'system' };
        is scalar @{ $r->{json}{data} }, 3;
    }
    $r = req(GET => '/v1/models/gpt-4o');
    is $r->{json}{id}, 'gpt-4o';
    $r = req(GET => '/openai/v1/models/text-embedding-3-small');
    is $r->{json}{id}, 'text-embedding-3-small';
    $r = req(GET => '/v1/models/nope');
    is $r->{status}, 404;
};

subtest 'ARM' => sub {
    my $base = '/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.CognitiveServices/accounts/acct-1/deployments';
    my $r = req(GET => "$base?api-version=2024-10-01");
    is $r->{status}, 401, 'no Authorization -> 401';
    is $r->{json}{error}{code}, 'AuthenticationFailed';
    is $r->{headers}{'x-mock-route'}, 'arm';
    $r = req(GET => "$base?api-version=2024-10-01", headers => [ Authorization => 'Bearer ' ]);
    is $r->{status}, 401, 'empty token -> 401';
    $r = req(GET => "$base?api-version=2024-10-01", headers => [ Authorization => 'Basic abc' ]);
    is $r->{status}, 401, 'non-Bearer -> 401';

    $r = req(GET => "$base?api-version=2024-10-01", headers => [ Authorization => 'Bearer eyJ.token' ]);
    is $r->{status}, 200;
    my $v = $r->{json}{value};
    is scalar @$v, 3;
    is_deeply $v->[0], {
        id => "$base/gpt-4o", name => 'gpt-4o',
        type => 'Microsoft.CognitiveServices/accounts/deployments',
        sku => { name => 'Standard', capacity => 10 },
        properties => { model => { format => 'OpenAI', name => 'gpt-4o', version => '2024-11-20' },
                        provisioningState => 'Succeeded' },
    }, 'ARM deployment shape';
    is $v->[2]{properties}{model}{version}, '1';

    $r = req(GET => $base, headers => [ Authorization => 'Bearer t' ]);
    is $r->{status}, 400, 'ARM requires api-version';
    is $r->{json}{error}{code}, 'MissingApiVersionParameter';
    $r = req(GET => "$base/gpt-4o-mini?api-version=1", headers => [ Authorization => 'Bearer t' ]);
    is $r->{json}{name}, 'gpt-4o-mini', 'single ARM deployment';
    $r = req(GET => "$base/zzz?api-version=1", headers => [ Authorization => 'Bearer t' ]);
    is $r->{status}, 404;
};

subtest 'control' => sub {
    my $r = req(POST => '/__mock/reset');
    is $r->{status}, 200;
    is $r->{headers}{'x-mock-route'}, 'control';
    $r = req(GET => '/__mock/stats');
    is_deeply $r->{json}, { requests => 0, by_path => {} }, 'zeroed';

    req(POST => $chat_path, body => {}) for 1 .. 2;
    req(GET => '/v1/models?x=1');
    req(GET => '/v1/models', headers => [ 'x-mock-status' => 500 ]);
    $r = req(GET => '/__mock/stats');
    is_deeply $r->{json}, { requests => 4, by_path => { '/openai/deployments/gpt-4o/chat/completions' => 2,
                                                        '/v1/models' => 2 } }, 'counted per path, query stripped';

    $r = req(GET => '/__mock/deployments');
    is_deeply $r->{json}, FoundryMock::default_deployments(), 'default table';

    $r = req(PUT => '/__mock/deployments', body => [ { name => 'my-dep', model => 'gpt-4.1', version => '2025-04-14' },
                                                     { name => 'emb' } ]);
    is $r->{status}, 200;
    is_deeply $r->{json}, [ { name => 'my-dep', model => 'gpt-4.1', version => '2025-04-14', format => 'OpenAI' },
                            { name => 'emb', model => 'emb', version => '1', format => 'OpenAI' } ], 'defaults filled';
    $r = req(POST => "/openai/deployments/my-dep/chat/completions?$API", body => {});
    is $r->{json}{model}, 'gpt-4.1', 'new table used by classic';
    $r = req(POST => $chat_path, body => {});
    is $r->{status}, 404, 'old deployment gone';
    $r = req(GET => '/v1/models');
    is_deeply [ map { $_->{id} } @{ $r->{json}{data} } ], [ 'my-dep', 'emb' ], 'new table used by discovery';

    $r = req(PUT => '/__mock/deployments', body => { name => 'x' });
    is $r->{status}, 400, 'PUT non-array -> 400';
    $r = req(PUT => '/__mock/deployments', body => [ { model => 'x' } ]);
    is $r->{status}, 400, 'PUT without name -> 400';

    $r = req(DELETE => '/__mock/deployments');
    is_deeply $r->{json}, FoundryMock::default_deployments(), 'DELETE restores the start table';

    $r = req(GET => '/__mock/health');
    is $r->{body}, '{"status":"ok"}';
    $r = req(GET => '/__mock/nothing');
    is $r->{status}, 404;

    $r = req(POST => '/__mock/reset?ids=1');
    $r = req(GET => '/__mock/health');
    is $r->{headers}{'x-mock-request-id'}, 1, 'reset?ids=1 restarts request ids';
};

subtest 'garbage input' => sub {
    my @bad = (
        [ "\x00\x01\x02garbage\r\n\r\n", 400, 'binary junk' ],
        [ "GET /\r\n\r\n", 400, 'HTTP/0.9 style' ],
        [ "GET / HTTP/2.0\r\n\r\n", 505, 'HTTP/2.0' ],
        [ "GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400, 'header without colon' ],
        [ "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400, 'obs-fold' ],
        [ "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400, 'bad Content-Length' ],
        [ "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, 'conflicting Content-Length' ],
        [ "POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n", 413, 'huge Content-Length' ],
        [ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, 'bad chunk size' ],
        [ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", 400, 'missing chunk CRLF' ],
        [ "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400, 'TE not ending in chunked' ],
        [ "GET nohost HTTP/1.1\r\n\r\n", 400, 'bad target' ],
        [ "GET / HTTP/1.1\r\nX: " . ('a' x 70000) . "\r\n\r\n", 431, 'huge header' ],
        [ 'x' x 70000, 431, 'no header end' ],
    );
    for my $b (@bad) {
        my ($data, $status, $name) = @$b;
        my $c = Client->new($PORT);
        $c->send($data);
        my $r = $c->response;
        is $r->{status}, $status, "$name -> $status";
        like $r->{headers}{'x-mock-request-id'} // '', qr/^\d+$/, "$name: request id";
        my $j = eval { $JSON->decode($r->{body}) };
        ok $j && $j->{error}{code}, "$name: JSON error";
        ok $c->closed_within(3), "$name: connection closed";
    }

    # a valid request followed by junk on the same connection
    my $c = Client->new($PORT);
    $c->send(build_request(GET => '/v1/models') . "JUNK JUNK\r\n\r\n");
    is $c->response->{status}, 200, 'valid request answered';
    is $c->response->{status}, 400, 'junk after it -> 400';

    # client vanishing mid-request / mid-stream must not hurt the server
    $c = Client->new($PORT);
    $c->send("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
    $c->close;
    $c = Client->new($PORT);
    $c->send(build_request(POST => '/v1/chat/completions', headers => [ 'x-mock-chunk-delay-ms' => 50 ],
                           body => { model => 'm', stream => JSON::PP::true }));
    $c->close;
    sleep 0.4;
    is req(GET => '/__mock/health')->{status}, 200, 'server alive';
};

subtest 'start() options: deployments and log' => sub {
    my $dir = tempdir(CLEANUP => 1);
    my $log = "$dir/mock.log";
    my $port = FoundryMock::start(
        deployments => [ { name => 'only-one', model => 'gpt-5', version => '2025-08-07', format => 'OpenAI' } ],
        log => $log,
    );
    isnt $port, $PORT, 'second instance on its own port';
    my $r = req(GET => '/v1/models', port => $port);
    is_deeply [ map { $_->{id} } @{ $r->{json}{data} } ], [ 'only-one' ], 'custom table';
    $r = req(POST => "/openai/deployments/only-one/chat/completions?$API", port => $port, body => {});
    is $r->{json}{model}, 'gpt-5';
    is $r->{headers}{'x-mock-request-id'}, 2, 'independent counters';
    sleep 0.1;
    open my $fh, '<', $log or die $!;
    my @lines = <$fh>;
    is scalar @lines, 2, 'one log line per request';
    like $lines[1], qr{#2 127\.0\.0\.1:\d+ "POST /openai/deployments/only-one/chat/completions\?\Q$API\E HTTP/1\.1" 200 classic},
        'log line format';

    eval { FoundryMock::start(deployments => [ { model => 'x' } ]) };
    like $@, qr/name/, 'invalid table rejected by start()';
};

sub port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 1);
    return $s ? 1 : 0;
}

sub wait_closed {
    my ($port, $sec) = @_;
    my $deadline = time + $sec;
    while (time < $deadline) {
        return 1 unless port_open($port);
        sleep 0.05;
    }
    return 0;
}

subtest 'mock child exits with its parent' => sub {
    my $lib = "$FindBin::RealBin/../lib";
    for my $case ([ 'normal exit (END block)', 'exit 0' ],
                  [ 'parent vanishes (POSIX::_exit, no END)', 'POSIX::_exit(0)' ]) {
        my ($name, $exit) = @$case;
        open my $ph, '-|', $^X, "-I$lib", '-MFoundryMock', '-MPOSIX', '-e',
            "\$| = 1; print scalar(FoundryMock::start()), qq{\\n}; sleep 0.3; $exit" or die $!;
        my $port = <$ph>;
        chomp $port;
        like $port, qr/^\d+$/, "$name: child mock started";
        close $ph;
        ok wait_closed($port, 3), "$name: mock gone after the parent exited";
    }
    # start() leaves the caller's exit status alone
    system $^X, "-I$lib", '-MFoundryMock', '-e', 'FoundryMock::start(); exit 3';
    is $? >> 8, 3, 'exit status preserved by the END block';
};

subtest 'CLI tools/foundry-mock' => sub {
    my $cli = "$FindBin::RealBin/../../tools/foundry-mock";
    ok -x $cli, 'executable';
    my $dir = tempdir(CLEANUP => 1);
    open my $df, '>', "$dir/d.json" or die $!;
    print $df '[{"name":"cli-dep","model":"gpt-4.1-nano","version":"2025-04-14","format":"OpenAI"}]';
    close $df;

    my $pid = open my $ph, '-|', $^X, $cli, '--port', '0', '--deployments', "$dir/d.json" or die $!;
    my $banner = <$ph>;
    my ($port) = ($banner // '') =~ m{^foundry-mock listening on http://127\.0\.0\.1:(\d+)$};
    ok $port, 'banner with port';
    my $r = req(POST => "/openai/deployments/cli-dep/chat/completions?$API", port => $port, body => {});
    is $r->{json}{model}, 'gpt-4.1-nano', 'deployments file honoured';
    my $line = <$ph>;
    like $line, qr{"POST /openai/deployments/cli-dep/chat/completions\?\Q$API\E HTTP/1\.1" 200 classic}, 'request line printed';
    kill 'TERM', $pid;
    my @rest = <$ph>;
    close $ph;
    is $?, 0, 'clean exit on SIGTERM';
    like join('', @rest), qr/stopped/, 'stop message';
    ok !port_open($port), 'port released';

    $pid = open $ph, '-|', $^X, $cli, '--port', '0', '--quiet' or die $!;
    ($port) = (scalar <$ph>) =~ /:(\d+)$/;
    req(GET => '/v1/models', port => $port);
    kill 'INT', $pid;
    my @out = <$ph>;
    close $ph;
    is $?, 0, 'clean exit on SIGINT';
    is scalar @out, 0, '--quiet prints nothing per request';

    my $busy = `$^X $cli --port $PORT 2>&1`;
    isnt $? >> 8, 0, 'port in use -> non-zero exit';
    like $busy, qr/cannot listen/, 'error message';
};

my $final = req(GET => '/__mock/health');
is $final->{status}, 200, 'main mock still healthy at the end';

done_testing;
