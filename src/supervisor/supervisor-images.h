/* SPDX-License-Identifier: MIT */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "k8s-manifest.h"

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
 * source). On failure, *reterr says why in a sentence (errmsg.h). */
int image_archive_open(const char *path, const char *work_dir, ImageArchive *ret, char **reterr);
void image_archive_done(ImageArchive *a);

/* True when the image list of `minikube image ls --format json` holds this ID. */
int image_list_has_id(const char *json, const char *id);

/* --- the set of archives in the images directory, and what the node has of them ---------------------- */

typedef enum ImageState {
        IMAGE_PENDING,
        IMAGE_PRESENT, /* the node had it already */
        IMAGE_LOADED,  /* loaded by us */
        IMAGE_FAILED,
        _IMAGE_STATE_MAX,
} ImageState;

typedef struct Image {
        ImageArchive archive;
        ImageState state;
        char *error;
} Image;

typedef struct ImageSet {
        Image *items;
        size_t n;
        char *node_json; /* the node's images, as `minikube image ls --format json` printed them last */
        char **missing; /* images the manifests reference with imagePullPolicy Never, absent from the node */
} ImageSet;

const char *image_state_to_string(ImageState s);
void image_set_done(ImageSet *s);
/* Marks img failed, saying why. */
void image_set_fail(Image *img, const char *error);
/* Forgets the archives known so far and inspects each *.tar, *.tar.gz, *.tgz and *.tar.zst in dir (in name
 * order); an unusable archive stays in the set as failed, with its error. -errno when dir cannot be read. */
int image_set_scan(ImageSet *s, const char *dir, const char *work_dir);
/* Takes the node's image list: archives the node has become present (or loaded, after a failed attempt).
 * After a load (after_load), an archive loaded without error that the node lacks is failed: the silent
 * failure of `image load`. True when every archive is on the node. */
bool image_set_settle(ImageSet *s, const char *node_json, bool after_load);
size_t image_set_n_failed(const ImageSet *s);
/* Every image the manifests reference with imagePullPolicy: Never must be on the node before applying:
 * -ENOENT with s->missing listing those that are not, -EBADMSG when no node list was settled. */
int image_set_check_referenced(ImageSet *s, const K8sManifestSet *set);
/* Appends one object per archive to the status document's "images" array. */
int image_set_status_json(const ImageSet *s, cJSON *images);
