#!/usr/bin/env perl
# The streaming model upstream of the time-to-first-byte run of tools/bench:
# the Server-Sent Events stream of bench/fixed.conf.in (its second server),
# sent as a real model sends it, in pieces: the response header and the
# first event at once, the other events DELAY_MS milliseconds later
# (chunked transfer encoding, TCP_NODELAY).
#
#   perl bench/sse-upstream.pl PORT DELAY_MS bench/fixed.conf.in
#
# Listens on 127.0.0.1:PORT; one child process per connection (keepalive;
# the benchmark's proxies open one or two).  Does not look at the request
# beyond its header and Content-Length.  SIGTERM stops it and its children.

use strict;
use warnings;

use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep);

my ($port, $delay_ms, $conf) = @ARGV;

die "usage: $0 PORT DELAY_MS FIXED_CONF\n"
    unless defined $conf && $port =~ /^\d+$/ && $delay_ms =~ /^\d+(\.\d+)?$/;

# the stream: the "return 200 'data: ...';" of the fixed upstream

open my $fh, '<', $conf or die "$conf: $!\n";
my ($stream) = map { /return 200 '(data: .*)';/ ? $1 : () } <$fh>;
close $fh;

die "$conf: no SSE stream found\n" unless defined $stream;

$stream =~ s/\\n/\n/g;

my $cut = index($stream, "\n\n") + 2;
my $first = substr($stream, 0, $cut);
my $rest = substr($stream, $cut);

sub chunk { sprintf("%x\r\n", length $_[0]) . $_[0] . "\r\n" }

my $head = "HTTP/1.1 200 OK\r\n"
         . "Content-Type: text/event-stream\r\n"
         . "Cache-Control: no-cache\r\n"
         . "Transfer-Encoding: chunked\r\n"
         . "\r\n";

my $srv = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1',
    LocalPort => $port,
    Listen    => 128,
    ReuseAddr => 1,
) or die "127.0.0.1:$port: $@\n";

my %kids;

$SIG{PIPE} = 'IGNORE';
$SIG{CHLD} = sub {
    while ((my $p = waitpid(-1, WNOHANG)) > 0) {
        delete $kids{$p};
    }
};
$SIG{TERM} = $SIG{INT} = sub {
    kill 'TERM', keys %kids;
    exit 0;
};

while (1) {
    my $c = $srv->accept or next;    # EINTR (SIGCHLD)

    my $pid = fork;

    if (!defined $pid) {
        close $c;
        next;
    }

    if ($pid == 0) {
        $SIG{TERM} = $SIG{INT} = 'DEFAULT';
        $SIG{CHLD} = 'DEFAULT';
        close $srv;
        serve($c);
        exit 0;
    }

    $kids{$pid} = 1;
    close $c;
}

sub serve {
    my ($c) = @_;
    my $buf = '';

    setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);

    while (1) {
        my $h;

        while (($h = index($buf, "\r\n\r\n")) < 0) {
            my $n = sysread($c, $buf, 65536, length $buf);
            return unless $n;
        }

        my $header = substr($buf, 0, $h + 4, '');
        my $len = $header =~ /^content-length:\s*(\d+)/im ? $1 : 0;

        while (length $buf < $len) {
            my $n = sysread($c, $buf, 65536, length $buf);
            return unless $n;
        }

        substr($buf, 0, $len, '');

        syswrite($c, $head . chunk($first)) or return;
        sleep($delay_ms / 1000);
        syswrite($c, chunk($rest) . "0\r\n\r\n") or return;
    }
}
