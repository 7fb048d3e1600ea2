# The operations kit (ops/): the Grafana dashboard is JSON Grafana can
# import, and every metric that the dashboard and the Prometheus alert rules
# name is one that a live /metrics of the module serves (its "# TYPE" line;
# a histogram's _bucket, _sum and _count series count as the histogram).
# promtool checks the rules' syntax in CI (make ops-check).
#
# Plain Perl with an nginx of our own (t/lib/FoundryNginx.pm): the names
# come from the files, not from blocks.

use strict;
use warnings;
use JSON::PP ();
use Test::More;
use lib 't/lib';
use FoundryNginx;

my $Dashboard = 'ops/grafana-dashboard.json';
my $Rules = 'ops/foundry-alerts.yml';

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

# the PromQL of the dashboard: every "expr", and the variables' queries

my @exprs;

my $dash = eval { JSON::PP->new->decode(slurp($Dashboard)) };
ok($dash, "$Dashboard is JSON") or diag($@);
$dash ||= {};

sub walk {
    my ($v) = @_;
    if (ref $v eq 'HASH') {
        for my $k (keys %$v) {
            if ($k =~ /^(expr|definition)$/ && !ref $v->{$k}) {
                push @exprs, [$Dashboard, $v->{$k}];
            } elsif ($k eq 'query' && !ref $v->{$k}) {
                push @exprs, [$Dashboard, $v->{$k}];
            } else {
                walk($v->{$k});
            }
        }
    } elsif (ref $v eq 'ARRAY') {
        walk($_) for @$v;
    }
}

walk($dash);

my @panels = grep { $_->{type} ne 'row' } @{ $dash->{panels} || [] };
ok(@panels >= 10, "$Dashboard has panels (" . scalar(@panels) . ")");
ok(!(grep { !@{ $_->{targets} || [] } } @panels),
   "$Dashboard: every panel has a query");

# the PromQL of the rules: every "expr:", inline or a block scalar

{
    my @lines = split /\n/, slurp($Rules);
    my $n = 0;
    while (@lines) {
        my $line = shift @lines;
        next unless $line =~ /^(\s*)(?:-\s+)?expr:\s*(.*)$/;
        my ($indent, $v) = (length $1, $2);
        if ($v =~ /^[|>]/) {
            $v = '';
            while (@lines && ($lines[0] =~ /^\s*$/
                              || $lines[0] =~ /^(\s*)/ && length $1 > $indent))
            {
                $v .= shift(@lines) . "\n";
            }
        }
        push @exprs, [$Rules, $v];
        $n++;
    }
    ok($n >= 5, "$Rules has alert expressions ($n)");
}

# the metric names they use

my %used;
for my $e (@exprs) {
    $used{$_}{ $e->[0] } = 1 for $e->[1] =~ /\b(foundry_[a-z_]+)\b/g;
}

ok(keys %used >= 8, 'the kit names ' . scalar(keys %used) . ' metrics');

# a live /metrics

my $closed = FoundryNginx::free_port();

(my $conf = <<'_EOC_') =~ s/\$CLOSED_PORT\b/$closed/g;
    foundry_metrics_zone ops_metrics:1m;

    # a fleet-synced limit zone, so that its sync metrics are served; the
    # port is closed (nothing listens), so the sync is down, as the alert
    # on it expects to see it
    foundry_limit_zone ops_limits:1m;
    foundry_limit_sync zone=ops_limits redis=127.0.0.1:$CLOSED_PORT;

    server {
        listen 127.0.0.1:$PORT;

        location = /metrics {
            foundry_metrics;
        }
    }
_EOC_

my $ngx = FoundryNginx->new(http => $conf);

my ($status, undef, $page) = $ngx->request('GET', '/metrics');
is($status, 200, '/metrics answers');

my %type = $page =~ /^# TYPE (foundry_[a-z_]+) (\w+)$/mg;

for my $name (sort keys %used) {
    my $base = $name;
    if ($name =~ /^(.*)_(bucket|sum|count)$/
        && ($type{$1} // '') eq 'histogram')
    {
        $base = $1;
    }
    ok(exists $type{$base},
       "$name (" . join(', ', sort keys %{ $used{$name} }) . ") is on /metrics");
}

$ngx->stop;

done_testing();
