// The kernel's module lookup (os/boot/handoff.ts findModule) against the
// Limine module list the machine writes (sim/x86/boot.ts): it reads the list
// in order only as far as the match, keeps what it read, and reads it all for
// a name that is not there.
import { describe, expect, it } from 'vitest';
import type { Code } from '../../sim/ops.ts';
import { findModule, readHandoff, type BootInfo, type BootModuleInfo } from '../../os/boot/handoff.ts';
import { GuestKit, exit } from '../helpers/guest.ts';

const PATHS = ['/user/a', '/user/bb', '/user/ccc', '/user/dddd', '/user/eeeee'];

describe('boot module lookup', () => {
  it('reads the list only as far as the match, reuses what it read, and reads it all for a miss', () => {
    const k = new GuestKit();
    const modules = PATHS.map((path, i) => ({ path, cmdline: i === 2 ? 'x=1' : '', bytes: new Uint8Array(100 * (i + 1)).fill(i + 1) }));
    const r = k.run(
      [
        [
          'entry',
          function* (handoff: number): Code<void> {
            const boot: BootInfo | string = yield readHandoff(handoff);
            if (typeof boot === 'string') throw new Error(boot);
            const find = function* (path: string): Code<void> {
              const before = k.machine.cpus[0].ops;
              const m: BootModuleInfo | null = yield findModule(boot, path);
              k.log.push({ path, found: m === null ? null : { size: m.size, cmdline: m.cmdline }, ops: k.machine.cpus[0].ops - before, read: boot.modules.length });
            };
            yield find('/user/ccc');
            yield find('/user/a');
            yield find('/user/dddd');
            yield find('/user/nope');
            yield find('/user/eeeee');
            yield* exit(0);
          },
        ],
      ],
      { modules },
    );
    expect(r.stopReason).toBe('debug-exit');
    const log = k.log as { path: string; found: { size: number; cmdline: string } | null; ops: number; read: number }[];
    expect(log.map((l) => [l.path, l.found, l.read])).toEqual([
      ['/user/ccc', { size: 300, cmdline: 'x=1' }, 3],
      ['/user/a', { size: 100, cmdline: '' }, 3],
      ['/user/dddd', { size: 400, cmdline: '' }, 4],
      ['/user/nope', null, 5],
      ['/user/eeeee', { size: 500, cmdline: '' }, 5],
    ]);
    // Memory is read only for modules not read before: nothing for /user/a, one module's worth for /user/dddd.
    expect(log[1].ops).toBe(0);
    expect(log[4].ops).toBe(0);
    expect(log[0].ops).toBeGreaterThan(2 * log[2].ops);
  });
});
