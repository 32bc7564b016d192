// The OpenTelemetry SDK configured only for propagation: instrumentation-http, W3C trace context +
// baggage propagators, AlwaysOff sampler, nothing exported. No routing-context at all: OTel's own
// baggage propagation carries the key to B.
import { createRequire } from 'node:module';

// No exporter of any kind, whatever the environment says.
process.env.OTEL_TRACES_EXPORTER = 'none';
process.env.OTEL_METRICS_EXPORTER = 'none';
process.env.OTEL_LOGS_EXPORTER = 'none';

const require = createRequire(import.meta.url);
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { AlwaysOffSampler } = require('@opentelemetry/sdk-trace-base');
const {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} = require('@opentelemetry/core');

const sdk = new NodeSDK({
  sampler: new AlwaysOffSampler(),
  textMapPropagator: new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  }),
  instrumentations: [new HttpInstrumentation()],
  resourceDetectors: [],
});
sdk.start();

// Loaded after the SDK so instrumentation-http patches `http` before Express and the chain use it.
const express = require('express');
const { startChain } = await import('./_chain.mjs');
await startChain({ express });
