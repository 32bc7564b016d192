// The floor any context propagation pays on this Node version: the bare chain plus one plain
// AsyncLocalStorage entered per request (no library). On Node 20, an active AsyncLocalStorage
// turns on async hooks for every async resource and promise in the process; Node 24's
// AsyncContextFrame removes most of that cost. The gap between this and `routed` is what
// routing-context itself costs.
import { AsyncLocalStorage } from 'node:async_hooks';
import express from 'express';
import { startChain } from './_chain.mjs';

const als = new AsyncLocalStorage();
await startChain({
  express,
  middleware: () =>
    function enterContext(req, _res, next) {
      als.run(req.headers.baggage ?? '', next);
    },
});
