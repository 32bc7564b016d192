// routing-context: routingMiddleware on both hops and installHttpPropagation for outbound calls.
import express from 'express';
import { routingMiddleware } from '../../dist/express/index.js';
import { installHttpPropagation } from '../../dist/http/index.js';
import { startChain } from './_chain.mjs';

installHttpPropagation();
await startChain({ express, middleware: routingMiddleware });
