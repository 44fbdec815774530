/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* An image tarball as `docker save` or Nix's dockerTools write it: a tar archive (possibly gzip- or
 * zstd-compressed) holding manifest.json, the image config and the layers. `minikube image load` silently
 * loads nothing from a compressed archive, so compressed archives are first written out uncompressed; every
 * archive is checked before it is offered: manifest.json parses, names one image with its tags, and the
 * config blob's SHA-256 is the image ID. */

typedef struct ImageArchive {
        char *source;  /* the file found in the images directory */
        char *tarball; /* the uncompressed archive to load (source itself when it was not compressed) */
        char id[72];   /* "sha256:<64 hex>", the digest of the config blob */
        char **tags;   /* RepoTags, NULL-terminated */
} ImageArchive;

/* Inspects path, writing an uncompressed copy into work_dir when needed (reused while it is newer than the
 * source). On failure, err says why in a sentence. */
int image_archive_open(
        const char *path, const char *work_dir, ImageArchive *ret, char *err, size_t err_size);
void image_archive_done(ImageArchive *a);

/* True when the image list of `minikube image ls --format json` holds this ID. */
int image_list_has_id(const char *json, const char *id);
