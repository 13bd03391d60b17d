import { SessionState, type SessionStateName, sessionStateName } from '@cvmweb/core/browser';
import type { TimelineEntry } from '../../protocol/server-frame.js';

type SystemPoint = { at: number; state: 'idle' | 'active' | 'unknown' | 'stopped' };
type SessionPoint = Extract<TimelineEntry, { kind: 'session' }>;
type ActionPoint = Extract<TimelineEntry, { kind: 'action' }>;

/** A stretch of time from one point of a series to the next (or to the end). */
interface Segment<T> {
  from: number;
  to: number;
  value: T;
}

/** Where a timeline is drawn and which stretch of time it shows. */
export interface TimelineView {
  /** The service's clock now (ms since the epoch). */
  readonly now: number;
  /** How much time the drawing shows, ms. */
  readonly span: number;
}

const WIDTH = 900;
const LEFT = 130;
const RIGHT = 12;
const TOP = 18;
const ROW_HEIGHT = 34;

const systemColors: Record<SystemPoint['state'], string> = {
  idle: '#2a9d3a',
  active: '#e07b00',
  unknown: '#bbb',
  stopped: '#555',
};

const sessionColors: Record<SessionStateName, string> = {
  Closed: '#eee',
  Opening: '#9cd',
  Open: '#bbb',
  Starting: '#9cd',
  Started: '#2a9d3a',
  Error: '#c00',
  Paused: '#e0c000',
};

/** Escapes text for an SVG document. */
export function escapeMarkup(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sessionColor(point: SessionPoint): string {
  if (point.state === SessionState.Open && point.hibernated) return '#3a6fd8';
  return sessionColors[sessionStateName(point.state)];
}

/** Consecutive segments [from, to) of a list of timed points. */
function segments<T extends { at: number }>(points: readonly T[], end: number): Segment<T>[] {
  return points.map((value, i) => ({ from: value.at, to: points[i + 1]?.at ?? end, value }));
}

/**
 * The daemon's timeline as SVG markup: the time axis, the system's idle/active
 * bands, then a row per session (its state as bands, its cap as a line, the
 * daemon's actions as dots). Returns the markup and the drawing's height.
 */
export function drawTimeline(
  timeline: readonly TimelineEntry[],
  view: TimelineView,
): { svg: string; height: number } {
  const { span } = view;
  const last = timeline.at(-1)?.at ?? 0;
  const end = Math.max(view.now, last);
  const start = end - span;
  const x = (t: number) => LEFT + Math.max(0, Math.min(1, (t - start) / span)) * (WIDTH - LEFT - RIGHT);
  const parts: string[] = [];
  const band = (
    cls: string,
    seg: Segment<unknown>,
    y: number,
    color: string,
    data: string,
    title: string,
  ) => {
    if (seg.to < start) return;
    const x0 = x(seg.from);
    const x1 = Math.max(x(seg.to), x0 + 2);
    parts.push(
      `<rect class="${cls}" ${data} x="${x0.toFixed(1)}" y="${y}" width="${(x1 - x0).toFixed(1)}" height="${ROW_HEIGHT - 8}" fill="${color}"><title>${escapeMarkup(title)}</title></rect>`,
    );
  };
  // The time axis.
  const step = span <= 60_000 ? 10_000 : span <= 300_000 ? 60_000 : 180_000;
  for (let t = end; t >= start; t -= step) {
    const label = t === end ? 'now' : `-${Math.round((end - t) / 1000)} s`;
    parts.push(
      `<line x1="${x(t)}" x2="${x(t)}" y1="${TOP - 4}" y2="2000" stroke="#eee"/><text x="${x(t)}" y="12" font-size="10" text-anchor="middle" fill="#666">${label}</text>`,
    );
  }
  // The system: idle / active / unknown, and stopped while the daemon is not running.
  const system: SystemPoint[] = [];
  for (const e of timeline) {
    if (e.kind === 'system') system.push({ at: e.at, state: e.state });
    else if (e.kind === 'daemon' && !e.running) system.push({ at: e.at, state: 'stopped' });
  }
  parts.push(`<text x="4" y="${TOP + 20}" font-size="12">system</text>`);
  for (const seg of segments(system, end)) {
    const { state, at } = seg.value;
    band(
      'sys',
      seg,
      TOP + 4,
      systemColors[state],
      `data-state="${state}"`,
      `${state} since ${new Date(at).toLocaleTimeString()}`,
    );
  }
  // One row per session.
  const rows = new Map<string, { name: string; states: SessionPoint[]; actions: ActionPoint[] }>();
  for (const e of timeline) {
    if (e.kind !== 'session' && e.kind !== 'action') continue;
    let row = rows.get(e.sessionId);
    if (!row) {
      row = { name: e.name, states: [], actions: [] };
      rows.set(e.sessionId, row);
    }
    if (e.kind === 'session') row.states.push(e);
    else row.actions.push(e);
  }
  let y = TOP + ROW_HEIGHT;
  for (const [id, row] of rows) {
    parts.push(`<text x="4" y="${y + 20}" font-size="12">${escapeMarkup(row.name.slice(0, 18))}</text>`);
    for (const seg of segments(row.states, end)) {
      const e = seg.value;
      band(
        'ses',
        seg,
        y + 4,
        sessionColor(e),
        `data-session="${escapeMarkup(id)}" data-state="${e.state}"`,
        `${sessionStateName(e.state)}${e.hibernated ? ' (hibernated)' : ''}, cap ${e.executionCap}%`,
      );
    }
    const points: string[] = [];
    for (const seg of segments(row.states, end)) {
      if (seg.to < start) continue;
      const cy = (y + ROW_HEIGHT - 5 - (seg.value.executionCap / 100) * (ROW_HEIGHT - 10)).toFixed(1);
      points.push(`${x(seg.from).toFixed(1)},${cy}`, `${x(seg.to).toFixed(1)},${cy}`);
    }
    if (points.length > 0) {
      parts.push(
        `<polyline class="cap" fill="none" stroke="#111" stroke-width="2" points="${points.join(' ')}"/>`,
      );
    }
    for (const a of row.actions) {
      if (a.at < start) continue;
      const title = `${a.action}${a.cap !== undefined ? ` ${a.cap}%` : ''}${a.ok ? '' : ` failed: ${a.error ?? ''}`}`;
      parts.push(
        `<circle class="act" data-action="${escapeMarkup(a.action)}" cx="${x(a.at).toFixed(1)}" cy="${y + 5}" r="4" fill="${a.ok ? '#c0187a' : '#c00'}"><title>${escapeMarkup(title)}</title></circle>`,
      );
    }
    y += ROW_HEIGHT;
  }
  return { svg: parts.join(''), height: y + 4 };
}
