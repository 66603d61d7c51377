import { startKeel, api } from '../test/helpers/keel.ts';
const docs = Array.from({ length: 20 }, (_, i) => ({ id: `d${i}.md`, title: `Doc ${i}`, format: 'md', text: `# Topic ${i}\n\n` + 'Keel stores API keys as hashes and routes requests to providers with retries and fallbacks. '.repeat(20) }));
for (const mode of ['store', 'memory', 'off'] as const) {
  const t = await startKeel({ configure: (c) => { c.guard.attackIndex = mode === 'off' ? 'memory' : mode; if (mode === 'off') c.guard.defaultProfile = 'off'; } });
  await api(t, 'POST', '/v1/collections/default/documents', { body: { documents: docs } });
  const ask = (i: number) => api(t, 'POST', '/v1/chat/completions', { body: { model: 'default', messages: [{ role: 'user', content: `How are API keys stored? question ${i}` }] } });
  for (let i = 0; i < 20; i++) await ask(i);
  const ms: number[] = [];
  for (let i = 0; i < 100; i++) { const t0 = performance.now(); await ask(1000 + i); ms.push(performance.now() - t0); }
  ms.sort((a, b) => a - b);
  const ai = t.keel.guards.attackIndex as { stats?: unknown };
  console.log(mode, 'p50', ms[50]!.toFixed(2), 'p90', ms[90]!.toFixed(2), JSON.stringify(ai.stats ?? {}));
  await t.close();
}
