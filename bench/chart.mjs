// The throughput chart of benchmark 1, drawn as a small SVG from the results
// JSON: Transfer RPCs/s (10 000 accounts and 10 hot accounts) and pgbench
// tpcb-like transactions/s, against the number of concurrent callers.
const WIDTH = 680;
const HEIGHT = 400;
const MARGIN = { left: 70, right: 200, top: 50, bottom: 50 };
const SERIES = [
  { key: 'pgbench', label: 'pgbench tpcb-like (anchor)', color: '#888888', dash: '6 4' },
  { key: 'transfers10k', label: 'Transfer, 10 000 accounts', color: '#1f77b4' },
  { key: 'transfers10', label: 'Transfer, 10 hot accounts', color: '#d62728' },
];

const escape = (text) =>
  String(text).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]);

export function transfersChart(results) {
  const rows = results.transfers.rows;
  const points = Object.fromEntries(
    SERIES.map((s) => [
      s.key,
      rows.map((row) => ({ callers: row.callers, value: s.key === 'pgbench' ? row.pgbench.tps : row[s.key].rps })),
    ]),
  );
  const max = Math.max(
    1,
    ...Object.values(points)
      .flat()
      .map((p) => p.value ?? 0),
  );
  const top = niceCeiling(max);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (index) => MARGIN.left + (rows.length === 1 ? plotWidth / 2 : (index * plotWidth) / (rows.length - 1));
  const y = (value) => MARGIN.top + plotHeight - (value / top) * plotHeight;

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="15" font-weight="bold">Transfer throughput vs pgbench, same machine, same run</text>`,
    `<text x="${MARGIN.left}" y="40" fill="#555">${escape(`${results.date} · ${results.machine.cpu} × ${results.machine.cores} · PostgreSQL ${results.machine.postgres}`)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const value = (top * i) / 4;
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y(value)}" y2="${y(value)}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 8}" y="${y(value) + 4}" text-anchor="end">${Math.round(value).toLocaleString('en')}</text>`,
    );
  }
  rows.forEach((row, index) =>
    parts.push(`<text x="${x(index)}" y="${MARGIN.top + plotHeight + 18}" text-anchor="middle">${row.callers}</text>`),
  );
  parts.push(
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 12}" text-anchor="middle">concurrent callers</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">per second</text>`,
  );
  SERIES.forEach((series, index) => {
    const line = points[series.key].map((p, i) => `${x(i)},${y(p.value ?? 0)}`).join(' ');
    parts.push(
      `<polyline points="${line}" fill="none" stroke="${series.color}" stroke-width="2"${series.dash ? ` stroke-dasharray="${series.dash}"` : ''}/>`,
    );
    for (const [i, p] of points[series.key].entries())
      parts.push(`<circle cx="${x(i)}" cy="${y(p.value ?? 0)}" r="3.5" fill="${series.color}"/>`);
    const legendY = MARGIN.top + 10 + index * 20;
    parts.push(
      `<line x1="${WIDTH - MARGIN.right + 15}" x2="${WIDTH - MARGIN.right + 40}" y1="${legendY}" y2="${legendY}" stroke="${series.color}" stroke-width="2"${series.dash ? ` stroke-dasharray="${series.dash}"` : ''}/>`,
      `<text x="${WIDTH - MARGIN.right + 46}" y="${legendY + 4}">${escape(series.label)}</text>`,
    );
  });
  const capped = rows.filter((row) => row.pgbench.clients !== row.callers);
  if (capped.length > 0) {
    parts.push(
      `<text x="${WIDTH - MARGIN.right + 15}" y="${MARGIN.top + 80}" fill="#555" font-size="11">${escape(
        capped.map((row) => `pgbench at ${row.callers}: ${row.pgbench.clients} clients`).join('; '),
      )}</text>`,
      `<text x="${WIDTH - MARGIN.right + 15}" y="${MARGIN.top + 95}" fill="#555" font-size="11">(max_connections)</text>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function niceCeiling(value) {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((step) => step * magnitude).find((candidate) => candidate >= value);
}
