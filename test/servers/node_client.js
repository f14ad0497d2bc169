// A node http client for the real-servers matrix: requests METHOD|URL[|BODYBYTES] one after
// the other on a keep-alive agent, one JSON line per response with what the client saw.
const http = require('http');
const agent = new http.Agent({keepAlive: true, maxSockets: 1});
async function one(arg) {
  const [method, url, bodyBytes] = arg.split('|');
  const body = bodyBytes ? Buffer.alloc(Number(bodyBytes), 'n') : null;
  return new Promise((resolve, reject) => {
    const req = http.request(url, {method, agent, headers: body ? {'Content-Length': body.length} : {}},
      (res) => {
        let n = 0;
        res.on('data', (d) => { n += d.length; });
        res.on('end', () => resolve({method, target: new URL(url).pathname + new URL(url).search,
          status: res.statusCode, body: n, request_body: body ? body.length : 0,
          local_port: req.socket.localPort}));
      });
    req.on('error', reject);
    req.end(body || undefined);
  });
}
(async () => {
  for (const arg of process.argv.slice(2)) console.log(JSON.stringify(await one(arg)));
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
