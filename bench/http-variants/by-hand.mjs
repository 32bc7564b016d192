// What an application does without routing-context: one AsyncLocalStorage entered per request with
// the incoming `baggage`, copied by hand onto every outbound request. No validation, no merging,
// no event routing: the least any propagation costs, for comparison with `routed`.
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
  outboundHeaders: () => {
    const baggage = als.getStore();
    return baggage ? { baggage } : undefined;
  },
});
