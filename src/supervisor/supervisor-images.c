/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "cleanup-libs.h"
#include "errmsg.h"
#include "log.h"
#include "supervisor-images.h"
#include "util.h"

/* manifest.json and the config blob are small; anything larger is not an image archive of ours. */
#define IMAGE_METADATA_MAX (16 * 1024 * 1024)

void image_archive_done(ImageArchive *a) {
        free(a->source);
        free(a->tarball);
        strv_free(a->tags);
        *a = (ImageArchive){};
}

typedef enum Compression {
        COMPRESSION_NONE,
        COMPRESSION_GZIP,
        COMPRESSION_ZSTD,
} Compression;

static int detect(int fd, Compression *ret) {
        unsigned char magic[4];
        ssize_t k = pread(fd, magic, sizeof(magic), 0);

        if (k < 0)
                return -errno;
        if (k >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
                *ret = COMPRESSION_GZIP;
        else if (k >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
                *ret = COMPRESSION_ZSTD;
        else
                *ret = COMPRESSION_NONE;
        return 0;
}

static int decompress_gzip(int in, int out) {
        gzFile g = gzdopen(dup(in), "rb");
        char buf[65536];
        int k, r = 0;

        if (!g)
                return -ENOMEM;
        while ((k = gzread(g, buf, sizeof(buf))) > 0) {
                r = loop_write(out, buf, (size_t) k);
                if (r < 0)
                        break;
        }
        if (k < 0)
                r = -EBADMSG;
        (void) gzclose(g);
        return r;
}

static int decompress_zstd(int in, int out) {
        ZSTD_DCtx *z = ZSTD_createDCtx();
        size_t in_cap = ZSTD_DStreamInSize(), out_cap = ZSTD_DStreamOutSize(), last = 0;
        _cleanup_free_ char *ibuf = malloc(in_cap), *obuf = malloc(out_cap);
        ssize_t k;
        int r = 0;

        if (!z || !ibuf || !obuf) {
                ZSTD_freeDCtx(z);
                return -ENOMEM;
        }
        while ((k = read(in, ibuf, in_cap)) > 0) {
                ZSTD_inBuffer ib = {ibuf, (size_t) k, 0};
                while (ib.pos < ib.size) {
                        ZSTD_outBuffer ob = {obuf, out_cap, 0};
                        last = ZSTD_decompressStream(z, &ob, &ib);
                        if (ZSTD_isError(last)) {
                                r = -EBADMSG;
                                goto finish;
                        }
                        r = loop_write(out, obuf, ob.pos);
                        if (r < 0)
                                goto finish;
                }
        }
        if (k < 0)
                r = -errno;
        else if (last != 0)
                r = -EBADMSG; /* truncated frame */
finish:
        ZSTD_freeDCtx(z);
        return r;
}

/* Writes the uncompressed archive next to where it will be loaded from, atomically. */
static int write_uncompressed(int in, Compression comp, const char *dest) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int out = -EBADF;
        int r;

        if (asprintf(&tmp, "%s.tmp.%d", dest, (int) getpid()) < 0)
                return -ENOMEM;
        out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0)
                return -errno;
        if (lseek(in, 0, SEEK_SET) < 0)
                r = -errno;
        else
                r = comp == COMPRESSION_GZIP ? decompress_gzip(in, out) : decompress_zstd(in, out);
        if (r >= 0 && fsync(out) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, dest) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

static uint64_t parse_octal(const char *p, size_t n) {
        uint64_t v = 0;

        for (size_t i = 0; i < n && p[i]; i++) {
                if (p[i] == ' ')
                        continue;
                if (p[i] < '0' || p[i] > '7')
                        return UINT64_MAX;
                v = v * 8 + (uint64_t) (p[i] - '0');
        }
        return v;
}

/* Reads the named members of a tar archive (ustar with GNU long names) into memory. */
typedef struct TarWant {
        const char *name;
        char *data;
        size_t size;
} TarWant;

static int tar_read_members(int fd, TarWant *want, size_t n_want, char **reterr) {
        _cleanup_free_ char *long_name = NULL;
        unsigned char h[512];
        off_t pos = 0;

        for (;;) {
                ssize_t k = pread(fd, h, sizeof(h), pos);
                char name[257];
                uint64_t size;
                size_t nl;

                if (k < 0)
                        return errmsg_set(reterr, -errno, "cannot read the archive: %m");
                if (k < (ssize_t) sizeof(h))
                        return errmsg_set(
                                reterr, -EBADMSG, "the tar archive ends without its end-of-archive blocks");
                if (h[0] == 0)
                        return 0; /* end of archive */
                {
                        unsigned sum = 0, stored = (unsigned) parse_octal((const char *) h + 148, 8);
                        for (size_t i = 0; i < 512; i++)
                                sum += i >= 148 && i < 156 ? ' ' : h[i];
                        if (sum != stored)
                                return errmsg_set(
                                        reterr,
                                        -EBADMSG,
                                        "not a tar archive (bad header checksum at offset %lld)",
                                        (long long) pos);
                }
                size = parse_octal((const char *) h + 124, 12);
                if (size == UINT64_MAX)
                        return errmsg_set(reterr, -EBADMSG, "bad member size in the tar archive");

                if (long_name) {
                        (void) snprintf(name, sizeof(name), "%s", long_name);
                        free(long_name);
                        long_name = NULL;
                } else if (memcmp(h + 257, "ustar", 5) == 0 && h[345]) {
                        (void) snprintf(
                                name,
                                sizeof(name),
                                "%.155s/%.100s",
                                (const char *) h + 345,
                                (const char *) h);
                } else
                        (void) snprintf(name, sizeof(name), "%.100s", (const char *) h);
                nl = strlen(name);
                while (nl > 0 && name[nl - 1] == '/')
                        name[--nl] = 0;
                {
                        const char *n = startswith(name, "./") ?: name;
                        if (n != name)
                                memmove(name, n, strlen(n) + 1);
                }

                if (h[156] == 'L') {
                        if (size > 4096)
                                return errmsg_set(reterr, -EBADMSG, "overlong file name in the tar archive");
                        long_name = malloc(size + 1);
                        if (!long_name)
                                return -ENOMEM;
                        if (pread(fd, long_name, size, pos + 512) != (ssize_t) size)
                                return errmsg_set(reterr, -EBADMSG, "truncated tar archive");
                        long_name[size] = 0;
                } else if (h[156] == '0' || h[156] == 0) {
                        for (size_t i = 0; i < n_want; i++)
                                if (!want[i].data && streq(name, want[i].name)) {
                                        if (size > IMAGE_METADATA_MAX)
                                                return errmsg_set(
                                                        reterr,
                                                        -EFBIG,
                                                        "%s is larger than %d bytes",
                                                        name,
                                                        IMAGE_METADATA_MAX);
                                        want[i].data = malloc(size + 1);
                                        if (!want[i].data)
                                                return -ENOMEM;
                                        if (pread(fd, want[i].data, size, pos + 512) != (ssize_t) size)
                                                return errmsg_set(
                                                        reterr,
                                                        -EBADMSG,
                                                        "truncated tar archive (in %s)",
                                                        name);
                                        want[i].data[size] = 0;
                                        want[i].size = size;
                                }
                }
                pos += 512 + (off_t) ((size + 511) / 512 * 512);
        }
}

static int sha256_hex(const char *data, size_t size, char out[65]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if (!EVP_Digest(data, size, md, &n, EVP_sha256(), NULL) || n != 32)
                return -EIO;
        for (unsigned i = 0; i < 32; i++)
                (void) snprintf(out + 2 * i, 3, "%02x", md[i]);
        return 0;
}

int image_archive_open(const char *path, const char *work_dir, ImageArchive *ret, char **reterr) {
        _cleanup_close_ int fd = -EBADF, tfd = -EBADF;
        _cleanup_(cJSON_Deletep) cJSON *manifest = NULL;
        ImageArchive a = {};
        TarWant want[2] = {{"manifest.json"}};
        Compression comp = COMPRESSION_NONE;
        const cJSON *entry, *config, *tags, *t;
        char digest[65];
        struct stat st, dst;
        size_t n_tags = 0;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return errmsg_set(reterr, -errno, "cannot open: %m");
        r = detect(fd, &comp);
        if (r < 0)
                return errmsg_set(reterr, r, "cannot read: %m");

        a.source = strdup(path);
        if (!a.source)
                return -ENOMEM;
        if (comp == COMPRESSION_NONE) {
                a.tarball = strdup(path);
                tfd = TAKE_FD(fd);
        } else {
                const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
                size_t bl = strlen(base);

                /* loggen.tar.gz → loggen.tar; anything else gets .tar appended. */
                if (bl > 3 && (streq(base + bl - 3, ".gz") || streq(base + bl - 4, ".zst")))
                        bl -= streq(base + bl - 3, ".gz") ? 3 : 4;
                if (asprintf(
                            &a.tarball,
                            "%s/%.*s%s",
                            work_dir,
                            (int) bl,
                            base,
                            bl > 4 && memcmp(base + bl - 4, ".tar", 4) == 0 ? "" : ".tar") < 0) {
                        a.tarball = NULL;
                        image_archive_done(&a);
                        return -ENOMEM;
                }
                if (stat(a.tarball, &dst) < 0 || dst.st_mtime < st.st_mtime) {
                        r = write_uncompressed(fd, comp, a.tarball);
                        if (r < 0) {
                                image_archive_done(&a);
                                return errmsg_set(
                                        reterr,
                                        r,
                                        "cannot decompress: %s",
                                        r == -EBADMSG ? "corrupt compressed data" : strerror(-r));
                        }
                }
                tfd = open(a.tarball, O_RDONLY | O_CLOEXEC);
                if (tfd < 0) {
                        image_archive_done(&a);
                        return errmsg_set(reterr, -errno, "cannot open %s: %m", a.tarball);
                }
        }

        r = tar_read_members(tfd, want, 1, reterr);
        if (r >= 0 && !want[0].data)
                r = errmsg_set(
                        reterr, -EBADMSG, "no manifest.json in the archive: not a docker-archive image");
        if (r >= 0) {
                manifest = cJSON_Parse(want[0].data);
                entry = cJSON_IsArray(manifest) && cJSON_GetArraySize(manifest) == 1
                                ? cJSON_GetArrayItem(manifest, 0)
                                : NULL;
                config = cJSON_GetObjectItemCaseSensitive(entry, "Config");
                tags = cJSON_GetObjectItemCaseSensitive(entry, "RepoTags");
                if (!cJSON_IsString(config) || !cJSON_IsArray(tags) || cJSON_GetArraySize(tags) < 1)
                        r = errmsg_set(
                                reterr,
                                -EBADMSG,
                                "manifest.json must describe one image with Config and RepoTags");
        }
        if (r >= 0) {
                want[1].name = config->valuestring;
                r = tar_read_members(tfd, want + 1, 1, reterr);
                if (r >= 0 && !want[1].data)
                        r = errmsg_set(
                                reterr,
                                -EBADMSG,
                                "the config blob %s named by manifest.json is missing",
                                config->valuestring);
        }
        if (r >= 0) {
                const char *name = config->valuestring, *hex;

                r = sha256_hex(want[1].data, want[1].size, digest);
                /* Config blobs are named by their digest ("<hex>.json" or "blobs/sha256/<hex>"): check it.
                 */
                hex = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
                if (r >= 0 && strspn(hex, "0123456789abcdef") == 64 && strncmp(hex, digest, 64) != 0)
                        r = errmsg_set(
                                reterr,
                                -EBADMSG,
                                "config blob %s has digest sha256:%s: the archive is corrupt",
                                name,
                                digest);
        }
        if (r >= 0) {
                (void) snprintf(a.id, sizeof(a.id), "sha256:%s", digest);
                a.tags = new0(char *, (size_t) cJSON_GetArraySize(tags) + 1);
                if (!a.tags)
                        r = -ENOMEM;
                cJSON_ArrayForEach(t, tags) {
                        if (r < 0)
                                break;
                        if (!cJSON_IsString(t) || isempty(t->valuestring)) {
                                r = errmsg_set(reterr, -EBADMSG, "RepoTags holds a non-string");
                                break;
                        }
                        if (!(a.tags[n_tags++] = strdup(t->valuestring)))
                                r = -ENOMEM;
                }
        }
        free(want[0].data);
        free(want[1].data);
        if (r < 0) {
                image_archive_done(&a);
                return r;
        }
        *ret = a;
        return 0;
}

int image_list_has_id(const char *json, const char *id) {
        _cleanup_(cJSON_Deletep) cJSON *list = cJSON_Parse(json);
        const char *want = startswith(id, "sha256:") ?: id;
        const cJSON *e;

        if (!cJSON_IsArray(list))
                return -EBADMSG;
        cJSON_ArrayForEach(e, list) {
                const cJSON *i = cJSON_GetObjectItemCaseSensitive(e, "id");
                const char *have;

                if (!cJSON_IsString(i))
                        continue;
                have = startswith(i->valuestring, "sha256:") ?: i->valuestring;
                /* Runtimes print the ID whole or shortened; a 12+ digit prefix identifies it. */
                if (strlen(have) >= 12 && strncmp(want, have, strlen(have)) == 0)
                        return 1;
        }
        return 0;
}

/* --- the set of archives in the images directory ------------------------------------------------------ */

const char *image_state_to_string(ImageState s) {
        static const char *const names[_IMAGE_STATE_MAX] = {
                [IMAGE_PENDING] = "pending",
                [IMAGE_PRESENT] = "present",
                [IMAGE_LOADED] = "loaded",
                [IMAGE_FAILED] = "failed",
        };
        return s < _IMAGE_STATE_MAX ? names[s] : "unknown";
}

static void image_set_clear(ImageSet *s) {
        for (size_t i = 0; i < s->n; i++) {
                image_archive_done(&s->items[i].archive);
                free(s->items[i].error);
        }
        s->items = mfree(s->items);
        s->n = 0;
}

void image_set_done(ImageSet *s) {
        image_set_clear(s);
        s->node_json = mfree(s->node_json);
        s->missing = strv_free(s->missing);
}

void image_set_fail(Image *img, const char *error) {
        img->state = IMAGE_FAILED;
        if (streq_ptr(img->error, error))
                return;
        free(img->error);
        img->error = error ? strdup(error) : NULL;
}

static bool is_image_file(const char *name) {
        static const char *const suffixes[] = {".tar", ".tar.gz", ".tgz", ".tar.zst"};
        size_t n = strlen(name);

        if (name[0] == '.')
                return false;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t k = strlen(suffixes[i]);
                if (n > k && streq(name + n - k, suffixes[i]))
                        return true;
        }
        return false;
}

int image_set_scan(ImageSet *s, const char *dir, const char *work_dir) {
        struct dirent **list = NULL;
        int n;

        image_set_clear(s);
        n = scandir(dir, &list, NULL, alphasort);
        if (n < 0)
                return -errno;
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *error = NULL;
                char path[4096];
                Image *a, *img;
                int r;

                if (!is_image_file(list[i]->d_name) ||
                    snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name) >= (int) sizeof(path)) {
                        free(list[i]);
                        continue;
                }
                free(list[i]);
                a = reallocarray(s->items, s->n + 1, sizeof(Image));
                if (!a)
                        continue;
                s->items = a;
                img = s->items + s->n++;
                *img = (Image){};
                r = image_archive_open(path, work_dir, &img->archive, &error);
                if (r < 0) {
                        img->state = IMAGE_FAILED;
                        img->archive.source = strdup(path);
                        img->error = error ? TAKE_PTR(error) : strdup(strerror(-r));
                        log_warning("Image %s is unusable: %s", path, strempty(img->error));
                }
        }
        free(list);
        return 0;
}

bool image_set_settle(ImageSet *s, const char *node_json, bool after_load) {
        bool ok = true;

        if (!streq_ptr(s->node_json, node_json)) {
                free(s->node_json);
                s->node_json = node_json ? strdup(node_json) : NULL;
        }
        for (size_t i = 0; i < s->n; i++) {
                Image *img = s->items + i;
                int has;

                if (img->state == IMAGE_FAILED && !img->archive.tarball) {
                        ok = false; /* the archive itself is unusable */
                        continue;
                }
                has = image_list_has_id(node_json, img->archive.id);
                if (has > 0) {
                        if (img->state == IMAGE_PENDING)
                                img->state = IMAGE_PRESENT;
                        else if (img->state == IMAGE_FAILED)
                                img->state = IMAGE_LOADED;
                        img->error = mfree(img->error);
                } else if (after_load) {
                        if (img->state == IMAGE_LOADED)
                                /* `image load` said yes but the node has nothing: the silent failure we
                                 * guard against. */
                                image_set_fail(
                                        img,
                                        "loaded without error, but the node does not have this image ID");
                        ok = false;
                }
        }
        return ok;
}

size_t image_set_n_failed(const ImageSet *s) {
        size_t n = 0;

        for (size_t i = 0; i < s->n; i++)
                n += s->items[i].state == IMAGE_FAILED;
        return n;
}

/* True when the node's image list has a tag for `ref` ("otel/loggen:0.1.0" is listed as
 * "docker.io/otel/loggen:0.1.0"). */
static bool node_has_tag(const cJSON *list, const char *ref) {
        const cJSON *e, *t;
        bool has_tag = strchr(strrchr(ref, '/') ?: ref, ':') || strchr(ref, '@');

        cJSON_ArrayForEach(e, list) {
                cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(e, "repoTags")) {
                        const char *tag = cJSON_IsString(t) ? t->valuestring : "";
                        const char *bare = startswith(tag, "docker.io/library/") ?: startswith(tag, "docker.io/") ?: tag;
                        char want[512];

                        (void) snprintf(want, sizeof(want), "%s%s", ref, has_tag ? "" : ":latest");
                        if (streq(tag, want) || streq(bare, want))
                                return true;
                }
        }
        return false;
}

static void collect_pod_images(const cJSON *spec, const cJSON *list, char ***missing) {
        static const char *const keys[] = {"initContainers", "containers"};

        for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                const cJSON *ct;
                cJSON_ArrayForEach(ct, cJSON_GetObjectItemCaseSensitive(spec, keys[k])) {
                        const cJSON *image = cJSON_GetObjectItemCaseSensitive(ct, "image");
                        const cJSON *policy = cJSON_GetObjectItemCaseSensitive(ct, "imagePullPolicy");
                        size_t n = 0;
                        char **l;

                        /* Images the cluster may pull are its business; those it must never pull have to be
                         * here. */
                        if (!cJSON_IsString(image) || !cJSON_IsString(policy) ||
                            !streq(policy->valuestring, "Never"))
                                continue;
                        if (node_has_tag(list, image->valuestring))
                                continue;
                        while (*missing && (*missing)[n])
                                n++;
                        l = reallocarray(*missing, n + 2, sizeof(char *));
                        if (!l)
                                return;
                        l[n] = strdup(image->valuestring);
                        l[n + 1] = NULL;
                        *missing = l;
                }
        }
}

int image_set_check_referenced(ImageSet *s, const K8sManifestSet *set) {
        _cleanup_(cJSON_Deletep) cJSON *list = cJSON_Parse(strempty(s->node_json));

        s->missing = strv_free(s->missing);
        if (!cJSON_IsArray(list))
                return -EBADMSG;
        for (size_t i = 0; i < set->n; i++) {
                const cJSON *spec = cJSON_GetObjectItemCaseSensitive(set->items[i].obj, "spec");
                const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(spec, "template");
                const cJSON *jt = cJSON_GetObjectItemCaseSensitive(spec, "jobTemplate");

                if (streq(set->items[i].kind, "Pod"))
                        collect_pod_images(spec, list, &s->missing);
                else if (tmpl)
                        collect_pod_images(
                                cJSON_GetObjectItemCaseSensitive(tmpl, "spec"), list, &s->missing);
                else if (jt)
                        collect_pod_images(
                                cJSON_GetObjectItemCaseSensitive(
                                        cJSON_GetObjectItemCaseSensitive(
                                                cJSON_GetObjectItemCaseSensitive(jt, "spec"), "template"),
                                        "spec"),
                                list,
                                &s->missing);
        }
        return s->missing ? -ENOENT : 0;
}

int image_set_status_json(const ImageSet *s, cJSON *images) {
        for (size_t i = 0; i < s->n; i++) {
                const Image *img = s->items + i;
                cJSON *o = cJSON_CreateObject(), *tags;

                if (!o)
                        return -ENOMEM;
                cJSON_AddStringToObject(o, "file", strempty(img->archive.source));
                if (img->archive.tarball && !streq_ptr(img->archive.tarball, img->archive.source))
                        cJSON_AddStringToObject(o, "normalized", img->archive.tarball);
                if (img->archive.id[0])
                        cJSON_AddStringToObject(o, "id", img->archive.id);
                tags = cJSON_AddArrayToObject(o, "tags");
                for (char **t = img->archive.tags; t && *t; t++)
                        cJSON_AddItemToArray(tags, cJSON_CreateString(*t));
                cJSON_AddStringToObject(o, "state", image_state_to_string(img->state));
                if (img->error)
                        cJSON_AddStringToObject(o, "error", img->error);
                cJSON_AddItemToArray(images, o);
        }
        return 0;
}
