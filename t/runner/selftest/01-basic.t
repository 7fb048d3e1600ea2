# Basic sections: config, request, error_code, response_body (+chomp/eval),
# response_body_like, response_headers (incl. absence), response_headers_like.
use Test::Nginx::Socket;

repeat_each(2);

plan tests => repeat_each() * (blocks() * 2 + 4);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: plain return
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello



=== TEST 2: chomp filter and a non-200 status
--- config
    location = /t {
        return 201 "created";
    }
--- request
GET /t
--- error_code: 201
--- response_body chomp
created



=== TEST 3: response headers, presence and absence (2 extra tests)
--- config
    location = /t {
        add_header X-Foo bar;
        add_header X-Port $server_port;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Foo: bar
!X-Missing
--- response_body
ok



=== TEST 4: response_body_like is a regex over the whole body
--- config
    location = /t {
        return 200 "line one\nline two\n";
    }
--- request
GET /t
--- response_body_like: one.*two



=== TEST 5: response_headers_like (1 extra test) and eval'ed body
--- config
    location = /t {
        add_header X-Num 12345;
        return 200 "a\tb\n";
    }
--- request
GET /t
--- response_headers_like
X-Num: \d+
--- response_body eval
"a\tb\n"



=== TEST 6: error_code eval, 404 for a missing file (1 extra test)
--- config
--- request
GET /no-such-file.html
--- error_code eval
404
--- response_body_like: 404 Not Found
--- response_headers
Content-Type: text/html



=== TEST 7: default root location serves index.html
--- config
--- request
GET /
--- response_body_like: ^<html>.*It works!.*</html>$
