// The baseline: the chain with no library at all. Every ratio is against this variant.
import express from 'express';
import { startChain } from './_chain.mjs';

await startChain({ express });
