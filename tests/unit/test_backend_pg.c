/* SPDX-License-Identifier: ISC */
/*
 * test_backend_pg.c - the PostgreSQL backend, verb by verb, against a real
 * server.  Run under tests/pg/with-pg, which starts a throwaway server and
 * exports PAIRTOK_TEST_PG; run alone, the program runs itself under it.
 *
 * Every test works in a schema of its own (search_path in the URI), so
 * the tests also cover tenants, and a failing test leaves nothing behind
 * for the next one.  A second connection, `admin`, is the superuser's: it
 * looks at and changes the tables behind the backend's back.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "pg.h"
#include "testutil.h"

#define NOW 1764322500u

/* ---------------------------------------------------------------------- */
/* The admin connection.                                                  */
/* ---------------------------------------------------------------------- */

static PGconn *admin;

static void admin_quiet(void *ctx, const char *message)
{
    (void)ctx, (void)message;
}

static void admin_connect(void)
{
    admin = PQconnectdb(getenv("PAIRTOK_TEST_PG"));
    if (PQstatus(admin) != CONNECTION_OK) {
        fail_msg("admin connection: %s", PQerrorMessage(admin));
    }
    PQsetNoticeProcessor(admin, admin_quiet, NULL);
}

/* Run SQL (test code: the text is the test's own). */
static void sql(const char *fmt, ...) PT_PRINTF(1, 2);
static void sql(const char *fmt, ...)
{
    char text[4096];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    PGresult *res = PQexec(admin, text);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", text, PQresultErrorMessage(res));
    }
    PQclear(res);
}

/* The first value of a query, as a number (-1 for NULL). */
static long long sql_value(const char *fmt, ...) PT_PRINTF(1, 2);
static long long sql_value(const char *fmt, ...)
{
    char text[4096];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    PGresult *res = PQexec(admin, text);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
        fail_msg("%s: %s", text, PQresultErrorMessage(res));
    }
    long long v = PQgetisnull(res, 0, 0) ? -1 : atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* ---------------------------------------------------------------------- */
/* Fixture: a schema of its own and a backend whose search_path is it.    */
/* ---------------------------------------------------------------------- */

typedef struct fixture {
    char schema[32];
    char uri[1024];
    backend *b;
} fixture;

static int test_number;

/* The test URI with more query parameters. */
static void uri_with(char *out, size_t size, const char *extra)
{
    snprintf(out, size, "%s&%s", getenv("PAIRTOK_TEST_PG"), extra);
}

static backend *open_uri(const char *uri, const pairtok_options *opts)
{
    backend *b = NULL;
    pairtok_error err;
    if (backend_pg_open(uri, opts, &b, &err) != PAIRTOK_OK) {
        fail_msg("open %s: %s", uri, err.message);
    }
    return b;
}

static backend *open_fixture(const fixture *f, const pairtok_options *opts)
{
    return open_uri(f->uri, opts);
}

/* In a forked child: no cmocka assertion may run there. */
static backend *child_open(const fixture *f, const pairtok_options *opts)
{
    backend *b = NULL;
    pairtok_error err;
    if (backend_pg_open(f->uri, opts, &b, &err) != PAIRTOK_OK) {
        _exit(3);
    }
    return b;
}

static pairtok_status begin_end(backend *b, backend_mode mode, bool *exists, pairtok_error *err)
{
    uint64_t now = BACKEND_NOW;
    pairtok_status st = b->ops->begin(b, mode, NULL, &now, exists, err);
    b->ops->end(b);
    return st;
}

static void child_connect(backend *b)
{
    bool exists;
    pairtok_error err;
    if (begin_end(b, BACKEND_WRITE, &exists, &err) != PAIRTOK_OK) {
        _exit(3);
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->schema, sizeof f->schema, "t%d", ++test_number);
    sql("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", f->schema, f->schema);
    char extra[64];
    snprintf(extra, sizeof extra, "options=-csearch_path%%3D%s", f->schema);
    uri_with(f->uri, sizeof f->uri, extra);
    f->b = open_fixture(f, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->b != NULL) {
        f->b->ops->close(f->b);
    }
    sql("DROP SCHEMA IF EXISTS %s CASCADE", f->schema);
    free(f);
    return 0;
}

static void assert_contains(const char *text, const char *want)
{
    if (strstr(text, want) == NULL) {
        fail_msg("'%s' lacks '%s'", text, want);
    }
}

static void assert_lacks(const char *text, const char *unwanted)
{
    if (strstr(text, unwanted) != NULL) {
        fail_msg("'%s' contains '%s'", text, unwanted);
    }
}

static void assert_ok(pairtok_status st, const pairtok_error *err)
{
    if (st != PAIRTOK_OK) {
        fail_msg("status %d: %s", (int)st, err->message);
    }
}

static long long rows(const fixture *f)
{
    return sql_value("SELECT count(*) FROM %s.pairtok_token", f->schema);
}

/* The total cap's bound: never below the live tokens. */
static long long bound(const fixture *f)
{
    return sql_value("SELECT (SELECT last_value FROM %s.pairtok_added) - "
                     "(SELECT n FROM %s.pairtok_bound_base)",
                     f->schema, f->schema);
}

static void assert_bound_covers(const fixture *f)
{
    long long live =
        sql_value("SELECT count(*) FROM %s.pairtok_token WHERE expires_at > now()", f->schema);
    if (bound(f) < live) {
        fail_msg("bound %lld below %lld live tokens", bound(f), live);
    }
}

/* ---------------------------------------------------------------------- */
/* Sequences as store.c drives them.                                      */
/* ---------------------------------------------------------------------- */

static void random_record(pairtok_record *rec, unsigned char hash[BACKEND_HASH_BYTES],
                          const char *principal, const char *label)
{
    memset(rec, 0, sizeof *rec);
    randombytes_buf(hash, BACKEND_HASH_BYTES);
    sodium_bin2hex(rec->token_hash, sizeof rec->token_hash, hash, BACKEND_HASH_BYTES);
    snprintf(rec->principal, sizeof rec->principal, "%s", principal);
    rec->label = (char *)label;
}

/* One run of issue: what store.c does between begin and end, with the
 * backend's one-step issue. */
static pairtok_status issue_once(backend *b, const pairtok_options *o, pairtok_record *rec,
                                 uint64_t now, uint32_t ttl, pairtok_error *err)
{
    const backend_ops *ops = b->ops;
    bool exists;
    uint64_t when = now;
    pairtok_status st = ops->begin(b, BACKEND_WRITE_CREATE, rec->principal, &when, &exists, err);
    rec->issued_at_epoch = when;
    rec->expires_at_epoch = when == BACKEND_NOW ? BACKEND_NOW : when + ttl;
    backend_issue op = {.rec = rec,
                        .ttl = ttl,
                        .now = when,
                        .max_per_principal = o->max_per_principal,
                        .max_total = o->max_total};
    if (st == PAIRTOK_OK) {
        st = ops->issue(b, &op, err);
    }
    if (st == PAIRTOK_OK && !op.added) {
        st = op.principal_live >= o->max_per_principal
                 ? pt_fail(err, PAIRTOK_ELIMIT, 0, "per-principal cap")
             : op.total_live >= o->max_total ? pt_fail(err, PAIRTOK_ELIMIT, 0, "total cap")
                                             : pt_fail(err, PAIRTOK_EIO, 0, "no cap refused");
    }
    if (st == PAIRTOK_OK) {
        st = ops->commit(b, err);
    }
    ops->end(b);
    return st;
}

static const pairtok_options defaults = {
    .lock_timeout_ms = 10000, .max_per_principal = 16, .max_total = 100000};

/* Issue with store.c's retries. */
static pairtok_status issue_opts(backend *b, const pairtok_options *o, pairtok_record *rec,
                                 uint64_t now, uint32_t ttl, pairtok_error *err)
{
    pairtok_status st = BACKEND_RETRY;
    for (int i = 0; i < 20 && st == BACKEND_RETRY; i++) {
        st = issue_once(b, o, rec, now, ttl, err);
    }
    return st;
}

static void issue(backend *b, pairtok_record *rec, unsigned char hash[BACKEND_HASH_BYTES],
                  const char *principal, uint64_t now, uint32_t ttl)
{
    pairtok_error err;
    random_record(rec, hash, principal, "phone");
    assert_ok(issue_opts(b, &defaults, rec, now, ttl, &err), &err);
}

static pairtok_status take(backend *b, const unsigned char hash[BACKEND_HASH_BYTES], uint64_t now,
                           pairtok_record *out, bool *found, pairtok_error *err)
{
    bool exists;
    uint64_t when = now;
    pairtok_status st = b->ops->begin(b, BACKEND_WRITE, NULL, &when, &exists, err);
    *found = false;
    if (st == PAIRTOK_OK && exists) {
        st = b->ops->take(b, hash, when, out, found, err);
    }
    if (st == PAIRTOK_OK) {
        st = b->ops->commit(b, err);
    }
    b->ops->end(b);
    return st;
}

static bool take_ok(backend *b, const unsigned char hash[BACKEND_HASH_BYTES], uint64_t now)
{
    pairtok_record out;
    bool found;
    pairtok_error err;
    assert_ok(take(b, hash, now, &out, &found, &err), &err);
    pairtok_record_clear(&out);
    return found;
}

static pairtok_status read_sel(backend *b, backend_mode mode, const backend_sel *sel,
                               pairtok_record_list *out, pairtok_error *err)
{
    bool exists;
    uint64_t now = sel->now;
    pairtok_status st = b->ops->begin(b, mode, NULL, &now, &exists, err);
    if (st == PAIRTOK_OK && exists) {
        st = b->ops->read(b, sel, out, err);
    }
    b->ops->end(b);
    return st;
}

/* ---------------------------------------------------------------------- */
/* Locations.                                                             */
/* ---------------------------------------------------------------------- */

static void claims_only_postgresql_uris(void **state)
{
    (void)state;
    assert_true(backend_pg_claims("postgresql://h/db"));
    assert_true(backend_pg_claims("postgres://h/db"));
    assert_true(backend_pg_claims("postgresql:///db?host=/tmp"));
    assert_false(backend_pg_claims("/home/a/.astrid/etc/pair-tokens.toml"));
    assert_false(backend_pg_claims("postgresql:/h/db"));
    assert_false(backend_pg_claims("host=h dbname=db"));
    assert_false(backend_pg_claims("POSTGRESQL://h/db"));
}

static void assert_display(const char *uri, const char *want)
{
    backend *b = open_uri(uri, NULL);
    assert_string_equal(b->display, want);
    b->ops->close(b);
}

static void display_masks_passwords(void **state)
{
    (void)state;
    assert_display("postgresql://alice:s3cret@db.example/pairtok",
                   "postgresql://alice:****@db.example/pairtok");
    assert_display("postgres://alice@db.example/pairtok?password=s3cret&sslmode=require",
                   "postgres://alice@db.example/pairtok?password=****&sslmode=require");
    assert_display("postgresql://db.example/pairtok?sslmode=require&pass%77ord=s3cret",
                   "postgresql://db.example/pairtok?sslmode=require&pass%77ord=****");
    assert_display("postgresql://a:b%40c@h1:5432,h2:5433/db?password=x&password=y",
                   "postgresql://a:****@h1:5432,h2:5433/db?password=****&password=****");
    assert_display("postgresql://alice@db.example/pairtok",
                   "postgresql://alice@db.example/pairtok");
    assert_display("postgresql:///pairtok?host=/run/postgresql",
                   "postgresql:///pairtok?host=/run/postgresql");
}

static void malformed_uris_are_einval_without_the_password(void **state)
{
    (void)state;
    static const struct {
        const char *uri, *reason;
    } cases[] = {
        {"postgresql://u:s3cret@h/db?nosuchoption=1", "invalid URI query parameter"},
        {"postgresql://u:s3c%zzret@h/db", "invalid percent-encoded token"},
        {"postgresql://u:s3cret@[::1/db", "IPv6"},
        {"postgresql://h/db?password", "separator"},
        {"postgresql://h/db?password=s3cret&sslmode", "separator"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        backend *b = (backend *)&b;
        pairtok_error err;
        assert_int_equal(backend_pg_open(cases[i].uri, NULL, &b, &err), PAIRTOK_EINVAL);
        assert_null(b);
        assert_int_equal(err.code, PAIRTOK_EINVAL);
        assert_contains(err.message, cases[i].reason);
        assert_contains(err.message, "not a valid PostgreSQL URI");
        assert_lacks(err.message, "s3c");
        assert_lacks(err.message, "\n");
    }
    char huge[PAIRTOK_PATH_MAX + 10] = "postgresql://h/";
    memset(huge + 15, 'd', sizeof huge - 16);
    huge[sizeof huge - 1] = '\0';
    backend *b;
    pairtok_error err;
    assert_int_equal(backend_pg_open(huge, NULL, &b, &err), PAIRTOK_EINVAL);
    assert_contains(err.message, "longer than");
}

static void scrub_removes_passwords_from_messages(void **state)
{
    (void)state;
    const char *uri = "postgresql://u:hunter2@h/db?password=p%41ss";
    char display[256];
    pairtok_error err;
    assert_ok(pg_uri_check(uri, display, sizeof display, &err), &err);
    char msg[PAIRTOK_MESSAGE_MAX] = "bad: \"postgresql://u:hunter2@h/db?password=p%41ss\" "
                                    "hunter2 pAss p%41ss\nsecond line\t.";
    pg_scrub(uri, display, msg, sizeof msg);
    assert_string_equal(msg, "bad: \"postgresql://u:****@h/db?password=****\" **** **** **** "
                             "second line .");
}

/* ---------------------------------------------------------------------- */
/* Connecting.                                                            */
/* ---------------------------------------------------------------------- */

static void unreachable_server_is_eio_naming_the_masked_uri(void **state)
{
    (void)state;
    char dir[] = "/tmp/pairtok-nopg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char uri[256];
    snprintf(uri, sizeof uri, "postgresql://alice:t0psecret@/pairtok?host=%s&connect_timeout=2",
             dir);
    backend *b = open_uri(uri, NULL); /* opening connects nothing */
    bool exists = true;
    pairtok_error err;
    assert_int_equal(begin_end(b, BACKEND_READ, &exists, &err), PAIRTOK_EIO);
    assert_false(exists);
    assert_contains(err.message, "postgresql://alice:****@/pairtok?host=");
    assert_contains(err.message, "cannot connect");
    assert_contains(err.message, dir); /* libpq's reason names the socket */
    assert_lacks(err.message, "t0psecret");
    /* Still unreachable, still the same answer. */
    assert_int_equal(begin_end(b, BACKEND_WRITE_CREATE, &exists, &err), PAIRTOK_EIO);
    b->ops->close(b);
    rmdir(dir);
}

static void wrong_or_missing_password_is_eio_without_the_password(void **state)
{
    fixture *f = *state;
    const char *user = getenv("PAIRTOK_TEST_PG_PW_USER");
    const char *pass = getenv("PAIRTOK_TEST_PG_PW_PASS");
    assert_non_null(user);
    sql("GRANT USAGE, CREATE ON SCHEMA %s TO %s", f->schema, user);
    char extra[256], uri[1024];
    snprintf(extra, sizeof extra, "user=%s&password=Wr0ngPassw0rd&options=-csearch_path%%3D%s",
             user, f->schema);
    uri_with(uri, sizeof uri, extra);
    backend *b = open_uri(uri, NULL);
    bool exists;
    pairtok_error err;
    assert_int_equal(begin_end(b, BACKEND_WRITE_CREATE, &exists, &err), PAIRTOK_EIO);
    assert_contains(err.message, "authentication failed");
    assert_contains(err.message, "password=****");
    assert_lacks(err.message, "Wr0ngPassw0rd");
    b->ops->close(b);

    snprintf(extra, sizeof extra, "user=%s&options=-csearch_path%%3D%s", user, f->schema);
    uri_with(uri, sizeof uri, extra);
    b = open_uri(uri, NULL);
    assert_int_equal(begin_end(b, BACKEND_READ, &exists, &err), PAIRTOK_EIO);
    assert_contains(err.message, "wants a password");
    b->ops->close(b);

    snprintf(extra, sizeof extra, "user=%s&password=%s&options=-csearch_path%%3D%s", user, pass,
             f->schema);
    uri_with(uri, sizeof uri, extra);
    b = open_uri(uri, NULL);
    assert_ok(begin_end(b, BACKEND_WRITE_CREATE, &exists, &err), &err);
    assert_true(exists);
    b->ops->close(b);
}

/* A notice from the server - one that arrives while the connection
 * starts, and one on a statement - never reaches stderr. */
static void notices_do_not_reach_stderr(void **state)
{
    fixture *f = *state;
    sql("DROP ROLE IF EXISTS pairtok_noisy; CREATE ROLE pairtok_noisy LOGIN SUPERUSER");
    sql("ALTER ROLE pairtok_noisy SET default_text_search_config = 'pg_catalog.english'");
    sql("UPDATE pg_db_role_setting SET setconfig = ARRAY['default_text_search_config=nonesuch'] "
        "WHERE setrole = (SELECT oid FROM pg_roles WHERE rolname = 'pairtok_noisy')");
    char extra[256], uri[1024];
    snprintf(extra, sizeof extra, "user=pairtok_noisy&options=-csearch_path%%3D%s", f->schema);
    uri_with(uri, sizeof uri, extra);
    backend *b = open_uri(uri, NULL);
    fflush(stderr);
    int saved = dup(2);
    FILE *capture = tmpfile();
    dup2(fileno(capture), 2);
    bool exists;
    pairtok_error err;
    pairtok_status st = begin_end(b, BACKEND_WRITE_CREATE, &exists, &err);
    /* ROLLBACK outside a transaction draws a WARNING. */
    pairtok_status st2 =
        pg_queue_sql((pg_backend *)b, "ROLLBACK", NULL, 0, PG_ITEM("test", NULL), &err);
    if (st2 == PAIRTOK_OK) {
        st2 = pg_flush((pg_backend *)b, &err);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long size = (fseek(capture, 0, SEEK_END), ftell(capture));
    fclose(capture);
    assert_ok(st, &err);
    assert_ok(st2, &err);
    assert_int_equal(size, 0);
    b->ops->close(b);
    sql("DROP OWNED BY pairtok_noisy; DROP ROLE pairtok_noisy");
}

/* ---------------------------------------------------------------------- */
/* Schema.                                                                */
/* ---------------------------------------------------------------------- */

static bool has_table(const fixture *f, const char *table)
{
    return sql_value("SELECT (to_regclass('%s.%s') IS NOT NULL)::int", f->schema, table) != 0;
}

static void read_and_write_create_nothing(void **state)
{
    fixture *f = *state;
    bool exists = true;
    pairtok_error err;
    assert_ok(begin_end(f->b, BACKEND_READ, &exists, &err), &err);
    assert_false(exists);
    exists = true;
    assert_ok(begin_end(f->b, BACKEND_WRITE, &exists, &err), &err);
    assert_false(exists);
    assert_false(has_table(f, "pairtok_token"));
    assert_false(has_table(f, "pairtok_schema_version"));
}

static void first_write_create_makes_the_schema(void **state)
{
    fixture *f = *state;
    bool exists = false;
    pairtok_error err;
    assert_ok(begin_end(f->b, BACKEND_WRITE_CREATE, &exists, &err), &err);
    assert_true(exists);
    assert_true(has_table(f, "pairtok_token"));
    assert_true(has_table(f, "pairtok_added"));
    assert_true(has_table(f, "pairtok_bound_base"));
    assert_int_equal(sql_value("SELECT max(version) FROM %s.pairtok_schema_version", f->schema),
                     PG_SCHEMA_VERSION);
    assert_int_equal(sql_value("SELECT count(*) FROM %s.pairtok_schema_version", f->schema), 1);
    /* Now READ and WRITE see it, from this handle and a new one. */
    assert_ok(begin_end(f->b, BACKEND_READ, &exists, &err), &err);
    assert_true(exists);
    backend *other = open_fixture(f, NULL);
    assert_ok(begin_end(other, BACKEND_WRITE, &exists, &err), &err);
    assert_true(exists);
    other->ops->close(other);
}

static void init_creates_and_is_idempotent(void **state)
{
    fixture *f = *state;
    pairtok_error err;
    assert_ok(f->b->ops->init(f->b, &err), &err);
    assert_true(has_table(f, "pairtok_token"));
    assert_ok(f->b->ops->init(f->b, &err), &err);
    backend *other = open_fixture(f, NULL);
    assert_ok(other->ops->init(other, &err), &err);
    other->ops->close(other);
    assert_int_equal(sql_value("SELECT count(*) FROM %s.pairtok_schema_version", f->schema), 1);
}

/* Many first users at once: one creates, the others wait and see it. */
static void racing_first_users_create_once(void **state)
{
    fixture *f = *state;
    enum { N = 8 };
    pid_t kids[N];
    tu_start_line line;
    tu_start_line_open(&line);
    for (int i = 0; i < N; i++) {
        if ((kids[i] = fork()) == 0) {
            backend *b = child_open(f, NULL);
            child_connect(b);
            tu_start_line_wait(&line, 4);
            bool exists = false;
            pairtok_error err;
            pairtok_status st =
                i % 2 ? b->ops->init(b, &err) : begin_end(b, BACKEND_WRITE_CREATE, &exists, &err);
            b->ops->close(b);
            _exit(st == PAIRTOK_OK && (i % 2 || exists) ? 0 : 1);
        }
    }
    tu_start_line_release(&line, N);
    for (int i = 0; i < N; i++) {
        int status;
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(sql_value("SELECT count(*) FROM %s.pairtok_schema_version", f->schema), 1);
}

static void newer_schema_is_refused_and_left_alone(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300);
    sql("INSERT INTO %s.pairtok_schema_version (version) VALUES (%d)", f->schema,
        PG_SCHEMA_VERSION + 1);
    backend *b = open_fixture(f, NULL);
    bool exists = true;
    pairtok_error err;
    static const backend_mode modes[] = {BACKEND_READ, BACKEND_WRITE, BACKEND_WRITE_CREATE};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(begin_end(b, modes[i], &exists, &err), PAIRTOK_ESCHEMA);
        assert_contains(err.message, "version 2");
        assert_contains(err.message, "nothing was changed");
    }
    assert_int_equal(b->ops->init(b, &err), PAIRTOK_ESCHEMA);
    backend_reporter r = {0};
    assert_ok(b->ops->check(b, BACKEND_NOW, &r, &err), &err);
    assert_int_equal(r.count, 1);
    b->ops->close(b);
    assert_int_equal(rows(f), 1);
    assert_int_equal(sql_value("SELECT count(*) FROM %s.pairtok_schema_version", f->schema), 2);
}

static void no_right_to_create_names_pairtok_init(void **state)
{
    fixture *f = *state;
    const char *user = getenv("PAIRTOK_TEST_PG_NOCREATE_USER");
    assert_non_null(user);
    sql("GRANT USAGE ON SCHEMA %s TO %s", f->schema, user);
    char extra[256], uri[1024];
    snprintf(extra, sizeof extra, "user=%s&options=-csearch_path%%3D%s", user, f->schema);
    uri_with(uri, sizeof uri, extra);
    backend *b = open_uri(uri, NULL);
    bool exists = true;
    pairtok_error err;
    assert_int_equal(begin_end(b, BACKEND_WRITE_CREATE, &exists, &err), PAIRTOK_EIO);
    assert_false(exists);
    assert_contains(err.message, "pairtok init");
    assert_contains(err.message, "SQLSTATE 42501");
    assert_int_equal(b->ops->init(b, &err), PAIRTOK_EIO);
    assert_contains(err.message, "pairtok init");
    assert_false(has_table(f, "pairtok_token"));
    assert_false(has_table(f, "pairtok_schema_version"));
    /* Reading a store that does not exist needs no right at all. */
    assert_ok(begin_end(b, BACKEND_READ, &exists, &err), &err);
    assert_false(exists);
    b->ops->close(b);
}

static void search_path_without_a_schema_is_explained(void **state)
{
    fixture *f = *state;
    char uri[1024];
    uri_with(uri, sizeof uri, "options=-csearch_path%3Dpairtok_no_such_schema");
    backend *b = open_uri(uri, NULL);
    bool exists;
    pairtok_error err;
    assert_int_equal(begin_end(b, BACKEND_WRITE_CREATE, &exists, &err), PAIRTOK_EIO);
    assert_contains(err.message, "search_path");
    assert_contains(err.message, "SQLSTATE 3F000");
    b->ops->close(b);
    (void)f;
}

static void tables_dropped_under_a_handle(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300);
    sql("DROP TABLE %s.pairtok_token, %s.pairtok_bound_base, %s.pairtok_schema_version CASCADE; "
        "DROP SEQUENCE %s.pairtok_added",
        f->schema, f->schema, f->schema, f->schema);
    pairtok_record out;
    bool found;
    pairtok_error err;
    assert_int_equal(take(f->b, hash, BACKEND_NOW, &out, &found, &err), PAIRTOK_EIO);
    assert_contains(err.message, "pairtok init");
    assert_contains(err.message, "42P01");
    /* The handle reads the schema again: nothing there, nothing to take. */
    assert_ok(take(f->b, hash, BACKEND_NOW, &out, &found, &err), &err);
    assert_false(found);
}

static void tenants_are_separate(void **state)
{
    fixture *f = *state;
    sql("DROP SCHEMA IF EXISTS %s_b CASCADE; CREATE SCHEMA %s_b", f->schema, f->schema);
    char extra[128], uri[1024];
    snprintf(extra, sizeof extra, "options=-csearch_path%%3D%s_b", f->schema);
    uri_with(uri, sizeof uri, extra);
    backend *other = open_uri(uri, NULL);
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300);
    bool exists = true;
    pairtok_error err;
    assert_ok(begin_end(other, BACKEND_READ, &exists, &err), &err);
    assert_false(exists);
    pairtok_record rec2;
    unsigned char hash2[BACKEND_HASH_BYTES];
    issue(other, &rec2, hash2, "alice", BACKEND_NOW, 300);
    assert_false(take_ok(other, hash, BACKEND_NOW));
    assert_true(take_ok(f->b, hash, BACKEND_NOW));
    assert_true(take_ok(other, hash2, BACKEND_NOW));
    other->ops->close(other);
    sql("DROP SCHEMA %s_b CASCADE", f->schema);
}

/* ---------------------------------------------------------------------- */
/* Issue and redeem.                                                      */
/* ---------------------------------------------------------------------- */

static void issue_stamps_server_time_and_take_is_single_use(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    uint64_t before = (uint64_t)time(NULL);
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300);
    uint64_t after = (uint64_t)time(NULL);
    assert_true(rec.issued_at_epoch + 2 >= before && rec.issued_at_epoch <= after + 2);
    assert_int_equal(rec.expires_at_epoch, rec.issued_at_epoch + 300);
    assert_int_equal(sql_value("SELECT extract(epoch FROM issued_at)::bigint FROM "
                               "%s.pairtok_token",
                               f->schema),
                     (long long)rec.issued_at_epoch);

    pairtok_record out;
    bool found;
    pairtok_error err;
    assert_ok(take(f->b, hash, BACKEND_NOW, &out, &found, &err), &err);
    assert_true(found);
    assert_string_equal(out.token_hash, rec.token_hash);
    assert_string_equal(out.principal, "alice");
    assert_string_equal(out.label, "phone");
    assert_int_equal(out.issued_at_epoch, rec.issued_at_epoch);
    assert_int_equal(out.expires_at_epoch, rec.expires_at_epoch);
    pairtok_record_clear(&out);
    assert_ok(take(f->b, hash, BACKEND_NOW, &out, &found, &err), &err);
    assert_false(found);
    assert_int_equal(rows(f), 0);
}

static void explicit_times_are_kept_and_judged(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "bob", NOW, 60);
    assert_int_equal(rec.issued_at_epoch, NOW);
    assert_int_equal(rec.expires_at_epoch, NOW + 60);
    assert_false(take_ok(f->b, hash, NOW + 60)); /* expiring exactly now is expired */
    assert_false(take_ok(f->b, hash, NOW - 61)); /* issued more than the skew ahead */
    assert_true(take_ok(f->b, hash, NOW - 60));  /* within the skew */
}

static void insert_sql(const fixture *f, const char *hash_hex_text, const char *principal,
                       const char *label_sql, long long issued, long long expires)
{
    sql("INSERT INTO %s.pairtok_token (token_hash, principal, label, issued_at, expires_at) "
        "VALUES ('%s', '%s', %s, to_timestamp(%lld), to_timestamp(%lld))",
        f->schema, hash_hex_text, principal, label_sql, issued, expires);
}

static void init_schema(const fixture *f)
{
    pairtok_error err;
    assert_ok(f->b->ops->init(f->b, &err), &err);
}

static void unredeemable_rows_are_not_taken(void **state)
{
    fixture *f = *state;
    init_schema(f);
    unsigned char anon[BACKEND_HASH_BYTES], future[BACKEND_HASH_BYTES];
    pairtok_record r1, r2;
    random_record(&r1, anon, "anonymous", NULL);
    random_record(&r2, future, "carol", NULL);
    insert_sql(f, r1.token_hash, "anonymous", "NULL", NOW, NOW + 300);
    insert_sql(f, r2.token_hash, "carol", "NULL", NOW + 600, NOW + 900);
    assert_false(take_ok(f->b, anon, NOW + 1));
    assert_false(take_ok(f->b, future, NOW + 1));
    assert_true(take_ok(f->b, future, NOW + 600 - 60));
    assert_int_equal(rows(f), 1);
}

static void schema_refuses_malformed_rows(void **state)
{
    fixture *f = *state;
    init_schema(f);
    static const char *const bad[] = {
        "('ABC', 'alice', NULL, now(), now() + interval '1 minute', NULL, NULL)",
        "(repeat('a', 64), 'al ice', NULL, now(), now() + interval '1 minute', NULL, NULL)",
        "(repeat('a', 64), 'alice', NULL, now(), now() + interval '3601 seconds', NULL, NULL)",
        "(repeat('a', 64), 'alice', NULL, now(), now() - interval '1 second', NULL, NULL)",
        "(repeat('a', 64), 'alice', NULL, '-infinity', now(), NULL, NULL)",
        "(repeat('a', 64), 'alice', NULL, 'infinity', 'infinity', NULL, NULL)",
        "(repeat('A', 64), 'alice', NULL, now(), now(), NULL, NULL)",
        "(repeat('a', 63), 'alice', NULL, now(), now(), NULL, NULL)",
        "(repeat('a', 64), repeat('p', 65), NULL, now(), now(), NULL, NULL)",
        "(repeat('a', 64), '', NULL, now(), now(), NULL, NULL)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "INSERT INTO %s.pairtok_token VALUES %s", f->schema, bad[i]);
        PGresult *res = PQexec(admin, text);
        const char *state_code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state_code == NULL || strncmp(state_code, "23", 2) != 0) {
            fail_msg("%s: accepted or wrong error %s", text, PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    assert_int_equal(rows(f), 0);
}

static pairtok_status reserve(backend *b, const unsigned char *hash, const unsigned char *rid,
                              bool *found, pairtok_error *err)
{
    bool exists;
    uint64_t now = BACKEND_NOW;
    pairtok_record out;
    pairtok_status st = b->ops->begin(b, BACKEND_WRITE, NULL, &now, &exists, err);
    if (st == PAIRTOK_OK) {
        st = b->ops->reserve(b, hash, rid, now, &out, found, err);
    }
    if (st == PAIRTOK_OK) {
        st = b->ops->commit(b, err);
    }
    b->ops->end(b);
    if (st == PAIRTOK_OK && *found) {
        pairtok_record_clear(&out);
    }
    return st;
}

static pairtok_status settle(backend *b, const unsigned char *hash, const unsigned char *rid,
                             bool consume, bool *found, pairtok_error *err)
{
    bool exists;
    uint64_t now = BACKEND_NOW;
    pairtok_status st = b->ops->begin(b, BACKEND_WRITE, NULL, &now, &exists, err);
    if (st == PAIRTOK_OK) {
        st = b->ops->settle(b, hash, rid, consume, found, err);
    }
    if (st == PAIRTOK_OK) {
        st = b->ops->commit(b, err);
    }
    b->ops->end(b);
    return st;
}

static void two_phase_reservation_belongs_to_its_rid(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES], rid[BACKEND_RID_BYTES], other[BACKEND_RID_BYTES];
    randombytes_buf(rid, sizeof rid);
    randombytes_buf(other, sizeof other);
    issue(f->b, &rec, hash, "dave", BACKEND_NOW, 300);
    bool found;
    pairtok_error err;
    assert_ok(reserve(f->b, hash, rid, &found, &err), &err);
    assert_true(found);
    /* Reserved: not takeable, not reservable again, not even by its rid. */
    assert_false(take_ok(f->b, hash, BACKEND_NOW));
    assert_ok(reserve(f->b, hash, other, &found, &err), &err);
    assert_false(found);
    assert_ok(reserve(f->b, hash, rid, &found, &err), &err);
    assert_false(found);
    /* Another rid can neither consume nor release it. */
    assert_ok(settle(f->b, hash, other, true, &found, &err), &err);
    assert_false(found);
    assert_ok(settle(f->b, hash, other, false, &found, &err), &err);
    assert_false(found);
    assert_int_equal(rows(f), 1);
    /* Its own rid releases it: redeemable again. */
    assert_ok(settle(f->b, hash, rid, false, &found, &err), &err);
    assert_true(found);
    assert_int_equal(
        sql_value("SELECT count(*) FROM %s.pairtok_token WHERE reserved_by IS NULL", f->schema), 1);
    assert_ok(reserve(f->b, hash, other, &found, &err), &err);
    assert_true(found);
    assert_ok(settle(f->b, hash, other, true, &found, &err), &err);
    assert_true(found);
    assert_int_equal(rows(f), 0);
    assert_ok(settle(f->b, hash, other, true, &found, &err), &err);
    assert_false(found);
}

/* reserve ; commit ; (bind) ; settle ; commit in one begin/end, as
 * store.c runs it, on one handle while another takes nothing. */
static void two_phase_in_one_sequence(void **state)
{
    fixture *f = *state;
    pairtok_record rec, out;
    unsigned char hash[BACKEND_HASH_BYTES], rid[BACKEND_RID_BYTES];
    randombytes_buf(rid, sizeof rid);
    issue(f->b, &rec, hash, "erin", BACKEND_NOW, 300);
    const backend_ops *ops = f->b->ops;
    bool exists, found;
    uint64_t now = BACKEND_NOW;
    pairtok_error err;
    assert_ok(ops->begin(f->b, BACKEND_WRITE, NULL, &now, &exists, &err), &err);
    assert_ok(ops->reserve(f->b, hash, rid, now, &out, &found, &err), &err);
    assert_true(found);
    assert_string_equal(out.principal, "erin");
    pairtok_record_clear(&out);
    assert_ok(ops->commit(f->b, &err), &err);
    /* Between the phases no transaction is open: another handle sees the
     * reservation committed and cannot take the token. */
    assert_int_equal(sql_value("SELECT count(*) FROM pg_stat_activity WHERE state LIKE "
                               "'idle in transaction%%' AND application_name = 'pairtok'"),
                     0);
    backend *other = open_fixture(f, NULL);
    assert_false(take_ok(other, hash, BACKEND_NOW));
    other->ops->close(other);
    assert_ok(ops->settle(f->b, hash, rid, true, &found, &err), &err);
    assert_true(found);
    assert_ok(ops->commit(f->b, &err), &err);
    ops->end(f->b);
    assert_int_equal(rows(f), 0);
}

/* take opens no transaction of its own: it is committed when it returns,
 * and commit has nothing left to do. */
static void take_is_durable_when_it_returns(void **state)
{
    fixture *f = *state;
    pairtok_record rec, out;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "gina", BACKEND_NOW, 300);
    const backend_ops *ops = f->b->ops;
    bool exists, found;
    uint64_t now = BACKEND_NOW;
    pairtok_error err;
    assert_ok(ops->begin(f->b, BACKEND_WRITE, NULL, &now, &exists, &err), &err);
    assert_ok(ops->take(f->b, hash, now, &out, &found, &err), &err);
    assert_true(found);
    pairtok_record_clear(&out);
    assert_int_equal(rows(f), 0);
    assert_ok(ops->commit(f->b, &err), &err);
    ops->end(f->b);
    assert_int_equal(rows(f), 0);
}

/* What was not committed when end comes is gone: an issue's insert, a
 * revoke's delete. */
static void end_abandons_what_was_not_committed(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "hana", BACKEND_NOW, 300);
    const backend_ops *ops = f->b->ops;
    bool exists;
    uint64_t now = BACKEND_NOW;
    size_t n;
    pairtok_error err;
    pairtok_record other;
    unsigned char other_hash[BACKEND_HASH_BYTES];
    random_record(&other, other_hash, "hana", NULL);
    other.issued_at_epoch = BACKEND_NOW;
    backend_sel expired = {.kind = SEL_EXPIRED, .now = now};
    assert_ok(ops->begin(f->b, BACKEND_WRITE_CREATE, "hana", &now, &exists, &err), &err);
    assert_ok(ops->remove(f->b, &expired, &n, NULL, &err), &err);
    assert_ok(ops->insert(f->b, &other, 300, &err), &err);
    ops->end(f->b);
    backend_sel mine = {.kind = SEL_PRINCIPAL, .principal = "hana", .now = now};
    assert_ok(ops->begin(f->b, BACKEND_WRITE, NULL, &now, &exists, &err), &err);
    assert_ok(ops->remove(f->b, &mine, &n, NULL, &err), &err);
    assert_int_equal(n, 1);
    ops->end(f->b);
    assert_int_equal(rows(f), 1);
    assert_int_equal(sql_value("SELECT count(*) FROM %s.pairtok_token WHERE token_hash = '%s'",
                               f->schema, rec.token_hash),
                     1);
    /* No transaction is left open on the server. */
    assert_true(take_ok(f->b, hash, BACKEND_NOW));
}

/* Many clients redeem one token at once: exactly one gets it. */
static void racing_takes_redeem_once(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "frank", BACKEND_NOW, 300);
    enum { N = 24 };
    pid_t kids[N];
    tu_start_line line;
    tu_start_line_open(&line);
    for (int i = 0; i < N; i++) {
        if ((kids[i] = fork()) == 0) {
            backend *b = child_open(f, NULL);
            child_connect(b);
            tu_start_line_wait(&line, 4);
            pairtok_record out;
            bool found = false;
            pairtok_error err;
            pairtok_status st = take(b, hash, BACKEND_NOW, &out, &found, &err);
            b->ops->close(b);
            _exit(st != PAIRTOK_OK ? 2 : found ? 0 : 1);
        }
    }
    tu_start_line_release(&line, N);
    int winners = 0;
    for (int i = 0; i < N; i++) {
        int status;
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) <= 1);
        winners += WEXITSTATUS(status) == 0;
    }
    assert_int_equal(winners, 1);
    assert_int_equal(rows(f), 0);
}

/* ---------------------------------------------------------------------- */
/* Selections.                                                            */
/* ---------------------------------------------------------------------- */

static size_t count_sel(backend *b, const backend_sel *sel, size_t limit)
{
    bool exists;
    uint64_t now = sel->now;
    size_t n = 999;
    pairtok_error err;
    assert_ok(b->ops->begin(b, BACKEND_READ, NULL, &now, &exists, &err), &err);
    assert_ok(b->ops->count(b, sel, limit, &n, &err), &err);
    b->ops->end(b);
    return n;
}

static size_t remove_sel(backend *b, const backend_sel *sel)
{
    bool exists;
    uint64_t now = sel->now;
    size_t n = 999;
    pairtok_error err;
    assert_ok(b->ops->begin(b, BACKEND_WRITE, NULL, &now, &exists, &err), &err);
    assert_ok(b->ops->remove(b, sel, &n, NULL, &err), &err);
    assert_ok(b->ops->commit(b, &err), &err);
    b->ops->end(b);
    return n;
}

/* alice: 3 live + 1 expired at NOW + 100; bob: 1 live. */
static void seed_selection(fixture *f, pairtok_record recs[5], unsigned char hashes[5][32])
{
    static const char *const who[] = {"alice", "alice", "alice", "alice", "bob"};
    static const uint32_t ttl[] = {300, 300, 300, 100, 300};
    for (int i = 0; i < 5; i++) {
        random_record(&recs[i], hashes[i], who[i], i == 1 ? NULL : "l");
        pairtok_error err;
        assert_ok(issue_opts(f->b, &defaults, &recs[i], NOW + (uint64_t)i, ttl[i], &err), &err);
    }
}

static void count_read_remove_by_selection(void **state)
{
    fixture *f = *state;
    pairtok_record recs[5];
    unsigned char hashes[5][32];
    seed_selection(f, recs, hashes);
    uint64_t later = NOW + 200; /* recs[3] expired */
    backend_sel all = {.kind = SEL_ALL, .now = later};
    backend_sel live = {.kind = SEL_ALL, .live_only = true, .now = later};
    backend_sel alice = {
        .kind = SEL_PRINCIPAL, .principal = "alice", .live_only = true, .now = later};
    backend_sel expired = {.kind = SEL_EXPIRED, .now = later};
    backend_sel by_hash = {.kind = SEL_HASH, .now = later};
    memcpy(by_hash.hash, hashes[4], 32);
    assert_int_equal(count_sel(f->b, &all, 100), 5);
    assert_int_equal(count_sel(f->b, &all, 2), 2); /* counting stops at the limit */
    assert_int_equal(count_sel(f->b, &live, 100), 4);
    assert_int_equal(count_sel(f->b, &alice, 100), 3);
    assert_int_equal(count_sel(f->b, &expired, 100), 1);
    assert_int_equal(count_sel(f->b, &by_hash, 100), 1);

    backend_sel prefix = {
        .kind = SEL_ID_PREFIX, .prefix = recs[2].token_hash, .prefix_len = 12, .now = later};
    pairtok_record_list list = {0};
    pairtok_error err;
    assert_ok(read_sel(f->b, BACKEND_READ, &prefix, &list, &err), &err);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].token_hash, recs[2].token_hash);
    pairtok_record_list_free(&list);
    /* A prefix ending in f: the range still ends above every match. */
    char fs[PAIRTOK_HASH_LEN + 1];
    memset(fs, 'f', PAIRTOK_HASH_LEN);
    fs[PAIRTOK_HASH_LEN] = '\0';
    sql("INSERT INTO %s.pairtok_token (token_hash, principal, issued_at, expires_at) VALUES "
        "('%s', 'fred', to_timestamp(%u), to_timestamp(%u))",
        f->schema, fs, NOW + 10, NOW + 300);
    backend_sel fff = {.kind = SEL_ID_PREFIX, .prefix = fs, .prefix_len = 8, .now = later};
    assert_int_equal(count_sel(f->b, &fff, 100), 1);

    assert_ok(read_sel(f->b, BACKEND_READ, &all, &list, &err), &err);
    assert_int_equal(list.count, 6);
    /* In issue order, labels NULL where none was given. */
    for (int i = 0; i < 5; i++) {
        assert_string_equal(list.items[i].token_hash, recs[i].token_hash);
    }
    assert_null(list.items[1].label);
    assert_string_equal(list.items[0].label, "l");
    pairtok_record_list_free(&list);

    assert_int_equal(remove_sel(f->b, &expired), 1);
    backend_sel alice_all = {.kind = SEL_PRINCIPAL, .principal = "alice", .now = later};
    assert_int_equal(remove_sel(f->b, &alice_all), 3);
    assert_int_equal(remove_sel(f->b, &by_hash), 1);
    assert_int_equal(remove_sel(f->b, &fff), 1);
    assert_int_equal(rows(f), 0);
    assert_bound_covers(f);
}

static void issue_prunes_in_bounded_batches_and_prune_takes_all(void **state)
{
    fixture *f = *state;
    init_schema(f);
    sql("INSERT INTO %s.pairtok_token (token_hash, principal, issued_at, expires_at) "
        "SELECT encode(sha256(int4send(i)), 'hex'), 'old', to_timestamp(%u), to_timestamp(%u) "
        "FROM generate_series(1, 150) AS i",
        f->schema, NOW - 400, NOW - 100);
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "alice", NOW, 300);
    long long left = rows(f) - 1;
    assert_true(left > 0 && left < 150);
    backend_sel expired = {.kind = SEL_EXPIRED, .now = NOW};
    assert_int_equal(remove_sel(f->b, &expired), (size_t)left);
    assert_int_equal(rows(f), 1);
}

/* An issue a cap refuses changes nothing, though it goes to the server
 * with its pruning and insert in one statement: the expired rows stay,
 * and the bound does not move. */
static void refused_issue_changes_nothing(void **state)
{
    fixture *f = *state;
    init_schema(f);
    sql("INSERT INTO %s.pairtok_token (token_hash, principal, issued_at, expires_at) "
        "SELECT encode(sha256(int4send(i)), 'hex'), 'old', to_timestamp(%u), to_timestamp(%u) "
        "FROM generate_series(1, 150) AS i",
        f->schema, NOW - 400, NOW - 100);
    pairtok_options one = defaults;
    one.max_per_principal = 1;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    pairtok_error err;
    backend *first = open_fixture(f, &one);
    random_record(&rec, hash, "alice", NULL);
    assert_ok(issue_opts(first, &one, &rec, NOW, 300, &err), &err); /* prunes a batch */
    first->ops->close(first);
    long long rows_before = rows(f), bound_before = bound(f);
    assert_true(rows_before > 1);
    /* A fresh handle's first issue prunes: this one is refused. */
    backend *second = open_fixture(f, &one);
    random_record(&rec, hash, "alice", NULL);
    assert_int_equal(issue_opts(second, &one, &rec, NOW, 300, &err), PAIRTOK_ELIMIT);
    assert_int_equal(rows(f), rows_before);
    assert_int_equal(bound(f), bound_before);
    /* The total cap likewise, on the exact path. */
    pairtok_options full = defaults;
    full.max_total = 1;
    random_record(&rec, hash, "bob", NULL);
    assert_int_equal(issue_opts(second, &full, &rec, NOW, 300, &err), PAIRTOK_ELIMIT);
    assert_int_equal(rows(f), rows_before);
    second->ops->close(second);
}

static void stamped_list_round_trips_every_label(void **state)
{
    fixture *f = *state;
    static const char *const labels[] = {"plain", "quote \" and \\ backslash", "{braces},comma",
                                         "NULL",  "caf\xc3\xa9 \xe2\x9c\x93",  ""};
    static const char *const principals[] = {"NULL", "null", "a-b_c", "Z9", "x", "y"};
    pairtok_record_list list = {0};
    bool in_base[6] = {false};
    for (int i = 0; i < 6; i++) {
        unsigned char hash[BACKEND_HASH_BYTES];
        pairtok_record r;
        random_record(&r, hash, principals[i], labels[i]);
        r.issued_at_epoch = NOW + (uint64_t)i;
        r.expires_at_epoch = NOW + 300;
        list.items = realloc(list.items, (list.count + 1) * sizeof r);
        r.label = strdup(labels[i]);
        list.items[list.count++] = r;
    }
    list.capacity = list.count;
    backend_save plan = {.list = &list, .in_base = in_base};
    bool exists;
    uint64_t now = BACKEND_NOW;
    pairtok_error err;
    const backend_ops *ops = f->b->ops;
    assert_ok(ops->begin(f->b, BACKEND_WRITE_CREATE, NULL, &now, &exists, &err), &err);
    assert_ok(ops->save(f->b, &plan, &err), &err);
    assert_ok(ops->commit(f->b, &err), &err);
    ops->end(f->b);
    pairtok_record_list back = {0};
    backend_sel all = {.kind = SEL_ALL, .now = NOW};
    assert_ok(read_sel(f->b, BACKEND_READ, &all, &back, &err), &err);
    assert_int_equal(back.count, 6);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(back.items[i].token_hash, list.items[i].token_hash);
        assert_string_equal(back.items[i].principal, principals[i]);
        assert_string_equal(back.items[i].label, labels[i]);
        assert_int_equal(back.items[i].issued_at_epoch, NOW + (uint64_t)i);
    }
    pairtok_record_list_free(&back);
    pairtok_record_list_free(&list);
    assert_int_equal(bound(f), 6);
}

static pairtok_status save(backend *b, const backend_save *plan, pairtok_error *err)
{
    bool exists;
    uint64_t now = BACKEND_NOW;
    pairtok_status st = b->ops->begin(b, BACKEND_WRITE_CREATE, NULL, &now, &exists, err);
    if (st == PAIRTOK_OK) {
        st = b->ops->save(b, plan, err);
    }
    if (st == PAIRTOK_OK) {
        st = b->ops->commit(b, err);
    }
    b->ops->end(b);
    return st;
}

/* Loaded: A, B, C.  Meanwhile C was redeemed and D issued elsewhere.  The
 * caller changes A's label, removes B, keeps C, adds E. */
static void save_keeps_others_and_never_resurrects(void **state)
{
    fixture *f = *state;
    pairtok_record a, b, c, d, e;
    unsigned char ha[32], hb[32], hc[32], hd[32], he[32];
    issue(f->b, &a, ha, "alice", NOW, 300);
    issue(f->b, &b, hb, "alice", NOW, 300);
    issue(f->b, &c, hc, "alice", NOW, 300);
    assert_true(take_ok(f->b, hc, NOW + 1));
    issue(f->b, &d, hd, "dora", NOW, 300);
    random_record(&e, he, "erik", NULL);
    e.issued_at_epoch = NOW;
    e.expires_at_epoch = NOW + 100;
    a.label = "renamed";
    pairtok_record items[] = {a, c, e};
    pairtok_record_list list = {items, 3, 3, NULL};
    bool in_base[] = {true, true, false};
    unsigned char removed[1][BACKEND_HASH_BYTES];
    memcpy(removed[0], hb, 32);
    backend_save plan = {.list = &list,
                         .in_base = in_base,
                         .removed = (const unsigned char(*)[32])removed,
                         .removed_count = 1};
    pairtok_error err;
    assert_ok(save(f->b, &plan, &err), &err);
    assert_int_equal(rows(f), 3); /* a, d, e */
    assert_int_equal(sql_value("SELECT count(*) FROM %s.pairtok_token WHERE token_hash IN "
                               "('%s', '%s', '%s') ",
                               f->schema, a.token_hash, d.token_hash, e.token_hash),
                     3);
    assert_int_equal(
        sql_value("SELECT count(*) FROM %s.pairtok_token WHERE label = 'renamed'", f->schema), 1);
    /* Again, unchanged: nothing rewritten, nothing new. */
    assert_ok(save(f->b, &plan, &err), &err);
    assert_int_equal(rows(f), 3);
    assert_int_equal(bound(f), 5); /* four issues, one new record */
}

static void save_refuses_a_record_the_schema_refuses(void **state)
{
    fixture *f = *state;
    pairtok_record r;
    unsigned char h[32];
    random_record(&r, h, "alice", NULL);
    r.issued_at_epoch = NOW;
    r.expires_at_epoch = NOW + 7200; /* over the 1-hour cap */
    pairtok_record_list list = {&r, 1, 1, NULL};
    bool in_base[] = {false};
    backend_save plan = {.list = &list, .in_base = in_base};
    pairtok_error err;
    assert_int_equal(save(f->b, &plan, &err), PAIRTOK_EINVAL);
    assert_contains(err.message, "pairtok_token_lifetime");
    assert_contains(err.message, "SQLSTATE 23514");
    assert_int_equal(rows(f), 0);
}

static void save_bulk_goes_in_batches(void **state)
{
    fixture *f = *state;
    enum { N = 25000 };
    pairtok_record_list list = {calloc(N, sizeof(pairtok_record)), N, N, NULL};
    bool *in_base = calloc(N, sizeof(bool));
    for (size_t i = 0; i < N; i++) {
        unsigned char h[32];
        random_record(&list.items[i], h, "bulk", NULL);
        list.items[i].issued_at_epoch = NOW;
        list.items[i].expires_at_epoch = NOW + 300;
    }
    backend_save plan = {.list = &list, .in_base = in_base};
    pairtok_error err;
    assert_ok(save(f->b, &plan, &err), &err);
    assert_int_equal(rows(f), N);
    assert_int_equal(bound(f), N);
    /* All of them removed again in one save. */
    unsigned char(*removed)[BACKEND_HASH_BYTES] = calloc(N, BACKEND_HASH_BYTES);
    for (size_t i = 0; i < N; i++) {
        sodium_hex2bin(removed[i], 32, list.items[i].token_hash, 64, NULL, NULL, NULL);
    }
    pairtok_record_list none = {0};
    backend_save drop = {.list = &none,
                         .in_base = in_base,
                         .removed = (const unsigned char(*)[32])removed,
                         .removed_count = N};
    assert_ok(save(f->b, &drop, &err), &err);
    assert_int_equal(rows(f), 0);
    free(removed);
    free(in_base);
    free(list.items);
}

/* ---------------------------------------------------------------------- */
/* Caps under concurrency.                                                */
/* ---------------------------------------------------------------------- */

/* Forked issuers, each with its own connection. */
typedef struct race {
    int n;
    const char *principal; /* of every child, or NULL: child i's is "p<i>" */
    const pairtok_options *opts;
    bool warm;                           /* each child first issues once for "w<i>" */
    void (*before_go)(const fixture *f); /* run once all are ready */
} race;

static pairtok_status child_issue(backend *b, const race *r, const char *principal)
{
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    random_record(&rec, hash, principal, NULL);
    pairtok_error err;
    pairtok_status st = issue_opts(b, r->opts, &rec, BACKEND_NOW, 300, &err);
    if (st != PAIRTOK_OK && st != PAIRTOK_ELIMIT) {
        fprintf(stderr, "# %s: %s\n", principal, err.message);
    }
    return st;
}

static void race_child(const fixture *f, const race *r, int i, tu_start_line *line)
{
    backend *b = child_open(f, r->opts);
    child_connect(b);
    char name[16];
    snprintf(name, sizeof name, "w%d", i);
    if (r->warm && child_issue(b, r, name) != PAIRTOK_OK) {
        _exit(5);
    }
    snprintf(name, sizeof name, "p%d", i);
    tu_start_line_wait(line, 4);
    pairtok_status st = child_issue(b, r, r->principal ? r->principal : name);
    b->ops->close(b);
    _exit(st == PAIRTOK_OK ? 0 : st == PAIRTOK_ELIMIT ? 1 : 2);
}

/* How many of the racing issues succeeded; every other one must have
 * been refused by a cap. */
static int racing_issues(const fixture *f, const race *r)
{
    pid_t kids[64];
    tu_start_line line;
    tu_start_line_open(&line);
    for (int i = 0; i < r->n; i++) {
        if ((kids[i] = fork()) == 0) {
            race_child(f, r, i, &line);
        }
    }
    tu_start_line_ready(&line, r->n);
    if (r->before_go != NULL) {
        r->before_go(f);
    }
    tu_start_line_go(&line);
    int ok = 0;
    for (int i = 0; i < r->n; i++) {
        int status;
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) <= 1);
        ok += WEXITSTATUS(status) == 0;
    }
    return ok;
}

/* The server's capacity B of backend_pg.c's total cap. */
static long long capacity(void)
{
    return sql_value("SELECT current_setting('max_connections')::int + "
                     "current_setting('max_prepared_transactions')::int");
}

/* Warm handles take the cap lock shared: only the principal's lock keeps
 * the per-principal count and insert of racing issues apart. */
static void per_principal_cap_holds_under_concurrency(void **state)
{
    fixture *f = *state;
    init_schema(f);
    pairtok_options opts = {.lock_timeout_ms = 10000, .max_per_principal = 16, .max_total = 100000};
    race r = {.n = 40, .principal = "alice", .opts = &opts, .warm = true};
    assert_int_equal(racing_issues(f, &r), 16);
    assert_int_equal(
        sql_value("SELECT count(*) FROM %s.pairtok_token WHERE principal = 'alice'", f->schema),
        16);
}

static void total_cap_holds_under_concurrency(void **state)
{
    fixture *f = *state;
    init_schema(f);
    pairtok_options opts = {.lock_timeout_ms = 10000, .max_per_principal = 16, .max_total = 20};
    race r = {.n = 40, .opts = &opts};
    assert_int_equal(racing_issues(f, &r), 20);
    assert_int_equal(rows(f), 20);
}

/* Others fill the store to 20 below the cap while the racers' handles
 * still believe it far (they last saw 40 rows or fewer). */
static void fill_to_twenty_below(const fixture *f)
{
    sql("WITH added AS (INSERT INTO %s.pairtok_token (token_hash, principal, issued_at, "
        "expires_at) SELECT encode(sha256(int4send(i)), 'hex'), 'filler', now(), now() + "
        "interval '5 minutes' FROM generate_series(1, %lld - 40) AS i RETURNING 1) "
        "UPDATE %s.pairtok_bound_base SET n = n - (SELECT count(*) FROM added)",
        f->schema, capacity(), f->schema);
}

static void total_cap_holds_when_handles_start_fast(void **state)
{
    fixture *f = *state;
    init_schema(f);
    pairtok_options opts = {
        .lock_timeout_ms = 10000, .max_per_principal = 16, .max_total = (uint32_t)capacity() + 20};
    race r = {.n = 40, .opts = &opts, .warm = true, .before_go = fill_to_twenty_below};
    assert_int_equal(racing_issues(f, &r), 20);
    assert_int_equal(rows(f), capacity() + 20);
}

/* The total cap's fast path (cap lock shared, counter plus the server's
 * capacity) and the switch to the exact path near the cap, on one handle:
 * every issue up to the cap succeeds, the next is refused. */
static void total_cap_switches_to_exact_near_the_cap(void **state)
{
    fixture *f = *state;
    init_schema(f);
    long long cap = capacity();
    pairtok_options opts = {
        .lock_timeout_ms = 10000, .max_per_principal = 1000, .max_total = (uint32_t)cap + 3};
    backend *b = open_fixture(f, &opts);
    pairtok_error err;
    for (long long i = 0; i < cap + 3; i++) {
        pairtok_record rec;
        unsigned char hash[BACKEND_HASH_BYTES];
        random_record(&rec, hash, "alice", NULL);
        assert_ok(issue_opts(b, &opts, &rec, BACKEND_NOW, 300, &err), &err);
    }
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    random_record(&rec, hash, "bob", NULL);
    assert_int_equal(issue_opts(b, &opts, &rec, BACKEND_NOW, 300, &err), PAIRTOK_ELIMIT);
    assert_int_equal(rows(f), cap + 3);
    /* Expired rows do not count: at the cap, the exact count skips them. */
    sql("UPDATE %s.pairtok_token SET issued_at = issued_at - interval '1 hour', "
        "expires_at = expires_at - interval '1 hour' WHERE token_hash IN (SELECT token_hash "
        "FROM %s.pairtok_token LIMIT 1)",
        f->schema, f->schema);
    /* Through the verbs without pruning first: only the count decides. */
    bool exists;
    uint64_t now = BACKEND_NOW;
    size_t n = 0;
    backend_sel all = {.kind = SEL_ALL, .live_only = true, .now = BACKEND_NOW};
    assert_ok(b->ops->begin(b, BACKEND_WRITE_CREATE, "bob", &now, &exists, &err), &err);
    assert_ok(b->ops->count(b, &all, opts.max_total, &n, &err), &err);
    b->ops->end(b);
    assert_int_equal(n, (size_t)cap + 2);
    b->ops->close(b);
}

/* A bound far above the live tokens (they were redeemed: nothing lowers
 * it) sends the next issue to the exact path once, which sets it right. */
static void issue_near_a_stale_bound_recounts(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "ivan", BACKEND_NOW, 300);
    sql("UPDATE %s.pairtok_bound_base SET n = n - %u", f->schema, defaults.max_total);
    issue(f->b, &rec, hash, "ivan", BACKEND_NOW, 300);
    assert_int_equal(bound(f), 2);
    assert_int_equal(rows(f), 2);
    issue(f->b, &rec, hash, "ivan", BACKEND_NOW, 300);
    assert_int_equal(bound(f), 3);
}

/* A handle far from the cap issues with the cap lock shared: two such
 * issues for different principals do not wait for each other. */
static void issues_far_from_the_cap_run_in_parallel(void **state)
{
    fixture *f = *state;
    init_schema(f);
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300); /* leaves the exclusive start */
    pairtok_options quick = defaults;
    quick.lock_timeout_ms = 2000; /* if it had to wait, fail soon */
    backend *other = open_fixture(f, &quick);
    issue(other, &rec, hash, "bob", BACKEND_NOW, 300);
    const backend_ops *ops = f->b->ops;
    bool exists;
    uint64_t now = BACKEND_NOW;
    size_t n = 0;
    pairtok_error err;
    backend_sel all = {.kind = SEL_ALL, .live_only = true, .now = now};
    assert_ok(ops->begin(f->b, BACKEND_WRITE_CREATE, "carol", &now, &exists, &err), &err);
    assert_ok(ops->count(f->b, &all, defaults.max_total, &n, &err), &err);
    /* f->b holds its locks; `other` issues for someone else meanwhile. */
    random_record(&rec, hash, "dave", NULL);
    assert_ok(issue_once(other, &quick, &rec, BACKEND_NOW, 300, &err), &err);
    ops->end(f->b);
    other->ops->close(other);
}

/* ---------------------------------------------------------------------- */
/* Failures: lost connections, SQLSTATEs, lock timeouts.                  */
/* ---------------------------------------------------------------------- */

static int backend_pid(backend *b)
{
    return PQbackendPID(((pg_backend *)b)->conn);
}

/* Terminate a server process and wait until it is gone. */
static void terminate(int pid)
{
    sql("SELECT pg_terminate_backend(%d)", pid);
    for (int i = 0; i < 500; i++) {
        if (sql_value("SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid) == 0) {
            return;
        }
        usleep(10000);
    }
    fail_msg("server process %d did not go away", pid);
}

static void connection_killed_while_idle_is_replaced(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300);
    int pid = backend_pid(f->b);
    terminate(pid);
    /* Nothing of the next transaction had been sent: it just reconnects. */
    assert_true(take_ok(f->b, hash, BACKEND_NOW));
    assert_int_not_equal(backend_pid(f->b), pid);
}

static void connection_killed_in_a_transaction_fails_then_recovers(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300);
    const backend_ops *ops = f->b->ops;
    bool exists;
    uint64_t now = BACKEND_NOW;
    pairtok_error err;
    pairtok_record_list list = {0};
    backend_sel prefix = {
        .kind = SEL_ID_PREFIX, .prefix = rec.token_hash, .prefix_len = 12, .now = now};
    assert_ok(ops->begin(f->b, BACKEND_WRITE, NULL, &now, &exists, &err), &err);
    assert_ok(ops->read(f->b, &prefix, &list, &err), &err);
    assert_int_equal(list.count, 1);
    pairtok_record_list_free(&list);
    terminate(backend_pid(f->b));
    size_t removed = 99;
    assert_int_equal(ops->remove(f->b, &prefix, &removed, NULL, &err), PAIRTOK_EIO);
    assert_contains(err.message, "connection was lost");
    assert_contains(err.message, "nothing was committed");
    assert_int_equal(removed, 0);
    assert_int_equal(ops->commit(f->b, &err), PAIRTOK_EIO);
    ops->end(f->b);
    /* The same handle works again, and the token is still there. */
    assert_int_equal(rows(f), 1);
    assert_true(take_ok(f->b, hash, BACKEND_NOW));
}

/* The server restarts between two calls: the next call reconnects. */
static void server_restart_between_calls(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300);
    assert_int_equal(system("tests/pg/pg-ctl restart"), 0);
    PQreset(admin);
    assert_true(take_ok(f->b, hash, BACKEND_NOW));
    /* Down for good: a clear error, not a hang; up again: working. */
    assert_int_equal(system("tests/pg/pg-ctl stop"), 0);
    bool exists;
    pairtok_error err;
    assert_int_equal(begin_end(f->b, BACKEND_WRITE, &exists, &err), PAIRTOK_EIO);
    assert_contains(err.message, "cannot connect");
    assert_int_equal(system("tests/pg/pg-ctl start"), 0);
    PQreset(admin);
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300);
    assert_true(take_ok(f->b, hash, BACKEND_NOW));
}

/* COMMIT sent, answer lost: the outcome is unknown and said so. */
static void connection_lost_during_commit_is_unknown_outcome(void **state)
{
    fixture *f = *state;
    init_schema(f);
    sql("CREATE FUNCTION %s.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_sleep(5); RETURN NULL; END $$",
        f->schema);
    sql("CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON %s.pairtok_token DEFERRABLE INITIALLY "
        "DEFERRED FOR EACH ROW EXECUTE FUNCTION %s.slow()",
        f->schema, f->schema);
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    random_record(&rec, hash, "alice", NULL);
    const backend_ops *ops = f->b->ops;
    bool exists;
    uint64_t now = BACKEND_NOW;
    pairtok_error err;
    assert_ok(ops->begin(f->b, BACKEND_WRITE_CREATE, "alice", &now, &exists, &err), &err);
    rec.issued_at_epoch = BACKEND_NOW;
    assert_ok(ops->insert(f->b, &rec, 300, &err), &err);
    int pid = backend_pid(f->b);
    pid_t killer = fork();
    if (killer == 0) {
        usleep(500000);
        PGconn *c = PQconnectdb(getenv("PAIRTOK_TEST_PG"));
        char text[64];
        snprintf(text, sizeof text, "SELECT pg_terminate_backend(%d)", pid);
        PQclear(PQexec(c, text));
        PQfinish(c);
        _exit(0);
    }
    assert_int_equal(ops->commit(f->b, &err), PAIRTOK_EIO);
    assert_contains(err.message, "outcome is unknown");
    ops->end(f->b);
    int status;
    assert_int_equal(waitpid(killer, &status, 0), killer);
    sql("DROP TRIGGER slow ON %s.pairtok_token", f->schema);
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300);
}

/* The server raises `code` on the next insert: how it is reported. */
static void assert_insert_failure(fixture *f, const char *code, pairtok_status want,
                                  const char *fragment)
{
    sql("CREATE OR REPLACE FUNCTION %s.fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'injected' USING ERRCODE = '%s'; END $$",
        f->schema, code);
    sql("CREATE TRIGGER fail BEFORE INSERT ON %s.pairtok_token FOR EACH ROW EXECUTE FUNCTION "
        "%s.fail()",
        f->schema, f->schema);
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    random_record(&rec, hash, "alice", NULL);
    pairtok_error err;
    assert_int_equal(issue_once(f->b, &defaults, &rec, BACKEND_NOW, 300, &err), want);
    assert_int_equal(err.code, want);
    assert_contains(err.message, fragment);
    char sqlstate[32];
    snprintf(sqlstate, sizeof sqlstate, "SQLSTATE %s", code);
    assert_contains(err.message, sqlstate);
    assert_contains(err.message, f->b->display);
    sql("DROP TRIGGER fail ON %s.pairtok_token", f->schema);
    assert_int_equal(rows(f), 0);
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300); /* the handle still works */
    assert_true(take_ok(f->b, hash, BACKEND_NOW));
}

static void sqlstates_map_to_statuses(void **state)
{
    fixture *f = *state;
    init_schema(f);
    assert_insert_failure(f, "40001", BACKEND_RETRY, "rolled back");
    assert_insert_failure(f, "40P01", BACKEND_RETRY, "rolled back");
    assert_insert_failure(f, "55P03", BACKEND_RETRY, "rolled back");
    assert_insert_failure(f, "25006", PAIRTOK_EIO, "read-only");
    assert_insert_failure(f, "23505", PAIRTOK_ERANDOM, "repeated");
    assert_insert_failure(f, "23514", PAIRTOK_EINVAL, "refused the record");
    assert_insert_failure(f, "57014", PAIRTOK_EBUSY, "canceled");
    assert_insert_failure(f, "42501", PAIRTOK_EIO, "injected");
    assert_insert_failure(f, "57P01", PAIRTOK_EIO, "connection was lost");
}

/* lock_timeout holds on a handle that connected before the schema was
 * there (the failed version query must not undo the session's settings);
 * alarm() turns a hang into a failure. */
static void blocked_issue_times_out(void **state)
{
    fixture *f = *state;
    pairtok_options opts = defaults;
    opts.lock_timeout_ms = 200;
    backend *b = open_fixture(f, &opts);
    bool exists = true;
    pairtok_error err;
    assert_ok(begin_end(b, BACKEND_READ, &exists, &err), &err);
    assert_false(exists);
    /* Hold alice's lock from the admin connection. */
    sql("BEGIN; SELECT pg_advisory_xact_lock(%d, hashtext('alice'))", PG_LOCK_PRINCIPAL_CLASS);
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES];
    random_record(&rec, hash, "alice", NULL);
    struct timespec t0, t1;
    alarm(20);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(issue_once(b, &opts, &rec, BACKEND_NOW, 300, &err), BACKEND_RETRY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    alarm(0);
    assert_contains(err.message, "SQLSTATE 55P03");
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    random_record(&rec, hash, "bob", NULL); /* others are not blocked */
    assert_ok(issue_once(b, &opts, &rec, BACKEND_NOW, 300, &err), &err);
    sql("ROLLBACK");
    b->ops->close(b);
}

static void verbs_outside_a_transaction_are_refused(void **state)
{
    fixture *f = *state;
    init_schema(f);
    backend_sel all = {.kind = SEL_ALL, .now = BACKEND_NOW};
    size_t n;
    pairtok_error err;
    assert_int_equal(f->b->ops->count(f->b, &all, 10, &n, &err), PAIRTOK_EIO);
    assert_contains(err.message, "outside begin/end");
    assert_int_equal(f->b->ops->commit(f->b, &err), PAIRTOK_EIO);
    f->b->ops->end(f->b); /* harmless */
}

/* ---------------------------------------------------------------------- */
/* check                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct found_problems {
    char all[8192];
    size_t n;
} found_problems;

static void collect(const pairtok_error *problem, void *ctx)
{
    found_problems *p = ctx;
    size_t used = strlen(p->all);
    snprintf(p->all + used, sizeof p->all - used, "%s\n", problem->message);
    p->n++;
}

static void check_on_missing_schema_is_healthy(void **state)
{
    fixture *f = *state;
    found_problems p = {"", 0};
    backend_reporter r = {collect, &p, 0};
    pairtok_error err;
    assert_ok(f->b->ops->check(f->b, BACKEND_NOW, &r, &err), &err);
    assert_int_equal(r.count, 0);
    assert_false(has_table(f, "pairtok_token"));
}

static void check_reports_rows_that_break_the_format(void **state)
{
    fixture *f = *state;
    pairtok_record rec;
    unsigned char hash[BACKEND_HASH_BYTES], rid[BACKEND_RID_BYTES];
    issue(f->b, &rec, hash, "alice", BACKEND_NOW, 300); /* healthy */
    found_problems p = {"", 0};
    backend_reporter r = {collect, &p, 0};
    pairtok_error err;
    assert_ok(f->b->ops->check(f->b, BACKEND_NOW, &r, &err), &err);
    assert_int_equal(r.count, 0);

    issue(f->b, &rec, hash, "bob", BACKEND_NOW, 300);
    randombytes_buf(rid, sizeof rid);
    bool found;
    assert_ok(reserve(f->b, hash, rid, &found, &err), &err);
    char h[3][65];
    for (int i = 0; i < 3; i++) {
        unsigned char raw[32];
        pairtok_record x;
        random_record(&x, raw, "x", NULL);
        memcpy(h[i], x.token_hash, 65);
    }
    insert_sql(f, h[0], "anonymous", "NULL", (long long)time(NULL), (long long)time(NULL) + 60);
    insert_sql(f, h[1], "carol", "E'evil\\x1b[2J'", (long long)time(NULL),
               (long long)time(NULL) + 60);
    insert_sql(f, h[2], "dave", "NULL", (long long)time(NULL) + 600, (long long)time(NULL) + 700);
    /* Added by hand: the bound (2) is now short of the 5 live tokens. */
    assert_ok(f->b->ops->check(f->b, BACKEND_NOW, &r, &err), &err);
    assert_int_equal(r.count, 5);
    assert_int_equal(p.n, 5);
    char id[13];
    snprintf(id, sizeof id, "%.12s", rec.token_hash);
    assert_contains(p.all, id);
    assert_contains(p.all, "reserved by a redeem that did not finish");
    assert_contains(p.all, "principal 'anonymous'");
    assert_contains(p.all, "control characters");
    assert_contains(p.all, "in the future");
    assert_contains(p.all, "fewer than the 5 live tokens");
    assert_contains(p.all, "pairtok init");
    assert_contains(p.all, f->b->display);
    assert_lacks(p.all, "\x1b");
    /* check changed nothing; init recounts. */
    assert_int_equal(rows(f), 5);
    assert_int_equal(bound(f), 2);
    assert_ok(f->b->ops->init(f->b, &err), &err);
    assert_int_equal(bound(f), 5);
}

/* ---------------------------------------------------------------------- */

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(int argc, char **argv)
{
    (void)argc;
    tu_run_under_pg(argv);
    if (sodium_init() < 0) {
        return 1;
    }
    admin_connect();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claims_only_postgresql_uris),
        cmocka_unit_test(display_masks_passwords),
        cmocka_unit_test(malformed_uris_are_einval_without_the_password),
        cmocka_unit_test(scrub_removes_passwords_from_messages),
        cmocka_unit_test(unreachable_server_is_eio_naming_the_masked_uri),
        T(wrong_or_missing_password_is_eio_without_the_password),
        T(notices_do_not_reach_stderr),
        T(read_and_write_create_nothing),
        T(first_write_create_makes_the_schema),
        T(init_creates_and_is_idempotent),
        T(racing_first_users_create_once),
        T(newer_schema_is_refused_and_left_alone),
        T(no_right_to_create_names_pairtok_init),
        T(search_path_without_a_schema_is_explained),
        T(tables_dropped_under_a_handle),
        T(tenants_are_separate),
        T(issue_stamps_server_time_and_take_is_single_use),
        T(explicit_times_are_kept_and_judged),
        T(unredeemable_rows_are_not_taken),
        T(schema_refuses_malformed_rows),
        T(two_phase_reservation_belongs_to_its_rid),
        T(two_phase_in_one_sequence),
        T(take_is_durable_when_it_returns),
        T(end_abandons_what_was_not_committed),
        T(racing_takes_redeem_once),
        T(count_read_remove_by_selection),
        T(issue_prunes_in_bounded_batches_and_prune_takes_all),
        T(refused_issue_changes_nothing),
        T(stamped_list_round_trips_every_label),
        T(save_keeps_others_and_never_resurrects),
        T(save_refuses_a_record_the_schema_refuses),
        T(save_bulk_goes_in_batches),
        T(per_principal_cap_holds_under_concurrency),
        T(total_cap_holds_under_concurrency),
        T(total_cap_holds_when_handles_start_fast),
        T(total_cap_switches_to_exact_near_the_cap),
        T(issue_near_a_stale_bound_recounts),
        T(issues_far_from_the_cap_run_in_parallel),
        T(connection_killed_while_idle_is_replaced),
        T(connection_killed_in_a_transaction_fails_then_recovers),
        T(connection_lost_during_commit_is_unknown_outcome),
        T(server_restart_between_calls),
        T(sqlstates_map_to_statuses),
        T(blocked_issue_times_out),
        T(verbs_outside_a_transaction_are_refused),
        T(check_on_missing_schema_is_healthy),
        T(check_reports_rows_that_break_the_format),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    PQfinish(admin);
    return failed;
}
