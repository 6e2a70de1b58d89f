// What every benchmark script reads and prints the same way: `--name value` arguments, medians, number cells.

/** The value after `--name` on the command line (a string), or `fallback`. */
export const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};

/** The median (the upper one for an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `x` with `d` decimals, 'n/a' when there is no value. */
export const cell = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d));
