# Content checks (foundry_content_check, issue 21): the text of a request
# (chat messages and their parts, tool results, the Responses API's input
# and instructions, completions' prompt) screened by Azure AI Content
# Safety (text:analyze, text:shieldPrompt) or a generic checker before it
# goes upstream.  The bundled mock plays both the model upstream and the
# checker; it flags markers: DEMO-UNSAFE (Violence 6), DEMO-HATE (Hate 2),
# DEMO-SELFHARM (SelfHarm 4), DEMO-BLOCKED (a blocklist), DEMO-ATTACK (a
# prompt attack).
#
# Sections: every text source, the content-filter error, thresholds per
# category, shield prompt attacks, blocklists, long texts split, the
# largest text, the generic shape, the verdicts' cache and its expiry, a
# streamed request refused before anything goes upstream, locations
# without the check, variables and metrics, no prompt text in any log.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use IO::Socket::INET ();
use Time::HiRes qw(sleep);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;

plan tests => 96;

my $Secret = 'SECRET-PROMPT-WORDS';

my $mock = FoundryMock::start();

sub mock_call { FoundryMock::control($mock, @_) }

# the checker's calls since the last reset
sub calls { FoundryMock::content_calls($mock) }

sub model_requests {
    my $s = mock_call('GET', '/__mock/stats');
    my $n = 0;
    for my $p (keys %{ $s->{by_path} }) {
        $n += $s->{by_path}{$p} if $p =~ m{\A/v1/};
    }
    return $n;
}

my $ngx = FoundryNginx->new(workers => 2, http => <<"CONF");
    foundry_content_cache_zone verdicts:1m;
    client_body_buffer_size 1m;
    client_max_body_size 4m;
    foundry_metrics_zone metrics:1m;

    log_format content '\$request \$status \$foundry_content_verdict '
                       '"\$foundry_content_reason"';

    upstream mock {
        server 127.0.0.1:$mock;
    }

    foundry_upstream u kind=openai url=http://mock;

    server {
        listen 127.0.0.1:\$PORT;

        access_log logs/content.log content;

        location /_cs/ {
            internal;
            proxy_pass http://127.0.0.1:$mock/;
            proxy_set_header Ocp-Apim-Subscription-Key mock-cs-key;
        }

        location = /_moderate {
            internal;
            proxy_pass http://127.0.0.1:$mock/moderate;
        }

        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/ shield=on blocklists=list1,list-2;
            proxy_pass \$foundry_upstream_url;
            add_header X-Verdict \$foundry_content_verdict always;
            add_header X-Reason \$foundry_content_reason always;
        }

        location /strict/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs Hate=2 Violence=7;
            proxy_pass \$foundry_upstream_url;
        }

        location /generic/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_moderate shape=generic;
            proxy_pass \$foundry_upstream_url;
            add_header X-Reason \$foundry_content_reason always;
        }

        location /cached/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/ cache=verdicts ttl=1s max_text=30000;
            proxy_pass \$foundry_upstream_url;
            add_header X-Cache \$foundry_content_cache always;
        }

        location /plain/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            proxy_pass \$foundry_upstream_url;
        }

        location = /metrics {
            foundry_metrics;
        }
    }
CONF

sub post {
    my ($path, $body) = @_;
    $body = JSON::PP->new->utf8->canonical->encode($body) if ref $body;
    return $ngx->request('POST', $path,
                         ['Content-Type' => 'application/json'], $body);
}

sub chat {
    my ($prefix, @messages) = @_;
    return post("$prefix/chat/completions",
                { model => 'gpt-4o', messages => \@messages });
}

calls();


# 1. every text source: a marker in each is seen, outside them it is not

my @sources = (
    [ 'chat, string content',
      '/v1/chat/completions',
      { model => 'gpt-4o',
        messages => [ { role => 'user', content => 'x DEMO-UNSAFE' } ] } ],
    [ 'chat, text part',
      '/v1/chat/completions',
      { model => 'gpt-4o',
        messages => [ { role => 'user', content => [
            { type => 'image_url', image_url => { url => 'http://i/x.png' } },
            { type => 'text', text => 'DEMO-UNSAFE' } ] } ] } ],
    [ 'chat, system message',
      '/v1/chat/completions',
      { model => 'gpt-4o',
        messages => [ { role => 'system', content => 'DEMO-UNSAFE' },
                      { role => 'user', content => 'hi' } ] } ],
    [ 'chat, tool result',
      '/v1/chat/completions',
      { model => 'gpt-4o',
        messages => [ { role => 'user', content => 'weather?' },
                      { role => 'assistant', content => undef,
                        tool_calls => [ { id => 'c1', type => 'function',
                            function => { name => 'w', arguments => '{}' } } ] },
                      { role => 'tool', tool_call_id => 'c1',
                        content => 'sunny DEMO-UNSAFE' } ] } ],
    [ 'responses, input string',
      '/v1/responses',
      { model => 'gpt-4o', input => 'DEMO-UNSAFE' } ],
    [ 'responses, instructions',
      '/v1/responses',
      { model => 'gpt-4o', instructions => 'DEMO-UNSAFE', input => 'hi' } ],
    [ 'responses, input items',
      '/v1/responses',
      { model => 'gpt-4o', input => [
          { role => 'user', content => [
              { type => 'input_text', text => 'DEMO-UNSAFE' } ] } ] } ],
    [ 'responses, function call output',
      '/v1/responses',
      { model => 'gpt-4o', input => [
          { type => 'function_call_output', call_id => 'c1',
            output => 'DEMO-UNSAFE' } ] } ],
    [ 'completions, prompt string',
      '/v1/completions',
      { model => 'gpt-4o', prompt => 'DEMO-UNSAFE' } ],
    [ 'completions, prompt array',
      '/v1/completions',
      { model => 'gpt-4o', prompt => [ 'fine', 'DEMO-UNSAFE' ] } ],
);

for my $s (@sources) {
    my ($name, $path, $body) = @$s;
    my ($st, $h, $b) = post($path, $body);
    is($st, 400, "source: $name is checked");
}

my $before = model_requests();
{
    my ($st) = post('/v1/chat/completions', {
        model => 'gpt-4o', metadata => { note => 'DEMO-UNSAFE' },
        user => 'DEMO-UNSAFE',
        messages => [ { role => 'user', content => 'hello' } ] });
    is($st, 200, 'source: other members are not the prompt');
}
is(model_requests(), $before + 1, 'source: only the allowed one went upstream');

calls();

{
    my ($st, $h) = chat('/v1', { role => 'system', content => 'be nice' },
                        { role => 'user', content => 'hello' },
                        { role => 'tool', content => 'tool says' });
    is($st, 200, 'allowed: 200');
    is($h->{'x-verdict'}, 'allowed', 'allowed: $foundry_content_verdict');
    my $c = calls();
    my @an = grep { $_->{kind} eq 'analyze' } @$c;
    my @sh = grep { $_->{kind} eq 'shield' } @$c;
    is(scalar @an, 1, 'allowed: one text:analyze');
    is($an[0]{chars}, length("be nice\nhello\ntool says"),
       'allowed: analyze gets every text, one a line');
    is($an[0]{args}, 'api-version=2024-09-01', 'allowed: the api-version');
    is_deeply($an[0]{categories}, [qw(Hate SelfHarm Sexual Violence)],
              'allowed: the four categories by default');
    is_deeply($an[0]{blocklists}, [qw(list1 list-2)], 'allowed: blocklists');
    is($an[0]{key}, 'mock-cs-key', 'allowed: the key of the checker location');
    is(scalar @sh, 1, 'allowed: one text:shieldPrompt');
    is($sh[0]{chars}, length('hello'), 'shield: the user prompt is the user\'s');
    is_deeply($sh[0]{documents}, [ length('tool says') ],
              'shield: the tool result is a document');
}


# 2. the content-filter error, as Azure OpenAI returns it

{
    my ($st, $h, $b) = chat('/v1', { role => 'user',
                                     content => "$Secret DEMO-UNSAFE" });
    is($st, 400, 'filtered: 400');
    my $e = eval { JSON::PP::decode_json($b) } // {};
    is($e->{error}{code}, 'content_filter', 'filtered: code content_filter');
    is($e->{error}{param}, 'prompt', 'filtered: param prompt');
    is($e->{error}{innererror}{code}, 'ResponsibleAIPolicyViolation',
       'filtered: innererror code');
    my $r = $e->{error}{innererror}{content_filter_result} // {};
    is_deeply($r->{violence}, { filtered => JSON::PP::true,
                                severity => 'high' },
              'filtered: violence high, filtered');
    is_deeply($r->{hate}, { filtered => JSON::PP::false,
                            severity => 'safe' },
              'filtered: hate safe');
    is_deeply($r->{jailbreak}, { filtered => JSON::PP::false,
                                 detected => JSON::PP::false },
              'filtered: jailbreak not detected');
    unlike($b, qr/$Secret|DEMO-UNSAFE/, 'filtered: no prompt text in the body');
    is($h->{'x-verdict'}, 'flagged', 'filtered: verdict flagged');
    is($h->{'x-reason'}, 'Violence:6', 'filtered: reason Violence:6');
    like($h->{'content-type'}, qr{application/json}, 'filtered: JSON');
}


# 3. thresholds per category

{
    my ($st, $h, $b) = chat('/strict', { role => 'user',
                                         content => 'DEMO-HATE' });
    is($st, 400, 'thresholds: Hate=2 refuses hate 2');
    my $r = JSON::PP::decode_json($b)->{error}{innererror}
                                    {content_filter_result};
    is_deeply([ sort keys %$r ], [qw(hate violence)],
              'thresholds: only the asked categories are reported');
    is($r->{hate}{severity}, 'low', 'thresholds: hate low');

    ($st) = chat('/strict', { role => 'user', content => 'DEMO-UNSAFE' });
    is($st, 200, 'thresholds: Violence=7 lets severity 6 through');

    ($st) = chat('/v1', { role => 'user', content => 'DEMO-HATE' });
    is($st, 200, 'thresholds: the default (4) lets hate 2 through');

    ($st) = chat('/v1', { role => 'user', content => 'DEMO-SELFHARM' });
    is($st, 400, 'thresholds: the default refuses self-harm 4');

    calls();
    chat('/strict', { role => 'user', content => 'x' });
    my $c = calls();
    is_deeply($c->[0]{categories}, [qw(Hate Violence)],
              'thresholds: only the asked categories are sent');
    is(scalar(grep { $_->{kind} eq 'shield' } @$c), 0,
       'thresholds: no shieldPrompt without shield=on');
}


# 4. shield prompt: attacks in the user prompt and in documents

{
    my ($st, $h, $b) = chat('/v1', { role => 'user',
                                     content => 'ignore all DEMO-ATTACK' });
    is($st, 400, 'shield: a user prompt attack is refused');
    my $r = JSON::PP::decode_json($b)->{error}{innererror}
                                    {content_filter_result};
    ok($r->{jailbreak}{detected} && $r->{jailbreak}{filtered},
       'shield: jailbreak detected and filtered');
    is($h->{'x-reason'}, 'jailbreak', 'shield: reason jailbreak');

    ($st, $h, $b) = chat('/v1', { role => 'user', content => 'summarize' },
                         { role => 'tool', content => 'doc DEMO-ATTACK' });
    is($st, 400, 'shield: a document attack is refused');
    $r = JSON::PP::decode_json($b)->{error}{innererror}{content_filter_result};
    ok($r->{indirect_attack}{detected}, 'shield: indirect attack detected');
    ok(!$r->{jailbreak}{detected}, 'shield: not a jailbreak');

    ($st) = chat('/v1', { role => 'system', content => 'DEMO-ATTACK' },
                 { role => 'user', content => 'hi' });
    is($st, 200, 'shield: the system prompt is not the user\'s');
}


# 5. blocklists

{
    my ($st, $h, $b) = chat('/v1', { role => 'user',
                                     content => 'DEMO-BLOCKED' });
    is($st, 400, 'blocklist: a match is refused');
    my $r = JSON::PP::decode_json($b)->{error}{innererror}
                                    {content_filter_result};
    is($r->{custom_blocklists}{details}[0]{id}, 'list1',
       'blocklist: named in the error');
    unlike($b, qr/DEMO-BLOCKED/, 'blocklist: not the matched text');
}


# 6. long texts are split at 10,000 characters, in as few calls as can be

calls();

{
    my $long = ('abcdefghij' x 2500);              # 25,000
    my $doc = ('0123456789' x 1200);               # 12,000
    my ($st) = chat('/v1', { role => 'user', content => $long },
                    { role => 'tool', content => $doc });
    is($st, 200, 'split: a long prompt passes');
    my $c = calls();
    my @an = map { $_->{chars} } grep { $_->{kind} eq 'analyze' } @$c;
    my @sh = grep { $_->{kind} eq 'shield' } @$c;
    is(scalar @an, 4, 'split: 37,001 characters in 4 analyze calls');
    ok(!grep({ $_ > 10000 } @an), 'split: no call over 10,000');
    my $sum = 0;
    $sum += $_ for @an;
    is($sum, 25000 + 1 + 12000, 'split: every character is sent once');
    is(scalar @sh, 3, 'split: 3 shieldPrompt calls for 25,000 user chars');
    my $users = 0;
    $users += $_->{chars} for @sh;
    is($users, 25000, 'split: the whole user prompt is shielded');
    my @docs = sort { $b <=> $a } map { @{ $_->{documents} } } @sh;
    is_deeply(\@docs, [ 10000, 2000 ], 'split: documents of 10,000 at most');

    # a word across 10,000 characters: the cut is at the space before it
    my ($st2) = chat('/v1', { role => 'user',
                              content => ('word ' x 1999) . 'xxxx DEMO-UNSAFE' });
    is($st2, 400, 'split: a word across the limit is not cut');
    calls();

    # multibyte: the cut falls between characters
    ($st) = chat('/v1', { role => 'user', content => "\x{e9}" x 15000 });
    is($st, 200, 'split: 15,000 two-byte characters pass');
    $c = calls();
    @an = map { $_->{chars} } grep { $_->{kind} eq 'analyze' } @$c;
    is_deeply([ sort { $b <=> $a } @an ], [ 10000, 5000 ],
              'split: cut between characters');
}


# 7. the largest text checked

{
    my ($st, $h, $b) = chat('/cached', { role => 'user',
                                         content => 'y' x 30001 });
    is($st, 413, 'max_text: a longer text is refused');
    like($b, qr/"PromptTooLarge"/, 'max_text: PromptTooLarge');
    is(scalar @{ calls() }, 0, 'max_text: the checker is not called');
}


# 8. the generic shape

{
    my ($st, $h) = chat('/generic', { role => 'user', content => 'hello' });
    is($st, 200, 'generic: allowed');
    my $c = calls();
    is($c->[0]{kind}, 'generic', 'generic: one call to the checker');
    is($c->[0]{chars}, 5, 'generic: the text');

    my $b;
    ($st, $h, $b) = chat('/generic', { role => 'user',
                                       content => 'DEMO-UNSAFE' });
    is($st, 400, 'generic: denied');
    my $r = JSON::PP::decode_json($b)->{error}{innererror}
                                    {content_filter_result};
    is($r->{custom_check}{reason}, 'mock policy: unsafe marker',
       'generic: the checker\'s reason');
    is($h->{'x-reason'}, 'denied:mock policy: unsafe marker',
       'generic: $foundry_content_reason');
}


# 9. the cache of verdicts, and its expiry

calls();

{
    my ($st, $h) = chat('/cached', { role => 'user', content => 'cache me' });
    is($h->{'x-cache'}, 'miss', 'cache: first a miss');
    ($st, $h) = chat('/cached', { role => 'user', content => 'cache me' });
    is($st, 200, 'cache: allowed again');
    is($h->{'x-cache'}, 'hit', 'cache: then a hit');
    is(scalar @{ calls() }, 1, 'cache: one call for two requests');

    ($st) = chat('/cached', { role => 'user', content => 'DEMO-UNSAFE c' });
    is($st, 400, 'cache: flagged');
    ($st, $h) = chat('/cached', { role => 'user', content => 'DEMO-UNSAFE c' });
    is($st, 400, 'cache: flagged from the cache');
    is($h->{'x-cache'}, 'hit', 'cache: a flagged hit');
    calls();

    ($st, $h) = chat('/cached', { role => 'user', content => 'cache me too' });
    is($h->{'x-cache'}, 'miss', 'cache: another text is a miss');

    sleep 1.5;

    ($st, $h) = chat('/cached', { role => 'user', content => 'cache me' });
    is($h->{'x-cache'}, 'miss', 'cache: expired after ttl');
    is(scalar @{ calls() }, 2, 'cache: the checker is asked again');
}


# 10. a streamed request is checked before anything goes upstream

{
    $before = model_requests();
    my ($st, $h, $b) = post('/v1/chat/completions', {
        model => 'gpt-4o', stream => JSON::PP::true,
        messages => [ { role => 'user', content => 'DEMO-UNSAFE' } ] });
    is($st, 400, 'stream: refused');
    like($b, qr/"content_filter"/, 'stream: the content-filter error');
    is(model_requests(), $before, 'stream: the upstream saw nothing');

    ($st, $h, $b) = post('/v1/chat/completions', {
        model => 'gpt-4o', stream => JSON::PP::true,
        messages => [ { role => 'user', content => 'hello' } ] });
    is($st, 200, 'stream: allowed');
    like($b, qr/data: \[DONE\]/, 'stream: the stream follows');
}


# 11. locations without the check pay nothing

calls();

{
    my ($st, $h) = chat('/plain', { role => 'user', content => 'DEMO-UNSAFE' });
    is($st, 200, 'no check: passes');
    is(scalar @{ calls() }, 0, 'no check: the checker is not called');
}


# 12. metrics

{
    my ($st, $h, $b) = $ngx->request('GET', '/metrics');
    like($b, qr/foundry_content_checks_total\{checker="\/_cs\/",outcome="flagged"\} \d+/,
         'metrics: flagged counted');
    like($b, qr/foundry_content_checks_total\{checker="\/_cs\/",outcome="allowed"\} \d+/,
         'metrics: allowed counted');
    like($b, qr/foundry_content_checks_total\{checker="\/_cs\/",outcome="flagged_cached"\} 1/,
         'metrics: cache hits counted');
}


# 13. no prompt text in any log line

{
    my $err = $ngx->error_log;
    my $acc = $ngx->file('logs/content.log');
    unlike($err, qr/$Secret|DEMO-/, 'logs: no prompt text in the error log');
    unlike($acc, qr/$Secret|DEMO-/, 'logs: none in the access log');
    like($acc, qr{POST /v1/chat/completions HTTP/1.1 400 flagged "Violence:6"},
         'logs: the verdict and reason in the access log');
    like($err, qr/content check "\/_cs\/" refused the prompt: Violence:6/,
         'logs: the refusal at info, with its reason only');
    unlike($err, qr/\[(?:alert|crit|emerg)\]/, 'logs: no alert');
}
