/* SPDX-License-Identifier: ISC */
/*
 * pages.h - big buffers in pages of their own (internal to libpairtok).
 *
 * The store's text and its record array are tens of megabytes at 100,000
 * tokens.  From malloc(), a block that size may land in the heap (glibc
 * raises its mmap threshold after freeing a big block), where freeing it
 * does not give it back: the process keeps the file's size resident for
 * good.  Mapped directly, freeing returns it at once - but every use then
 * faults its pages in afresh, one fault per 4 kB page.  So the mapping is
 * aligned for huge pages and marked for them: a 20 MB text then takes ten
 * faults instead of thousands.  Untouched pages cost no memory, so a
 * buffer may be reserved larger than it is filled.
 *
 * Thread safety: no shared state.
 */
#ifndef PAIRTOK_PAGES_H
#define PAIRTOK_PAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

typedef struct pages {
    void *data; /* NULL when empty */
    size_t size;
} pages;

/* At least `size` bytes (size > 0), zeroed; false when out of memory. */
PT_HIDDEN bool pages_alloc(pages *p, size_t size);
/* Grow to at least `size` bytes keeping the contents (the address may
 * change); false when out of memory, with `p` unchanged. */
PT_HIDDEN bool pages_grow(pages *p, size_t size);
/* Give the pages back; `p` is left empty.  Idempotent. */
PT_HIDDEN void pages_free(pages *p);

#endif /* PAIRTOK_PAGES_H */
