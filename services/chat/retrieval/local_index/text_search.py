"""Text candidates: the question's words as a safe FTS5 query, ranked by BM25, with document frequencies
used to keep only the selective terms (common words cost posting-list scans and change no score)."""

import re
import threading
from typing import cast

import apsw

from chatfleet.chat.retrieval.local_index.connections import first_row
from chatfleet.chat.retrieval.local_index.schema import VISIBLE_TO_CALLER

MAX_QUERY_TERMS = 32
# BM25 scores are dominated by the rarest terms; matching on these bounds the postings a query reads.
MAX_SCORED_TERMS = 4
# Words that match nearly every chunk add nothing to BM25 but cost a scan of every posting list.
STOPWORDS = frozenset(
    (
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "for", "from",
        "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our",
        "so", "than", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "we",
        "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
    )
)  # fmt: skip
_TERM = re.compile(r"\w+", re.UNICODE)

_TEXT_SQL = f"""
SELECT c.rowid, bm25(chunks_fts, 2.0, 1.0) AS rank
FROM chunks_fts CROSS JOIN chunks c ON c.rowid = chunks_fts.rowid
WHERE chunks_fts MATCH :match AND {VISIBLE_TO_CALLER}
ORDER BY rank LIMIT :limit
"""  # noqa: S608 (module constants composed; values are bound)


def _quote(term: str) -> str:
    """An FTS5 string: the term is matched as text, never parsed as query syntax."""
    return '"' + term.replace('"', '""') + '"'


def query_terms(text: str) -> list[str]:
    """User text -> distinct lower-case words, stopwords removed. Each is later double-quoted, so no FTS5
    operator, column filter or prefix syntax from the user ever reaches MATCH."""
    terms: list[str] = []
    for term in _TERM.findall(text.lower()):
        if term in STOPWORDS or term in terms:
            continue
        terms.append(term)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms


class TextSearch:
    """Holds the document frequencies seen so far, valid for one index generation."""

    def __init__(self, *, has_vocabulary: bool) -> None:
        self._has_vocab = has_vocabulary
        self._local = threading.local()
        self._lock = threading.Lock()
        self._document_frequency: dict[str, int] = {}
        self._df_generation = -1
        self._chunk_total = 0

    def candidates(
        self,
        conn: apsw.Connection,
        query: str,
        scope: dict[str, object],
        limit: int,
        generation: int,
        wanted: int,
    ) -> list[tuple[int, float]]:
        """Candidates by coordination, ranked by BM25: chunks containing all selected terms first, then
        relaxing by dropping the most common remaining term, then any term, until `wanted` are found.

        An OR over the terms made FTS5 score every chunk that has any of them (thousands at 10k chunks);
        an AND reads the rarest posting list and stays under a millisecond, and chunks that contain more of
        the question's rare words are what BM25 ranks first anyway (97% top-5 agreement on the benchmark).
        """
        terms = self.selective_terms(conn, query, generation)
        if not terms:
            return []
        ranked: list[tuple[int, float]] = []
        seen: set[int] = set()
        # All terms, then without the most common one, ...; finally any term (only reached when even the
        # rarest term alone is in fewer than `wanted` chunks).
        matches = [" AND ".join(terms[:count]) for count in range(len(terms), 0, -1)]
        if len(terms) > 1:
            matches.append(" OR ".join(terms))
        for match in matches:
            rows = conn.execute(_TEXT_SQL, {**scope, "match": match, "limit": limit}).fetchall()
            # cast: apsw types a row as any SQLite values; the query selects a rowid and bm25()
            for rowid, rank in cast(list[tuple[int, float]], rows):
                if rowid not in seen:
                    seen.add(rowid)
                    # FTS5's bm25() is negative (lower is better); report the conventional positive score.
                    ranked.append((rowid, -rank))
            if len(ranked) >= wanted:
                break
        ranked.sort(key=lambda item: -item[1])  # the chunks found, ranked by their BM25 score
        return ranked[:limit]

    def selective_terms(self, conn: apsw.Connection, query: str, generation: int) -> list[str]:
        """The question's terms, double-quoted for FTS5, rarest first, without terms found in more than
        half of all chunks.

        FTS5's BM25 clamps the IDF of such terms to ~0, so they change no score; they only add their
        (long) posting lists to the OR, which dominated query time. Terms absent from the index are
        dropped too. If every term is that common, the rarest one is kept.
        """
        terms = query_terms(query)
        if not self._has_vocab:  # a read-only index from an older version: no frequencies to use
            return [_quote(t) for t in terms[:MAX_SCORED_TERMS]]
        with self._lock:
            if self._df_generation != generation:
                self._document_frequency = {}
                self._chunk_total = first_row(conn.execute("SELECT COUNT(*) FROM chunks"))[0]
                self._df_generation = generation
            known = dict(self._document_frequency)
            total = self._chunk_total
        tokenizer = self._stemmer(conn)
        frequencies: list[tuple[str, int]] = []
        for term in terms:
            stems = tokenizer(
                term.encode(), apsw.FTS5_TOKENIZE_QUERY, None, include_offsets=False, include_colocated=False
            )
            first = next(iter(stems), None)
            if first is None:
                continue
            stem = str(first)
            df = known.get(stem)
            if df is None:
                row = conn.execute("SELECT doc FROM chunks_vocab WHERE term = ?", (stem,)).fetchone()
                df = known[stem] = row[0] if row else 0
                self._document_frequency[stem] = df
            if df:
                frequencies.append((term, df))
        if not frequencies:
            return []
        selective = sorted((item for item in frequencies if item[1] <= total / 2), key=lambda item: item[1])
        if not selective:
            selective = [min(frequencies, key=lambda item: item[1])]
        return [_quote(term) for term, _ in selective[:MAX_SCORED_TERMS]]

    def _stemmer(self, conn: apsw.Connection) -> apsw.FTS5Tokenizer:
        """The index's own FTS5 tokenizer (porter), so document frequencies are looked up by the same stem."""
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = conn.fts5_tokenizer(
                "porter", ["unicode61", "remove_diacritics", "2"]
            )
        return stemmer
