// Ctrl-C (SIGINT) and SIGTERM during `byol train`: the first ends the run cleanly (the step in flight finishes,
// a checkpoint and the encoder are written, atomically, then the resume command is printed and the process exits
// 130 or 143, the shell's codes for those signals); a second exits at once. Exiting at once corrupts nothing:
// checkpoints are written into a temporary folder and renamed into place, so a half-written one is never taken
// for a checkpoint and the previous one stays whole.
export interface Interrupt {
  /** Aborts at the first signal. */
  readonly signal: AbortSignal;
  /** The signal received, if any. */
  readonly received: NodeJS.Signals | undefined;
  /** Training is over: from now on a signal exits at once, with its code (nothing is left to save). */
  finish(): void;
}

/** 128 + the signal's number, as shells report a process ended by it. */
export function exitCodeOf(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : 143;
}

export function catchInterrupts(log: (message: string) => void): Interrupt {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  let finished = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (finished) process.exit(exitCodeOf(signal));
    if (received) {
      log(`byol train: ${signal} again: stopping now (the last complete checkpoint stays as it was)`);
      process.exit(exitCodeOf(signal));
    }
    received = signal;
    log(`byol train: ${signal}: finishing the current step and writing a checkpoint (${signal} again stops at once)`);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    finish() {
      finished = true;
    },
  };
}
