// Sends one known span to an OTLP/gRPC endpoint with the official OpenTelemetry JS SDK and its
// OTLP/gRPC exporter, and exits 0 only when the exporter reports success.
//   node export_known_span.js http://127.0.0.1:4317
// The ids, times, attributes and resource below are what otlp_receiver_test.py expects back.
'use strict';
const api = require('@opentelemetry/api');
const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
const { ExportResultCode } = require('@opentelemetry/core');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');

const url = process.argv[2];
// A processor that only keeps ended spans, so the exporter is called directly and its result
// (not a log line) decides the exit status.
const ended = [];
const keep = {
  onStart() {},
  onEnd(span) { ended.push(span); },
  forceFlush() { return Promise.resolve(); },
  shutdown() { return Promise.resolve(); },
};
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'otlp-reference-client' }),
  idGenerator: {
    generateTraceId: () => '0af7651916cd43dd8448eb211c80319c',
    generateSpanId: () => 'b7ad6b7169203331',
  },
  spanProcessors: [keep],
});
const tracer = provider.getTracer('httptrace-reference', '1.2.3');
const span = tracer.startSpan('GET /known', {
  kind: api.SpanKind.SERVER,
  startTime: [1700000000, 123456789],
  attributes: { 'http.request.method': 'GET', 'http.response.status_code': 503, 'url.path': '/known' },
});
span.setStatus({ code: api.SpanStatusCode.ERROR, message: 'known failure' });
span.end([1700000001, 500]);

const exporter = new OTLPTraceExporter({ url });
exporter.export(ended, (result) => {
  if (result.code !== ExportResultCode.SUCCESS) {
    console.error('export failed:', result.error && result.error.message);
    process.exit(1);
  }
  exporter.shutdown().then(() => process.exit(0));
});
