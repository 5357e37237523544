// Checks a Chrome Trace Event document the way a viewer relies on it: the
// expected shape, slices that nest on every track, time that never goes
// backward on a track, and flows with both ends inside slices. Returns the
// problems found (empty = valid) and some counts.

export interface TraceEventJson {
  ph: string;
  name?: string;
  cat?: string;
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  id?: number;
  bp?: string;
  s?: string;
  args?: Record<string, unknown>;
}

export interface TraceCheck {
  problems: string[];
  slices: number;
  flows: number;
  counters: number;
  tracks: number;
  processNames: Map<number, string>;
}

/** Nanoseconds from a microsecond timestamp with at most three decimals. */
function ns(us: number): number {
  return Math.round(us * 1000);
}

export function checkTrace(doc: unknown): TraceCheck {
  const problems: string[] = [];
  const out: TraceCheck = { problems, slices: 0, flows: 0, counters: 0, tracks: 0, processNames: new Map() };
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { traceEvents?: unknown }).traceEvents)) {
    problems.push('not an object with a traceEvents array');
    return out;
  }
  const events = (doc as { traceEvents: TraceEventJson[] }).traceEvents;
  const slicesByTrack = new Map<string, [number, number, string][]>();
  const lastByTrack = new Map<string, number>();
  const flowStarts = new Map<number, TraceEventJson>();
  const flowEnds = new Map<number, TraceEventJson>();
  events.forEach((e, i) => {
    const where = `event ${i} (${e.ph} ${e.name ?? ''} pid ${e.pid} tid ${e.tid})`;
    if (typeof e.ph !== 'string' || !Number.isInteger(e.pid) || !Number.isInteger(e.tid)) {
      problems.push(`${where}: missing ph/pid/tid`);
      return;
    }
    if (e.ph === 'M') {
      if (e.name === 'process_name') out.processNames.set(e.pid, String(e.args?.name));
      return;
    }
    if (typeof e.ts !== 'number' || !(e.ts >= 0)) {
      problems.push(`${where}: bad ts ${String(e.ts)}`);
      return;
    }
    // A counter's track is its process and name; every other event's is its (pid, tid).
    const track = e.ph === 'C' ? `${e.pid}:C:${e.name}` : `${e.pid}:${e.tid}`;
    const ts = ns(e.ts);
    let key = ts;
    switch (e.ph) {
      case 'X': {
        if (typeof e.dur !== 'number' || !(e.dur >= 0)) problems.push(`${where}: bad dur`);
        const end = ts + ns(e.dur ?? 0);
        key = end;
        let list = slicesByTrack.get(track);
        if (list === undefined) slicesByTrack.set(track, (list = []));
        list.push([ts, end, e.name ?? '']);
        out.slices++;
        break;
      }
      case 'i':
        break;
      case 'C':
        out.counters++;
        for (const [k, v] of Object.entries(e.args ?? {})) if (typeof v !== 'number' || v < 0) problems.push(`${where}: counter ${k} = ${String(v)}`);
        break;
      case 's':
        if (flowStarts.has(e.id!)) problems.push(`${where}: flow ${e.id} starts twice`);
        flowStarts.set(e.id!, e);
        return;
      case 'f':
        if (flowEnds.has(e.id!)) problems.push(`${where}: flow ${e.id} ends twice`);
        flowEnds.set(e.id!, e);
        return;
      default:
        problems.push(`${where}: unexpected phase`);
        return;
    }
    const last = lastByTrack.get(track) ?? 0;
    if (key < last) problems.push(`${where}: time goes backward on track ${track} (${key} ns after ${last} ns)`);
    lastByTrack.set(track, Math.max(last, key));
  });
  // Nesting per track: sorted by start, longer first; each slice lies within the enclosing open one.
  for (const [track, list] of slicesByTrack) {
    list.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    const stack: [number, number, string][] = [];
    for (const s of list) {
      while (stack.length > 0 && stack[stack.length - 1][1] <= s[0] && !(stack[stack.length - 1][1] === s[0] && s[1] === s[0] && stack[stack.length - 1][0] === s[0])) stack.pop();
      const top = stack[stack.length - 1];
      if (top !== undefined && s[1] > top[1]) problems.push(`track ${track}: slice ${s[2]} [${s[0]}, ${s[1]}] overlaps ${top[2]} [${top[0]}, ${top[1]}]`);
      stack.push(s);
    }
  }
  out.tracks = slicesByTrack.size;
  const inSlice = (e: TraceEventJson): boolean => {
    const list = slicesByTrack.get(`${e.pid}:${e.tid}`) ?? [];
    const t = ns(e.ts!);
    return list.some((s) => s[0] <= t && t <= s[1]);
  };
  for (const [id, s] of flowStarts) {
    const f = flowEnds.get(id);
    if (f === undefined) {
      problems.push(`flow ${id} (${s.name}) has no end`);
      continue;
    }
    out.flows++;
    if (ns(f.ts!) < ns(s.ts!)) problems.push(`flow ${id} (${s.name}) ends before it starts`);
    if (!inSlice(s)) problems.push(`flow ${id} (${s.name}) starts outside any slice on ${s.pid}:${s.tid}`);
    if (!inSlice(f)) problems.push(`flow ${id} (${s.name}) ends outside any slice on ${f.pid}:${f.tid}`);
  }
  for (const id of flowEnds.keys()) if (!flowStarts.has(id)) problems.push(`flow ${id} has an end but no start`);
  return out;
}
