// The OpenTelemetry SDK configured only for propagation (as in otel-sdk.mjs: instrumentation-http,
// AlwaysOff sampler, nothing exported) plus routing-context's RoutingPropagator, last in the
// composite, as the README's three lines add it. No routing middleware: the propagator extracts
// the key on A, the bridge makes it the routing key, and OTel's injection carries it to B. The
// cost over otel-sdk.mjs is what a user who already runs OTel pays for routing.
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
const { RoutingPropagator } = require('../../dist/otel/index.cjs');

const sdk = new NodeSDK({
  sampler: new AlwaysOffSampler(),
  textMapPropagator: new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator(), new RoutingPropagator()],
  }),
  instrumentations: [new HttpInstrumentation()],
  resourceDetectors: [],
});
sdk.start();

// Loaded after the SDK so instrumentation-http patches `http` before Express and the chain use it.
const express = require('express');
const { startChain } = await import('./_chain.mjs');
await startChain({ express });
