/* SPDX-License-Identifier: ISC */
/* pages.c - big buffers in pages of their own; see pages.h for why. */
#define _GNU_SOURCE /* mremap */
#include <stdint.h>
#include <sys/mman.h>

#include "pages.h"

#define HUGE_PAGE (2u * 1024u * 1024u)
#define SMALL_PAGE 4096u

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

/* `size` bytes (a multiple of HUGE_PAGE) at an address aligned to
 * HUGE_PAGE: map HUGE_PAGE more and give back what lies outside. */
static void *map_aligned(size_t size)
{
    char *raw =
        mmap(NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        return NULL;
    }
    size_t head = (HUGE_PAGE - (uintptr_t)raw % HUGE_PAGE) % HUGE_PAGE;
    if (head > 0) {
        munmap(raw, head);
    }
    if (head < HUGE_PAGE) {
        munmap(raw + head + size, HUGE_PAGE - head);
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(raw + head, size, MADV_HUGEPAGE); /* only a hint */
#endif
    return raw + head;
}

/* Below a huge page, plain pages: a huge page would make a 2 kB store
 * take 2 MB as soon as it is touched. */
static void *map_small(size_t size)
{
    void *data = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return data == MAP_FAILED ? NULL : data;
}

bool pages_alloc(pages *p, size_t size)
{
    if (size == 0 || size > SIZE_MAX - 2 * HUGE_PAGE) {
        return false;
    }
    size = round_up(size, size >= HUGE_PAGE ? HUGE_PAGE : SMALL_PAGE);
    void *data = size >= HUGE_PAGE ? map_aligned(size) : map_small(size);
    if (data == NULL) {
        return false;
    }
    *p = (pages){data, size};
    return true;
}

bool pages_grow(pages *p, size_t size)
{
    if (p->data == NULL) {
        return pages_alloc(p, size);
    }
    if (size <= p->size) {
        return true;
    }
    if (size > SIZE_MAX - 2 * HUGE_PAGE) {
        return false;
    }
    size = round_up(size, size >= HUGE_PAGE ? HUGE_PAGE : SMALL_PAGE);
    /* Moves the pages themselves, no copy; the new address may lose the
     * huge-page alignment, which costs speed only. */
    void *data = mremap(p->data, p->size, size, MREMAP_MAYMOVE);
    if (data == MAP_FAILED) {
        return false;
    }
    *p = (pages){data, size};
    return true;
}

void pages_free(pages *p)
{
    if (p->data != NULL) {
        munmap(p->data, p->size);
    }
    *p = (pages){NULL, 0};
}
