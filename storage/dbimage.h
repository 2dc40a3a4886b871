/*
 * dbimage.h - a new database written in one step from an image of the
 * newest schema, instead of migrated through every step of schema.sql.
 *
 * Migrating an empty file through all the steps costs most of a short
 * `tpsd run` (each ALTER TABLE makes SQLite parse the whole schema again,
 * triggers included). The image is the very file those steps make: at
 * build time storage/gen/dbimage_gen.c opens an empty database with
 * db_open_version (the steps, one by one, as for any database), closes it
 * and writes its bytes into a generated C file, so it cannot drift from
 * schema.sql. The bytes are stored as the runs that are not zero (most of
 * a fresh database's pages are empty b-tree roots).
 *
 * Only a path that does not exist yet (nor a -wal or -journal of it) is
 * made from the image, and only atomically: the image is written and
 * synced under a temporary name in the same folder, then hard-linked to
 * the path, which fails when anything created the path meanwhile. Anything
 * else (an empty file left by an earlier process, a journal left by a
 * deleted one, a filesystem without hard links, a build without an image)
 * falls back to the steps. storage/ only.
 */
#ifndef TPSD_DBIMAGE_H
#define TPSD_DBIMAGE_H

#include <stddef.h>

/* One run of non-zero bytes of the image: `len` bytes at file offset
 * `offset`, taken in order from dbimage_bytes. */
struct dbimage_seg {
    unsigned long offset;
    unsigned long len;
};

/* The generated image (build/storage: dbimage_gen's output): its size in
 * bytes (0: no image, e.g. a cross build), its runs and their bytes. */
extern const unsigned long dbimage_size;
extern const struct dbimage_seg dbimage_segs[];
extern const unsigned long dbimage_nsegs;
extern const unsigned char dbimage_bytes[];

/*
 * Create the database file `path` from the image when `path` does not
 * exist. Returns 1 when this call created it (complete and synced, at the
 * newest schema version), else 0: the path exists (or appeared meanwhile),
 * there is no image, the name is not a plain file name (":memory:",
 * "file:" URIs), or the folder or filesystem refused (the caller's normal
 * open then reports the real cause). Never touches an existing database;
 * before creating one it removes the temporary images of `path` that dead
 * processes left (PATH.tpsd-new.PID.N, PID gone).
 */
int dbimage_create(const char *path);

#endif
