// Exception and interrupt delivery through the real machine (sim/machine.ts,
// sim/x86/cpu.ts), with tiny test guests that write their own IDT (Intel SDM
// vol. 3A §6.12-6.15: gates, faults vs traps, #DF, triple fault, INT n
// privilege check).
import { describe, expect, it } from 'vitest';
import { cli, compute, enterUser, int, int3, jump, lidt, load32, outb, rdmsr, readCr, store32, sti, ud2, wrmsr, type Code, type SyscallRegs } from '../../sim/ops.ts';
import { TrapKind, type TrapFrame } from '../../sim/x86/cpu.ts';
import { PFErr, PTE } from '../../sim/x86/mmu.ts';
import { KERNEL_PHYS_BASE, KERNEL_VIRT_BASE } from '../../sim/x86/boot.ts';
import { GATE_INTERRUPT, GATE_TRAP, writeGate } from '../../os/trap/idt.ts';
import { FrameAlloc, GuestKit, exit, mapPage4k, p2v } from '../helpers/guest.ts';

/** The fields of a trap frame a test checks. */
function brief(tf: TrapFrame): Pick<TrapFrame, 'vector' | 'errorCode' | 'hasError' | 'kind' | 'cpl' | 'from'> {
  return { vector: tf.vector, errorCode: tf.errorCode, hasError: tf.hasError, kind: tf.kind, cpl: tf.cpl, from: tf.from };
}

const UNMAPPED = 0x10000000; // PML4[0] is empty in the boot page tables

describe('exceptions through the IDT', () => {
  it('#PF: a store to an unmapped address gives vector 14, error code W, CR2 = the address', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([{ vector: 14, sym: 'pf' }]);
          yield store32(UNMAPPED + 0x123, 7);
          k.log.push('store completed');
          yield* exit(1);
        },
      ],
      [
        'pf',
        function* (tf: TrapFrame): Code<void> {
          const cr2: number = yield readCr(2);
          k.log.push({ ...brief(tf), cr2 });
          yield* exit(0x11);
        },
      ],
    ]);
    expect(r.stopReason).toBe('debug-exit');
    expect(r.exitStatus).toBe((0x11 << 1) | 1);
    expect(k.log).toEqual([{ vector: 14, errorCode: PFErr.W, hasError: true, kind: TrapKind.Exception, cpl: 0, from: 't:entry', cr2: UNMAPPED + 0x123 }]);
    expect(r.cpus[0].exceptions).toBe(1);
  });

  it('#PF error codes: write to read-only kernel text (P|W), fetch from the NX direct map (P|I), read (0)', () => {
    const cases: [string, (k: GuestKit) => Code<void>, number, (k: GuestKit) => number][] = [
      ['write ro', () => (function* () { yield store32(KERNEL_VIRT_BASE + 8, 1); })(), PFErr.P | PFErr.W, () => KERNEL_VIRT_BASE + 8],
      ['fetch nx', () => (function* () { yield jump(p2v(0x300000), 0); })(), PFErr.P | PFErr.I, () => p2v(0x300000)],
      ['read np', () => (function* () { yield load32(UNMAPPED); })(), 0, () => UNMAPPED],
    ];
    for (const [name, body, code, addr] of cases) {
      const k = new GuestKit();
      const r = k.run([
        [
          'entry',
          function* (): Code<void> {
            yield* k.idt([{ vector: 14, sym: 'pf' }]);
            yield* body(k);
            yield* exit(1);
          },
        ],
        [
          'pf',
          function* (tf: TrapFrame): Code<void> {
            k.log.push(tf.errorCode, yield readCr(2));
            yield* exit(2);
          },
        ],
      ]);
      expect(r.exitStatus, name).toBe(5);
      expect(k.log, name).toEqual([code, addr(k)]);
    }
  });

  it('a faulting store is retried after the handler maps the page, and then succeeds', () => {
    const k = new GuestKit();
    const alloc = new FrameAlloc();
    const DATA_PHYS = 0x1200000;
    let handled = 0;
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([{ vector: 14, sym: 'pf' }]);
          yield store32(UNMAPPED + 0x44, 0xcafe);
          k.log.push('stored');
          k.log.push(yield load32(UNMAPPED + 0x44)); // through the new mapping
          k.log.push(yield load32(p2v(DATA_PHYS + 0x44))); // the same frame through the HHDM
          yield* exit(3);
        },
      ],
      [
        'pf',
        function* (tf: TrapFrame): Code<void> {
          handled++;
          if (handled > 1) yield* exit(0x7f);
          const cr2: number = yield readCr(2);
          k.log.push(`pf ${tf.errorCode}`);
          yield* mapPage4k(alloc, cr2 - (cr2 % 4096), DATA_PHYS, PTE.RW);
          // returning = iret: the store runs again
        },
      ],
    ]);
    expect(r.stopReason).toBe('debug-exit');
    expect(r.exitStatus).toBe(7);
    expect(handled).toBe(1);
    expect(k.log).toEqual(['pf 2', 'stored', 0xcafe, 0xcafe]);
  });

  it('#GP: wrmsr/rdmsr of an unknown MSR and a non-canonical load give vector 13 with error code 0 (and no CR2 update)', () => {
    for (const body of [
      function* (): Code<void> {
        yield wrmsr(0x1234, 5);
      },
      function* (): Code<void> {
        yield rdmsr(0x9999);
      },
      function* (): Code<void> {
        yield load32(2 ** 47 + 0x1000);
      },
      function* (): Code<void> {
        yield store32(-(2 ** 47) - 8, 1);
      },
    ]) {
      const k = new GuestKit();
      const r = k.run([
        [
          'entry',
          function* (): Code<void> {
            yield* k.idt([
              { vector: 13, sym: 'gp' },
              { vector: 14, sym: 'pf' },
            ]);
            yield* body();
            yield* exit(1);
          },
        ],
        [
          'gp',
          function* (tf: TrapFrame): Code<void> {
            k.log.push(brief(tf), yield readCr(2));
            yield* exit(13);
          },
        ],
        [
          'pf',
          function* (): Code<void> {
            yield* exit(14);
          },
        ],
      ]);
      expect(r.exitStatus).toBe(27);
      expect(k.log).toEqual([{ vector: 13, errorCode: 0, hasError: true, kind: TrapKind.Exception, cpl: 0, from: 't:entry' }, 0]);
    }
  });

  it('#UD is a fault without an error code: ud2 re-executes when the handler returns', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([{ vector: 6, sym: 'ud' }]);
          yield ud2();
          k.log.push('not reached');
          yield* exit(1);
        },
      ],
      [
        'ud',
        function* (tf: TrapFrame): Code<void> {
          k.log.push(brief(tf));
          if (k.log.length === 2) yield* exit(6);
        },
      ],
    ]);
    expect(r.exitStatus).toBe(13);
    const ud = { vector: 6, errorCode: 0, hasError: false, kind: TrapKind.Exception, cpl: 0, from: 't:entry' };
    expect(k.log).toEqual([ud, ud]);
  });

  it('#BP (int3) is a trap: the code continues after the handler returns; IF is restored by iret', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([
            { vector: 3, sym: 'bp' },
            { vector: 4, sym: 'bp', type: GATE_TRAP },
          ]);
          k.log.push('before');
          yield int3();
          k.log.push('after');
          yield int(4);
          k.log.push('after 2');
          k.log.push(k.machine.cpus[0].IF);
          yield* exit(9);
        },
      ],
      [
        'bp',
        function* (tf: TrapFrame): Code<void> {
          k.log.push({ ...brief(tf), IF: k.machine.cpus[0].IF });
          yield compute(10);
        },
      ],
    ]);
    expect(r.exitStatus).toBe(19);
    const bp = { vector: 3, errorCode: 0, hasError: false, kind: TrapKind.Software, cpl: 0, from: 't:entry', IF: false };
    expect(k.log).toEqual(['before', bp, 'after', { ...bp, vector: 4 }, 'after 2', false]);
    expect(r.serial).toBe('');
  });

  it('an interrupt gate clears IF for the handler and a trap gate keeps it; iret restores the interrupted IF', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([
            { vector: 0x40, sym: 'h' },
            { vector: 0x41, sym: 'h', type: GATE_TRAP },
          ]);
          yield sti();
          yield int(0x40);
          k.log.push(`back ${k.machine.cpus[0].IF}`);
          yield int(0x41);
          k.log.push(`back ${k.machine.cpus[0].IF}`);
          yield* exit(0);
        },
      ],
      [
        'h',
        function* (tf: TrapFrame): Code<void> {
          k.log.push(`${tf.vector} IF=${k.machine.cpus[0].IF} saved=${tf.savedIF}`);
          yield compute(1);
        },
      ],
    ]);
    expect(r.stopReason).toBe('debug-exit');
    expect(k.log).toEqual(['64 IF=false saved=true', 'back true', '65 IF=true saved=true', 'back true']);
  });

  it('a gate that crosses a page is read from both pages, however the pages lie in physical memory', () => {
    // IDT base chosen so that gate 3 starts 8 bytes before a page end; the two pages map to frames that are not
    // adjacent, so reading the second quadword from the first frame + 8 would find the wrong bytes.
    const V = UNMAPPED;
    const base = V + 4096 - 8 - 3 * 16;
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          const alloc = new FrameAlloc();
          const first = alloc.alloc();
          alloc.alloc(); // the frame between: left unmapped
          const second = alloc.alloc();
          // Page tables come from the same allocator, after the two data frames.
          yield* mapPage4k(alloc, V, first, PTE.RW);
          yield* mapPage4k(alloc, V + 4096, second, PTE.RW);
          yield* writeGate(base, 3, k.va('bp'), 0, GATE_INTERRUPT);
          yield lidt(base, 256 * 16 - 1);
          k.log.push('before');
          yield int3();
          k.log.push('after');
          yield* exit(5);
        },
      ],
      [
        'bp',
        function* (tf: TrapFrame): Code<void> {
          k.log.push(tf.vector);
          yield compute(1);
        },
      ],
    ]);
    expect(r.stopReason).toBe('debug-exit');
    expect(r.exitStatus).toBe(11);
    expect(k.log).toEqual(['before', 3, 'after']);
  });

  it('#DF: a #PF whose gate is not present is delivered to gate 8 with error code 0', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([{ vector: 8, sym: 'df' }]);
          yield store32(UNMAPPED, 1);
          yield* exit(1);
        },
      ],
      [
        'df',
        function* (tf: TrapFrame): Code<void> {
          k.log.push(brief(tf));
          yield* exit(8);
        },
      ],
    ]);
    expect(r.stopReason).toBe('debug-exit');
    expect(r.exitStatus).toBe(17);
    expect(k.log).toEqual([{ vector: 8, errorCode: 0, hasError: true, kind: TrapKind.Exception, cpl: 0, from: 't:entry' }]);
  });

  it('#DF also for a #GP whose vector is beyond the IDT limit', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([{ vector: 8, sym: 'df' }], 9 * 16 - 1); // gates 0-8 only
          yield wrmsr(0x4242, 0);
          yield* exit(1);
        },
      ],
      [
        'df',
        function* (tf: TrapFrame): Code<void> {
          k.log.push(tf.vector);
          yield* exit(8);
        },
      ],
    ]);
    expect(r.exitStatus).toBe(17);
    expect(k.log).toEqual([8]);
  });

  it('triple fault when no IDT was ever loaded', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield store32(UNMAPPED, 1);
          k.log.push('not reached');
          yield* exit(1);
        },
      ],
    ]);
    expect(r.stopReason).toBe('triple-fault');
    expect(r.message.startsWith('MACHINE: triple fault')).toBe(true);
    expect(r.message).toMatch(/#DF/);
    expect(r.message).toMatch(/vector 14/);
    expect(r.exitStatus).toBeNull();
    expect(k.log).toEqual([]);
    expect(k.machine.cpus[0].dead).toBe(true);
  });

  it('triple fault when neither the #PF gate nor the #DF gate is present', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([{ vector: 13, sym: 'gp' }]);
          yield store32(UNMAPPED, 1);
          yield* exit(1);
        },
      ],
      [
        'gp',
        function* (): Code<void> {
          yield* exit(13);
        },
      ],
    ]);
    expect(r.stopReason).toBe('triple-fault');
    expect(r.message).toMatch(/^MACHINE: triple fault on CPU 0: fault while delivering #DF: IDT gate 8 is not present/);
  });

  it('unbounded handler recursion ends in a triple fault naming the stack overflow', () => {
    const k = new GuestKit();
    const r = k.run(
      [
        [
          'entry',
          function* (): Code<void> {
            yield* k.idt([
              { vector: 3, sym: 'bp' },
              { vector: 8, sym: 'df' },
            ]);
            yield int3();
            yield* exit(1);
          },
        ],
        [
          'bp',
          function* (): Code<void> {
            yield int3();
          },
        ],
        [
          'df',
          function* (): Code<void> {
            yield* exit(8);
          },
        ],
      ],
      { maxFrameDepth: 8 },
    );
    expect(r.stopReason).toBe('triple-fault');
    expect(r.message).toMatch(/stack overflow/);
  });

  it('a frame that yields a non-op stops the run with sim-error naming the frame', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield compute(5);
          yield 42 as never;
          yield* exit(1);
        },
      ],
    ]);
    expect(r.stopReason).toBe('sim-error');
    expect(r.message).toMatch(/t:entry/);
    expect(r.message).toMatch(/42/);
    expect(r.message).toMatch(/not an op/);
  });

  it('guest code that throws stops the run with guest-crash', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield compute(5);
          throw new Error('boom in the guest');
        },
      ],
    ]);
    expect(r.stopReason).toBe('guest-crash');
    expect(r.message).toMatch(/boom in the guest/);
    expect(r.message).toMatch(/t:entry/);
  });

  it('a guest kernel returning from its entry frame executes garbage: #UD', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([{ vector: 6, sym: 'ud' }]);
        },
      ],
      [
        'ud',
        function* (tf: TrapFrame): Code<void> {
          k.log.push(tf.vector);
          yield* exit(6);
        },
      ],
    ]);
    expect(r.exitStatus).toBe(13);
    expect(k.log).toEqual([6]);
  });
});

/** User-mode helpers: the image's first page mapped user-executable at USER_CODE_VA. */
const USER_CODE_VA = 0x400000;
const USER_STACK_VA = 0x800000;

function* enterRing3(k: GuestKit, alloc: FrameAlloc, sym: string): Code<void> {
  yield* mapPage4k(alloc, USER_CODE_VA, KERNEL_PHYS_BASE, PTE.US); // read + execute, user
  yield* mapPage4k(alloc, USER_STACK_VA - 4096, 0x1300000, PTE.US | PTE.RW, true);
  yield enterUser(USER_CODE_VA + k.image.offsetOf(sym), USER_STACK_VA, 0x55);
}

describe('ring 3', () => {
  it('INT n from CPL 3 through a DPL 0 gate gives #GP with error code vector*8+2', () => {
    const k = new GuestKit();
    const alloc = new FrameAlloc();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([
            { vector: 13, sym: 'gp' },
            { vector: 0x40, sym: 'never' },
          ]);
          yield* enterRing3(k, alloc, 'user');
        },
      ],
      [
        'user',
        function* (arg: number): Code<void> {
          k.log.push(`user arg=${arg} cpl=${k.machine.cpus[0].cpl}`);
          yield int(0x40);
          yield* exit(1); // not reached in a correct run either way: #GP again
        },
      ],
      [
        'gp',
        function* (tf: TrapFrame): Code<void> {
          k.log.push(brief(tf));
          yield* exit(13);
        },
      ],
      [
        'never',
        function* (): Code<void> {
          yield* exit(0x40);
        },
      ],
    ]);
    expect(r.stopReason).toBe('debug-exit');
    expect(r.exitStatus).toBe(27);
    expect(k.log).toEqual(['user arg=85 cpl=3', { vector: 13, errorCode: 0x40 * 8 + 2, hasError: true, kind: TrapKind.Exception, cpl: 3, from: 't:user' }]);
  });

  it('int 0x80 through a DPL 3 gate reaches the handler with the registers, and rax comes back', () => {
    const k = new GuestKit();
    const alloc = new FrameAlloc();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([
            { vector: 0x80, sym: 'sys', dpl: 3 },
            { vector: 6, sym: 'ud' },
          ]);
          yield* enterRing3(k, alloc, 'user');
        },
      ],
      [
        'user',
        function* (): Code<void> {
          const regs: SyscallRegs = { rax: 7, rdi: 1, rsi: 2, rdx: 3, r10: 4, r8: 5, r9: 6 };
          const ret: number = yield int(0x80, regs);
          k.log.push(`ret ${ret}`);
          yield ud2();
        },
      ],
      [
        'sys',
        function* (tf: TrapFrame): Code<void> {
          k.log.push(`sys ${tf.regs?.rax} ${tf.regs?.rdi} cpl=${tf.cpl} kind=${tf.kind} IF=${tf.savedIF}`);
          tf.regs!.rax = 1234;
          yield compute(1);
        },
      ],
      [
        'ud',
        function* (tf: TrapFrame): Code<void> {
          k.log.push(`ud from cpl ${tf.cpl}`);
          yield* exit(6);
        },
      ],
    ]);
    expect(r.exitStatus).toBe(13);
    expect(k.log).toEqual([`sys 7 1 cpl=3 kind=${TrapKind.Software} IF=true`, 'ret 1234', 'ud from cpl 3']);
  });

  it('user-mode privileged ops (outb, cli) give #GP, and a user store to a supervisor page gives #PF with U|W|P', () => {
    for (const [body, vector, code] of [
      [
        function* (): Code<void> {
          yield outb(0xf4, 1);
        },
        13,
        0,
      ],
      [
        function* (): Code<void> {
          yield cli();
        },
        13,
        0,
      ],
      [
        function* (): Code<void> {
          yield store32(p2v(0x1400000), 1);
        },
        14,
        PFErr.P | PFErr.W | PFErr.U,
      ],
    ] as const) {
      const k = new GuestKit();
      const alloc = new FrameAlloc();
      const r = k.run([
        [
          'entry',
          function* (): Code<void> {
            yield* k.idt([
              { vector: 13, sym: 'h' },
              { vector: 14, sym: 'h' },
            ]);
            yield* enterRing3(k, alloc, 'user');
          },
        ],
        ['user', body],
        [
          'h',
          function* (tf: TrapFrame): Code<void> {
            k.log.push(tf.vector, tf.errorCode, tf.cpl);
            yield* exit(2);
          },
        ],
      ]);
      expect(r.exitStatus).toBe(5);
      expect(k.log).toEqual([vector, code, 3]);
    }
  });

  // BUG (sim/x86/cpu.ts, deliver(): the `failure!.startsWith('privilege')` branch).
  // #GP is a fault (SDM vol. 3A §6.5, table 6-1): the saved RIP points at the
  // INT n instruction, so when the #GP handler returns, INT n executes again
  // (and faults again). The simulator delivers #GP without setting the
  // frame's retry op, so the user code continues after INT n as if it had
  // completed (with an undefined result).
  it('INT n that fails the gate DPL check is a fault: INT n re-executes after the #GP handler returns', () => {
    const k = new GuestKit();
    const alloc = new FrameAlloc();
    let gps = 0;
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([
            { vector: 13, sym: 'gp' },
            { vector: 6, sym: 'ud' },
          ]);
          yield* enterRing3(k, alloc, 'user');
        },
      ],
      [
        'user',
        function* (): Code<void> {
          yield int(0x40);
          yield ud2(); // reached only if INT n was skipped
        },
      ],
      [
        'gp',
        function* (): Code<void> {
          gps++;
          if (gps === 2) yield* exit(13);
          yield compute(1);
        },
      ],
      [
        'ud',
        function* (): Code<void> {
          yield* exit(6);
        },
      ],
    ]);
    expect(r.exitStatus).toBe(27);
    expect(gps).toBe(2);
  });

  // BUG (sim/x86/cpu.ts, deliver(): every delivery failure becomes #DF).
  // SDM vol. 3A §6.15, tables 6-4/6-5: #DF is raised only when a contributory
  // exception (#DE, #TS, #NP, #SS, #GP) occurs while delivering a contributory
  // one, or a #PF/contributory one while delivering a #PF. #UD, #BP, INT n and
  // external interrupts are benign: a not-present gate for them raises
  // #NP(vector*8+2) (+1 for an external event: EXT), which is then delivered
  // normally through gate 11.
  it('a not-present gate for a benign exception (#UD) raises #NP with error code vector*8+2, not #DF', () => {
    const k = new GuestKit();
    const r = k.run([
      [
        'entry',
        function* (): Code<void> {
          yield* k.idt([
            { vector: 8, sym: 'h' },
            { vector: 11, sym: 'h' },
            { vector: 13, sym: 'h' },
          ]);
          yield ud2();
          yield* exit(1);
        },
      ],
      [
        'h',
        function* (tf: TrapFrame): Code<void> {
          k.log.push(tf.vector, tf.errorCode);
          yield* exit(2);
        },
      ],
    ]);
    expect(r.exitStatus).toBe(5);
    expect(k.log).toEqual([11, 6 * 8 + 2]);
  });
});

