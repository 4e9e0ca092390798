/* SPDX-License-Identifier: ISC */
/*
 * toml.c - strict TOML 1.0 reader, canonical writer and the document tree
 * behind both (the contract is in toml.h).
 *
 * Reading order: memory (arena), tree (nodes, containers and their hash
 * index), text helpers (UTF-8, messages), reader (scanners, values, keys,
 * tables, document), accessors and builders, writer, equality.
 *
 * What keeps it fast and small on a store of 100,000 entries:
 *  - a node is 32 bytes and lives in an arena; a document is a handful of
 *    big blocks, all freed at once;
 *  - strings and keys without escapes point into the input (zero copy);
 *  - child pointers of containers live in a second arena, so the container
 *    being filled is usually that arena's last block and grows in place;
 *  - tables of more than SMALL_TABLE entries carry an open-addressing hash
 *    index right behind their child pointers, so lookups stay O(1);
 *  - scanners test sixteen (SSE2) or eight bytes at a time for the few
 *    bytes that need a closer look (quotes, backslashes, controls,
 *    non-ASCII), and eight digits at a time;
 *  - big documents get their arena in transparent huge pages.
 */
#include "toml.h"
#include "pages.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------------------ */
/* Memory: an arena of chunks, plus blocks of their own for big requests.   */
/* ------------------------------------------------------------------------ */

/* Chunks start small so that tiny documents stay tiny and double up to
 * ARENA_CHUNK_MAX, the size of a transparent huge page: such chunks are
 * aligned and marked for huge pages, which spares the 511 page faults per
 * chunk that otherwise cost a big document a quarter of its parse time.  A
 * request of ARENA_BIG bytes or more gets a block of its own, so that big
 * containers grow with realloc() instead of leaving copies behind. */
#define ARENA_CHUNK_MIN 4096u
#define ARENA_CHUNK_MAX (2u * 1024u * 1024u)
#define ARENA_BIG (64u * 1024u)

typedef struct arena_block {
    struct arena_block *prev;
    struct arena_block *next;
    size_t mapped; /* bytes mmap()ed for a huge chunk; 0 when malloc()ed */
} arena_block;     /* the block's data follows this header */

typedef struct arena {
    arena_block *blocks; /* every block, newest first */
    char *top;           /* free space of the current chunk ... */
    size_t avail;        /* ... and how much of it there is */
    size_t next_chunk;
} arena;

static size_t round_up8(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

/* ARENA_CHUNK_MAX bytes aligned to their size, marked for a huge page
 * (pages.h). */
static arena_block *map_huge_chunk(void)
{
    pages p;
    if (!pages_alloc(&p, ARENA_CHUNK_MAX)) {
        return NULL;
    }
    arena_block *block = p.data;
    block->mapped = p.size;
    return block;
}

/* A block of `size` bytes of data, linked into the arena: a huge chunk when
 * `huge` (then size + header == ARENA_CHUNK_MAX), else from malloc(). */
static void *arena_new_block(arena *a, size_t size, bool huge)
{
    if (size > SIZE_MAX - sizeof(arena_block)) {
        return NULL;
    }
    arena_block *block = huge ? map_huge_chunk() : malloc(sizeof *block + size);
    if (block == NULL) {
        return NULL;
    }
    if (!huge) {
        block->mapped = 0;
    }
    block->prev = NULL;
    block->next = a->blocks;
    if (a->blocks != NULL) {
        a->blocks->prev = block;
    }
    a->blocks = block;
    return block + 1;
}

static void *arena_alloc_slow(arena *a, size_t size)
{
    if (size >= ARENA_BIG) {
        return arena_new_block(a, size, false);
    }
    size_t chunk = a->next_chunk > ARENA_CHUNK_MIN ? a->next_chunk : ARENA_CHUNK_MIN;
    while (chunk - sizeof(arena_block) < size) { /* size < ARENA_BIG < ARENA_CHUNK_MAX */
        chunk *= 2;
    }
    char *p = arena_new_block(a, chunk - sizeof(arena_block), chunk == ARENA_CHUNK_MAX);
    if (p == NULL) {
        return NULL;
    }
    a->next_chunk = chunk < ARENA_CHUNK_MAX ? chunk * 2 : chunk;
    a->top = p + size;
    a->avail = chunk - sizeof(arena_block) - size;
    return p;
}

/* `size` bytes aligned to 8, or NULL when out of memory.  A request of
 * ARENA_BIG or more always gets a block of its own, even when the chunk has
 * room: arena_grow() relies on it to tell which blocks it may realloc(). */
static inline void *arena_alloc(arena *a, size_t size)
{
    size = round_up8(size);
    if (size <= a->avail && size < ARENA_BIG) {
        void *p = a->top;
        a->top += size;
        a->avail -= size;
        return p;
    }
    return arena_alloc_slow(a, size);
}

/* Grow the block `p` of `old_size` bytes to `new_size` bytes, keeping its
 * first `keep` bytes.  In place when `p` is the last allocation of the
 * current chunk; through realloc() when `p` has a block of its own (which is
 * exactly when old_size >= ARENA_BIG: chunk allocations and in-place growth
 * both stay below it).  Returns the new address, or NULL with `p` intact. */
static void *arena_grow(arena *a, void *p, size_t old_size, size_t new_size, size_t keep)
{
    old_size = round_up8(old_size);
    new_size = round_up8(new_size);
    if (p != NULL && (char *)p + old_size == a->top && new_size < ARENA_BIG &&
        new_size - old_size <= a->avail) {
        a->top += new_size - old_size;
        a->avail -= new_size - old_size;
        return p;
    }
    if (p != NULL && old_size >= ARENA_BIG) {
        arena_block *block = (arena_block *)p - 1;
        arena_block *prev = block->prev;
        arena_block *next = block->next;
        arena_block *moved = realloc(block, sizeof *moved + new_size);
        if (moved == NULL) {
            return NULL;
        }
        if (prev != NULL) {
            prev->next = moved;
        } else {
            a->blocks = moved;
        }
        if (next != NULL) {
            next->prev = moved;
        }
        return moved + 1;
    }
    /* `q` may be `p` itself: a harvested element's rewind can give back
     * the block a dropped append had just moved the array to, and the next
     * append asks for it again (see define_array_element). */
    void *q = arena_alloc(a, new_size);
    if (q != NULL && q != p && keep > 0) {
        memcpy(q, p, keep);
    }
    return q;
}

/* Give back the tail of the last allocation when it turned out shorter. */
static void arena_shrink(arena *a, void *p, size_t old_size, size_t new_size)
{
    old_size = round_up8(old_size);
    new_size = round_up8(new_size);
    if ((char *)p + old_size == a->top) {
        a->top -= old_size - new_size;
        a->avail += old_size - new_size;
    }
}

/* A point in an arena to go back to: everything allocated after it can be
 * given back at once, provided it all went into the same chunk. */
typedef struct arena_mark {
    arena_block *block;
    char *top;
    size_t avail;
} arena_mark;

static arena_mark arena_get_mark(const arena *a)
{
    return (arena_mark){a->blocks, a->top, a->avail};
}

static bool arena_unchanged_since(const arena *a, arena_mark m)
{
    return a->blocks == m.block && a->top == m.top;
}

/* Free what was allocated after `m`; only when no new block was started
 * since (else the space is simply left unused: harmless and rare). */
static void arena_rewind(arena *a, arena_mark m)
{
    if (a->blocks == m.block) {
        a->top = m.top;
        a->avail = m.avail;
    }
}

static void arena_free(arena *a)
{
    arena_block *block = a->blocks;
    while (block != NULL) {
        arena_block *next = block->next;
        if (block->mapped != 0) {
            pages_free(&(pages){block, block->mapped});
        } else {
            free(block);
        }
        block = next;
    }
}

/* ------------------------------------------------------------------------ */
/* Tree: nodes and containers.                                               */
/* ------------------------------------------------------------------------ */

/* What a node is, finer than toml_type: tables and arrays remember how they
 * were made, because TOML only lets some of them be extended later. */
enum node_kind {
    KIND_TABLE_IMPLICIT, /* parent created by a [a.b] header; [a] may define it */
    KIND_TABLE_DEFINED,  /* root, [header], [[header]] element or built */
    KIND_TABLE_DOTTED,   /* created by a dotted key; only dotted keys extend it */
    KIND_TABLE_INLINE,   /* { ... }: closed for good */
    KIND_ARRAY_STATIC,   /* [ ... ] value or built: closed to [[headers]] */
    KIND_ARRAY_TABLES,   /* made by [[headers]] */
    KIND_STRING,
    KIND_INTEGER,
    KIND_FLOAT,
    KIND_BOOLEAN,
    KIND_DATETIME,
    KIND_DATETIME_LOCAL,
    KIND_DATE_LOCAL,
    KIND_TIME_LOCAL,
};

static const toml_type kind_type[] = {
    TOML_TABLE,    TOML_TABLE,          TOML_TABLE,      TOML_TABLE,      TOML_ARRAY,
    TOML_ARRAY,    TOML_STRING,         TOML_INTEGER,    TOML_FLOAT,      TOML_BOOLEAN,
    TOML_DATETIME, TOML_DATETIME_LOCAL, TOML_DATE_LOCAL, TOML_TIME_LOCAL,
};

/* Keys are limited to 16 MiB - 1 bytes so that the key length and the
 * container depth share one 32-bit field (see toml_node). */
#define KEY_LEN_MAX ((1u << 24) - 1u)
/* Containers hold at most this many children (64 MiB of input cannot make
 * more; builders are refused beyond it). */
#define ITEMS_MAX (1u << 27)
/* Tables with more entries than this get a hash index. */
#define SMALL_TABLE 8u
#define NOT_FOUND UINT32_MAX

/* 32 bytes: two pointers and four 32-bit words. */
struct toml_node {
    const char *key; /* NULL for the root and array elements */
    union {
        const char *str;
        int64_t integer;
        double number;
        bool boolean;
        toml_node **items; /* tables and arrays; see container_* below */
        toml_datetime *datetime;
    } v;
    uint32_t key_len_depth; /* key length << 8 | depth below the root */
    uint32_t len;           /* bytes of a string, children of a container */
    uint32_t line;          /* where the value starts; 0 for built nodes */
    uint32_t col_kind;      /* column << 5 | NODE_BARE_KEY | enum node_kind */
};

/* In col_kind: the key can be written bare (known from the reader or the
 * builder, so the writer need not look at it again). */
#define NODE_BARE_KEY 16u

_Static_assert(sizeof(toml_node) == 32, "a node should stay 32 bytes");
_Static_assert(TOML_MAX_DEPTH < 256, "the depth is kept in 8 bits");

struct toml_doc {
    toml_node root;
    arena nodes; /* nodes, decoded strings and keys, date-times */
    arena items; /* child pointers and hash indexes of containers */
};

static unsigned node_kind(const toml_node *n)
{
    return n->col_kind & 15u;
}

static void set_kind(toml_node *n, unsigned kind)
{
    n->col_kind = (n->col_kind & ~15u) | kind;
}

static uint32_t node_col(const toml_node *n)
{
    return n->col_kind >> 5;
}

static uint32_t node_key_len(const toml_node *n)
{
    return n->key_len_depth >> 8;
}

static unsigned node_depth(const toml_node *n)
{
    return n->key_len_depth & 255u;
}

static bool kind_is_table(unsigned kind)
{
    return kind <= KIND_TABLE_INLINE;
}

static bool kind_is_array(unsigned kind)
{
    return kind == KIND_ARRAY_STATIC || kind == KIND_ARRAY_TABLES;
}

static bool is_table(const toml_node *n)
{
    return n != NULL && kind_is_table(node_kind(n));
}

static bool is_array(const toml_node *n)
{
    return n != NULL && kind_is_array(node_kind(n));
}

static void node_init(toml_node *n, const char *key, uint32_t key_len, bool bare_key, unsigned kind,
                      unsigned depth)
{
    memset(n, 0, sizeof *n);
    n->key = key;
    n->key_len_depth = key_len << 8 | depth;
    n->col_kind = (bare_key ? NODE_BARE_KEY : 0u) | kind;
    if (kind_is_table(kind) || kind_is_array(kind)) {
        n->v.items = NULL;
    }
}

/* Slots allocated for `len` children: exact while small (records of a few
 * keys waste nothing), then powers of two so appends stay amortised O(1). */
static uint32_t items_cap(uint32_t len)
{
    if (len <= SMALL_TABLE) {
        return len;
    }
    return 1u << (32 - __builtin_clz(len - 1u));
}

static size_t items_block_size(uint32_t cap, bool table)
{
    size_t size = (size_t)cap * sizeof(toml_node *);
    if (table && cap > SMALL_TABLE) {
        size += (size_t)cap * 2u * sizeof(uint32_t); /* hash slots, load <= 1/2 */
    }
    return size;
}

/* The hash index of a big table: 2 * cap slots holding child index + 1. */
static uint32_t *index_slots(const toml_node *t)
{
    return (uint32_t *)(void *)(t->v.items + items_cap(t->len));
}

/* Seeded with the address of the child block (the index is rebuilt
 * whenever the block moves), so that keys crafted to collide cannot be
 * prepared ahead of time. */
static uint64_t hash_key(const toml_node *t, const char *key, size_t len)
{
    uint64_t h = (uint64_t)(uintptr_t)t->v.items * 0x9E3779B97F4A7C15u ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, key, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9u;
        h ^= h >> 31;
        key += 8;
        len -= 8;
    }
    if (len > 0) {
        uint64_t w = 0;
        memcpy(&w, key, len);
        h = (h ^ w) * 0xBF58476D1CE4E5B9u;
    }
    h ^= h >> 29;
    h *= 0x94D049BB133111EBu;
    return h ^ (h >> 32);
}

static bool key_equals(const toml_node *n, const char *key, size_t len)
{
    return node_key_len(n) == len && (len == 0 || memcmp(n->key, key, len) == 0);
}

static void index_insert(toml_node *t, uint32_t index)
{
    uint32_t *slots = index_slots(t);
    size_t mask = (size_t)items_cap(t->len) * 2u - 1u;
    const toml_node *child = t->v.items[index];
    size_t i = (size_t)hash_key(t, child->key, node_key_len(child)) & mask;
    while (slots[i] != 0) {
        i = (i + 1u) & mask;
    }
    slots[i] = index + 1u;
}

static void index_rebuild(toml_node *t)
{
    memset(index_slots(t), 0, (size_t)items_cap(t->len) * 2u * sizeof(uint32_t));
    for (uint32_t i = 0; i < t->len; i++) {
        index_insert(t, i);
    }
}

static uint32_t index_find(const toml_node *t, const char *key, size_t len)
{
    const uint32_t *slots = index_slots(t);
    size_t mask = (size_t)items_cap(t->len) * 2u - 1u;
    size_t i = (size_t)hash_key(t, key, len) & mask;
    for (uint32_t slot; (slot = slots[i]) != 0; i = (i + 1u) & mask) {
        if (key_equals(t->v.items[slot - 1u], key, len)) {
            return slot - 1u;
        }
    }
    return NOT_FOUND;
}

/* Index of `key` in table `t`, or NOT_FOUND. */
static inline uint32_t table_find(const toml_node *t, const char *key, size_t len)
{
    if (t->len > SMALL_TABLE) {
        return index_find(t, key, len);
    }
    for (uint32_t i = 0; i < t->len; i++) {
        if (key_equals(t->v.items[i], key, len)) {
            return i;
        }
    }
    return NOT_FOUND;
}

static toml_node *table_lookup(const toml_node *t, const char *key, size_t len)
{
    uint32_t i = table_find(t, key, len);
    return i == NOT_FOUND ? NULL : t->v.items[i];
}

static int container_append_slow(toml_doc *doc, toml_node *c, toml_node *child);

/* Append `child` to a table or array; -1 when out of memory (or over
 * ITEMS_MAX), leaving the container unchanged.  Duplicate keys are the
 * caller's business. */
static inline int container_append(toml_doc *doc, toml_node *c, toml_node *child)
{
    uint32_t len = c->len;
    arena *items = &doc->items;
    /* The usual case, a small container that is (or starts) the last block
     * of the items arena, like the table being filled: grow in place by one
     * slot.  No index below SMALL_TABLE entries. */
    bool last_block = len == 0 || (len < SMALL_TABLE && (char *)(c->v.items + len) == items->top);
    if (last_block && items->avail >= sizeof(toml_node *)) {
        if (len == 0) {
            c->v.items = (toml_node **)(void *)items->top;
        }
        items->top += sizeof(toml_node *);
        items->avail -= sizeof(toml_node *);
        c->v.items[len] = child;
        c->len = len + 1u;
        return 0;
    }
    return container_append_slow(doc, c, child);
}

static int container_append_slow(toml_doc *doc, toml_node *c, toml_node *child)
{
    bool table = kind_is_table(node_kind(c));
    uint32_t len = c->len;
    uint32_t cap = items_cap(len);
    bool grown = len == cap;
    if (grown) {
        if (len >= ITEMS_MAX) {
            return -1;
        }
        uint32_t new_cap = items_cap(len + 1u);
        void *block = arena_grow(&doc->items, c->v.items, items_block_size(cap, table),
                                 items_block_size(new_cap, table), len * sizeof(toml_node *));
        if (block == NULL) {
            return -1;
        }
        c->v.items = block;
    }
    c->v.items[len] = child;
    c->len = len + 1u;
    if (table && c->len > SMALL_TABLE) {
        if (grown) {
            index_rebuild(c);
        } else {
            index_insert(c, len);
        }
    }
    return 0;
}

/* Remove child `index`, keeping the order of the others.  The block keeps
 * its size; the index (if any) is laid out again for the new length, which
 * always fits in the old block. */
static void container_remove(toml_node *c, uint32_t index)
{
    memmove(c->v.items + index, c->v.items + index + 1,
            (size_t)(c->len - index - 1u) * sizeof(toml_node *));
    c->len--;
    if (kind_is_table(node_kind(c)) && c->len > SMALL_TABLE) {
        index_rebuild(c);
    }
}

/* ------------------------------------------------------------------------ */
/* Text helpers: character classes, UTF-8, many bytes at a time, messages. */
/* ------------------------------------------------------------------------ */

enum {
    C_BARE = 1,     /* A-Z a-z 0-9 _ - */
    C_VALUE_END = 2 /* what may follow a value: space tab CR LF # , ] } */
};

static const uint8_t char_class[256] = {
    /* clang-format off */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 2, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    2, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 2, 0, 1, /* 0x50 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 2, 0, 0, /* 0x70 */
    /* 0x80-0xFF: nothing, non-ASCII bytes are checked as UTF-8 where allowed */
    /* clang-format on */
};

static bool has_class(char c, unsigned cls)
{
    return (char_class[(unsigned char)c] & cls) != 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of the UTF-8 sequence at p (1..4), or 0 when it is not well formed:
 * overlongs, surrogates and code points above U+10FFFF are refused. */
static unsigned utf8_length(const char *p, const char *end)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t room = (size_t)(end - p);
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    unsigned need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0xC2) {
        return 0;
    } else if (c < 0xE0) {
        need = 1;
    } else if (c < 0xF0) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c < 0xF5) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (room <= need || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (unsigned i = 2; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return need + 1;
}

static uint32_t utf8_decode(const char *p, unsigned len)
{
    const unsigned char *s = (const unsigned char *)p;
    static const unsigned char lead_mask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t cp = s[0] & lead_mask[len];
    for (unsigned i = 1; i < len; i++) {
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    return cp;
}

static bool utf8_valid(const char *s, size_t len)
{
    const char *end = s + len;
    while (s < end) {
        unsigned n = utf8_length(s, end);
        if (n == 0) {
            return false;
        }
        s += n;
    }
    return true;
}

static size_t utf8_encode(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Eight bytes at a time: each helper is non-zero when some byte of `v`
 * matches (the classic zero-byte test; exact when no byte matches). */
#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u

static uint64_t load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t has_byte(uint64_t v, unsigned char b)
{
    uint64_t x = v ^ (ONES * b);
    return (x - ONES) & ~x & HIGHS;
}

/* Index of the first flagged byte of a non-zero mask from the helpers
 * above: borrows only ever flag bytes after a real match, so the lowest
 * flag is exact.  Byte order matters; other orders go byte by byte. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FIRST_FLAGGED(mask) ((size_t)__builtin_ctzll(mask) >> 3)
#endif

/* Whether byte `c` ends a run of plain text: a control character (the
 * tab too), DEL, `quote` (if not 0), a backslash (if `backslash`) and, if
 * `stop_high`, every byte from 0x80 up.  The one rule of both the reader,
 * which looks closer at what it stops at (a tab or well-formed UTF-8 goes
 * on), and the writer, which escapes it (UTF-8 passes: the tree holds only
 * valid UTF-8). */
static inline bool ends_plain(unsigned char c, char quote, bool backslash, bool stop_high)
{
    return c < 0x20 || c == 0x7F || (quote != 0 && c == (unsigned char)quote) ||
           (backslash && c == '\\') || (stop_high && c >= 0x80);
}

#ifdef __SSE2__
/* ends_plain() for sixteen bytes at a time where SSE2 is there (every
 * x86-64): the mask of the bytes at p that end a run. */
static inline unsigned ends_plain16(const char *p, char quote, bool backslash, bool stop_high)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i below = _mm_set1_epi8(0x1F);
    __m128i m = stop_high ? _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)) /* signed: 0x80 up too */
                          : _mm_cmpeq_epi8(_mm_max_epu8(v, below), below);
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F)));
    if (quote != 0) {
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(quote)));
    }
    if (backslash) {
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    }
    return (unsigned)_mm_movemask_epi8(m);
}

/* Bytes of v from lo to hi (unsigned), as 0xFF. */
static inline __m128i in_range16(__m128i v, char lo, char hi)
{
    __m128i span = _mm_set1_epi8((char)(hi - lo));
    return _mm_cmpeq_epi8(_mm_max_epu8(_mm_sub_epi8(v, _mm_set1_epi8(lo)), span), span);
}

/* The mask of the sixteen bytes at p that cannot be in a bare key. */
static inline unsigned not_bare16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i letter = in_range16(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z');
    __m128i bare = _mm_or_si128(letter, in_range16(v, '0', '9'));
    bare = _mm_or_si128(bare, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
    bare = _mm_or_si128(bare, _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    return ~(unsigned)_mm_movemask_epi8(bare) & 0xFFFFu;
}
#endif

/* The first byte at or after p that cannot be in a bare key, or end. */
static inline const char *skip_bare(const char *p, const char *end)
{
#ifdef __SSE2__
    while (end - p >= 16) {
        unsigned stop = not_bare16(p);
        if (stop != 0) {
            return p + __builtin_ctz(stop);
        }
        p += 16;
    }
#endif
    while (end - p >= 4 &&
           (char_class[(unsigned char)p[0]] & char_class[(unsigned char)p[1]] &
            char_class[(unsigned char)p[2]] & char_class[(unsigned char)p[3]] & C_BARE) != 0) {
        p += 4;
    }
    while (p < end && has_class(*p, C_BARE)) {
        p++;
    }
    return p;
}

/* The first byte at or after p that ends_plain(), or end: sixteen or
 * eight bytes at a time, then byte by byte. */
__attribute__((always_inline)) static inline const char *
skip_plain(const char *p, const char *end, char quote, bool backslash, bool stop_high)
{
#ifdef __SSE2__
    while (end - p >= 16) {
        unsigned stop = ends_plain16(p, quote, backslash, stop_high);
        if (stop != 0) {
            return p + __builtin_ctz(stop);
        }
        p += 16;
    }
#endif
    while (end - p >= 8) {
        uint64_t v = load8(p);
        uint64_t stop = ((v - ONES * 0x20u) & ~v) | has_byte(v, 0x7F); /* controls, DEL */
        if (stop_high) {
            stop |= v;
        }
        if (quote != 0) {
            stop |= has_byte(v, (unsigned char)quote);
        }
        if (backslash) {
            stop |= has_byte(v, '\\');
        }
        stop &= HIGHS;
        if (stop != 0) {
#ifdef FIRST_FLAGGED
            return p + FIRST_FLAGGED(stop);
#else
            break;
#endif
        }
        p += 8;
    }
    while (p < end && !ends_plain((unsigned char)*p, quote, backslash, stop_high)) {
        p++;
    }
    return p;
}

/* skip_plain() for the text of a basic or literal string, each with its
 * own constants so that both loops are specialised. */
static const char *skip_string_text(const char *p, const char *end, bool basic)
{
    if (basic) {
        return skip_plain(p, end, '"', true, true);
    }
    return skip_plain(p, end, '\'', false, true);
}

/* The escapes with a letter of their own, both ways: the reader decodes
 * them, the writer uses them for these bytes (\u00XX for other controls). */
static const struct short_escape {
    char letter, byte;
} short_escapes[] = {{'b', '\b'}, {'t', '\t'}, {'n', '\n'}, {'f', '\f'},
                     {'r', '\r'}, {'"', '"'},  {'\\', '\\'}};

/* The byte that `letter` after a backslash stands for, or 0. */
static char unescape_letter(char letter)
{
    for (size_t i = 0; i < sizeof short_escapes / sizeof short_escapes[0]; i++) {
        if (short_escapes[i].letter == letter) {
            return short_escapes[i].byte;
        }
    }
    return 0;
}

/* The letter that escapes `byte`, or 0 when it has none. */
static char escape_letter(char byte)
{
    for (size_t i = 0; i < sizeof short_escapes / sizeof short_escapes[0]; i++) {
        if (short_escapes[i].byte == byte) {
            return short_escapes[i].letter;
        }
    }
    return 0;
}

/* A key that can be written without quotes: [A-Za-z0-9_-]+. */
static bool is_bare_key(const char *key, size_t len)
{
    unsigned all = len > 0 ? C_BARE : 0;
    for (size_t i = 0; i < len; i++) {
        all &= char_class[(unsigned char)key[i]];
    }
    return all != 0;
}

/* Describe the character at p for a message: 'x', newline, U+3000, ... */
static const char *describe_char(char *buf, size_t cap, const char *p, const char *end)
{
    if (p >= end) {
        return "end of file";
    }
    unsigned char c = (unsigned char)*p;
    if (c == '\n') {
        return "a newline";
    }
    if (c == '\r') {
        return "a carriage return";
    }
    if (c == '\t') {
        return "a tab";
    }
    if (c >= 0x20 && c < 0x7F) {
        snprintf(buf, cap, "'%c'", c);
    } else if (c < 0x80) {
        snprintf(buf, cap, "control character U+%04X", c);
    } else {
        unsigned n = utf8_length(p, end);
        if (n == 0) {
            snprintf(buf, cap, "invalid UTF-8 byte 0x%02X", c);
        } else if (utf8_decode(p, n) == 0xFEFF) {
            snprintf(buf, cap, "a byte order mark (only allowed at the start of the file)");
        } else {
            snprintf(buf, cap, "U+%04X", (unsigned)utf8_decode(p, n));
        }
    }
    return buf;
}

/* A key for a message: quoted, escaped where not printable, cut after about
 * 40 bytes (at a character boundary).  `cap` must be at least 64. */
static const char *describe_key(char *buf, size_t cap, const char *key, size_t len)
{
    size_t o = 0, i = 0;
    buf[o++] = '"';
    for (; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (o > 40 && (c & 0xC0) != 0x80) {
            break;
        }
        if (c < 0x20 || c == 0x7F) {
            o += (size_t)snprintf(buf + o, cap - o, "\\u%04X", c);
        } else {
            if (c == '"' || c == '\\') {
                buf[o++] = '\\';
            }
            buf[o++] = (char)c;
        }
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Reader.                                                                   */
/* ------------------------------------------------------------------------ */

/* Handing the elements of one root array of tables to the caller as they
 * are completed (toml_parse_harvest).  An element is complete when the next
 * [[key]] header starts: only the last element of an array of tables can
 * be extended.  A dropped element's memory is reused when everything
 * allocated since it began belongs to it. */
typedef struct harvest {
    const char *key;
    size_t key_len;
    toml_harvest_fn fn;
    void *ctx;
    size_t handed;           /* elements handed to fn so far */
    bool pending;            /* the array's last element is not handed yet */
    bool clean;              /* only the pending element allocated since its marks */
    arena_mark nodes_mark;   /* before the pending element's table node */
    arena_mark items_mark;   /* before its slot in the array and its children */
    arena_mark header_nodes; /* at the start of the header being parsed */
    arena_mark header_items;
} harvest;

typedef struct parser {
    const char *p;          /* next byte to read */
    const char *end;        /* one past the last byte */
    const char *line_start; /* first byte of the current line */
    uint32_t line;          /* current line, 1-based */
    toml_doc *doc;
    toml_error *err;
    toml_node *table; /* where key/value lines go: root or last header's table */
    harvest *hv;      /* NULL unless harvesting */
} parser;

typedef struct src_pos {
    uint32_t line;
    uint32_t col;
} src_pos;

/* A key as read: unescaped bytes (in the input or the arena) and where. */
typedef struct key_ref {
    const char *ptr;
    uint32_t len;
    src_pos pos;
    bool bare; /* can be written without quotes */
} key_ref;

static src_pos pos_at(const parser *ps, const char *at)
{
    return (src_pos){ps->line, (uint32_t)(at - ps->line_start) + 1u};
}

__attribute__((format(printf, 3, 4))) static int fail_pos(parser *ps, src_pos pos, const char *fmt,
                                                          ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err->message, sizeof ps->err->message, fmt, ap);
    va_end(ap);
    ps->err->line = pos.line;
    ps->err->col = pos.col;
    return -1;
}

#define fail_at(ps, at, ...) fail_pos((ps), pos_at((ps), (at)), __VA_ARGS__)

static int fail_oom(parser *ps)
{
    ps->err->oom = true;
    ps->err->line = 0;
    ps->err->col = 0;
    snprintf(ps->err->message, sizeof ps->err->message, "out of memory");
    return -1;
}

static int fail_unexpected(parser *ps, const char *at, const char *expected)
{
    char what[80];
    return fail_at(ps, at, "expected %s, found %s", expected,
                   describe_char(what, sizeof what, at, ps->end));
}

static void note_newline(parser *ps, const char *next_line)
{
    ps->line++;
    ps->line_start = next_line;
}

static void skip_blank(parser *ps)
{
    const char *p = ps->p;
    while (p < ps->end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    ps->p = p;
}

static bool at_char(const parser *ps, char c)
{
    return ps->p < ps->end && *ps->p == c;
}

/* Consume a newline (LF or CRLF) if one is next. */
static int take_newline(parser *ps, bool *taken)
{
    const char *p = ps->p;
    *taken = false;
    if (p < ps->end && *p == '\n') {
        ps->p = p + 1;
    } else if (p < ps->end && *p == '\r') {
        if (ps->end - p < 2 || p[1] != '\n') {
            return fail_at(ps, p, "carriage return not followed by a line feed");
        }
        ps->p = p + 2;
    } else {
        return 0;
    }
    note_newline(ps, ps->p);
    *taken = true;
    return 0;
}

/* Check the non-plain byte at p inside a string or comment; returns the
 * byte after it or NULL.  Newlines are the caller's business; `escapable`
 * says whether the message may suggest a \\u escape. */
static const char *check_special(parser *ps, const char *p, const char *what, bool escapable)
{
    unsigned char c = (unsigned char)*p;
    if (c >= 0x80) {
        unsigned n = utf8_length(p, ps->end);
        if (n == 0) {
            fail_at(ps, p, "invalid UTF-8 byte 0x%02X in %s", c, what);
            return NULL;
        }
        return p + n;
    }
    if (c == '\t') {
        return p + 1;
    }
    if (c == '\r') {
        fail_at(ps, p, "carriage return not followed by a line feed in %s", what);
        return NULL;
    }
    if (escapable) {
        fail_at(ps, p, "control character U+%04X is not allowed in %s; write it as \\u%04X", c,
                what, c);
    } else {
        fail_at(ps, p, "control character U+%04X is not allowed in %s", c, what);
    }
    return NULL;
}

/* '#' to the end of the line (the newline itself is left). */
static int parse_comment(parser *ps)
{
    const char *p = ps->p + 1;
    for (;;) {
        p = skip_plain(p, ps->end, 0, false, true);
        if (p == ps->end || *p == '\n' || (*p == '\r' && ps->end - p >= 2 && p[1] == '\n')) {
            ps->p = p;
            return 0;
        }
        p = check_special(ps, p, "a comment", false);
        if (p == NULL) {
            return -1;
        }
    }
}

/* The rest of a line: blank space, an optional comment, then the newline
 * if one is next (*newline says whether). */
static int take_line_end(parser *ps, bool *newline)
{
    skip_blank(ps);
    if (at_char(ps, '#') && parse_comment(ps) != 0) {
        return -1;
    }
    return take_newline(ps, newline);
}

/* Blank space, newlines and comments, as allowed between array elements. */
static int skip_array_space(parser *ps)
{
    bool newline = true;
    while (newline) {
        if (take_line_end(ps, &newline) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- strings ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        return (c | 0x20) - 'a' + 10;
    }
    return -1;
}

/* Skip the whitespace and newlines after a line-ending backslash in a
 * multi-line basic string; p is at the backslash. */
static const char *skip_line_continuation(parser *ps, const char *p)
{
    const char *q = p + 1;
    while (q < ps->end && (*q == ' ' || *q == '\t')) {
        q++;
    }
    if (q == ps->end || (*q != '\n' && *q != '\r')) {
        fail_at(ps, p, "a backslash followed by whitespace must end the line");
        return NULL;
    }
    for (;;) {
        while (q < ps->end && (*q == ' ' || *q == '\t')) {
            q++;
        }
        ps->p = q;
        bool newline;
        if (take_newline(ps, &newline) != 0) {
            return NULL;
        }
        if (!newline) {
            return q;
        }
        q = ps->p;
    }
}

/* Check \uXXXX or \UXXXXXXXX at p (the backslash). */
static const char *check_unicode_escape(parser *ps, const char *p, unsigned digits)
{
    if ((size_t)(ps->end - p) < 2u + digits) {
        fail_at(ps, p, "\\%c needs %u hex digits", p[1], digits);
        return NULL;
    }
    uint32_t cp = 0;
    for (unsigned i = 0; i < digits; i++) {
        int h = hex_value(p[2 + i]);
        if (h < 0) {
            fail_at(ps, p, "\\%c needs %u hex digits", p[1], digits);
            return NULL;
        }
        cp = cp << 4 | (uint32_t)h;
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        fail_at(ps, p, "\\%c%0*X is not a Unicode scalar value", p[1], (int)digits, (unsigned)cp);
        return NULL;
    }
    return p + 2 + digits;
}

/* Check the escape sequence at p (a backslash); returns the byte after it. */
static const char *check_escape(parser *ps, const char *p, bool multiline)
{
    if (ps->end - p < 2) {
        fail_at(ps, p, "unfinished escape sequence at end of file");
        return NULL;
    }
    if (unescape_letter(p[1]) != 0) {
        return p + 2;
    }
    switch (p[1]) {
    case 'u':
        return check_unicode_escape(ps, p, 4);
    case 'U':
        return check_unicode_escape(ps, p, 8);
    case ' ':
    case '\t':
    case '\n':
    case '\r':
        if (multiline) {
            return skip_line_continuation(ps, p);
        }
        break;
    default:
        break;
    }
    char what[80];
    fail_at(ps, p, "invalid escape sequence: backslash followed by %s",
            describe_char(what, sizeof what, p + 1, ps->end));
    return NULL;
}

/* Decode the already checked body [s, e) of a basic string into dst;
 * returns the decoded length.  Never longer than the body. */
static size_t decode_basic(char *dst, const char *s, const char *e)
{
    char *o = dst;
    while (s < e) {
        const char *run = s;
        while (s < e && *s != '\\' && *s != '\r') {
            s++;
        }
        memcpy(o, run, (size_t)(s - run));
        o += s - run;
        if (s == e) {
            break;
        }
        if (*s == '\r') { /* CRLF in a multi-line string reads as LF */
            s++;
            continue;
        }
        char c = s[1];
        if (c == 'u' || c == 'U') {
            unsigned digits = c == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (unsigned i = 0; i < digits; i++) {
                cp = cp << 4 | (uint32_t)hex_value(s[2 + i]);
            }
            o += utf8_encode(o, cp);
            s += 2 + digits;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            s++; /* line-ending backslash: drop all whitespace up to the text */
            while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
                s++;
            }
        } else {
            *o++ = unescape_letter(c);
            s += 2;
        }
    }
    return (size_t)(o - dst);
}

/* Drop the CRs of CRLFs in the body [s, e) of a multi-line literal string. */
static size_t decode_crlf(char *dst, const char *s, const char *e)
{
    char *o = dst;
    for (; s < e; s++) {
        if (*s != '\r') {
            *o++ = *s;
        }
    }
    return (size_t)(o - dst);
}

/* Finish a string whose body is [s, e): point into the input when nothing
 * needs decoding, else decode into the arena. */
static int finish_string(parser *ps, const char *s, const char *e, bool decode, bool basic,
                         const char **out, uint32_t *out_len)
{
    size_t raw = (size_t)(e - s);
    if (!decode) {
        *out = s;
        *out_len = (uint32_t)raw;
        return 0;
    }
    char *dst = arena_alloc(&ps->doc->nodes, raw);
    if (dst == NULL) {
        return fail_oom(ps);
    }
    size_t len = basic ? decode_basic(dst, s, e) : decode_crlf(dst, s, e);
    arena_shrink(&ps->doc->nodes, dst, raw, len);
    *out = dst;
    *out_len = (uint32_t)len;
    return 0;
}

/* The byte at p that skip_string_text() stopped at, inside a string: an
 * escape (basic strings; sets *decoded) or a byte to check.  Returns where
 * to go on scanning, or NULL after an error. */
static const char *check_string_byte(parser *ps, const char *p, const char *what, bool basic,
                                     bool multiline, bool *decoded)
{
    if (*p == '\\' && basic) {
        *decoded = true;
        return check_escape(ps, p, multiline);
    }
    return check_special(ps, p, what, basic);
}

/* "..." or '...' on one line; ps->p is at the opening quote. */
static int parse_single_line_string(parser *ps, const char **out, uint32_t *out_len)
{
    const char *open = ps->p;
    const char quote = *open;
    const bool basic = quote == '"';
    const char *what = basic ? "a string" : "a literal string";
    const char *s = open + 1;
    const char *p = s;
    bool escaped = false;
    for (;;) {
        p = skip_string_text(p, ps->end, basic);
        if (p == ps->end || *p == '\n' || (*p == '\r' && ps->end - p >= 2 && p[1] == '\n')) {
            return fail_at(ps, open, "%s is not closed on its line (missing %c)",
                           basic ? "string" : "literal string", quote);
        }
        if (*p == quote) {
            break;
        }
        if ((p = check_string_byte(ps, p, what, basic, false, &escaped)) == NULL) {
            return -1;
        }
    }
    ps->p = p + 1;
    return finish_string(ps, s, p, escaped, basic, out, out_len);
}

/* """...""" or '''...'''; ps->p is at the opening delimiter. */
static int parse_multiline_string(parser *ps, const char **out, uint32_t *out_len)
{
    const src_pos open = pos_at(ps, ps->p);
    const char quote = *ps->p;
    const bool basic = quote == '"';
    const char *what = basic ? "a multi-line string" : "a multi-line literal string";
    bool decode = false, newline;
    ps->p += 3;
    if (take_newline(ps, &newline) != 0) { /* a newline right after the opening is dropped */
        return -1;
    }
    const char *s = ps->p;
    const char *p = s;
    for (;;) {
        p = skip_string_text(p, ps->end, basic);
        if (p == ps->end) {
            return fail_pos(ps, open, "%s is never closed (missing %c%c%c)", what, quote, quote,
                            quote);
        }
        if (*p == quote) {
            const char *run = p;
            while (p < ps->end && *p == quote) {
                p++;
            }
            size_t quotes = (size_t)(p - run);
            if (quotes < 3) {
                continue;
            }
            if (quotes > 5) {
                return fail_at(ps, run + 5, "too many quotes at the end of %s", what);
            }
            ps->p = p;
            return finish_string(ps, s, p - 3, decode, basic, out, out_len);
        }
        if (*p == '\n' || *p == '\r') {
            if (*p == '\r') {
                decode = true;
            }
            ps->p = p;
            if (take_newline(ps, &newline) != 0) {
                return -1;
            }
            p = ps->p;
            continue;
        }
        if ((p = check_string_byte(ps, p, what, basic, true, &decode)) == NULL) {
            return -1;
        }
    }
}

static bool at_triple_quote(const parser *ps)
{
    const char *p = ps->p;
    return ps->end - p >= 3 && p[1] == p[0] && p[2] == p[0];
}

/* ---- keys ---- */

/* One key: bare, "basic" or 'literal'.  The length is checked here so that
 * it fits the node. */
static int parse_simple_key(parser *ps, key_ref *key)
{
    const char *start = ps->p;
    key->pos = pos_at(ps, start);
    if (start < ps->end && has_class(*start, C_BARE)) {
        const char *p = skip_bare(start + 1, ps->end);
        key->ptr = start;
        key->len = (uint32_t)(p - start);
        key->bare = true;
        ps->p = p;
    } else if (start < ps->end && (*start == '"' || *start == '\'')) {
        if (parse_single_line_string(ps, &key->ptr, &key->len) != 0) {
            return -1;
        }
        key->bare = is_bare_key(key->ptr, key->len);
    } else {
        return fail_unexpected(ps, start, "a key");
    }
    if (key->len > KEY_LEN_MAX) {
        return fail_pos(ps, key->pos, "key is longer than %u bytes", KEY_LEN_MAX);
    }
    return 0;
}

static const char *kind_name(unsigned kind)
{
    static const char *const names[] = {
        "a table",         "a table",      "a table",
        "an inline table", "an array",     "an array of tables",
        "a string",        "an integer",   "a float",
        "a boolean",       "a date-time",  "a local date-time",
        "a local date",    "a local time",
    };
    return names[kind];
}

static inline toml_node *new_node(parser *ps, const key_ref *key, unsigned kind, unsigned depth)
{
    toml_node *n = arena_alloc(&ps->doc->nodes, sizeof *n);
    if (n == NULL) {
        fail_oom(ps);
        return NULL;
    }
    node_init(n, key ? key->ptr : NULL, key ? key->len : 0, key && key->bare, kind, depth);
    return n;
}

static void set_pos(toml_node *n, src_pos pos)
{
    n->line = pos.line;
    n->col_kind = pos.col << 5 | (n->col_kind & 31u);
}

/* A new table or array named `key` in `parent`, or NULL after an error. */
static toml_node *add_container(parser *ps, toml_node *parent, const key_ref *key, unsigned kind)
{
    unsigned depth = node_depth(parent) + 1u;
    if (depth > TOML_MAX_DEPTH) {
        fail_pos(ps, key->pos, "nesting is deeper than %d levels", TOML_MAX_DEPTH);
        return NULL;
    }
    toml_node *n = new_node(ps, key, kind, depth);
    if (n == NULL) {
        return NULL;
    }
    set_pos(n, key->pos);
    if (container_append(ps->doc, parent, n) != 0) {
        fail_oom(ps);
        return NULL;
    }
    return n;
}

/* Where the existing `node` came from, for messages. */
static const char *defined_at(char *buf, size_t cap, const toml_node *n)
{
    if (n->line == 0) {
        return "";
    }
    snprintf(buf, cap, " (first defined at %u:%u)", (unsigned)n->line, (unsigned)node_col(n));
    return buf;
}

/* Step through `key` of a dotted key (a.b = 1) into its table, creating it. */
static toml_node *descend_dotted(parser *ps, toml_node *table, const key_ref *key)
{
    toml_node *child = table_lookup(table, key->ptr, key->len);
    if (child == NULL) {
        return add_container(ps, table, key, KIND_TABLE_DOTTED);
    }
    unsigned kind = node_kind(child);
    if (kind == KIND_TABLE_DOTTED) {
        return child;
    }
    if (kind == KIND_TABLE_IMPLICIT) {
        /* Only created as a parent by a header: dotted keys may define it,
         * after which no [header] can. */
        set_kind(child, KIND_TABLE_DOTTED);
        return child;
    }
    char name[64], where[48];
    describe_key(name, sizeof name, key->ptr, key->len);
    defined_at(where, sizeof where, child);
    if (kind == KIND_TABLE_DEFINED) {
        fail_pos(ps, key->pos,
                 "cannot add to table %s with a dotted key: it has its own [header]%s", name,
                 where);
    } else {
        fail_pos(ps, key->pos, "cannot use %s as a table: it is already %s%s", name,
                 kind_name(kind), where);
    }
    return NULL;
}

/* After the first part of a dotted key in `*key`: step through each `.part`
 * with `descend`, leaving the last part in `*key`.  Returns the table that
 * last part belongs in, or NULL after an error. */
typedef toml_node *(*descend_fn)(parser *ps, toml_node *table, const key_ref *key);
static toml_node *walk_dotted_key(parser *ps, toml_node *table, key_ref *key, descend_fn descend)
{
    skip_blank(ps);
    while (at_char(ps, '.')) {
        ps->p++;
        skip_blank(ps);
        table = descend(ps, table, key);
        if (table == NULL || parse_simple_key(ps, key) != 0) {
            return NULL;
        }
        skip_blank(ps);
    }
    return table;
}

/* Add a placeholder for `key` to `table`, refusing duplicates. */
static inline toml_node *add_key(parser *ps, toml_node *table, const key_ref *key)
{
    toml_node *old = table_lookup(table, key->ptr, key->len);
    if (old != NULL) {
        char name[64], where[48];
        fail_pos(ps, key->pos, "duplicate key %s%s",
                 describe_key(name, sizeof name, key->ptr, key->len),
                 defined_at(where, sizeof where, old));
        return NULL;
    }
    toml_node *n = new_node(ps, key, KIND_BOOLEAN, 0);
    if (n != NULL && container_append(ps->doc, table, n) != 0) {
        fail_oom(ps);
        return NULL;
    }
    return n;
}

static int parse_value(parser *ps, toml_node *n, unsigned parent_depth);

/* key = value, into `table` (the current section or an inline table). */
static int parse_keyval(parser *ps, toml_node *table)
{
    key_ref key;
    if (parse_simple_key(ps, &key) != 0) {
        return -1;
    }
    const char *p = ps->p;
    if (ps->end - p > 3 && p[0] == ' ' && p[1] == '=' && p[2] == ' ' && p[3] != ' ' &&
        p[3] != '\t') {
        ps->p = p + 3; /* the usual spelling, "key = value", in one look */
        toml_node *n = add_key(ps, table, &key);
        return n == NULL ? -1 : parse_value(ps, n, node_depth(table));
    }
    if ((table = walk_dotted_key(ps, table, &key, descend_dotted)) == NULL) {
        return -1;
    }
    if (!at_char(ps, '=')) {
        return fail_unexpected(ps, ps->p, "'=' after the key");
    }
    ps->p++;
    skip_blank(ps);
    toml_node *n = add_key(ps, table, &key);
    if (n == NULL) {
        return -1;
    }
    return parse_value(ps, n, node_depth(table));
}

/* ---- numbers ---- */

static bool value_ends_at(const parser *ps, const char *p)
{
    return p == ps->end || has_class(*p, C_VALUE_END);
}

static int fail_bad_number(parser *ps, const char *at)
{
    char what[80];
    return fail_at(ps, at, "invalid number: %s is not allowed here",
                   describe_char(what, sizeof what, at, ps->end));
}

/* Digits of `base` with single underscores between them, from ps->p.
 * Accumulates into *value (setting *overflow past `limit`) and counts
 * the digits. */
static int scan_digits(parser *ps, unsigned base, uint64_t limit, uint64_t *value, bool *overflow,
                       unsigned *count)
{
    const char *p = ps->p;
    uint64_t v = 0;
    unsigned n = 0;
    for (; p < ps->end; p++) {
        int d = hex_value(*p);
        if (d < 0 || (unsigned)d >= base) {
            if (*p == '_') {
                int next = p + 1 < ps->end ? hex_value(p[1]) : -1;
                if (n == 0 || p[-1] == '_' || next < 0 || (unsigned)next >= base) {
                    return fail_at(ps, p, "an underscore in a number must be between two digits");
                }
                continue;
            }
            if (d >= 0 && base < 10 && d < 10) {
                return fail_at(ps, p, "'%c' is not a digit in base %u", *p, base);
            }
            break;
        }
        uint64_t next;
        if (__builtin_mul_overflow(v, base, &next) ||
            __builtin_add_overflow(next, (uint64_t)d, &next) || next > limit) {
            *overflow = true;
        } else {
            v = next;
        }
        n++;
    }
    if (n == 0) {
        return fail_unexpected(ps, p, "a digit");
    }
    ps->p = p;
    *value = v;
    *count = n;
    return 0;
}

/* If the eight bytes at p are all digits, their value.  SWAR: check every
 * byte is 0x30-0x39, then combine neighbours: pairs, quads, the eight
 * (little-endian order; elsewhere the caller's byte loop does it). */
static bool eight_digits(const char *p, uint64_t *value)
{
#ifdef FIRST_FLAGGED
    const uint64_t high_nibbles = 0xF0F0F0F0F0F0F0F0u, zeros = 0x3030303030303030u;
    uint64_t v = load8(p);
    if ((v & high_nibbles) != zeros || ((v + 0x0606060606060606u) & high_nibbles) != zeros) {
        return false;
    }
    v -= zeros;
    v = (v * 10u + (v >> 8)) & 0x00FF00FF00FF00FFu;   /* 2-digit groups */
    v = (v * 100u + (v >> 16)) & 0x0000FFFF0000FFFFu; /* 4-digit groups */
    *value = (v * 10000u + (v >> 32)) & 0xFFFFFFFFu;
    return true;
#else
    (void)p;
    (void)value;
    return false;
#endif
}

/* The common case of scan_digits(): up to 18 digits and no underscore,
 * which cannot overflow.  False (nothing consumed) for anything else. */
static bool scan_plain_decimal(parser *ps, uint64_t *value, unsigned *count)
{
    const char *start = ps->p;
    const char *stop = ps->end - start > 18 ? start + 18 : ps->end;
    const char *p = start;
    uint64_t v = 0;
    if (stop - p >= 8 && eight_digits(p, &v)) {
        p += 8;
    }
    while (p < stop && is_digit(*p)) {
        v = v * 10u + (uint64_t)(*p - '0');
        p++;
    }
    if (p == start || (p < ps->end && (is_digit(*p) || *p == '_'))) {
        return false;
    }
    ps->p = p;
    *value = v;
    *count = (unsigned)(p - start);
    return true;
}

/* strtod() in the C locale on [s, e) without underscores. */
static int convert_float(parser *ps, const char *s, const char *e, double *out)
{
    char small[64];
    size_t len = (size_t)(e - s);
    char *buf = len < sizeof small ? small : arena_alloc(&ps->doc->nodes, len + 1u);
    if (buf == NULL) {
        return fail_oom(ps);
    }
    size_t o = 0;
    for (const char *p = s; p < e; p++) {
        if (*p != '_') {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c_locale == (locale_t)0) {
        return fail_oom(ps);
    }
    locale_t old = uselocale(c_locale);
    errno = 0;
    *out = strtod(buf, NULL);
    int saved = errno;
    uselocale(old);
    freelocale(c_locale);
    if (saved == ERANGE && isinf(*out)) {
        return fail_at(ps, s, "float is out of range for a 64-bit float");
    }
    return 0;
}

static int parse_inf_nan(parser *ps, toml_node *n, const char *start, const char *p, bool neg)
{
    bool inf = ps->end - p >= 3 && memcmp(p, "inf", 3) == 0;
    bool nan = ps->end - p >= 3 && memcmp(p, "nan", 3) == 0;
    if ((!inf && !nan) || !value_ends_at(ps, p + 3)) {
        return fail_at(ps, start, "invalid value (did you mean inf or nan?)");
    }
    set_kind(n, KIND_FLOAT);
    n->v.number = inf ? (neg ? -INFINITY : INFINITY) : (neg ? -NAN : NAN);
    ps->p = p + 3;
    return 0;
}

/* 0x..., 0o..., 0b...: ps->p at the 0. */
static int parse_prefixed(parser *ps, toml_node *n)
{
    const char *start = ps->p;
    unsigned base = start[1] == 'x' ? 16 : start[1] == 'o' ? 8 : 2;
    ps->p += 2;
    uint64_t v;
    bool overflow = false;
    unsigned count;
    if (scan_digits(ps, base, (uint64_t)INT64_MAX, &v, &overflow, &count) != 0) {
        return -1;
    }
    if (!value_ends_at(ps, ps->p)) {
        return fail_bad_number(ps, ps->p);
    }
    if (overflow) {
        return fail_at(ps, start, "integer does not fit in 64 bits (max 0x7FFFFFFFFFFFFFFF)");
    }
    set_kind(n, KIND_INTEGER);
    n->v.integer = (int64_t)v;
    return 0;
}

/* Decimal integer or float; ps->p at the first digit, `start` at the sign. */
static int parse_decimal(parser *ps, toml_node *n, const char *start, bool neg)
{
    const char *digits = ps->p;
    uint64_t v, ignored;
    bool overflow = false, is_float = false, frac_overflow = false;
    unsigned count;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    if (!scan_plain_decimal(ps, &v, &count) &&
        scan_digits(ps, 10, limit, &v, &overflow, &count) != 0) {
        return -1;
    }
    if (*digits == '0' && count > 1) {
        return fail_at(ps, digits, "leading zeros are not allowed in decimal numbers");
    }
    if (at_char(ps, '.')) {
        ps->p++;
        is_float = true;
        if (scan_digits(ps, 10, UINT64_MAX, &ignored, &frac_overflow, &count) != 0) {
            return -1;
        }
    }
    if (at_char(ps, 'e') || at_char(ps, 'E')) {
        ps->p++;
        if (at_char(ps, '+') || at_char(ps, '-')) {
            ps->p++;
        }
        is_float = true;
        if (scan_digits(ps, 10, UINT64_MAX, &ignored, &frac_overflow, &count) != 0) {
            return -1;
        }
    }
    if (!value_ends_at(ps, ps->p)) {
        return fail_bad_number(ps, ps->p);
    }
    if (is_float) {
        set_kind(n, KIND_FLOAT);
        return convert_float(ps, start, ps->p, &n->v.number);
    }
    if (overflow) {
        return fail_at(ps, start, "integer does not fit in 64 bits (%s)",
                       neg ? "min -9223372036854775808" : "max 9223372036854775807");
    }
    set_kind(n, KIND_INTEGER);
    n->v.integer = neg ? (v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

/* ---- dates and times ---- */

static bool digits_at(const char *p, const char *end, int count)
{
    if (end - p < count) {
        return false;
    }
    for (int i = 0; i < count; i++) {
        if (!is_digit(p[i])) {
            return false;
        }
    }
    return true;
}

static bool looks_like_date(const char *p, const char *end)
{
    return digits_at(p, end, 4) && end - p > 4 && p[4] == '-';
}

static bool looks_like_time(const char *p, const char *end)
{
    return digits_at(p, end, 2) && end - p > 2 && p[2] == ':';
}

/* Two digits at ps->p, a number from 0 to `max`, then `sep` (if not 0). */
static int take_2digits(parser *ps, unsigned min, unsigned max, char sep, const char *field,
                        unsigned *out)
{
    const char *p = ps->p;
    if (!digits_at(p, ps->end, 2)) {
        return fail_at(ps, p, "%s must be two digits", field);
    }
    unsigned v = (unsigned)(p[0] - '0') * 10u + (unsigned)(p[1] - '0');
    if (v < min || v > max) {
        return fail_at(ps, p, "%s %02u is out of range (%02u-%02u)", field, v, min, max);
    }
    if (sep != 0 && (ps->end - p < 3 || p[2] != sep)) {
        char what[80];
        return fail_at(ps, p + 2, "expected '%c' after the %s, found %s", sep, field,
                       describe_char(what, sizeof what, p + 2, ps->end));
    }
    ps->p = p + (sep != 0 ? 3 : 2);
    *out = v;
    return 0;
}

static bool is_leap_year(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned year, unsigned month)
{
    static const unsigned char days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

/* YYYY-MM-DD at ps->p (four digits and '-' already seen). */
static int parse_date_part(parser *ps, toml_datetime *dt)
{
    const char *p = ps->p;
    unsigned year = (unsigned)(p[0] - '0') * 1000u + (unsigned)(p[1] - '0') * 100u +
                    (unsigned)(p[2] - '0') * 10u + (unsigned)(p[3] - '0');
    unsigned month, day;
    ps->p = p + 5;
    if (take_2digits(ps, 1, 12, '-', "month", &month) != 0) {
        return -1;
    }
    const char *day_at = ps->p;
    if (take_2digits(ps, 1, 31, 0, "day", &day) != 0) {
        return -1;
    }
    if (day > days_in_month(year, month)) {
        return fail_at(ps, day_at, "day %02u is out of range: %04u-%02u has %u days", day, year,
                       month, days_in_month(year, month));
    }
    dt->year = (int16_t)year;
    dt->month = (uint8_t)month;
    dt->day = (uint8_t)day;
    return 0;
}

/* HH:MM:SS[.fraction] at ps->p. */
static int parse_time_part(parser *ps, toml_datetime *dt)
{
    unsigned hour, minute, second;
    if (take_2digits(ps, 0, 23, ':', "hour", &hour) != 0 ||
        take_2digits(ps, 0, 59, 0, "minute", &minute) != 0) {
        return -1;
    }
    if (!at_char(ps, ':')) {
        return fail_unexpected(ps, ps->p, "':' and seconds (TOML 1.0 times are HH:MM:SS)");
    }
    ps->p++;
    if (take_2digits(ps, 0, 60, 0, "second", &second) != 0) {
        return -1;
    }
    dt->hour = (uint8_t)hour;
    dt->minute = (uint8_t)minute;
    dt->second = (uint8_t)second;
    if (!at_char(ps, '.')) {
        return 0;
    }
    const char *p = ++ps->p;
    uint32_t ns = 0;
    unsigned kept = 0;
    for (; p < ps->end && is_digit(*p); p++) {
        if (kept < 9) {
            ns = ns * 10u + (uint32_t)(*p - '0');
            kept++;
        }
    }
    if (kept == 0) {
        return fail_unexpected(ps, p, "digits after the decimal point of the seconds");
    }
    for (unsigned i = kept; i < 9; i++) {
        ns *= 10u;
    }
    dt->frac_digits = (uint8_t)kept;
    dt->nanosecond = ns;
    ps->p = p;
    return 0;
}

/* Z, z or +HH:MM / -HH:MM after a date-time, if present. */
static int parse_offset(parser *ps, toml_node *n, toml_datetime *dt)
{
    if (at_char(ps, 'Z') || at_char(ps, 'z')) {
        ps->p++;
        set_kind(n, KIND_DATETIME);
        return 0;
    }
    if (!at_char(ps, '+') && !at_char(ps, '-')) {
        set_kind(n, KIND_DATETIME_LOCAL);
        return 0;
    }
    int sign = *ps->p++ == '-' ? -1 : 1;
    unsigned hours, minutes;
    if (take_2digits(ps, 0, 23, ':', "offset hour", &hours) != 0 ||
        take_2digits(ps, 0, 59, 0, "offset minute", &minutes) != 0) {
        return -1;
    }
    dt->offset_minutes = (int16_t)(sign * (int)(hours * 60u + minutes));
    set_kind(n, KIND_DATETIME);
    return 0;
}

static int parse_datetime(parser *ps, toml_node *n, bool time_only)
{
    const char *start = ps->p;
    toml_datetime *dt = arena_alloc(&ps->doc->nodes, sizeof *dt);
    if (dt == NULL) {
        return fail_oom(ps);
    }
    memset(dt, 0, sizeof *dt);
    n->v.datetime = dt;
    if (time_only) {
        if (parse_time_part(ps, dt) != 0) {
            return -1;
        }
        set_kind(n, KIND_TIME_LOCAL);
    } else {
        if (parse_date_part(ps, dt) != 0) {
            return -1;
        }
        const char *p = ps->p;
        bool with_time = p < ps->end &&
                         (*p == 'T' || *p == 't' || (*p == ' ' && looks_like_time(p + 1, ps->end)));
        if (with_time) {
            ps->p++;
            if (parse_time_part(ps, dt) != 0 || parse_offset(ps, n, dt) != 0) {
                return -1;
            }
        } else {
            set_kind(n, KIND_DATE_LOCAL);
        }
    }
    if (!value_ends_at(ps, ps->p)) {
        char what[80];
        return fail_at(ps, ps->p, "%s is not allowed after the date/time starting at column %u",
                       describe_char(what, sizeof what, ps->p, ps->end), pos_at(ps, start).col);
    }
    return 0;
}

/* Numbers, inf/nan, dates and times: ps->p at a sign, digit, 'i' or 'n'. */
static int parse_number_or_date(parser *ps, toml_node *n)
{
    const char *start = ps->p;
    const char *p = start;
    bool neg = false, sign = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        sign = true;
        p++;
    }
    if (p < ps->end && (*p == 'i' || *p == 'n')) {
        return parse_inf_nan(ps, n, start, p, neg);
    }
    if (p == ps->end || !is_digit(*p)) {
        return fail_bad_number(ps, p);
    }
    bool prefixed = *p == '0' && ps->end - p > 1 && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b');
    if (sign && prefixed) {
        return fail_at(ps, start, "hex, octal and binary integers cannot have a sign");
    }
    if (!sign && looks_like_date(p, ps->end)) {
        return parse_datetime(ps, n, false);
    }
    if (!sign && looks_like_time(p, ps->end)) {
        return parse_datetime(ps, n, true);
    }
    ps->p = p;
    if (prefixed) {
        return parse_prefixed(ps, n);
    }
    return parse_decimal(ps, n, start, neg);
}

/* ---- values ---- */

static int parse_string_value(parser *ps, toml_node *n)
{
    set_kind(n, KIND_STRING);
    if (at_triple_quote(ps)) {
        return parse_multiline_string(ps, &n->v.str, &n->len);
    }
    return parse_single_line_string(ps, &n->v.str, &n->len);
}

static int parse_bool(parser *ps, toml_node *n)
{
    const char *p = ps->p;
    bool t = ps->end - p >= 4 && memcmp(p, "true", 4) == 0;
    bool f = ps->end - p >= 5 && memcmp(p, "false", 5) == 0;
    const char *after = p + (t ? 4 : 5);
    if ((!t && !f) || !value_ends_at(ps, after)) {
        return fail_at(ps, p,
                       "invalid value (booleans are lowercase true and false; strings "
                       "need quotes)");
    }
    set_kind(n, KIND_BOOLEAN);
    n->v.boolean = t;
    ps->p = after;
    return 0;
}

static int check_depth(parser *ps, unsigned depth)
{
    if (depth > TOML_MAX_DEPTH) {
        return fail_at(ps, ps->p, "nesting is deeper than %d levels", TOML_MAX_DEPTH);
    }
    return 0;
}

static int parse_array(parser *ps, toml_node *n, unsigned depth)
{
    if (check_depth(ps, depth) != 0) {
        return -1;
    }
    n->key_len_depth = (n->key_len_depth & ~255u) | depth;
    set_kind(n, KIND_ARRAY_STATIC);
    n->v.items = NULL;
    ps->p++;
    for (;;) {
        if (skip_array_space(ps) != 0) {
            return -1;
        }
        if (at_char(ps, ']')) {
            ps->p++;
            return 0;
        }
        toml_node *item = new_node(ps, NULL, KIND_BOOLEAN, 0);
        if (item == NULL) {
            return -1;
        }
        if (container_append(ps->doc, n, item) != 0) {
            return fail_oom(ps);
        }
        if (parse_value(ps, item, depth) != 0 || skip_array_space(ps) != 0) {
            return -1;
        }
        if (at_char(ps, ',')) {
            ps->p++;
        } else if (!at_char(ps, ']')) {
            return fail_unexpected(ps, ps->p, "',' or ']' after an array element");
        }
    }
}

static int parse_inline_table(parser *ps, toml_node *n, unsigned depth)
{
    if (check_depth(ps, depth) != 0) {
        return -1;
    }
    n->key_len_depth = (n->key_len_depth & ~255u) | depth;
    set_kind(n, KIND_TABLE_DEFINED); /* open to its own dotted keys until '}' */
    n->v.items = NULL;
    ps->p++;
    skip_blank(ps);
    if (at_char(ps, '}')) {
        ps->p++;
        set_kind(n, KIND_TABLE_INLINE);
        return 0;
    }
    for (;;) {
        if (parse_keyval(ps, n) != 0) {
            return -1;
        }
        skip_blank(ps);
        if (at_char(ps, '}')) {
            ps->p++;
            set_kind(n, KIND_TABLE_INLINE);
            return 0;
        }
        if (!at_char(ps, ',')) {
            return fail_unexpected(ps, ps->p,
                                   "',' or '}' in an inline table (which must fit on one line)");
        }
        const char *comma = ps->p++;
        skip_blank(ps);
        if (at_char(ps, '}')) {
            return fail_at(ps, comma, "trailing comma is not allowed in an inline table");
        }
    }
}

/* Any value at ps->p into the placeholder `n`, whose container is at
 * `parent_depth`. */
static int parse_value(parser *ps, toml_node *n, unsigned parent_depth)
{
    set_pos(n, pos_at(ps, ps->p));
    if (ps->p == ps->end) {
        return fail_unexpected(ps, ps->p, "a value");
    }
    switch (*ps->p) {
    case '"':
    case '\'':
        return parse_string_value(ps, n);
    case 't':
    case 'f':
        return parse_bool(ps, n);
    case '[':
        return parse_array(ps, n, parent_depth + 1u);
    case '{':
        return parse_inline_table(ps, n, parent_depth + 1u);
    case '+':
    case '-':
    case 'i':
    case 'n':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return parse_number_or_date(ps, n);
    default:
        return fail_unexpected(ps, ps->p, "a value");
    }
}

/* ---- table headers ---- */

/* Step through `key` of a header path into its table: tables of any origin
 * but inline, and the last element of an array of tables. */
static toml_node *descend_header(parser *ps, toml_node *table, const key_ref *key)
{
    toml_node *child = table_lookup(table, key->ptr, key->len);
    if (child == NULL) {
        return add_container(ps, table, key, KIND_TABLE_IMPLICIT);
    }
    unsigned kind = node_kind(child);
    if (kind_is_table(kind) && kind != KIND_TABLE_INLINE) {
        return child;
    }
    if (kind == KIND_ARRAY_TABLES && child->len > 0) {
        return child->v.items[child->len - 1u];
    }
    char name[64], where[48];
    fail_pos(ps, key->pos, "cannot use %s as a table in a header: it is %s%s",
             describe_key(name, sizeof name, key->ptr, key->len), kind_name(kind),
             defined_at(where, sizeof where, child));
    return NULL;
}

/* The table that [header] names: new, or implicit until now. */
static toml_node *define_table(parser *ps, toml_node *parent, const key_ref *key, src_pos at)
{
    toml_node *child = table_lookup(parent, key->ptr, key->len);
    if (child == NULL) {
        child = add_container(ps, parent, key, KIND_TABLE_DEFINED);
    } else if (node_kind(child) == KIND_TABLE_IMPLICIT) {
        set_kind(child, KIND_TABLE_DEFINED);
    } else {
        char name[64], where[48];
        unsigned kind = node_kind(child);
        describe_key(name, sizeof name, key->ptr, key->len);
        defined_at(where, sizeof where, child);
        if (kind == KIND_TABLE_DEFINED) {
            fail_pos(ps, at, "table %s is defined twice%s", name, where);
        } else if (kind == KIND_TABLE_DOTTED) {
            fail_pos(ps, at, "table %s was already created by dotted keys%s", name, where);
        } else {
            fail_pos(ps, at, "cannot define %s as a table: it is already %s%s", name,
                     kind_name(kind), where);
        }
        return NULL;
    }
    if (child != NULL) {
        set_pos(child, at);
    }
    return child;
}

/* Hand the pending (now complete) last element of `array` to the caller.
 * When it is dropped and nothing but it was allocated since it began - no
 * other header in between, no decoded key in the header being read - its
 * memory is given back. */
static void harvest_pending(parser *ps, toml_node *array)
{
    harvest *hv = ps->hv;
    if (!hv->pending) {
        return;
    }
    hv->pending = false;
    toml_node *element = array->v.items[array->len - 1u];
    if (hv->fn(element, hv->handed++, hv->ctx)) {
        return;
    }
    array->len--;
    toml_doc *doc = ps->doc;
    if (hv->clean && arena_unchanged_since(&doc->nodes, hv->header_nodes) &&
        arena_unchanged_since(&doc->items, hv->header_items)) {
        arena_rewind(&doc->nodes, hv->nodes_mark);
        arena_rewind(&doc->items, hv->items_mark);
    }
}

/* A new element of the array of tables that [[header]] names. */
static toml_node *define_array_element(parser *ps, toml_node *parent, const key_ref *key,
                                       src_pos at)
{
    toml_node *array = table_lookup(parent, key->ptr, key->len);
    if (array == NULL) {
        array = add_container(ps, parent, key, KIND_ARRAY_TABLES);
        if (array == NULL) {
            return NULL;
        }
        set_pos(array, at);
    } else if (node_kind(array) != KIND_ARRAY_TABLES) {
        char name[64], where[48];
        fail_pos(ps, at, "cannot append to %s with [[...]]: it is %s%s",
                 describe_key(name, sizeof name, key->ptr, key->len), kind_name(node_kind(array)),
                 defined_at(where, sizeof where, array));
        return NULL;
    }
    key_ref none = {NULL, 0, at, false};
    harvest *hv = ps->hv;
    if (hv == NULL || parent != &ps->doc->root || !key_equals(array, hv->key, hv->key_len)) {
        return add_container(ps, array, &none, KIND_TABLE_DEFINED);
    }
    harvest_pending(ps, array);
    /* Marks before the element and its slot in the array: when it is
     * dropped, the array is back to the length it had, and the next
     * append takes the same slot again (or, when the slot needed a bigger
     * block, asks for the same block at the same place) instead of
     * copying the array of kept elements once per dropped one. */
    hv->nodes_mark = arena_get_mark(&ps->doc->nodes);
    hv->items_mark = arena_get_mark(&ps->doc->items);
    toml_node *element = add_container(ps, array, &none, KIND_TABLE_DEFINED);
    hv->pending = element != NULL;
    hv->clean = true;
    return element;
}

static bool same_key(const key_ref *key, const char *name, size_t len)
{
    return key->len == len && (len == 0 || memcmp(key->ptr, name, len) == 0);
}

/* [a.b.c] or [[a.b.c]]: ps->p at the first '['. */
static int parse_header(parser *ps)
{
    const src_pos at = pos_at(ps, ps->p);
    const bool array = ps->end - ps->p >= 2 && ps->p[1] == '[';
    ps->p += array ? 2 : 1;
    skip_blank(ps);
    toml_node *table = &ps->doc->root;
    key_ref key;
    if (ps->hv != NULL) {
        ps->hv->header_nodes = arena_get_mark(&ps->doc->nodes);
        ps->hv->header_items = arena_get_mark(&ps->doc->items);
    }
    if (parse_simple_key(ps, &key) != 0) {
        return -1;
    }
    if (ps->hv != NULL && !same_key(&key, ps->hv->key, ps->hv->key_len)) {
        ps->hv->clean = false; /* a table outside the harvested array */
    }
    if ((table = walk_dotted_key(ps, table, &key, descend_header)) == NULL) {
        return -1;
    }
    if (!at_char(ps, ']') || (array && (ps->end - ps->p < 2 || ps->p[1] != ']'))) {
        return fail_unexpected(ps, ps->p,
                               array ? "']]' to close the header"
                                     : "']' to close "
                                       "the header");
    }
    ps->p += array ? 2 : 1;
    table = array ? define_array_element(ps, table, &key, at) : define_table(ps, table, &key, at);
    if (table == NULL) {
        return -1;
    }
    ps->table = table;
    return 0;
}

/* ---- document ---- */

/* After a key/value or header: blank, an optional comment, then a newline
 * or the end of the input. */
static int finish_line(parser *ps, const char *after)
{
    if (at_char(ps, '\n')) { /* the usual case */
        note_newline(ps, ++ps->p);
        return 0;
    }
    bool newline;
    if (take_line_end(ps, &newline) != 0) {
        return -1;
    }
    if (!newline && ps->p != ps->end) {
        char what[80];
        return fail_at(ps, ps->p, "expected a newline after %s, found %s", after,
                       describe_char(what, sizeof what, ps->p, ps->end));
    }
    return 0;
}

static int parse_document(parser *ps)
{
    for (;;) {
        skip_blank(ps);
        if (ps->p == ps->end) {
            return 0;
        }
        char c = *ps->p;
        bool newline;
        if (c == '\n' || c == '\r') {
            if (take_newline(ps, &newline) != 0) {
                return -1;
            }
        } else if (c == '#') {
            if (parse_comment(ps) != 0 || finish_line(ps, "a comment") != 0) {
                return -1;
            }
        } else if (c == '[') {
            if (parse_header(ps) != 0 || finish_line(ps, "a table header") != 0) {
                return -1;
            }
        } else if (parse_keyval(ps, ps->table) != 0 || finish_line(ps, "a value") != 0) {
            return -1;
        }
    }
}

static void doc_init(toml_doc *doc)
{
    memset(doc, 0, sizeof *doc);
    node_init(&doc->root, NULL, 0, false, KIND_TABLE_DEFINED, 0);
}

/* At the end of the input: hand over what is left of the harvested array -
 * the last element of [[key]], or every element of a `key = [...]` array
 * (which no header can complete earlier). */
static void harvest_rest(parser *ps)
{
    harvest *hv = ps->hv;
    toml_node *array = table_lookup(&ps->doc->root, hv->key, hv->key_len);
    if (array == NULL || !is_array(array)) {
        return;
    }
    uint32_t start = node_kind(array) == KIND_ARRAY_TABLES ? array->len - hv->pending : 0u;
    uint32_t kept = start;
    for (uint32_t i = start; i < array->len; i++) {
        toml_node *element = array->v.items[i];
        if (hv->fn(element, hv->handed++, hv->ctx)) {
            array->v.items[kept++] = element;
        }
    }
    array->len = kept;
    hv->pending = false;
}

int toml_parse(const char *data, size_t len, toml_doc **out, toml_error *err)
{
    return toml_parse_harvest(data, len, NULL, 0, NULL, NULL, out, err);
}

int toml_parse_harvest(const char *data, size_t len, const char *key, size_t key_len,
                       toml_harvest_fn fn, void *ctx, toml_doc **out, toml_error *err)
{
    toml_error scratch;
    if (err == NULL) {
        err = &scratch;
    }
    memset(err, 0, sizeof *err);
    *out = NULL;
    if (len > TOML_MAX_INPUT) {
        snprintf(err->message, sizeof err->message, "input is larger than %u bytes",
                 TOML_MAX_INPUT);
        return -1;
    }
    toml_doc *doc = malloc(sizeof *doc);
    if (doc == NULL) {
        err->oom = true;
        snprintf(err->message, sizeof err->message, "out of memory");
        return -1;
    }
    doc_init(doc);
    if (data == NULL) {
        data = "";
        len = 0;
    }
    harvest hv = {.key = key, .key_len = key_len, .fn = fn, .ctx = ctx};
    parser ps = {data, data + len, data, 1, doc, err, &doc->root, fn != NULL ? &hv : NULL};
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        ps.p += 3;
    }
    if (parse_document(&ps) != 0) {
        toml_free(doc);
        return -1;
    }
    if (ps.hv != NULL) {
        harvest_rest(&ps);
    }
    *out = doc;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Documents, accessors and builders.                                        */
/* ------------------------------------------------------------------------ */

toml_doc *toml_new(void)
{
    toml_doc *doc = malloc(sizeof *doc);
    if (doc != NULL) {
        doc_init(doc);
    }
    return doc;
}

void toml_free(toml_doc *doc)
{
    if (doc == NULL) {
        return;
    }
    arena_free(&doc->nodes);
    arena_free(&doc->items);
    free(doc);
}

toml_node *toml_root(const toml_doc *doc)
{
    return doc == NULL ? NULL : (toml_node *)&doc->root;
}

toml_type toml_node_type(const toml_node *node)
{
    return kind_type[node_kind(node)];
}

unsigned toml_node_line(const toml_node *node)
{
    return node->line;
}

unsigned toml_node_col(const toml_node *node)
{
    return node_col(node);
}

size_t toml_table_len(const toml_node *table)
{
    return is_table(table) ? table->len : 0;
}

toml_node *toml_table_at(const toml_node *table, size_t index, const char **key, size_t *key_len)
{
    if (!is_table(table) || index >= table->len) {
        return NULL;
    }
    toml_node *n = table->v.items[index];
    if (key != NULL) {
        *key = n->key;
    }
    if (key_len != NULL) {
        *key_len = node_key_len(n);
    }
    return n;
}

toml_node *toml_table_get(const toml_node *table, const char *key, size_t key_len)
{
    if (!is_table(table) || (key == NULL && key_len > 0)) {
        return NULL;
    }
    return table_lookup(table, key, key_len);
}

size_t toml_array_len(const toml_node *array)
{
    return is_array(array) ? array->len : 0;
}

toml_node *toml_array_at(const toml_node *array, size_t index)
{
    if (!is_array(array) || index >= array->len) {
        return NULL;
    }
    return array->v.items[index];
}

const char *toml_string(const toml_node *node, size_t *len)
{
    bool ok = node != NULL && node_kind(node) == KIND_STRING;
    if (len != NULL) {
        *len = ok ? node->len : 0;
    }
    return ok ? node->v.str : NULL;
}

int64_t toml_integer(const toml_node *node)
{
    return node != NULL && node_kind(node) == KIND_INTEGER ? node->v.integer : 0;
}

double toml_float(const toml_node *node)
{
    return node != NULL && node_kind(node) == KIND_FLOAT ? node->v.number : 0.0;
}

bool toml_boolean(const toml_node *node)
{
    return node != NULL && node_kind(node) == KIND_BOOLEAN && node->v.boolean;
}

const toml_datetime *toml_datetime_get(const toml_node *node)
{
    if (node == NULL || node_kind(node) < KIND_DATETIME) {
        return NULL;
    }
    return node->v.datetime;
}

/* Copy `len` bytes into the arena (never NULL for len 0, so that keys
 * always point somewhere). */
static const char *arena_copy(arena *a, const char *s, size_t len)
{
    char *copy = arena_alloc(a, len > 0 ? len : 1u);
    if (copy != NULL && len > 0) {
        memcpy(copy, s, len);
    }
    return copy;
}

/* A new child `key` of `table` of `kind`, or NULL (duplicate, bad key, too
 * deep, out of memory) leaving the document as it was. */
static toml_node *build_child(toml_doc *doc, toml_node *table, const char *key, size_t key_len,
                              unsigned kind)
{
    if (doc == NULL || !is_table(table) || (key == NULL && key_len > 0) || key_len > KEY_LEN_MAX ||
        !utf8_valid(key, key_len) || table_find(table, key, key_len) != NOT_FOUND) {
        return NULL;
    }
    unsigned depth = 0;
    if (kind_is_table(kind) || kind_is_array(kind)) {
        depth = node_depth(table) + 1u;
        if (depth > TOML_MAX_DEPTH) {
            return NULL;
        }
    }
    const char *copy = arena_copy(&doc->nodes, key, key_len);
    toml_node *n = copy == NULL ? NULL : arena_alloc(&doc->nodes, sizeof *n);
    if (n == NULL) {
        return NULL;
    }
    node_init(n, copy, (uint32_t)key_len, is_bare_key(copy, key_len), kind, depth);
    if (container_append(doc, table, n) != 0) {
        return NULL;
    }
    return n;
}

toml_node *toml_table_add_table(toml_doc *doc, toml_node *table, const char *key, size_t key_len)
{
    return build_child(doc, table, key, key_len, KIND_TABLE_DEFINED);
}

toml_node *toml_table_add_array(toml_doc *doc, toml_node *table, const char *key, size_t key_len)
{
    return build_child(doc, table, key, key_len, KIND_ARRAY_STATIC);
}

int toml_table_add_string(toml_doc *doc, toml_node *table, const char *key, size_t key_len,
                          const char *value, size_t value_len)
{
    if ((value == NULL && value_len > 0) || value_len > TOML_MAX_INPUT ||
        !utf8_valid(value, value_len)) {
        return -1;
    }
    toml_node *n = build_child(doc, table, key, key_len, KIND_STRING);
    if (n == NULL) {
        return -1;
    }
    const char *copy = arena_copy(&doc->nodes, value, value_len);
    if (copy == NULL) {
        container_remove(table, table->len - 1u);
        return -1;
    }
    n->v.str = copy;
    n->len = (uint32_t)value_len;
    return 0;
}

int toml_table_add_integer(toml_doc *doc, toml_node *table, const char *key, size_t key_len,
                           int64_t value)
{
    toml_node *n = build_child(doc, table, key, key_len, KIND_INTEGER);
    if (n == NULL) {
        return -1;
    }
    n->v.integer = value;
    return 0;
}

int toml_table_remove(toml_node *table, const char *key, size_t key_len)
{
    if (!is_table(table) || (key == NULL && key_len > 0)) {
        return -1;
    }
    uint32_t index = table_find(table, key, key_len);
    if (index == NOT_FOUND) {
        return -1;
    }
    container_remove(table, index);
    return 0;
}

toml_node *toml_array_append_table(toml_doc *doc, toml_node *array)
{
    if (doc == NULL || !is_array(array) || node_depth(array) + 1u > TOML_MAX_DEPTH) {
        return NULL;
    }
    toml_node *n = arena_alloc(&doc->nodes, sizeof *n);
    if (n == NULL) {
        return NULL;
    }
    node_init(n, NULL, 0, false, KIND_TABLE_DEFINED, node_depth(array) + 1u);
    if (container_append(doc, array, n) != 0) {
        return NULL;
    }
    return n;
}

void toml_array_remove(toml_node *array, size_t index)
{
    if (is_array(array) && index < array->len) {
        container_remove(array, (uint32_t)index);
    }
}

size_t toml_array_retain(toml_node *array, toml_keep_fn keep, const void *ctx)
{
    if (!is_array(array)) {
        return 0;
    }
    uint32_t kept = 0;
    for (uint32_t i = 0; i < array->len; i++) {
        if (keep(array->v.items[i], ctx)) {
            array->v.items[kept++] = array->v.items[i];
        }
    }
    size_t removed = array->len - kept;
    array->len = kept;
    return removed;
}

/* ------------------------------------------------------------------------ */
/* Writer.                                                                   */
/* ------------------------------------------------------------------------ */

#define WRITE_CHUNK (64u * 1024u)

typedef struct toml_emitter writer;
struct toml_emitter {
    char *buf;
    size_t len;
    size_t cap;
    toml_sink_fn sink; /* NULL: collect everything in buf (toml_write_alloc) */
    void *ctx;
    bool failed;
    bool started; /* something was written: headers need a blank line */
    unsigned path_len;
    const toml_node *path[TOML_MAX_DEPTH + 1]; /* tables/arrays from the root */
};

/* Make room: hand the buffer to the sink, or grow it when collecting. */
static bool w_flush(writer *w)
{
    if (w->failed) {
        return false;
    }
    if (w->sink != NULL) {
        if (w->len > 0 && w->sink(w->buf, w->len, w->ctx) != 0) {
            w->failed = true;
            return false;
        }
        w->len = 0;
        return true;
    }
    char *bigger = w->cap <= SIZE_MAX / 2 ? realloc(w->buf, w->cap * 2) : NULL;
    if (bigger == NULL) {
        w->failed = true;
        return false;
    }
    w->buf = bigger;
    w->cap *= 2;
    return true;
}

/* Room for `n` bytes (n <= WRITE_CHUNK), or NULL once writing failed. */
static char *w_reserve(writer *w, size_t n)
{
    while (w->cap - w->len < n) {
        if (!w_flush(w)) {
            return NULL;
        }
    }
    return w->failed ? NULL : w->buf + w->len;
}

static void w_put_slow(writer *w, const char *s, size_t n)
{
    while (n > 0 && !w->failed) {
        if (w->len == w->cap && !w_flush(w)) {
            return;
        }
        size_t chunk = w->cap - w->len < n ? w->cap - w->len : n;
        memcpy(w->buf + w->len, s, chunk);
        w->len += chunk;
        s += chunk;
        n -= chunk;
    }
}

/* Inline so that the many short, constant-length pieces are plain stores. */
static inline void w_put(writer *w, const char *s, size_t n)
{
    if (n <= w->cap - w->len) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    } else {
        w_put_slow(w, s, n);
    }
}

static inline void w_char(writer *w, char c)
{
    if (w->len < w->cap) {
        w->buf[w->len++] = c;
    } else {
        w_put_slow(w, &c, 1);
    }
}

#define w_literal(w, s) w_put((w), (s), sizeof(s) - 1u)

static void w_escape(writer *w, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char *p = w_reserve(w, 6);
    if (p == NULL) {
        return;
    }
    p[0] = '\\';
    char letter = escape_letter((char)c);
    if (letter != 0) {
        p[1] = letter;
        w->len += 2;
    } else {
        memcpy(p + 1, "u00", 3);
        p[4] = hex[c >> 4];
        p[5] = hex[c & 15u];
        w->len += 6;
    }
}

static void w_string(writer *w, const char *s, size_t len)
{
    const char *end = s + len;
    w_char(w, '"');
    while (s < end) {
        const char *stop = skip_plain(s, end, '"', true, false); /* UTF-8 passes */
        w_put(w, s, (size_t)(stop - s));
        if (stop == end) {
            break;
        }
        w_escape(w, (unsigned char)*stop);
        s = stop + 1;
    }
    w_char(w, '"');
}

static void w_key(writer *w, const toml_node *n)
{
    size_t len = node_key_len(n);
    if ((n->col_kind & NODE_BARE_KEY) != 0) {
        w_put(w, n->key, len);
    } else {
        w_string(w, n->key, len);
    }
}

static void w_integer(writer *w, int64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? 0u - (uint64_t)v : (uint64_t)v;
    while (u >= 100u) { /* two digits per division */
        i -= 2;
        memcpy(tmp + i, pairs + u % 100u * 2u, 2);
        u /= 100u;
    }
    if (u >= 10u) {
        i -= 2;
        memcpy(tmp + i, pairs + u * 2u, 2);
    } else {
        tmp[--i] = (char)('0' + u);
    }
    if (v < 0) {
        tmp[--i] = '-';
    }
    w_put(w, tmp + i, sizeof tmp - i);
}

/* The shortest of %.15g..%.17g that reads back exactly, in the C locale,
 * with ".0" added when it would otherwise read as an integer. */
static void w_float(writer *w, double d)
{
    if (isnan(d)) {
        w_literal(w, "nan");
        return;
    }
    if (isinf(d)) {
        w_put(w, d < 0 ? "-inf" : "inf", d < 0 ? 4u : 3u);
        return;
    }
    char tmp[40];
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c_locale == (locale_t)0) {
        w->failed = true;
        return;
    }
    locale_t old = uselocale(c_locale);
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(tmp, sizeof tmp, "%.*g", digits, d);
        if (strtod(tmp, NULL) == d) {
            break;
        }
    }
    uselocale(old);
    freelocale(c_locale);
    w_put(w, tmp, strlen(tmp));
    if (strpbrk(tmp, ".e") == NULL) {
        w_literal(w, ".0");
    }
}

static void w_2digits(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10u);
    p[1] = (char)('0' + v % 10u);
}

static void w_datetime(writer *w, unsigned kind, const toml_datetime *dt)
{
    char tmp[48];
    size_t n = 0;
    if (kind != KIND_TIME_LOCAL) {
        unsigned year = (unsigned)dt->year;
        w_2digits(tmp, year / 100u % 100u);
        w_2digits(tmp + 2, year % 100u);
        tmp[4] = '-';
        w_2digits(tmp + 5, dt->month);
        tmp[7] = '-';
        w_2digits(tmp + 8, dt->day);
        n = 10;
        if (kind == KIND_DATE_LOCAL) {
            w_put(w, tmp, n);
            return;
        }
        tmp[n++] = 'T';
    }
    w_2digits(tmp + n, dt->hour);
    tmp[n + 2] = ':';
    w_2digits(tmp + n + 3, dt->minute);
    tmp[n + 5] = ':';
    w_2digits(tmp + n + 6, dt->second);
    n += 8;
    if (dt->frac_digits > 0) {
        unsigned digits = dt->frac_digits > 9 ? 9u : dt->frac_digits;
        uint32_t frac = dt->nanosecond;
        tmp[n++] = '.';
        for (unsigned i = digits; i < 9; i++) {
            frac /= 10u;
        }
        for (unsigned i = digits; i > 0; i--) {
            tmp[n + i - 1] = (char)('0' + frac % 10u);
            frac /= 10u;
        }
        n += digits;
    }
    if (kind == KIND_DATETIME) {
        int off = dt->offset_minutes;
        if (off == 0) {
            tmp[n++] = 'Z';
        } else {
            unsigned a = (unsigned)(off < 0 ? -off : off);
            tmp[n] = off < 0 ? '-' : '+';
            w_2digits(tmp + n + 1, a / 60u % 100u);
            tmp[n + 3] = ':';
            w_2digits(tmp + n + 4, a % 60u);
            n += 6;
        }
    }
    w_put(w, tmp, n);
}

static void w_value(writer *w, const toml_node *n);

static void w_inline_table(writer *w, const toml_node *t)
{
    if (t->len == 0) {
        w_literal(w, "{}");
        return;
    }
    w_literal(w, "{ ");
    for (uint32_t i = 0; i < t->len && !w->failed; i++) {
        if (i > 0) {
            w_literal(w, ", ");
        }
        w_key(w, t->v.items[i]);
        w_literal(w, " = ");
        w_value(w, t->v.items[i]);
    }
    w_literal(w, " }");
}

static void w_inline_array(writer *w, const toml_node *a)
{
    w_char(w, '[');
    for (uint32_t i = 0; i < a->len && !w->failed; i++) {
        if (i > 0) {
            w_literal(w, ", ");
        }
        w_value(w, a->v.items[i]);
    }
    w_char(w, ']');
}

/* A value on the right of '=' (or inside an inline array or table). */
static void w_value(writer *w, const toml_node *n)
{
    unsigned kind = node_kind(n);
    switch (kind) {
    case KIND_STRING:
        w_string(w, n->v.str, n->len);
        break;
    case KIND_INTEGER:
        w_integer(w, n->v.integer);
        break;
    case KIND_FLOAT:
        w_float(w, n->v.number);
        break;
    case KIND_BOOLEAN:
        if (n->v.boolean) {
            w_literal(w, "true");
        } else {
            w_literal(w, "false");
        }
        break;
    case KIND_ARRAY_STATIC:
    case KIND_ARRAY_TABLES:
        w_inline_array(w, n);
        break;
    case KIND_DATETIME:
    case KIND_DATETIME_LOCAL:
    case KIND_DATE_LOCAL:
    case KIND_TIME_LOCAL:
        w_datetime(w, kind, n->v.datetime);
        break;
    default:
        w_inline_table(w, n);
        break;
    }
}

/* Written as [[path]] sections: a non-empty array of tables only. */
static bool is_array_of_tables(const toml_node *n)
{
    if (!is_array(n) || n->len == 0) {
        return false;
    }
    for (uint32_t i = 0; i < n->len; i++) {
        if (!is_table(n->v.items[i])) {
            return false;
        }
    }
    return true;
}

static inline bool is_section(const toml_node *n)
{
    unsigned kind = node_kind(n);
    return kind_is_table(kind) || (kind_is_array(kind) && is_array_of_tables(n));
}

/* A table needs its own [header] if it has key/values, or nothing at all
 * (else it would vanish); one with only sub-sections is created by theirs. */
static bool needs_header(const toml_node *t)
{
    for (uint32_t i = 0; i < t->len; i++) {
        if (!is_section(t->v.items[i])) {
            return true;
        }
    }
    return t->len == 0;
}

static void w_header(writer *w, bool array)
{
    if (w->started) {
        w_char(w, '\n');
    }
    w->started = true;
    w_put(w, "[[", array ? 2u : 1u);
    for (unsigned i = 0; i < w->path_len; i++) {
        if (i > 0) {
            w_char(w, '.');
        }
        w_key(w, w->path[i]);
    }
    if (array) {
        w_literal(w, "]]\n");
    } else {
        w_literal(w, "]\n");
    }
}

static void w_table_body(writer *w, const toml_node *t, toml_skip_key_fn skip);

static void w_section(writer *w, const toml_node *n)
{
    w->path[w->path_len++] = n;
    if (is_table(n)) {
        if (needs_header(n)) {
            w_header(w, false);
        }
        w_table_body(w, n, NULL);
    } else {
        for (uint32_t i = 0; i < n->len && !w->failed; i++) {
            w_header(w, true);
            w_table_body(w, n->v.items[i], NULL);
        }
    }
    w->path_len--;
}

static bool skipped(const toml_node *n, toml_skip_key_fn skip)
{
    return skip != NULL && skip(n->key, node_key_len(n));
}

/* Key/values of `t` in order, then its sub-tables and arrays of tables;
 * with `skip`, only the entries of `t` for which it is false. */
static void w_table_body(writer *w, const toml_node *t, toml_skip_key_fn skip)
{
    for (uint32_t i = 0; i < t->len && !w->failed; i++) {
        const toml_node *n = t->v.items[i];
        if (!is_section(n) && !skipped(n, skip)) {
            w->started = true;
            w_key(w, n);
            w_literal(w, " = ");
            w_value(w, n);
            w_char(w, '\n');
        }
    }
    for (uint32_t i = 0; i < t->len && !w->failed; i++) {
        const toml_node *n = t->v.items[i];
        if (is_section(n) && !skipped(n, skip)) {
            w_section(w, n);
        }
    }
}

static int write_doc(writer *w, const toml_doc *doc, toml_emit_fn more, void *more_ctx)
{
    w->cap = WRITE_CHUNK;
    w->buf = malloc(w->cap);
    if (w->buf == NULL) {
        return -1;
    }
    w_table_body(w, &doc->root, NULL);
    if (more != NULL && !w->failed && more(w, more_ctx) != 0) {
        w->failed = true;
    }
    if (w->sink != NULL) {
        w_flush(w);
        free(w->buf);
        w->buf = NULL;
    }
    return w->failed ? -1 : 0;
}

int toml_write(const toml_doc *doc, toml_sink_fn sink, void *ctx)
{
    return toml_write_more(doc, NULL, NULL, sink, ctx);
}

int toml_write_more(const toml_doc *doc, toml_emit_fn more, void *more_ctx, toml_sink_fn sink,
                    void *ctx)
{
    if (doc == NULL || sink == NULL) {
        return -1;
    }
    writer w = {.sink = sink, .ctx = ctx};
    return write_doc(&w, doc, more, more_ctx);
}

bool toml_emit_failed(const toml_emitter *e)
{
    return e->failed;
}

void toml_emit_array_header(toml_emitter *e, const char *key, size_t key_len)
{
    if (e->started) {
        w_char(e, '\n');
    }
    e->started = true;
    w_literal(e, "[[");
    w_put(e, key, key_len);
    w_literal(e, "]]\n");
}

/* `key = ` for a key the caller knows to be bare. */
static void w_bare_key(writer *w, const char *key, size_t key_len)
{
    w->started = true;
    w_put(w, key, key_len);
    w_literal(w, " = ");
}

void toml_emit_string(toml_emitter *e, const char *key, size_t key_len, const char *s, size_t len)
{
    w_bare_key(e, key, key_len);
    w_string(e, s, len);
    w_char(e, '\n');
}

void toml_emit_integer(toml_emitter *e, const char *key, size_t key_len, int64_t v)
{
    w_bare_key(e, key, key_len);
    w_integer(e, v);
    w_char(e, '\n');
}

void toml_emit_table_rest(toml_emitter *e, const toml_node *array, const toml_node *table,
                          toml_skip_key_fn skip)
{
    e->path[0] = array;
    e->path_len = 1;
    w_table_body(e, table, skip);
    e->path_len = 0;
}

int toml_write_alloc(const toml_doc *doc, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (doc == NULL) {
        return -1;
    }
    writer w = {.sink = NULL};
    if (write_doc(&w, doc, NULL, NULL) != 0) {
        free(w.buf);
        return -1;
    }
    char *text = w_reserve(&w, 1); /* NUL-terminate for convenience */
    if (text == NULL) {
        free(w.buf);
        return -1;
    }
    *text = '\0';
    *out = w.buf;
    *out_len = w.len;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Equality.                                                                 */
/* ------------------------------------------------------------------------ */

static bool datetime_equal(const toml_datetime *a, const toml_datetime *b)
{
    /* By value: 07:32:00.5 equals 07:32:00.500 whatever digits were kept. */
    return a->year == b->year && a->month == b->month && a->day == b->day && a->hour == b->hour &&
           a->minute == b->minute && a->second == b->second && a->nanosecond == b->nanosecond &&
           a->offset_minutes == b->offset_minutes;
}

bool toml_equal(const toml_node *a, const toml_node *b)
{
    if (a == b) {
        return true;
    }
    if (a == NULL || b == NULL || toml_node_type(a) != toml_node_type(b)) {
        return false;
    }
    switch (toml_node_type(a)) {
    case TOML_TABLE:
        if (a->len != b->len) {
            return false;
        }
        for (uint32_t i = 0; i < a->len; i++) {
            const toml_node *x = a->v.items[i];
            const toml_node *y = table_lookup(b, x->key, node_key_len(x));
            if (y == NULL || !toml_equal(x, y)) {
                return false;
            }
        }
        return true;
    case TOML_ARRAY:
        if (a->len != b->len) {
            return false;
        }
        for (uint32_t i = 0; i < a->len; i++) {
            if (!toml_equal(a->v.items[i], b->v.items[i])) {
                return false;
            }
        }
        return true;
    case TOML_STRING:
        return a->len == b->len && (a->len == 0 || memcmp(a->v.str, b->v.str, a->len) == 0);
    case TOML_INTEGER:
        return a->v.integer == b->v.integer;
    case TOML_FLOAT:
        return (isnan(a->v.number) && isnan(b->v.number)) ||
               memcmp(&a->v.number, &b->v.number, sizeof(double)) == 0;
    case TOML_BOOLEAN:
        return a->v.boolean == b->v.boolean;
    default:
        return datetime_equal(a->v.datetime, b->v.datetime);
    }
}
