#!/usr/bin/env python3
"""The generated corpus of the HTTP/1.x differential test: cases of what peers send, as JSON
lines {"name", "requests": base64, "responses": base64} on stdout. Each class varies one thing
over a plain message (every method of methods.txt; targets; versions; empty lines before a
request; header syntax: OWS of spaces and tabs, empty values, obs-text, folding, many and large
headers; framing: Content-Length, chunked with extensions and trailers, close-delimited; status
lines; interim responses, HEAD, 204/304, upgrade, CONNECT; pipelining and keep-alive) and many
of them combine at random (a fixed seed: the corpus is the same at every run).
Usage: make_corpus.py METHODS_TXT > corpus.jsonl
"""

import base64
import json
import random
import sys

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def request(method=b"GET", target=b"/", version=b"HTTP/1.1", headers=None, body=b"",
            prefix=b"", eol=b"\r\n"):
    headers = [(b"Host", b"example.test")] if headers is None else headers
    out = prefix + method + b" " + target + b" " + version + eol
    for name, value in headers:
        out += name + b":" + value + eol
    return out + eol + body


def response(status=b"200", reason=b"OK", version=b"HTTP/1.1", headers=None, body=b"",
             eol=b"\r\n"):
    headers = [(b"Content-Length", b"%d" % len(body))] if headers is None else headers
    out = version + b" " + status + (b" " + reason if reason is not None else b"") + eol
    for name, value in headers:
        out += name + b":" + value + eol
    return out + eol + body


def chunked(body, sizes=(3, 5, 1), ext=b"", trailers=b"", upper=False):
    out, i, k = b"", 0, 0
    while i < len(body):
        n = min(sizes[k % len(sizes)], len(body) - i)
        out += (b"%X" if upper else b"%x") % n + ext + b"\r\n" + body[i:i + n] + b"\r\n"
        i += n
        k += 1
    return out + b"0" + ext + b"\r\n" + trailers + b"\r\n"


def cases(methods):
    out = []

    def add(name, requests, responses=OK):
        out.append((name, requests, responses))

    # Methods: every one of methods.txt, with and without a body.
    for m in methods:
        add("method_" + m.decode(), request(m, b"h:443" if m == b"CONNECT" else b"/m"),
            b"HTTP/1.1 200 OK\r\n\r\n" if m == b"CONNECT" else (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" if m == b"HEAD" else OK))
        if m not in (b"CONNECT", b"HEAD"):
            add("method_body_" + m.decode(), request(
                m, b"/m", headers=[(b"Host", b"h"), (b"Content-Length", b"4")], body=b"data"))
    for m in (b"get", b"G-ET", b"FOO", b"GETX", b"PRI", b"DESCRIBE"):
        add("method_unlisted_" + m.decode(), request(m))
    # Targets.
    for name, t in (("root", b"/"), ("query", b"/a/b?x=1&y=%20z#frag"), ("asterisk", b"*"),
                    ("absolute", b"http://example.test:8080/p?q"), ("long", b"/" + b"a" * 7000),
                    ("utf8", "/é/ü".encode()), ("obs", b"/\xff\x80"), ("brackets", b"/[x]{y}|"),
                    ("quote", b"/\"x\""), ("backslash", b"/a\\b")):
        add("target_" + name, request(b"OPTIONS" if t == b"*" else b"GET", t))
    add("target_authority_connect", request(b"CONNECT", b"example.test:443"),
        b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01")
    # Versions.
    for v in (b"HTTP/1.0", b"HTTP/1.1", b"HTTP/1.2", b"HTTP/2.0", b"HTTP/0.9", b"http/1.1",
              b"HTTP/1.10"):
        add("version_" + v.decode(), request(version=v), response(version=v) if
            v.startswith(b"HTTP/1.") else OK)
    # Empty lines before a request line (RFC 9112 2.2).
    for name, p in (("crlf", b"\r\n"), ("two_crlf", b"\r\n\r\n"), ("lf", b"\n"), ("cr", b"\r")):
        add("empty_lines_" + name, request(prefix=p))
        add("empty_lines_between_" + name, request() + p + request(target=b"/2"), OK + OK)
    # Line endings.
    add("bare_lf_request", request(eol=b"\n"))
    add("bare_lf_response", request(), response(eol=b"\n", body=b"ok"))
    add("bare_cr_header", b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n")
    # Field syntax: OWS with spaces and tabs, empty values, obs-text, folding, names.
    ows = {"none": b"v", "sp": b" v", "sp_both": b" v ", "tab": b"\tv", "tab_both": b"\tv\t",
           "mixed": b" \t v \t ", "inner": b" a \t b ", "empty": b"", "empty_sp": b" ",
           "empty_tab": b"\t", "obs_text": b" caf\xe9 \xff", "nul": b" a\x00b", "ctl": b" a\x01b",
           "del": b" a\x7fb"}
    for name, value in ows.items():
        add("value_" + name, request(headers=[(b"Host", b"h"), (b"X-Field", value)]))
        add("response_value_" + name, request(), response(
            headers=[(b"X-Field", value), (b"Content-Length", b"2")], body=b"ok"))
    for name, value in (("sp", b"4"), ("tab_both", b"\t4\t"), ("sp_both", b" 4 "),
                        ("tab_before", b"\t4"), ("tab_after", b" 4\t"), ("zeros", b" 0004"),
                        ("plus", b" +4"), ("twice_same", b" 4, 4"), ("hex", b" 0x4")):
        add("content_length_" + name, request(
            b"POST", headers=[(b"Host", b"h"), (b"Content-Length", value)], body=b"data"))
        add("response_content_length_" + name, request(), response(
            headers=[(b"Content-Length", value)], body=b"data"))
    for name, value in (("sp", b" chunked"), ("tab_both", b"\tchunked\t"), ("upper", b" CHUNKED"),
                        ("list", b" gzip, chunked"), ("list_tab", b" gzip,\tchunked"),
                        ("not_last", b" chunked, gzip"), ("identity", b" identity")):
        add("transfer_encoding_" + name, request(
            b"POST", headers=[(b"Host", b"h"), (b"Transfer-Encoding", value)],
            body=chunked(b"hello world")))
        add("response_transfer_encoding_" + name, request(), response(
            headers=[(b"Transfer-Encoding", value)], body=chunked(b"hello world")))
    for name, value in (("close", b" close"), ("close_tab", b"\tclose\t"),
                        ("keep_alive", b" keep-alive"), ("upper", b" CLOSE"),
                        ("list", b" keep-alive, close")):
        add("connection_" + name, request(headers=[(b"Host", b"h"), (b"Connection", value)]) +
            request(target=b"/after"), OK + OK)
    add("obs_fold", request(headers=[(b"Host", b"h"), (b"X-Folded", b" a\r\n b")]))
    add("obs_fold_tab", request(headers=[(b"Host", b"h"), (b"X-Folded", b" a\r\n\tb")]))
    add("name_space_before_colon", b"GET / HTTP/1.1\r\nHost : h\r\n\r\n")
    add("name_empty", b"GET / HTTP/1.1\r\n: h\r\n\r\n")
    add("name_token_chars", request(headers=[(b"X-!#$%&'*+.^_`|~09", b" v")]))
    add("name_obs", request(headers=[(b"X-\xe9", b" v")]))
    add("duplicate_headers", request(headers=[(b"Host", b"h"), (b"X", b"1"), (b"X", b"2")]))
    add("many_headers", request(headers=[(b"H%d" % i, b" v%d" % i) for i in range(200)]))
    add("large_header", request(headers=[(b"Host", b"h"), (b"X-Big", b" " + b"v" * 12000)]))
    add("no_host", request(headers=[]))
    # Chunked framing.
    body = bytes(range(32, 127)) * 3
    for name, enc in (("plain", chunked(body)), ("ext", chunked(body, ext=b";a=b")),
                      ("ext_quoted", chunked(body, ext=b';a="b c"')),
                      ("ext_bare", chunked(body, ext=b";a")),
                      ("ext_sp", chunked(body, ext=b" ;a=b")),
                      ("trailers", chunked(body, trailers=b"T1: x\r\nT2:\ty\t\r\n")),
                      ("upper_hex", chunked(body, sizes=(26, 11), upper=True)),
                      ("leading_zeros", b"0005\r\nhello\r\n0\r\n\r\n"),
                      ("size_sp", b"5 \r\nhello\r\n0\r\n\r\n"),
                      ("bad_size", b"5x\r\nhello\r\n0\r\n\r\n"),
                      ("huge_size", b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
                      ("no_crlf_after_data", b"5\r\nhello0\r\n\r\n"),
                      ("lf_only", b"5\nhello\n0\n\n"),
                      ("one_byte_chunks", chunked(b"abcdefgh", sizes=(1,)))):
        add("chunked_" + name, request(
            b"POST", headers=[(b"Host", b"h"), (b"Transfer-Encoding", b" chunked")], body=enc))
        add("response_chunked_" + name, request(), response(
            headers=[(b"Transfer-Encoding", b" chunked")], body=enc))
    add("cl_and_chunked", request(
        b"POST", headers=[(b"Host", b"h"), (b"Content-Length", b" 3"),
                          (b"Transfer-Encoding", b" chunked")], body=chunked(b"hello")))
    # Status lines and response framing.
    for status, reason in ((b"200", b"OK"), (b"201", b"Created"), (b"404", b"Not Found"),
                           (b"500", b"Internal Server Error"), (b"599", b"X"), (b"999", b"X"),
                           (b"200", b""), (b"200", None), (b"200", b"OK\tfine"),
                           (b"200", b"caf\xe9"), (b"20", b"X"), (b"2000", b"X"),
                           (b"0200", b"X"), (b"600", b"X"), (b"099", b"X")):
        add("status_%s_%s" % (status.decode(), "none" if reason is None else
                              reason.decode("latin-1").replace(" ", "_")),
            request(), response(status, reason, body=b"ok"))
    add("status_204_with_length", request(),
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n" + OK)
    add("status_304_with_length", request(),
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n" + OK)
    add("head_with_length", request(b"HEAD"), b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n")
    add("head_chunked", request(b"HEAD") + request(target=b"/2"),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + OK)
    add("interim_100", request(b"PUT", headers=[(b"Host", b"h"), (b"Expect", b" 100-continue"),
                                                (b"Content-Length", b" 2")], body=b"hi"),
        b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    add("interim_103", request(), b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + OK)
    add("interim_two", request(), b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
        + OK)
    add("close_delimited_10", request(version=b"HTTP/1.0"), b"HTTP/1.0 200 OK\r\n\r\nall of it")
    add("close_delimited_11", request(), b"HTTP/1.1 200 OK\r\n\r\nall of it until close")
    add("upgrade_websocket", request(headers=[(b"Host", b"h"), (b"Upgrade", b" websocket"),
                                              (b"Connection", b" Upgrade")]),
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        b"\x81\x02hi")
    add("upgrade_refused", request(headers=[(b"Host", b"h"), (b"Upgrade", b" h2c"),
                                            (b"Connection", b" Upgrade")]) +
        request(target=b"/2"), OK + OK)
    # Pipelining and keep-alive.
    add("pipelined_three", request(target=b"/1") + request(
        b"POST", b"/2", headers=[(b"Host", b"h"), (b"Content-Length", b" 3")], body=b"abc") +
        request(b"QUERY", b"/3", headers=[(b"Host", b"h"), (b"Content-Length", b" 1")],
                body=b"q"), OK + response(body=b"second") + response(
                    headers=[(b"Transfer-Encoding", b" chunked")], body=chunked(b"third")))
    add("keep_alive_10", request(version=b"HTTP/1.0", headers=[
        (b"Host", b"h"), (b"Connection", b" keep-alive")]) + request(target=b"/2"),
        response(version=b"HTTP/1.0", headers=[(b"Connection", b" keep-alive"),
                                                (b"Content-Length", b" 2")], body=b"ok") + OK)
    # Random combinations of the parts above that llhttp accepts too (so that every message is
    # compared): keep-alive streams of requests and their responses.
    rnd = random.Random(25)
    values = [ows[k] for k in ("none", "sp", "sp_both", "tab", "tab_both", "mixed", "inner",
                               "empty", "empty_sp", "empty_tab", "obs_text")]
    for i in range(600):
        reqs, resps = b"", b""
        for k in range(rnd.randint(1, 4)):
            m = rnd.choice((b"GET", b"GET", b"GET", b"POST", b"PUT", b"DELETE", b"HEAD",
                            b"PATCH", b"OPTIONS", b"QUERY", b"PROPFIND", b"M-SEARCH"))
            hdrs = [(b"Host", rnd.choice(values[:6]))]
            hdrs += [(b"X-%d" % j, rnd.choice(values)) for j in range(rnd.randint(0, 5))]
            body = bytes(rnd.randrange(256) for _ in range(rnd.choice((0, 0, 1, 17, 300))))
            framing = rnd.choice(("length", "chunked", "none"))
            if m == b"HEAD":
                framing = "none"
            if framing == "length" or (framing == "none" and body):
                ws = rnd.choice((b" ", b"\t", b"  ", b" \t"))
                hdrs.append((b"Content-Length", ws + b"%d" % len(body) + rnd.choice(
                    (b"", b" "))))
                enc = body
            elif framing == "chunked":
                hdrs.append((b"Transfer-Encoding", b" chunked"))
                enc = chunked(body, sizes=(rnd.randint(1, 50),), ext=rnd.choice(
                    (b"", b";x=1")), trailers=rnd.choice((b"", b"T: v\r\n")))
            else:
                enc = b""
            rnd.shuffle(hdrs)
            version = rnd.choice((b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"))
            if version == b"HTTP/1.0":
                hdrs.append((b"Connection", b" keep-alive"))
            reqs += request(m, rnd.choice((b"/", b"/x?y=1", b"/%d" % i)), version, hdrs, enc,
                            prefix=rnd.choice((b"", b"", b"", b"\r\n")))
            rbody = bytes(rnd.randrange(256) for _ in range(rnd.choice((0, 5, 100))))
            if m == b"HEAD":
                resps += response(headers=[(b"Content-Length", b" 9")])
            elif rnd.random() < 0.5:
                resps += response(rnd.choice((b"200", b"404", b"201")), rnd.choice(
                    (b"OK", b"", b"Fine\tthanks")), headers=[
                        (b"Content-Length", rnd.choice((b" ", b"\t")) + b"%d" % len(rbody)),
                        (b"X-R", rnd.choice(values))], body=rbody)
            else:
                resps += response(headers=[(b"Transfer-Encoding", b" chunked")],
                                  body=chunked(rbody, sizes=(rnd.randint(1, 40),)))
        add("random_%d" % i, reqs, resps)
    return out


def main():
    with open(sys.argv[1], "rb") as f:
        methods = [l.strip() for l in f if l.strip() and not l.startswith(b"#")]
    for name, reqs, resps in cases(methods):
        print(json.dumps({"name": name, "requests": base64.b64encode(reqs).decode(),
                          "responses": base64.b64encode(resps).decode()}))


if __name__ == "__main__":
    main()
