/* SPDX-License-Identifier: ISC */
/*
 * toml_tree.h - inside the document tree: the arena a document lives in,
 * the 32-byte node, and the containers (tables and arrays) with the hash
 * index of big tables.  Internal to the TOML code (src/toml_*.c) and its
 * test builders (tests/toml/toml_build.c); the rest of libpairtok sees
 * only toml.h.
 *
 * What the reader calls for every key and value (allocation, appending a
 * child, looking a key up) is inline here; the rest is in toml_tree.c.
 */
#ifndef PAIRTOK_TOML_TREE_H
#define PAIRTOK_TOML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "toml.h"

/* ---- arenas ---- */

/* A request of ARENA_BIG bytes or more gets a block of its own, so that
 * big containers grow with realloc() instead of leaving copies behind. */
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

static inline size_t round_up8(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

/* The slow path of arena_alloc(): a new chunk, or a block of its own. */
PT_HIDDEN void *toml_arena_alloc_slow(arena *a, size_t size);

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
    return toml_arena_alloc_slow(a, size);
}

/* Give back the tail of the last allocation when it turned out shorter. */
static inline void arena_shrink(arena *a, void *p, size_t old_size, size_t new_size)
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

static inline arena_mark arena_get_mark(const arena *a)
{
    return (arena_mark){a->blocks, a->top, a->avail};
}

static inline bool arena_unchanged_since(const arena *a, arena_mark m)
{
    return a->blocks == m.block && a->top == m.top;
}

/* Free what was allocated after `m`; only when no new block was started
 * since (else the space is simply left unused: harmless and rare). */
static inline void arena_rewind(arena *a, arena_mark m)
{
    if (a->blocks == m.block) {
        a->top = m.top;
        a->avail = m.avail;
    }
}

/* ---- nodes ---- */

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

/* Keys are limited to 16 MiB - 1 bytes so that the key length and the
 * container depth share one 32-bit field (see toml_node). */
#define KEY_LEN_MAX ((1u << 24) - 1u)
/* Containers hold at most this many children (64 MiB of input cannot make
 * more; builders are refused beyond it). */
#define ITEMS_MAX (1u << 27)
/* Tables with more entries than this get a hash index. */
#define SMALL_TABLE 8u

/* 32 bytes: two pointers and four 32-bit words. */
struct toml_node {
    const char *key; /* NULL for the root and array elements */
    union {
        const char *str;
        int64_t integer;
        double number;
        bool boolean;
        toml_node **items; /* tables and arrays; see the containers below */
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

static inline unsigned node_kind(const toml_node *n)
{
    return n->col_kind & 15u;
}

static inline void set_kind(toml_node *n, unsigned kind)
{
    n->col_kind = (n->col_kind & ~15u) | kind;
}

static inline uint32_t node_col(const toml_node *n)
{
    return n->col_kind >> 5;
}

static inline uint32_t node_key_len(const toml_node *n)
{
    return n->key_len_depth >> 8;
}

static inline unsigned node_depth(const toml_node *n)
{
    return n->key_len_depth & 255u;
}

static inline bool kind_is_table(unsigned kind)
{
    return kind <= KIND_TABLE_INLINE;
}

static inline bool kind_is_array(unsigned kind)
{
    return kind == KIND_ARRAY_STATIC || kind == KIND_ARRAY_TABLES;
}

static inline bool is_table(const toml_node *n)
{
    return n != NULL && kind_is_table(node_kind(n));
}

static inline bool is_array(const toml_node *n)
{
    return n != NULL && kind_is_array(node_kind(n));
}

static inline void node_init(toml_node *n, const char *key, uint32_t key_len, bool bare_key,
                             unsigned kind, unsigned depth)
{
    memset(n, 0, sizeof *n);
    n->key = key;
    n->key_len_depth = key_len << 8 | depth;
    n->col_kind = (bare_key ? NODE_BARE_KEY : 0u) | kind;
    if (kind_is_table(kind) || kind_is_array(kind)) {
        n->v.items = NULL;
    }
}

/* ---- containers ---- */

static inline bool key_equals(const toml_node *n, const char *key, size_t len)
{
    return node_key_len(n) == len && (len == 0 || memcmp(n->key, key, len) == 0);
}

/* The child `key` of table `t`, or NULL. */
PT_HIDDEN toml_node *toml_table_lookup(const toml_node *t, const char *key, size_t len);

/* The slow path of container_append(): grow the block, keep the index. */
PT_HIDDEN int toml_container_append_slow(toml_doc *doc, toml_node *c, toml_node *child);

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
    return toml_container_append_slow(doc, c, child);
}

/* Remove child `index`, keeping the order of the others.  The block keeps
 * its size; the index (if any) is laid out again for the new length, which
 * always fits in the old block. */
PT_HIDDEN void toml_container_remove(toml_node *c, uint32_t index);

#endif /* PAIRTOK_TOML_TREE_H */
