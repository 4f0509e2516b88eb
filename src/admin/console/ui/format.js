// Numbers as people read them: 1.2 MiB, 3.4k, 512 B/s.
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function bytes(value) {
  let scaled = value;
  let unit = 0;
  while (scaled >= 1024 && unit < UNITS.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${unit === 0 ? (scaled < 10 ? scaled.toFixed(1).replace(/\.0$/, "") : Math.round(scaled)) : scaled.toFixed(scaled < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

export const rate = (bytesPerSecond) => `${bytes(bytesPerSecond)}/s`;

export function count(value) {
  if (value === null || value === undefined) return "–";
  if (Math.abs(value) < 10_000) return String(Math.round(value * 100) / 100);
  if (Math.abs(value) < 10_000_000) return `${(value / 1000).toFixed(1)}k`;
  return `${(value / 1_000_000).toFixed(1)}M`;
}
