# must_die: nginx has to fail to start; error_log is matched against what
# nginx printed while starting (error log and stderr).
use Test::Nginx::Socket;

repeat_each(2);

plan tests => repeat_each() * (blocks() * 2 + 1);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: unknown directive
--- config
    location = /t {
        no_such_directive_here on;
    }
--- must_die
--- error_log
unknown directive "no_such_directive_here"



=== TEST 2: expected exit code, bad http_config value
--- http_config
    client_header_timeout  not-a-time;
--- config
--- must_die: 1
--- error_log eval
[qr/\[emerg\] .*invalid value/, "client_header_timeout"]



=== TEST 3: a normal block after failing ones still works
--- config
    location = /t {
        return 200 "alive\n";
    }
--- request
GET /t
--- response_body
alive
