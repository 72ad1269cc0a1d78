/** Left-aligned columns separated by three spaces, like kubectl and crictl print them. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** Decimal units, as crictl and Docker show image sizes. */
export function formatBytes(bytes: bigint): string {
  let unit = 0;
  let scaled = Number(bytes);
  while (scaled >= 1000 && unit < units.length - 1) {
    scaled /= 1000;
    unit += 1;
  }
  return unit === 0
    ? `${bytes}B`
    : `${scaled.toFixed(scaled < 10 ? 2 : scaled < 100 ? 1 : 0)}${units[unit]}`;
}

/** JSON that keeps bigint values exact, written as plain JSON numbers. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => (typeof v === 'bigint' ? JSON.rawJSON(v.toString()) : v),
    2,
  );
}
