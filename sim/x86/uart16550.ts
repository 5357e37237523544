// 16550A UART at COM1 (0x3F8), IRQ 4.
// Spec: TI PC16550D datasheet, "Register descriptions" (table 2: RBR/THR,
// IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR; DLL/DLM when LCR.DLAB = 1).
// Transmission is instantaneous (as with QEMU's chardev backend): LSR.THRE
// and LSR.TEMT are always set, so a polling driver never waits. Received
// bytes (host input) queue in a 16-byte FIFO; a full FIFO sets LSR.OE.
import type { PortDevice } from './port-bus.ts';

export const COM1_BASE = 0x3f8;
export const UART_REG = { RBR_THR: 0, IER: 1, IIR_FCR: 2, LCR: 3, MCR: 4, LSR: 5, MSR: 6, SCR: 7 } as const;
export const LSR = { DR: 0x01, OE: 0x02, THRE: 0x20, TEMT: 0x40 } as const;
export const IER = { ERBFI: 0x01, ETBEI: 0x02 } as const;
const LCR_DLAB = 0x80;
const FIFO_DEPTH = 16;

export class Uart16550 implements PortDevice {
  readonly name = 'uart16550';
  private ier = 0;
  private lcr = 0x03;
  private mcr = 0;
  private scr = 0;
  private dll = 0x01;
  private dlm = 0;
  private fcr = 0;
  private overrun = false;
  private thrEmptyPending = false;
  private readonly rx: number[] = [];
  /** Bytes transmitted. */
  txCount = 0;

  constructor(
    readonly base: number,
    private readonly onByte: (byte: number) => void,
    private readonly setIrq: (level: boolean) => void,
  ) {}

  /** Host input: a byte arrives on the line. */
  receive(byte: number): void {
    if (this.rx.length >= FIFO_DEPTH) this.overrun = true;
    else this.rx.push(byte & 0xff);
    this.updateIrq();
  }

  /** Baud-rate divisor programmed by the driver (115200 / divisor baud). */
  get divisor(): number {
    return (this.dlm << 8) | this.dll;
  }

  portIn(port: number, _size: number): number {
    const reg = port - this.base;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (reg) {
      case 0:
        if (dlab) return this.dll;
        {
          const b = this.rx.length > 0 ? this.rx.shift()! : 0;
          this.updateIrq();
          return b;
        }
      case 1:
        return dlab ? this.dlm : this.ier;
      case 2: {
        // IIR: bit 0 = 1 means no interrupt pending; 0x04 = received data, 0x02 = THR empty. FIFOs enabled -> bits 7:6 set.
        const fifo = (this.fcr & 1) !== 0 ? 0xc0 : 0;
        if ((this.ier & IER.ERBFI) !== 0 && this.rx.length > 0) return fifo | 0x04;
        if ((this.ier & IER.ETBEI) !== 0 && this.thrEmptyPending) {
          this.thrEmptyPending = false; // reading IIR clears the THRE interrupt
          this.updateIrq();
          return fifo | 0x02;
        }
        return fifo | 0x01;
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5: {
        let v = LSR.THRE | LSR.TEMT;
        if (this.rx.length > 0) v |= LSR.DR;
        if (this.overrun) {
          v |= LSR.OE;
          this.overrun = false; // OE clears on read
        }
        return v;
      }
      case 6:
        return 0xb0; // DCD, DSR, CTS asserted
      case 7:
        return this.scr;
      default:
        return 0xff;
    }
  }

  portOut(port: number, _size: number, value: number): void {
    const reg = port - this.base;
    const v = value & 0xff;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (reg) {
      case 0:
        if (dlab) this.dll = v;
        else {
          this.txCount++;
          this.onByte(v);
          this.thrEmptyPending = true;
          this.updateIrq();
        }
        return;
      case 1:
        if (dlab) this.dlm = v;
        else {
          this.ier = v & 0x0f;
          if ((this.ier & IER.ETBEI) !== 0) this.thrEmptyPending = true;
          this.updateIrq();
        }
        return;
      case 2:
        this.fcr = v;
        if ((v & 0x02) !== 0) this.rx.length = 0; // clear receive FIFO
        return;
      case 3:
        this.lcr = v;
        return;
      case 4:
        this.mcr = v & 0x1f;
        this.updateIrq(); // OUT2 gates the interrupt line
        return;
      case 7:
        this.scr = v;
        return;
      default:
        return; // LSR and MSR are read-only
    }
  }

  private updateIrq(): void {
    const rxInt = (this.ier & IER.ERBFI) !== 0 && this.rx.length > 0;
    const txInt = (this.ier & IER.ETBEI) !== 0 && this.thrEmptyPending;
    // OUT2 (MCR bit 3) gates the interrupt line on PC-compatible boards.
    this.setIrq((rxInt || txInt) && (this.mcr & 0x08) !== 0);
  }
}
