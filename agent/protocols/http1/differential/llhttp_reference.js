// The reference side of the HTTP/1.x differential test (http1_differential_test.py): parses each
// case's request stream and response stream with llhttp, the parser of Node's `http` module
// (process.binding('http_parser'), strict flags as a Node server or client uses them), and
// prints what it accepted, one JSON line per case:
//   {"name", "requests": [MSG...], "request_error": "HPE_...@OFFSET" | null,
//    "responses": [MSG...], "response_error": ...}
//   MSG = {"method"|"status", "target"|"reason", "version": "1.1", "headers": [[k, v]...],
//          "body": base64, "upgrade": bool}
// Input: JSON lines {"name", "requests": base64, "responses": base64} on stdin.
// A response to a HEAD request has no body (as Node's client tells llhttp); 1xx responses other
// than 101 are interim: reported with "interim": true. Parsing of a stream stops at an upgrade
// (101, or a 2xx answer to CONNECT) as Node's does.
'use strict';
process.noDeprecation = true;  // process.binding is deprecated, and the only way to llhttp
const {HTTPParser, allMethods} = process.binding('http_parser');  // allMethods: by llhttp's enum
const readline = require('readline');

function pairsOf(flat) {
  const pairs = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
  return pairs;
}

function parseStream(bytes, type, requestMethods) {
  const parser = new HTTPParser();
  parser.initialize(type, {});
  const messages = [];
  let current = null;
  let bodies = [];
  // Node hands over header blocks early when there are many (with the target so far), and
  // trailers after the body, through kOnHeaders.
  let earlyHeaders = [];
  let earlyUrl = '';
  parser[HTTPParser.kOnHeaders] = (headers, url) => {
    if (current !== null) {
      current.trailers = (current.trailers || []).concat(pairsOf(headers));
      return;
    }
    earlyHeaders.push(...headers);
    earlyUrl += url || '';
  };
  parser[HTTPParser.kOnHeadersComplete] = (major, minor, headers, method, url, statusCode,
                                           statusMessage, upgrade) => {
    current = {version: `${major}.${minor}`, headers: pairsOf(earlyHeaders.concat(headers || [])),
               upgrade: !!upgrade};
    const target = earlyUrl + (url || '');
    earlyHeaders = [];
    earlyUrl = '';
    if (type === HTTPParser.REQUEST) {
      current.method = allMethods[method];
      current.target = target;
    } else {
      current.status = statusCode;
      current.reason = statusMessage;
      if (statusCode >= 100 && statusCode < 200 && statusCode !== 101) current.interim = true;
    }
    bodies = [];
    if (type === HTTPParser.RESPONSE && !current.interim) {
      const finals = messages.filter((m) => !m.interim).length;
      const method = requestMethods[finals];
      if (method === 'HEAD') return 1;  // skip the body, as Node's client does
      if (method === 'CONNECT' && statusCode >= 200 && statusCode < 300) {
        current.upgrade = true;
        return 2;  // a tunnel: no body, parsing stops
      }
    }
    return 0;
  };
  parser[HTTPParser.kOnBody] = (chunk) => { bodies.push(Buffer.from(chunk)); };
  parser[HTTPParser.kOnMessageComplete] = () => {
    current.body = Buffer.concat(bodies).toString('base64');
    messages.push(current);
    current = null;
  };
  let error = null;
  const result = parser.execute(bytes);
  if (result instanceof Error) {
    error = `${result.code}@${result.bytesParsed}`;
  } else {
    const last = messages[messages.length - 1];
    if (!(last && last.upgrade)) {
      const end = parser.finish();  // a close-delimited body ends here
      if (end instanceof Error) error = `${end.code}@end`;
    }
  }
  if (current !== null && error === null) error = 'incomplete@end';
  return {messages, error};
}

const rl = readline.createInterface({input: process.stdin, terminal: false});
rl.on('line', (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line);
  const req = parseStream(Buffer.from(c.requests || '', 'base64'), HTTPParser.REQUEST, []);
  const methods = req.messages.map((m) => m.method);
  const resp = parseStream(Buffer.from(c.responses || '', 'base64'), HTTPParser.RESPONSE, methods);
  process.stdout.write(JSON.stringify({
    name: c.name, requests: req.messages, request_error: req.error,
    responses: resp.messages, response_error: resp.error,
  }) + '\n');
});
