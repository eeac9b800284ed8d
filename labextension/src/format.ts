/** Small formatting helpers shared by the panels. */

/** `1536` -> `1.5 KiB`. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) {
    return '?';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0
    ? `${bytes} B`
    : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** An ISO time as the user's local date and time, to the second. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** The first 8 characters of a commit or digest (after any `algo:` prefix). */
export function shortHash(hash: string | null | undefined): string {
  if (!hash) {
    return '';
  }
  const bare = hash.includes(':') ? (hash.split(':').pop() ?? hash) : hash;
  return bare.slice(0, 8);
}

/** A JSON value on one line, for parameters and metrics. */
export function formatValue(value: unknown): string {
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(6);
  }
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every(v => typeof v === 'number')
  ) {
    // per-example results (log_metric(name, array)): their count and mean
    const mean = value.reduce((sum, v) => sum + v, 0) / value.length;
    return `${value.length} per-example values, mean ${mean.toPrecision(4)}`;
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}
