// Syscall ABI v0 (shared/reference/rugo-facts.md): int 0x80, number in rax,
// arguments in rdi, rsi, rdx, r10, r8, r9, result in rax. Numbers 0-17 keep
// the original meanings; 18-22 are what processes need. Success is >= 0;
// every failure is a negative error number from ERR (docs/abi.md), so a
// caller always learns why. Shared by the kernel and the user runtime.

export const SYS = {
  debug_write: 0,
  thread_spawn: 1,
  thread_exit: 2,
  yield: 3,
  vm_map: 4,
  vm_unmap: 5,
  shm_create: 6,
  shm_map: 7,
  ipc_send: 8,
  ipc_recv: 9,
  time_now: 10,
  svc_register: 11,
  svc_lookup: 12,
  blk_read: 13,
  blk_write: 14,
  net_send: 15,
  net_recv: 16,
  ipc_endpoint_create: 17,
  spawn: 18,
  exit: 19,
  wait: 20,
  getpid: 21,
  handle_close: 22,
} as const;

export const SYSCALL_NAMES: Record<number, string> = Object.fromEntries(Object.entries(SYS).map(([k, v]) => [v, k]));

/** Error numbers (returned negated). */
export const ERR = {
  ENOSYS: -1, // unknown syscall number
  EFAULT: -2, // a pointer or length reaches memory the caller may not access
  EINVAL: -3, // a malformed argument (alignment, range, flags)
  EBADH: -4, // not a handle of the right kind in the caller's table
  EFULL: -5, // the endpoint's queue (or the registry) is full
  EBUSY: -6, // another thread is already waiting on that endpoint
  ENOMEM: -7, // out of physical memory
  EQUOTA: -8, // a per-process or system limit is reached
  ENOENT: -9, // no such name or program
  ETOOBIG: -10, // a message or buffer is too large (never truncated)
  EDEAD: -11, // the endpoint was closed or its owner died
  ECHILD: -12, // no such child process
  EIO: -13, // a device reported an I/O error
  ENODEV: -14, // no such device
  EEXIST: -15, // the address range is already mapped
} as const;

export const ERR_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ERR).map(([k, v]) => [v, k]));

/** Limits (rugo-facts: 16 endpoints, 256-byte messages, one 4 KiB page per shm region). */
export const LIMITS = {
  maxMessage: 256,
  maxDebugWrite: 256,
  endpointsSystem: 16,
  endpointsPerProcess: 8,
  shmPerProcess: 8,
  threadsPerProcess: 8,
  handlesPerProcess: 32,
  registrySlots: 8,
  maxServiceName: 16,
  shmSize: 4096,
  maxProcesses: 32,
} as const;

/** User address-space layout (legacy Rugo: code at 0x400000, stack page at 0x7FF000). */
export const USER = {
  codeBase: 0x400000,
  stackTop: 0x800000,
  stackPage: 0x7ff000,
  /** Thread stacks: thread i's page at stackPage - i * 0x2000 (a guard page between). */
  threadStackStride: 0x2000,
  /** Default shared-memory mapping base (legacy: 0x10000000). */
  shmBase: 0x10000000,
  /** Lowest and highest (exclusive) address for vm_map. */
  mapLow: 0x1000000,
  top: 0x800000000000,
} as const;

/** ipc_send flags (r10). */
export const IPC_SEND_BLOCK = 1;
