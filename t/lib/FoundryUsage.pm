package FoundryUsage;

# The mock's answers for the usage tests (t/030-usage.t,
# t/035-stream-usage.t), as t/mock/README.md describes them (canonical
# JSON: keys sorted); "use FoundryUsage;".  The functions are in main::,
# and so is $main::T, the reply text.

use strict;
use warnings;

sub main::mask_ids {
    my ($s) = @_;
    $s =~ s/\b(chatcmpl-mock-|cmpl-mock-|resp_mock_|msg_mock_)\d+/${1}N/g;
    return $s;
}

# the mock's answers, as t/mock/README.md describes them (canonical JSON:
# keys sorted)

our $T = 'Hello from the mock upstream.';
{ no warnings 'once'; *main::T = \$T; }

sub main::chat_usage {
    my ($p, $c, $cached, $reasoning) = @_;
    return sprintf '{"completion_tokens":%s,"completion_tokens_details":'
        . '{"reasoning_tokens":%s},"prompt_tokens":%s,"prompt_tokens_details":'
        . '{"cached_tokens":%s},"total_tokens":%s}',
        $c, $reasoning // 0, $p, $cached // 0, $p + $c;
}

sub main::responses_usage {
    my ($p, $c, $cached, $reasoning) = @_;
    return sprintf '{"input_tokens":%s,"input_tokens_details":'
        . '{"cached_tokens":%s},"output_tokens":%s,"output_tokens_details":'
        . '{"reasoning_tokens":%s},"total_tokens":%s}',
        $p, $cached // 0, $c, $reasoning // 0, $p + $c;
}

# the reply text in K pieces, as the mock splits it
sub main::pieces {
    my ($k) = @_;
    my $l = length $T;
    return map { substr $T, int($_ * $l / $k),
                        int(($_ + 1) * $l / $k) - int($_ * $l / $k) }
               0 .. $k - 1;
}

sub main::chat_json {
    my ($model, $usage) = @_;
    return '{"choices":[{"finish_reason":"stop","index":0,"message":'
        . qq~{"content":"$T","role":"assistant"}}],"created":1700000000,~
        . qq~"id":"chatcmpl-mock-N","model":"$model","object":"chat.completion",~
        . qq~"usage":$usage}~;
}

sub main::chat_sse {
    my ($model, $k, $usage) = @_;
    my $u = defined $usage ? ',"usage":null' : '';
    my $tail = qq~"created":1700000000,"id":"chatcmpl-mock-N","model":"$model",~
               . qq~"object":"chat.completion.chunk"~;
    my $s = qq~data: {"choices":[{"delta":{"content":"","role":"assistant"},~
            . qq~"finish_reason":null,"index":0}],$tail$u}\n\n~;
    $s .= qq~data: {"choices":[{"delta":{"content":"$_"},"finish_reason":null,~
          . qq~"index":0}],$tail$u}\n\n~ for main::pieces($k);
    $s .= qq~data: {"choices":[{"delta":{},"finish_reason":"stop","index":0}],~
          . qq~$tail$u}\n\n~;
    $s .= qq~data: {"choices":[],$tail,"usage":$usage}\n\n~ if defined $usage;
    return $s . "data: [DONE]\n\n";
}

sub main::completions_sse {
    my ($model, $k, $usage) = @_;
    my $u = defined $usage ? ',"usage":null' : '';
    my $tail = qq~"created":1700000000,"id":"cmpl-mock-N","model":"$model",~
               . qq~"object":"text_completion"~;
    my $s = '';
    $s .= qq~data: {"choices":[{"finish_reason":null,"index":0,"logprobs":null,~
          . qq~"text":"$_"}],$tail$u}\n\n~ for main::pieces($k);
    $s .= qq~data: {"choices":[{"finish_reason":"stop","index":0,"logprobs":null,~
          . qq~"text":""}],$tail$u}\n\n~;
    $s .= qq~data: {"choices":[],$tail,"usage":$usage}\n\n~ if defined $usage;
    return $s . "data: [DONE]\n\n";
}

sub main::responses_object {
    my ($model, $usage) = @_;
    return qq~{"created_at":1700000000,"id":"resp_mock_N","model":"$model",~
        . qq~"object":"response","output":[{"content":[{"text":"$T",~
        . qq~"type":"output_text"}],"role":"assistant","type":"message"}],~
        . qq~"status":"completed","usage":$usage}~;
}

sub main::responses_sse {
    my ($model, $k, $usage) = @_;
    my $s = "event: response.created\n"
        . qq~data: {"response":{"created_at":1700000000,"id":"resp_mock_N",~
        . qq~"model":"$model","object":"response","output":[],~
        . qq~"status":"in_progress","usage":null},"sequence_number":0,~
        . qq~"type":"response.created"}\n\n~;
    my $i = 1;
    for my $piece (main::pieces($k)) {
        $s .= "event: response.output_text.delta\n"
            . qq~data: {"content_index":0,"delta":"$piece","item_id":"msg_mock_N",~
            . qq~"output_index":0,"sequence_number":$i,~
            . qq~"type":"response.output_text.delta"}\n\n~;
        $i++;
    }
    return $s . "event: response.completed\n"
        . 'data: {"response":' . main::responses_object($model, $usage)
        . qq~,"sequence_number":$i,"type":"response.completed"}\n\n~;
}

# a stream without its usage event ("choices": [])

sub main::without_usage {
    my ($s) = @_;
    $s =~ s/^data: \{"choices":\[\],[^\n]*\n\n//m;
    return $s;
}

1;
