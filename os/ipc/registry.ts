// Service registry v0: fixed slots (8) mapping short names (1-16 bytes) to
// endpoints. Re-registering a name overwrites it; the endpoint must be live;
// a full registry refuses new names (EFULL). A lookup grants the caller a
// handle to the endpoint.
import type { Code } from '../../sim/ops.ts';
import type { Kernel } from '../kstate.ts';
import { acquire, release } from '../sync/spinlock.ts';
import { ERR, LIMITS } from '../syscall/abi.ts';
import type { Process } from '../proc/process.ts';
import type { Endpoint } from './endpoint.ts';
import { endpointDrop } from './endpoint.ts';

export interface Service {
  name: string;
  ep: Endpoint;
}

export function* svcRegister(k: Kernel, p: Process, name: string, h: number): Code<number> {
  if (name.length < 1 || name.length > LIMITS.maxServiceName) return ERR.EINVAL;
  const obj = p.handle(h);
  if (obj === null || obj.kind !== 'endpoint' || obj.ep.closed) return ERR.EBADH;
  yield acquire(k, k.ipcLock);
  const i = k.services.findIndex((s) => s.name === name);
  let old: Endpoint | null = null;
  if (i >= 0) {
    old = k.services[i].ep;
    k.services[i] = { name, ep: obj.ep };
  } else if (k.services.length >= LIMITS.registrySlots) {
    yield release(k, k.ipcLock);
    return ERR.EFULL;
  } else k.services.push({ name, ep: obj.ep });
  obj.ep.refs++;
  yield release(k, k.ipcLock);
  if (old !== null) yield endpointDrop(k, old);
  return 0;
}

export function* svcLookup(k: Kernel, p: Process, name: string): Code<number> {
  yield acquire(k, k.ipcLock);
  const s = k.services.find((x) => x.name === name && !x.ep.closed);
  if (s !== undefined) s.ep.refs++;
  yield release(k, k.ipcLock);
  if (s === undefined) return ERR.ENOENT;
  const h = p.addHandle({ kind: 'endpoint', ep: s.ep });
  if (h < 0) yield endpointDrop(k, s.ep);
  return h;
}
