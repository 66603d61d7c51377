import { useState } from 'preact/hooks';
import { withQuery } from '../api.ts';
import { fmtInt, fmtTime } from '../format.ts';
import { href, navigate } from '../router.ts';
import type { CollectionInfo, DocumentInfo, SearchResult } from '../types.ts';
import { Empty, ErrorBox, Loading, PageTitle, useApi } from '../ui.tsx';

/**
 * The tenant's collections and their documents, and a search that shows what an app over a
 * collection retrieves for a question (ranks in both lists, scores, the chunks' text): the place to
 * see why an answer cited what it did. The URL holds the state (`#/documents?collection=c&q=...`).
 */

const PAGE = 50;

export function Documents({ query }: { query: URLSearchParams }) {
  const cols = useApi<{ data: CollectionInfo[] }>('/v1/collections');
  const all = cols.data?.data ?? [];
  const fallback = all.some((c) => c.name === 'default') ? 'default' : (all[0]?.name ?? '');
  const collection = query.get('collection') || fallback;
  const q = query.get('q') ?? '';

  return (
    <>
      <PageTitle>Documents</PageTitle>
      {cols.error && <ErrorBox error={cols.error} what="collections" />}
      {cols.loading && !cols.data && <Loading what="collections" />}
      {cols.data && all.length === 0 && (
        <Empty>
          No collections yet. Add documents with <code>keel ingest ./docs</code>.
        </Empty>
      )}
      {all.length > 0 && (
        <>
          <nav class="tabs" aria-label="Collections">
            {all.map((c) => (
              <a
                key={c.name}
                class="tab"
                href={href('/documents', { collection: c.name })}
                aria-current={c.name === collection ? 'page' : undefined}
              >
                {c.name}{' '}
                <span class="muted small">
                  {fmtInt(c.documents)} docs · {fmtInt(c.chunks)} chunks
                </span>
              </a>
            ))}
          </nav>
          <SearchForm key={`${collection}\n${q}`} collection={collection} initial={q} />
          {q ? (
            <Results collection={collection} q={q} />
          ) : (
            <DocumentList collection={collection} after={query.get('after') ?? ''} />
          )}
        </>
      )}
    </>
  );
}

function SearchForm({ collection, initial }: { collection: string; initial: string }) {
  const [text, setText] = useState(initial);
  return (
    <form
      class="filters search"
      aria-label={`Search collection ${collection}`}
      onSubmit={(e) => {
        e.preventDefault();
        navigate('/documents', { collection, q: text.trim() });
      }}
    >
      <label>
        Question or words
        <input
          type="search"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          placeholder="how do I revoke a key?"
        />
      </label>
      <div class="filter-actions">
        <button type="submit" class="primary" disabled={!text.trim()}>
          Search
        </button>
        {initial && (
          <button type="button" onClick={() => navigate('/documents', { collection })}>
            Clear
          </button>
        )}
      </div>
    </form>
  );
}

function Results({ collection, q }: { collection: string; q: string }) {
  const found = useApi<{ data: SearchResult[] }>(`/v1/collections/${encodeURIComponent(collection)}/search`, {
    query: q,
    top_k: 10,
  });
  const results = found.data?.data;
  if (found.error) return <ErrorBox error={found.error} what="search results" />;
  if (!results) return <Loading what="search results" />;
  if (results.length === 0) return <Empty>Nothing in {collection} matches.</Empty>;
  return (
    <ol class="results" aria-label={`What an app over ${collection} retrieves`} aria-busy={found.loading}>
      {results.map((r) => (
        <li key={r.chunk_id} data-chunk-id={r.chunk_id}>
          <div class="result-head">
            <strong>{r.document_id}</strong>
            {r.heading && <span class="muted"> › {r.heading}</span>}
            <span class="result-ranks muted small">
              score {r.score.toFixed(4)} · full-text {r.fts_rank ? `#${r.fts_rank}` : '—'} · vector{' '}
              {r.vector_rank ? `#${r.vector_rank}` : '—'}
            </span>
          </div>
          <p class="result-text">{r.text}</p>
        </li>
      ))}
    </ol>
  );
}

function DocumentList({ collection, after }: { collection: string; after: string }) {
  const path = withQuery(`/v1/collections/${encodeURIComponent(collection)}/documents`, {
    limit: PAGE,
    after,
  });
  const list = useApi<{ data: DocumentInfo[]; has_more: boolean; last_id: string | null }>(
    collection ? path : null,
  );
  const rows = list.data?.data ?? [];
  return (
    <>
      {list.error && <ErrorBox error={list.error} what="documents" />}
      {list.loading && !list.data && <Loading what="documents" />}
      {list.data && rows.length === 0 && <Empty>Collection {collection} holds no documents.</Empty>}
      {rows.length > 0 && (
        <div class="table-wrap" aria-busy={list.loading}>
          <table class="data">
            <caption class="sr-only">Documents of {collection}, by id</caption>
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Title</th>
                <th scope="col" class="num">
                  Chunks
                </th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <tr key={d.id}>
                  <td>
                    <code>{d.id}</code>
                  </td>
                  <td>{d.title}</td>
                  <td class="num">{fmtInt(d.chunks)}</td>
                  <td>{fmtTime(d.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {(after || list.data?.has_more) && (
        <nav class="pager" aria-label="Document pages">
          <button type="button" disabled={!after} onClick={() => navigate('/documents', { collection })}>
            ← First page
          </button>
          <button
            type="button"
            disabled={!list.data?.has_more}
            onClick={() => navigate('/documents', { collection, after: list.data?.last_id ?? '' })}
          >
            Next →
          </button>
        </nav>
      )}
    </>
  );
}
