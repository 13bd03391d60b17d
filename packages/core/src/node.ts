/**
 * `@cvmweb/core/node`: the Node-only building blocks cvmweb's drivers, daemon, bridge and core
 * itself share, one copy of each: the serial queue ({@link TaskQueue}, {@link KeyedQueue}),
 * the abortable {@link sleep} and {@link abortable} wait. Browser code never imports this entry.
 *
 * @packageDocumentation
 */

export { type SleepOptions, sleep } from './clock/sleep.js';
export { abortable } from './concurrency/abortable.js';
export { KeyedQueue } from './concurrency/keyed-queue.js';
export { type QueuedTaskOptions, TaskQueue, type TaskQueueOptions } from './concurrency/task-queue.js';
