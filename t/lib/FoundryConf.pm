package FoundryConf;

# The http{} text the test files share: the upstream of the mock model
# server (t/lib/FoundryMock.pm) and the foundry_upstream definitions that
# point at it.  The text is the same, line for line, as the heredocs it
# replaces, so that the line numbers nginx -t reports do not move.
#
#   FoundryConf::mock(port => P, keepalive => N)
#       upstream mock { server 127.0.0.1:P; keepalive N; }: P is
#       $TEST_NGINX_MOCK_PORT (expanded by Test::Nginx) unless given,
#       N is 4 unless given; keepalive => undef: no keepalive
#
#   FoundryConf::upstreams(NAME, NAME => {OPTION => VALUE}, ...)
#       the foundry_upstream of each NAME of %Upstream below, each OPTION
#       (url, api_version, api_key, bearer) replacing the default;
#       bearer => undef: none
#
#   FoundryConf::mock_http({MOCK OPTIONS}, NAMES...)
#       mock(MOCK OPTIONS), an empty line, upstreams(NAMES...); the
#       options are optional

use strict;
use warnings;

# every foundry_upstream: kind, its options in order, and after which
# option the line is broken (as the test files have always written them)

my %Upstream = (
    aoai   => { kind => 'azure-openai', url => 'http://mock/aoai',
                api_version => '2025-01-01-preview', api_key => 'aoai-key',
                break => 'url' },
    v1     => { kind => 'azure-openai-v1', url => 'http://mock/res',
                api_key => 'v1-key', break => 'url' },
    oai    => { kind => 'openai', url => 'http://mock', bearer => 'sk-oai' },
    compat => { kind => 'openai-compatible', url => 'http://mock/compat/api',
                break => 'kind' },
);

my @Options = qw(kind url api_version api_key bearer);

sub mock {
    my (%o) = @_;

    my $port = $o{port} // '$TEST_NGINX_MOCK_PORT';
    my $keepalive = exists $o{keepalive} ? $o{keepalive} : 4;

    return "    upstream mock {\n"
           . "        server 127.0.0.1:$port;\n"
           . (defined $keepalive ? "        keepalive $keepalive;\n" : '')
           . "    }\n";
}

sub upstreams {
    my (@args) = @_;

    my $out = '';

    while (@args) {
        my $name = shift @args;
        my $o = ref $args[0] eq 'HASH' ? shift @args : {};
        my $u = $Upstream{$name} // die "no upstream \"$name\"";
        my %u = (%$u, %$o);

        my $line = "    foundry_upstream $name";
        my $pad = ' ' x 21;
        my $broken = 0;

        for my $opt (@Options) {
            next unless defined $u{$opt};

            $line .= ($broken == 1 ? "\n$pad" : ' ') . "$opt=$u{$opt}";
            $broken++ if $broken || (defined $u{break} && $u{break} eq $opt);
        }

        $out .= "$line;\n";
    }

    return $out;
}

sub mock_http {
    my (@args) = @_;

    my $o = ref $args[0] eq 'HASH' ? shift @args : {};

    return mock(%$o) . "\n" . upstreams(@args);
}


1;
