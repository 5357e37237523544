// The kernel's 16550 driver (os/drivers/uart.ts) against the simulated UART
// (sim/x86/uart16550.ts): after init (FIFOs on) it waits for LSR.THRE once
// per 16 bytes, as the 16550A's transmit FIFO allows, and every byte reaches
// the serial console in order.
import { describe, expect, it } from 'vitest';
import { Op, type Code } from '../../sim/ops.ts';
import { Cpu } from '../../sim/x86/cpu.ts';
import { uartInit, uartWrite } from '../../os/drivers/uart.ts';
import { GuestKit, exit } from '../helpers/guest.ts';

describe('UART driver', () => {
  it('fills the transmit FIFO after each THRE wait: one LSR read per 16 bytes, every byte sent in order', () => {
    for (const len of [0, 1, 15, 16, 17, 40, 64]) {
      const text = Array.from({ length: len }, (_, i) => String.fromCharCode(0x41 + (i % 26))).join('');
      const k = new GuestKit();
      const ports: { k: number; port: number }[] = [];
      const exec = (Cpu.prototype as unknown as { exec: (f: unknown, op: { k: number; a: number }) => void }).exec;
      const cpuProto = Cpu.prototype as unknown as { exec: typeof exec };
      cpuProto.exec = function (f, op) {
        if (op.k === Op.In || op.k === Op.Out) ports.push({ k: op.k, port: op.a });
        return exec.call(this, f, op);
      };
      try {
        const r = k.run([
          [
            'entry',
            function* (): Code<void> {
              yield* uartInit();
              ports.length = 0;
              yield* uartWrite(text);
              yield* exit(0);
            },
          ],
        ]);
        expect(r.serial).toBe(text);
      } finally {
        cpuProto.exec = exec;
      }
      const lsrReads = ports.filter((p) => p.k === Op.In && p.port === 0x3fd).length;
      const dataOuts = ports.filter((p) => p.k === Op.Out && p.port === 0x3f8).length;
      expect({ len, lsrReads, dataOuts }).toEqual({ len, lsrReads: Math.ceil(len / 16), dataOuts: len });
    }
  });
});
