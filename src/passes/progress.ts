/**
 * Progress reporting for long work (calibration runs, the dependency matrix, writing). Passes get
 * a reporter from `ctx.services.progress`; the CLI supplies bars, the API a no-op by default.
 */
export interface ProgressTask {
  update(done: number, total?: number): void;
  stop(): void;
}

export interface ProgressReporter {
  start(label: string, total: number, unit?: string): ProgressTask;
}

export const silentProgress: ProgressReporter = {
  start: () => ({ update() {}, stop() {} }),
};

export function progressOf(services: { progress?: ProgressReporter }): ProgressReporter {
  return services.progress ?? silentProgress;
}
