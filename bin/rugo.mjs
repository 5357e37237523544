#!/usr/bin/env node
// Launcher: Node 20 cannot run .ts by itself, so register tsx's loader and load the CLI.
import { register } from 'tsx/esm/api';
register();
await import('../cli/main.ts');
