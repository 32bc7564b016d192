// The bare chain again, in a process of its own. Its "vs bare" shows how far two identical servers
// land apart in the same run: differences between variants smaller than that are noise.
import express from 'express';
import { startChain } from './_chain.mjs';

await startChain({ express });
