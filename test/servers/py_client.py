"""A python http.client client for the real-servers matrix: METHOD|URL[|BODYBYTES] requests on one
keep-alive connection per host, one JSON line per response with what the client saw."""
import http.client
import json
import sys
import urllib.parse

connections = {}
for arg in sys.argv[1:]:
    parts = arg.split("|")
    method, url = parts[0], parts[1]
    body = b"p" * int(parts[2]) if len(parts) > 2 else None
    u = urllib.parse.urlsplit(url)
    key = (u.hostname, u.port)
    if key not in connections:
        connections[key] = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn = connections[key]
    target = u.path + ("?" + u.query if u.query else "")
    conn.request(method, target, body=body)
    local_port = conn.sock.getsockname()[1]  # the server may close it after the response
    response = conn.getresponse()
    data = response.read()
    print(json.dumps({"method": method, "target": target, "status": response.status,
                      "body": len(data), "request_body": len(body or b""),
                      "local_port": local_port}))
for conn in connections.values():
    conn.close()
