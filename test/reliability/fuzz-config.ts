/** The fast suite's fuzz run: fixed seed and count, so every run checks the same cases. */
export const FUZZ_SEED = 20_250_617;
export const FUZZ_CASES = 3000;
