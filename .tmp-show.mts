import { PGlite } from '@electric-sql/pglite';
import { mkdtempSync } from 'node:fs'; import { tmpdir } from 'node:os'; import { join } from 'node:path';
const pg = await PGlite.create('file://' + mkdtempSync(join(tmpdir(), 'show-')));
for (const s of ['fsync', 'synchronous_commit', 'wal_level', 'full_page_writes', 'wal_sync_method', 'shared_buffers', 'wal_buffers', 'checkpoint_timeout', 'max_wal_size', 'jit', 'track_counts', 'autovacuum'])
  console.log(s, (await pg.query(`show ${s}`)).rows[0]);
await pg.close();
