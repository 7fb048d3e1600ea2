# error_log / no_error_log: one test per pattern, strings and qr// via eval,
# per-block log_level, http_config/main_config, user_files, grep_error_log.
use Test::Nginx::Socket;

repeat_each(2);

plan tests => repeat_each() * (blocks() * 3 + 2);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a 404 logs open() failed; no [alert] or [crit]
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /nope.html
--- error_code: 404
--- error_log
open() "
nope.html" failed
--- no_error_log
[alert]
[crit]



=== TEST 2: eval'ed patterns, strings and regexes mixed
--- config
--- request
GET /missing.txt
--- error_code: 404
--- error_log eval
[qr/\[error\] \d+#\d+: \*\d+ open\(\) "[^"]+missing\.txt" failed/, "No such file or directory"]
--- no_error_log eval
qr/\[emerg\]/



=== TEST 3: per block log_level: no debug lines at "warn"
--- log_level: warn
--- http_config
    map $uri $greeting {
        default "hi";
    }
--- main_config
    worker_rlimit_nofile 1024;
--- config
    location = /t {
        return 200 "$greeting from $TEST_NGINX_SERVER_ROOT\n";
    }
--- request
GET /t
--- response_body eval
"hi from $ENV{TEST_NGINX_SERVER_ROOT}\n"
--- no_error_log
[debug]



=== TEST 4: user_files are served from the html dir
--- user_files
>>> sub/hello.txt
hello, file
--- config
--- request
GET /sub/hello.txt
--- response_body
hello, file
--- error_log
http finalize request: 0



=== TEST 5: grep_error_log picks matching parts of error.log lines
--- config
--- request
GET /gone.html
--- error_code: 404
--- grep_error_log eval: qr/open\(\) "[^"]+" failed/
--- grep_error_log_out eval
qr{^open\(\) "\S+/html/gone\.html" failed\n$}
