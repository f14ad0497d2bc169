// A node http server for the real-servers matrix: files from a directory streamed without a
// Content-Length (chunked), 404 for the rest, POST or QUERY /echo answered with the body's length.
// Usage: node node_server.js ROOT HOST PORT
const fs = require('fs');
const http = require('http');
const path = require('path');
const [root, host, port] = process.argv.slice(2);
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if ((req.method === 'POST' || req.method === 'QUERY') && url.pathname === '/echo') {
    let n = 0;
    req.on('data', (d) => { n += d.length; });
    req.on('end', () => {
      const body = `got ${n} bytes\n`;
      res.writeHead(200, {'Content-Length': Buffer.byteLength(body)});
      res.end(body);
    });
    return;
  }
  const file = path.join(root, path.normalize(url.pathname));
  fs.readFile(file, (err, data) => {
    if (err) {
      res.writeHead(404, {'Content-Type': 'text/plain'});
      res.end('not found\n');
      return;
    }
    res.writeHead(200, {'Content-Type': 'application/octet-stream'});
    // Two writes, no length: node sends it chunked.
    res.write(data.subarray(0, data.length >> 1));
    res.end(data.subarray(data.length >> 1));
  });
});
server.keepAliveTimeout = 30000;
server.listen(Number(port), host, () => console.error(`listening on ${host}:${port}`));
