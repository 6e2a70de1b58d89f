// The results of a check: results.json (every stage's status, time, figures, goals, notes) and the table printed
// last, which is what the device tool's output tail shows first.

/**
 * A goal beside a figure. met: true/false, or null where it cannot be judged: in the dry run every GPU goal says
 * 'needs a GPU' (its figure comes from tiny CPU sizes); goals about the bundle itself are judged anywhere.
 */
export function goal(name, target, value, met, mode, { needsGpu = true } = {}) {
  if (mode === 'dry' && needsGpu) return { name, target, value, met: null, verdict: 'needs a GPU' };
  if (met === null || met === undefined) return { name, target, value, met: null, verdict: 'not measured' };
  return { name, target, value, met, verdict: met ? 'met' : 'MISSED' };
}

const figureText = (figures) =>
  Object.entries(figures)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${k} ${v}`)
    .join('; ');

const goalText = (goals) => goals.map((g) => `${g.name}: ${g.value ?? 'n/a'} (goal ${g.target}) ${g.verdict}`).join('; ');

const escape = (text) => String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The Markdown table: stage, status, seconds, key figures, goals. */
export function formatTable(results) {
  const lines = [
    `byol-torch GPU check (${results.mode === 'dry' ? 'CPU dry run: no GPU, goals need one' : 'GPU'}), ` +
      `${results.seconds?.toFixed(0) ?? '?'} s of a ${results.budgetSeconds} s budget; results.json, logs.tar.gz in ${results.out}`,
    '',
    '| stage | status | s | key figures | goals |',
    '|---|---|---:|---|---|',
  ];
  for (const s of results.stages) {
    const status = s.status === 'ok' ? 'ok' : `${s.status.toUpperCase()}${s.reason ? `: ${s.reason}` : ''}`;
    lines.push(`| ${s.name} | ${escape(status)} | ${s.seconds.toFixed(1)} | ${escape(figureText(s.figures))} | ${escape(goalText(s.goals))} |`);
  }
  const goals = results.stages.flatMap((s) => s.goals);
  const judged = goals.filter((g) => g.met !== null);
  const bad = results.stages.filter((s) => s.status === 'failed' || s.status === 'timeout').map((s) => s.name);
  lines.push(
    '',
    `goals: ${judged.filter((g) => g.met).length} of ${judged.length} met` +
      (goals.length > judged.length ? `, ${goals.length - judged.length} not judged (${results.mode === 'dry' ? 'need a GPU' : 'not measured'})` : '') +
      `; stages failed: ${bad.length ? bad.join(', ') : 'none'}`,
  );
  return lines.join('\n');
}
