package FoundryFault;

# Upstreams that break in ways the mock (FoundryMock) does not: answers
# that are not HTTP, connections reset (RST) or stalled in the middle of
# a stream, and a server that can be switched off (connection refused)
# and on again by a request, for t/081-faults.t.
#
#   my ($port, $switch) = FoundryFault::start(files => {
#       '/jwks.json' => $json, ... });
#
# $port (127.0.0.1 only) answers by path:
#
#   /garbage...     reads the request, writes bytes that are not HTTP, closes
#   /reset/N...     200 text/event-stream, chunked, N events, then a RST
#   /stall/N...     the same, then nothing more (held open for 120 s)
#   /sleep/MS       200 {"slept":MS} after MS milliseconds
# (a path that starts so: "/reset/2/chat/completions" is "/reset/2"), and
#
#   /down, /up      switch the second port off (its listening socket
#                   closed: connection refused) or on again; 200 {"switch":..}
#
# $switch, while on, answers GET PATH with 200 and the file given for PATH
# (application/json), 404 otherwise.  It starts on, or off with off => 1.
#
# One process with a select loop; every connection but /down and /up is
# served by a child of its own, so slow ones block nothing.  The server
# exits when the process that started it is gone, and is stopped when that
# process exits.

use strict;
use warnings;

use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes ();

my @PIDS;

sub listener {
    my ($port) = @_;

    return IO::Socket::INET->new(Listen => 128, LocalAddr => '127.0.0.1',
                                 LocalPort => $port // 0, Proto => 'tcp',
                                 ReuseAddr => 1);
}

sub start {
    my (%opts) = @_;

    my $main = listener() or die "FoundryFault: listen: $!";
    my $sw = listener() or die "FoundryFault: listen: $!";
    my $sw_port = $sw->sockport;

    if ($opts{off}) {
        close $sw;
        undef $sw;
    }

    my $parent = $$;

    STDOUT->flush;
    STDERR->flush;

    my $pid = fork // die "FoundryFault: fork: $!";

    if ($pid == 0) {
        eval {
            open STDIN, '<', '/dev/null';
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', '/dev/null';
            $SIG{PIPE} = 'IGNORE';
            $SIG{CHLD} = 'IGNORE';
            $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
            @PIDS = ();
            serve($main, $sw, $sw_port, $opts{files} || {}, $parent);
        };
        POSIX::_exit(0);
    }

    push @PIDS, [ $pid, $$ ];

    return ($main->sockport, $sw_port);
}

END {
    local $?;

    for my $p (@PIDS) {
        next unless $p->[1] == $$;
        kill 'TERM', $p->[0];
        waitpid $p->[0], 0;
    }
}

sub serve {
    my ($main, $sw, $sw_port, $files, $parent) = @_;

    while (getppid() == $parent) {
        my $sel = IO::Select->new($main, $sw ? $sw : ());

        for my $l ($sel->can_read(0.2)) {
            my $c = $l->accept or next;

            if ($sw && $l == $sw) {
                child(sub { serve_file($c, $files) }, $main, $sw, $c);
                next;
            }

            my ($path, $head, $body) = read_request($c);

            if (!defined $path) {
                close $c;

            } elsif ($path eq '/down') {
                if ($sw) {
                    close $sw;
                    undef $sw;
                }
                reply($c, 200, '{"switch":"down"}');

            } elsif ($path eq '/up') {
                $sw //= listener($sw_port);
                reply($c, 200, $sw ? '{"switch":"up"}' : '{"switch":"failed"}');

            } else {
                child(sub { fault($c, $path) }, $main, $sw, $c);
            }
        }
    }
}

# a child for one connection; it keeps no listening socket open

sub child {
    my ($code, $main, $sw, $c) = @_;

    my $pid = fork;

    if (!defined $pid) {
        close $c;
        return;
    }

    if ($pid == 0) {
        close $main;
        close $sw if $sw;
        eval { $code->() };
        POSIX::_exit(0);
    }

    close $c;
}

# the request line's path, the headers, the body (by Content-Length)

sub read_request {
    my ($c) = @_;

    my $buf = '';
    my $sel = IO::Select->new($c);

    while ($buf !~ /\r?\n\r?\n/) {
        return unless $sel->can_read(10);
        my $n = sysread $c, $buf, 65536, length $buf;
        return unless $n;
    }

    my ($head, $rest) = split /\r?\n\r?\n/, $buf, 2;
    my ($path) = $head =~ m{\A[A-Z]+ (/[^ ?]*)};
    my ($len) = $head =~ /^content-length:\s*(\d+)/mi;

    $len //= 0;

    while (length $rest < $len) {
        last unless $sel->can_read(10);
        my $n = sysread $c, $rest, 65536, length $rest;
        last unless $n;
    }

    return ($path, $head, $rest);
}

sub reply {
    my ($c, $status, $body) = @_;

    syswrite $c, "HTTP/1.1 $status X\r\nContent-Type: application/json\r\n"
                 . "Content-Length: " . length($body) . "\r\n"
                 . "Connection: close\r\n\r\n$body";
    close $c;
}

sub serve_file {
    my ($c, $files) = @_;

    my ($path) = read_request($c);
    return unless defined $path;

    if (exists $files->{$path}) {
        reply($c, 200, $files->{$path});
    } else {
        reply($c, 404, '{"error":{"code":"NotFound","message":"no file"}}');
    }
}

sub event {
    my ($i) = @_;

    my $e = qq(data: {"id":"chatcmpl-fault","object":"chat.completion.chunk",)
            . qq("choices":[{"index":0,"delta":{"content":"part $i"}}]}\n\n);

    return sprintf("%x\r\n%s\r\n", length $e, $e);
}

sub fault {
    my ($c, $path) = @_;

    if ($path =~ m{\A/garbage(?:/|\z)}) {
        syswrite $c, "SSH-2.0-not-http \x00\xff\xfe garbage\r\n\r\n"
                     . "{\"this\": \"is not an HTTP answer\"}\n";
        close $c;
        return;
    }

    if ($path =~ m{\A/sleep/(\d+)\z}) {
        Time::HiRes::sleep($1 / 1000);
        reply($c, 200, qq({"slept":$1}));
        return;
    }

    if ($path =~ m{\A/(reset|stall)/(\d+)(?:/|\z)}) {
        my ($what, $n) = ($1, $2);

        syswrite $c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     . "Cache-Control: no-cache\r\n"
                     . "Transfer-Encoding: chunked\r\n\r\n";
        syswrite $c, event($_) for 1 .. $n;

        Time::HiRes::sleep(0.2);

        if ($what eq 'reset') {
            # SO_LINGER with a zero timeout: close() sends a RST
            setsockopt $c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0);
            close $c;
            return;
        }

        # stalled: wait for the peer to give up (EOF) or 120 s
        my $sel = IO::Select->new($c);
        my $until = Time::HiRes::time() + 120;
        while (Time::HiRes::time() < $until) {
            next unless $sel->can_read(1);
            my $n = sysread $c, my $buf, 4096;
            last unless $n;
        }
        close $c;
        return;
    }

    reply($c, 404, '{"error":{"code":"NotFound","message":"no such fault"}}');
}

1;
