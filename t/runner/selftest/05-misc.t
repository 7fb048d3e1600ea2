# 'no_plan', add_block_preprocessor, master_on/workers, SKIP, skip_nginx,
# abort + timeout, access_log, wait, $TEST_NGINX_RAND_PORT_N, env expansion.
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_GREETING} = 'howdy';

master_on();
workers(2);
env_to_nginx('TEST_NGINX_GREETING');
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->config) {
        $block->set_value("config", <<'_END_');
    location = /t {
        return 200 "default config\n";
    }
_END_
    }
    if (!defined $block->request) {
        $block->set_value("request", "GET /t\n");
    }
});

run_tests();

__DATA__

=== TEST 1: config and request from the preprocessor, master + 2 workers
--- response_body
default config
--- error_log
start worker process



=== TEST 2: this block is skipped by Test::Base
--- SKIP
--- response_body
never checked



=== TEST 3: env expansion in config; a second server on a random port
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/other;
    }
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /other {
            return 200 "$TEST_NGINX_GREETING from the other server\n";
        }
    }
--- response_body
howdy from the other server



=== TEST 4: skip_nginx skips N tests when the version matches
--- skip_nginx
2: >= 1.0.0
--- response_body
not checked



=== TEST 5: abort: a client timeout is not a failure
--- config
    location = /t {
        limit_rate 1;
        return 200 "this body is sent one byte per second\n";
    }
--- request
GET /t
--- timeout: 300ms
--- abort
--- ignore_response



=== TEST 6: access_log and no_access_log, after a wait
--- http_config
    log_format mine "[$request_method $uri $status]";
--- config
    access_log logs/access.log mine;
    location = /t {
        return 204;
    }
--- request
GET /t?x=1
--- error_code: 204
--- wait: 0.05
--- access_log
[GET /t 204]
--- no_access_log
[POST



=== TEST 7: main_config goes to the top level of nginx.conf
--- main_config
    worker_shutdown_timeout 10s;
--- request
GET /t
--- response_body
default config
