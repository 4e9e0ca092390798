/* SPDX-License-Identifier: ISC */
/*
 * toml_tree.c - the document tree: arenas, containers and the hash index
 * of big tables (their layout is in toml_tree.h), and the accessors of
 * toml.h.  The reader (toml_parse.c, toml_scan.c) fills a tree, the writer
 * (toml_write.c) walks one; only toml_table_remove() changes one after
 * the parse.
 *
 * What keeps it fast and small on a store of 100,000 entries:
 *  - a node is 32 bytes and lives in an arena; a document is a handful of
 *    big blocks, all freed at once;
 *  - child pointers of containers live in a second arena, so the container
 *    being filled is usually that arena's last block and grows in place;
 *  - tables of more than SMALL_TABLE entries carry an open-addressing hash
 *    index right behind their child pointers, so lookups stay O(1);
 *  - big documents get their arena in transparent huge pages.
 */
#include "toml_tree.h"
#include "pages.h"

#include <stdlib.h>
#include <string.h>

/* ---- arenas ---- */

/* Chunks start small so that tiny documents stay tiny and double up to
 * ARENA_CHUNK_MAX, the size of a transparent huge page: such chunks are
 * aligned and marked for huge pages, which spares a page fault for every
 * 4 KiB of the chunk, a large part of a big document's parse time. */
#define ARENA_CHUNK_MIN 4096u
#define ARENA_CHUNK_MAX (2u * 1024u * 1024u)

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

void *toml_arena_alloc_slow(arena *a, size_t size)
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
     * append asks for it again (see define_array_element in toml_parse.c). */
    void *q = arena_alloc(a, new_size);
    if (q != NULL && q != p && keep > 0) {
        memcpy(q, p, keep);
    }
    return q;
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

/* ---- containers ---- */

#define NOT_FOUND UINT32_MAX

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

toml_node *toml_table_lookup(const toml_node *t, const char *key, size_t len)
{
    uint32_t i = table_find(t, key, len);
    return i == NOT_FOUND ? NULL : t->v.items[i];
}

int toml_container_append_slow(toml_doc *doc, toml_node *c, toml_node *child)
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

void toml_container_remove(toml_node *c, uint32_t index)
{
    memmove(c->v.items + index, c->v.items + index + 1,
            (size_t)(c->len - index - 1u) * sizeof(toml_node *));
    c->len--;
    if (kind_is_table(node_kind(c)) && c->len > SMALL_TABLE) {
        index_rebuild(c);
    }
}

/* ---- documents and accessors ---- */

static const toml_type kind_type[] = {
    TOML_TABLE,    TOML_TABLE,          TOML_TABLE,      TOML_TABLE,      TOML_ARRAY,
    TOML_ARRAY,    TOML_STRING,         TOML_INTEGER,    TOML_FLOAT,      TOML_BOOLEAN,
    TOML_DATETIME, TOML_DATETIME_LOCAL, TOML_DATE_LOCAL, TOML_TIME_LOCAL,
};

static void doc_init(toml_doc *doc)
{
    memset(doc, 0, sizeof *doc);
    node_init(&doc->root, NULL, 0, false, KIND_TABLE_DEFINED, 0);
}

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
    return toml_table_lookup(table, key, key_len);
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

int toml_table_remove(toml_node *table, const char *key, size_t key_len)
{
    if (!is_table(table) || (key == NULL && key_len > 0)) {
        return -1;
    }
    uint32_t index = table_find(table, key, key_len);
    if (index == NOT_FOUND) {
        return -1;
    }
    toml_container_remove(table, index);
    return 0;
}

/* The rest of the read API.  The store reads only tables, strings and
 * integers; these serve the tests, the fuzzers and the toml-test decoder,
 * and any later reader of other values. */

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
