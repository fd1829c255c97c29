/** Small helpers shared by the tests (no test framework beyond node:test). */

export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A Timer for SseClient that records every requested delay and fires almost at once. */
export function recordingTimer(): {
  delays: number[];
  timer: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(handle: unknown): void };
} {
  const delays: number[] = [];
  return {
    delays,
    timer: {
      setTimeout(fn: () => void, ms: number) {
        delays.push(ms);
        return setTimeout(fn, 1);
      },
      clearTimeout(handle: unknown) {
        clearTimeout(handle as ReturnType<typeof setTimeout>);
      },
    },
  };
}
