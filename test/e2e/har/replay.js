// Opens a HAR file where users open HAR: Playwright's routeFromHAR replays it into headless
// Chromium, which then loads the recorded URLs with the network cut off (notFound: "abort"),
// so every answer comes from the HAR. Prints one JSON line per request: status and body.
// Usage: node replay.js FILE.har '[{"url": ..., "method": ..., "body": ...}, ...]'
const { chromium } = require("playwright-core");

(async () => {
  const [harPath, requestsJson] = process.argv.slice(2);
  const requests = JSON.parse(requestsJson);
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    // What this machine's closed network needs (see the env notes): no background traffic.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const context = await browser.newContext();
    await context.routeFromHAR(harPath, { notFound: "abort" });
    const page = await context.newPage();
    // A page of the recorded origin, so the requests below are same-origin fetches.
    const first = await page.goto(requests[0].url);
    console.log(JSON.stringify({ navigated: requests[0].url, status: first.status() }));
    for (const r of requests) {
      const result = await page.evaluate(async ({ url, method, body }) => {
        try {
          const response = await fetch(url, { method, body: body || undefined });
          const bytes = new Uint8Array(await response.arrayBuffer());
          let binary = "";
          for (const b of bytes) binary += String.fromCharCode(b);
          return { url, method, status: response.status, body_base64: btoa(binary) };
        } catch (e) {
          return { url, method, error: String(e) };
        }
      }, r);
      console.log(JSON.stringify(result));
    }
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
