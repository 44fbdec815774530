/* SPDX-License-Identifier: MIT */
/* libFuzzer target for what otel-supervisor reads from outside: its YAML configuration, image tarballs (tar,
 * gzip, zstd, manifest.json), `minikube image ls` JSON and ClickHouse's TSV answers. The first byte picks
 * the parser; the rest is its input. The corpus is replayed by `meson test` (supervisor-fuzz-corpus). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "supervisor-clickhouse.h"
#include "supervisor-config.h"
#include "supervisor-images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_config(const char *text, size_t size) {
        SupervisorConfig c;

        if (supervisor_config_init(&c) >= 0 &&
            supervisor_config_load_string(&c, "fuzz.yaml", text, size) >= 0)
                (void) supervisor_config_verify(&c);
        supervisor_config_done(&c);
}

static void fuzz_image(const char *data, size_t size) {
        static char dir[] = "/tmp/otel-fuzz-images-XXXXXX";
        static bool made;
        char path[64];
        ImageArchive a;
        int fd;

        if (!made) {
                if (!mkdtemp(dir))
                        return;
                made = true;
        }
        fd = memfd_create("image", MFD_CLOEXEC);
        if (fd < 0)
                return;
        if (write(fd, data, size) == (ssize_t) size) {
                (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                if (image_archive_open(path, dir, &a, NULL) >= 0)
                        image_archive_done(&a);
        }
        close(fd);
        /* Each run may leave an unpacked copy; keep the directory empty. */
        (void) snprintf(path, sizeof(path), "rm -f %s/*", dir);
        if (system(path) != 0)
                return;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text;

        if (size < 1)
                return 0;
        log_set_max_level(LOG_CRIT);
        text = malloc(size);
        if (!text)
                return 0;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = 0;

        switch (data[0] % 4) {
        case 0:
                fuzz_config(text, size - 1);
                break;
        case 1:
                fuzz_image(text, size - 1);
                break;
        case 2:
                (void) image_list_has_id(
                        text, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
                break;
        case 3: {
                ClickHouseHealth h = {};
                (void) clickhouse_parse_totals(text, &h);
                (void) clickhouse_parse_streams(text, &h);
                (void) clickhouse_parse_details(text, &h);
                clickhouse_health_done(&h);
                break;
        }
        }
        free(text);
        return 0;
}
