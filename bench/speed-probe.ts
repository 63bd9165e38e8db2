import { cpuMsSince } from './process-metrics';

/**
 * How fast this machine's cores are right now: the CPU time of a fixed piece of JavaScript
 * work (lower is faster). On shared hosts it moves by tens of percent within minutes, and every
 * component's CPU per object moves with it; the bench records it beside each measurement so
 * that runs made at different speeds are not compared as if the code had changed.
 */
export function speedProbeMs(): number {
  let best = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 3; attempt++) {
    const before = process.cpuUsage();
    let sink = 0;
    for (let i = 0; i < 50_000_000; i++) sink = (sink + (i % 7)) | 0;
    const used = cpuMsSince(before);
    // `sink` is used so that the loop cannot be optimised away.
    if (sink === -1) throw new Error('unreachable');
    best = Math.min(best, used);
  }
  return Math.round(best);
}
